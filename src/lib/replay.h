/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Post-mortem replay: feeds a trace's records through the daemon's own
 * accounting (pm_state_apply) and JSON (pm_json_vms), so replay and the
 * live view can never count differently. Pure: no BPF, no root.
 */
#ifndef PRIVMEM_REPLAY_H
#define PRIVMEM_REPLAY_H

#include <stdbool.h>
#include <stdint.h>
#include <json-c/json.h>
#include "trace.h"
#include "vmstate.h"
#include "vmtab.h"

/* One second of one VM's activity. */
struct pm_tl_bucket {
	uint64_t sec;			/* UTC second (Unix time) */
	uint64_t events, requests, attempts, conversions, errors;
	uint64_t to_private_bytes, to_shared_bytes;
	uint64_t discards, discard_bytes, denied, would_deny;
};

struct pm_tl {
	uint64_t vm;
	struct pm_tl_bucket *b;
	size_t n, cap;
	bool unsorted;			/* a record far back in time was appended: sorted at finish */
};

/* VMs a replay books (~11 KiB each); events of further VMs are counted in st.over_cap. */
#define PM_REPLAY_MAX_VMS 16384

struct pm_replay {
	/* window, CLOCK_MONOTONIC ns, inclusive; the whole trace unless window */
	bool window;
	uint64_t from_ns, to_ns;

	struct pm_state st;		/* everything up to to_ns */
	struct pm_state base;		/* everything before from_ns (window only) */
	struct pm_trace_info info;	/* the first file's header; hook hits and policy updated */
	bool have_info;
	uint64_t first_ts, last_ts;	/* of the records applied */
	struct pm_trace_stats stats;
	bool skipped;			/* some data could not be read */
	bool finished;

	struct pm_trace_gap *gaps;	/* holes the recorder left (disk full, ...), in file order */
	size_t ngaps, cap_gaps;
	uint64_t gap_events;		/* events that fell in them */

	struct pm_vmtab tl;		/* VM id -> struct pm_tl */

	/* called for each event before it is booked (vm: its books so far, or NULL) */
	void (*pre_event)(void *ctx, const struct pm_vm *vm, const struct pm_event *e);
	void *pre_ctx;

	/* warnings: "FILE: offset N: ..." lines */
	void (*warn)(void *ctx, const char *file, const char *msg);
	void *warn_ctx;
	const char *cur_file;
};

void pm_replay_init(struct pm_replay *r);
void pm_replay_free(struct pm_replay *r);
/* Smallest and largest timestamps of a set of files (for relative windows). */
int pm_replay_span(const char *const *paths, unsigned n, uint64_t *min_ts, uint64_t *max_ts,
		   int64_t *wall_offset, char *msg, size_t len);
/* Reads one file into the books. -errno (msg says why), 0, or 1 when data was skipped. */
int pm_replay_file(struct pm_replay *r, const char *path, char *msg, size_t len);
/* Same, from a buffer (kept by the caller); name is the file name in warnings. */
int pm_replay_mem(struct pm_replay *r, const void *buf, size_t size, const char *name, char *msg, size_t len);
/* After the last file: timelines in order, window arithmetic. Idempotent. */
void pm_replay_finish(struct pm_replay *r);
/* true if vm is selected by a hex prefix (NULL selects all). */
bool pm_replay_vm_match(const struct pm_vm *vm, const char *prefix);
/* The `privmem vms --json` shape, plus "trace" and "timeline"; vm_prefix may be NULL. */
json_object *pm_replay_json(struct pm_replay *r, const char *vm_prefix);
const struct pm_tl *pm_replay_timeline(const struct pm_replay *r, uint64_t vm);
/* "2026-11-25T10:15:03.123Z" for a CLOCK_MONOTONIC ns of the trace. */
void pm_replay_wall(const struct pm_replay *r, uint64_t mono_ns, char *buf, size_t len);

#endif
