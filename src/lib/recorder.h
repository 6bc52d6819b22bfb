/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The flight recorder: the live books' side of a trace. Writes every event,
 * and once a second the in-kernel aggregates that changed, the loss count
 * and the hook hits, then flushes a chunk; rotates files in a directory by
 * size and count. Pure: the kernel is reached through a callback.
 */
#ifndef PRIVMEM_RECORDER_H
#define PRIVMEM_RECORDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "hooks.h"
#include "trace.h"
#include "vmstate.h"

#define PM_REC_DEFAULT_BYTES	(64ull << 20)
#define PM_REC_DEFAULT_FILES	8
#define PM_REC_PREFIX		"privmem-"
#define PM_REC_SUFFIX		".pmtrace"

struct pm_rec_opts {
	const char *dir;		/* rotate files in this directory, or */
	const char *path;		/* write this one file ("-" = stdout) */
	uint64_t max_bytes;		/* dir: start a new file past this size */
	unsigned max_files;		/* dir: keep at most this many files */
	const char *writer;		/* "privmemd", "privmem record" */
	const char *policy;		/* active policy text, NULL for none */
	const struct pm_hook_status *hooks;
	unsigned nhooks;
};

/* Where the recorder reads what the event stream does not carry. */
struct pm_rec_src {
	int (*kstats)(void *ctx, uint64_t vm, struct pm_vm_kstats *out);	/* 0 or -errno */
	uint64_t (*lost)(void *ctx);						/* ring-buffer drops */
	const struct pm_hook_status *(*hooks)(void *ctx);			/* fresh hits */
	unsigned nhooks;
	void *ctx;
};

struct pm_rec;

int pm_rec_open(struct pm_rec **out, const struct pm_rec_opts *o, char *msg, size_t len);
void pm_rec_event(struct pm_rec *r, const struct pm_event *e);
/* A VM's identity, once its cgroup path is known. */
void pm_rec_vm_seen(struct pm_rec *r, const struct pm_vm *vm);
/* The VM's aggregates as they are now in vm->k (e.g. final, at destroy). */
void pm_rec_vm_kstats(struct pm_rec *r, const struct pm_vm *vm);
/* A new policy is in force (reloaded): recorded now, and in later files' headers. */
void pm_rec_policy(struct pm_rec *r, const char *text);
/* The VM was marked destroyed without an event (VMM found gone). */
void pm_rec_vm_gone(struct pm_rec *r, const struct pm_vm *vm);
/*
 * Call often (every loop): at least once a second, refreshes the live VMs'
 * aggregates from src (into vm->k), records what changed, flushes a chunk
 * and rotates. A fault (write error, file or directory removed, no new
 * file) stops recording, never the caller: -errno once with msg saying why
 * (and again only for a different errno while retrying), then a new file is
 * tried every second; when one opens it starts with a gap record (its time
 * span, the events lost) and 1 is returned with msg saying so. Else 0.
 */
int pm_rec_tick(struct pm_rec *r, struct pm_state *st, const struct pm_rec_src *src, char *msg, size_t len);
/* Final sync and flush, then closes and frees. 0 or -errno. */
int pm_rec_close(struct pm_rec *r, struct pm_state *st, const struct pm_rec_src *src);
const char *pm_rec_path(const struct pm_rec *r);
uint64_t pm_rec_bytes(const struct pm_rec *r);		/* all files, this run */
uint64_t pm_rec_events(const struct pm_rec *r);
bool pm_rec_recording(const struct pm_rec *r);		/* false while a fault lasts */
uint64_t pm_rec_gaps(const struct pm_rec *r);		/* gap records written */
uint64_t pm_rec_unrecorded(const struct pm_rec *r);	/* events in gaps, the open one too */

#endif
