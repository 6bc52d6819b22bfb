/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * privmemtop's model: a snapshot of every VM, filled from the JSON a source
 * gives (the daemon's `vms` and `status` replies, or the same documents built
 * in-process), with rates computed from the previous snapshot.  Pure: no I/O,
 * no curses, so the unit tests drive it with hand-made JSON.
 */
#ifndef PRIVMEM_TOP_MODEL_H
#define PRIVMEM_TOP_MODEL_H

#include <stdbool.h>
#include <stdint.h>
#include <json-c/json.h>
#include "privmem/events.h"

#define TOP_SPARK	120	/* rate samples kept per VM for the sparkline */
#define TOP_DENIALS	8	/* recent denials kept per VM, when the source has them */

enum top_col {
	TOP_COL_PID,
	TOP_COL_NAME,		/* the VM's name (vmname.h), or the cgroup's last component */
	TOP_COL_GUEST,
	TOP_COL_SHARED,		/* shared fraction of guest memory */
	TOP_COL_TP_RATE,	/* to-private conversions/s (total in totals mode) */
	TOP_COL_TP_BYTES,	/* to-private MiB/s */
	TOP_COL_TS_RATE,
	TOP_COL_TS_BYTES,
	TOP_COL_FAULTS,		/* memory-fault exits/s */
	TOP_COL_P50,		/* request -> resume latency */
	TOP_COL_P99,
	TOP_COL_DENY,		/* denied + would-deny */
	TOP_COL_DROP,		/* events lost for this VM */
	TOP_COL_MAX,
};

enum { TOP_PRIV = 0, TOP_SHRD = 1 };

struct top_dir {
	uint64_t requests, attempts, attempt_bytes, conversions, bytes;
	double conv_rate, byte_rate, attempt_rate;	/* per second over the last interval */
	uint64_t size_hist[PM_HIST_SLOTS];		/* conversions by log2 size */
	uint64_t attempt_size_hist[PM_HIST_SLOTS];
};

struct top_denial {
	uint64_t ts, gpa, size;
	char dir[12];
	char rule[48];
	bool would;		/* audit mode: would have been denied */
};

struct top_vm {
	char id[20];
	uint32_t pid;
	char comm[PM_COMM_LEN + 1];
	char name[128];		/* "name" from the source, comm from an older daemon */
	char cgroup[256];
	char unit[64];		/* last component of cgroup ("/" at the root) */
	bool running;
	uint64_t guest_bytes, shared_bytes;
	struct top_dir dir[2];	/* TOP_PRIV, TOP_SHRD */
	uint64_t hypercalls, faults, errors;
	double fault_rate;
	uint64_t discards, discard_bytes;
	uint64_t denied, would_deny, lost;
	uint64_t resumes, p50_ns, p99_ns;
	uint64_t lat_hist[PM_HIST_SLOTS];
	char errnames[96];	/* "ENOTTY=37 EINVAL=2" */
	float spark[TOP_SPARK];	/* attempts/s (both directions), oldest first */
	unsigned nspark;
	struct top_denial denials[TOP_DENIALS];
	unsigned ndenials;
	bool has_denial_log;	/* the source reports individual denials */
	char deny_detail[192];	/* "would-deny: max_request=20 rule 0=20" from the daemon's counts */
};

struct top_totals {
	unsigned vms, running;
	uint64_t guest_bytes, shared_bytes;
	uint64_t conversions[2], bytes[2], attempts[2], faults;
	double conv_rate[2], byte_rate[2], fault_rate;
	uint64_t denied, would_deny, lost;
};

struct top_snapshot {
	uint64_t ts_ns;		/* the source's clock when taken */
	double interval_s;	/* since the previous snapshot; 0 for the first */
	struct top_vm *vms;
	unsigned nvms, cap;
	uint64_t events, lost, bad_events;
	char policy[32];	/* "none" until the daemon reports one */
	unsigned hooks, hooks_live, hooks_silent;
	char silent_hooks[200];	/* names of hooks attached but silent, space-separated */
	bool hooks_tax;		/* a live hook taxes every process */
	/* what disabled syscall hooks would have seen (no trampolines, no --syscall-hooks): their covers */
	char unseen[200];
	char live_hooks[400];	/* names of the live hooks, space-separated */
	struct top_totals tot;
};

struct top_model {
	struct top_snapshot cur, prev;
	bool have_prev;
	uint64_t updates;
};

void top_model_init(struct top_model *m);
void top_model_free(struct top_model *m);
/*
 * Takes a new snapshot from the `vms` reply (required) and the `status`
 * reply (may be NULL) taken at now_ns.  0, or -EINVAL with err set when the
 * document is not the expected shape (the previous snapshot then stays).
 */
int top_model_update(struct top_model *m, json_object *vms, json_object *status, uint64_t now_ns,
		     char *err, size_t len);

/* Sorting and filtering, as the view uses them. */
/* by_unit: NAME is the cgroup unit; totals: the rate columns sort by their totals. */
void top_snapshot_sort(struct top_snapshot *s, enum top_col col, bool ascending, bool by_unit, bool totals);
bool top_vm_matches(const struct top_vm *vm, const char *filter);
const struct top_vm *top_snapshot_find(const struct top_snapshot *s, const char *id);
const char *top_col_name(enum top_col col);

/* The snapshot for scripts (`privmemtop --once --json`). */
json_object *top_snapshot_json(const struct top_snapshot *s, const char *source);

#endif
