/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Loads, probes and attaches the capture BPF; hands records to a callback. */
#ifndef PRIVMEM_CAPTURE_H
#define PRIVMEM_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include "hooks.h"
#include "privmem/events.h"
#include "privmem/kstate.h"

struct pm_capture;
typedef void (*pm_event_fn)(void *ctx, const struct pm_event *e);

#define PM_PIN_DIR "/sys/fs/bpf/privmem"

/*
 * The syscall-tracepoint fallback (syscalls:ioctl, syscalls:fallocate and
 * their compat programs) sees what missing trampolines do not, and taxes
 * every syscall of every process on the host: nobody pays unless asked.
 */
enum pm_syscall_hooks {
	/*
	 * Not attached where trampolines are missing (the hooks are disabled,
	 * saying what goes unseen). The stand-in stays allowed: it attaches
	 * only on a kernel with trampolines whose kvm_vm_ioctl one fell
	 * silent, where attempts would otherwise vanish unannounced.
	 */
	PM_SYSCALL_HOOKS_DEFAULT = 0,
	PM_SYSCALL_HOOKS_ON,	/* --syscall-hooks: attach the fallback where trampolines are missing */
	PM_SYSCALL_HOOKS_OFF,	/* --no-syscall-hooks: never, not even the stand-in */
};

/*
 * --syscall-hooks (ON) or --no-syscall-hooks (OFF) given to a program:
 * 0, or -1 when the other one was given too (a usage error: neither wins).
 */
static inline int pm_syscall_hooks_opt(enum pm_syscall_hooks *cur, enum pm_syscall_hooks v)
{
	if (*cur != PM_SYSCALL_HOOKS_DEFAULT && *cur != v)
		return -1;
	*cur = v;
	return 0;
}
#define PM_SYSCALL_HOOKS_CONFLICT "--syscall-hooks and --no-syscall-hooks contradict each other"

struct pm_capture_opts {
	enum pm_syscall_hooks syscall_hooks;
	bool no_exit_stats;	/* skip per-VM exit counts: only request exits run the hook's body */
	/*
	 * Keep enforcement across restarts: pin the LSM link and the maps it
	 * uses under pin_dir, and adopt them when found. unpin_stale (the
	 * daemon without a policy) removes what a previous privmemd pinned.
	 */
	bool pin;
	bool unpin_stale;
	const char *pin_dir;	/* default PM_PIN_DIR */
	pm_event_fn cb;
	void *ctx;
};

/* 0 or -errno; on error msg holds one line saying why (verifier reason included). */
int pm_capture_open(struct pm_capture **out, const struct pm_capture_opts *o, char *msg, size_t len);
void pm_capture_close(struct pm_capture *c);
/* Waits up to timeout_ms, then drains: number of records handled or -errno. */
int pm_capture_poll(struct pm_capture *c, int timeout_ms);
uint64_t pm_capture_lost(struct pm_capture *c);
/* Fresh hit counts folded into the returned table of PM_HOOK_MAX entries. */
const struct pm_hook_status *pm_capture_hooks(struct pm_capture *c);
/* A VM's in-kernel aggregates, its exits summed over every CPU's copy of its slot. */
int pm_capture_kstats(struct pm_capture *c, uint64_t vm, struct pm_vm_kstats *out);
/* The same on the maps themselves (vm_kstats, exit_slots): for tools and tests. */
int pm_kstate_read(int kstats_fd, int slots_fd, int ncpus, uint64_t vm, struct pm_vm_kstats *out);
/* Deletes a VM's vm_kstats entry and gives its slot back to slot_free: 0 or -errno. */
int pm_kstate_delete(int kstats_fd, int free_fd, uint64_t vm);
int pm_capture_forget_vm(struct pm_capture *c, uint64_t vm);
/* Frees the final counts of VMs destroyed unread for longer than age_ns; how many. */
int pm_capture_sweep_dead(struct pm_capture *c, uint64_t now_ns, uint64_t age_ns);
/* Frees LSM buckets of ids no live VM has (destroyed while privmemd was down); how many. */
int pm_capture_sweep_orphans(struct pm_capture *c);
/* Kernel per-VM state that could not be had, by enum pm_state_full. */
void pm_capture_state_full(struct pm_capture *c, uint64_t out[PM_SF_MAX]);
struct pm_kmap_count {
	const char *name;
	uint64_t entries, max;
};
/* Entries in use of each kernel per-VM map (a walk: for status, not a hot path). */
int pm_capture_map_counts(struct pm_capture *c, struct pm_kmap_count *out, unsigned max);
/* The rule for one VM, or with vm 0 the defaults for VMs without one. */
struct pm_rule;
int pm_capture_set_rule(struct pm_capture *c, uint64_t vm, const struct pm_rule *r);
/* True when the LSM hook is live: denials are real, not only reported. */
bool pm_capture_can_enforce(struct pm_capture *c);

#endif
