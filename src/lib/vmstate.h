/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Per-VM books kept from the event stream. Pure: no BPF, no I/O, so the
 * daemon, replay and the unit tests all count the same way.
 */
#ifndef PRIVMEM_VMSTATE_H
#define PRIVMEM_VMSTATE_H

#include <stdbool.h>
#include <stdint.h>
#include "hist.h"
#include "rangeset.h"
#include "privmem/events.h"
#include "privmem/decide.h"

#define PM_ERRNO_SLOTS	140	/* errnos above this are counted in the last slot */
#define PM_RECENT	64	/* recent requests kept per VM */
#define PM_VM_NAME_LEN	128	/* a sandbox id is 64 hex digits */
#define PM_RULE_SLOTS	64	/* denials counted per rule id; higher ids share the last slot */
/* private intervals booked per VM (1 MiB of books at most): past it, shared_inexact */
#define PM_VM_MAX_RANGES 65536

struct pm_dir_stats {
	uint64_t requests, request_bytes;	/* what the guest asked for */
	uint64_t attempts, attempt_bytes;	/* KVM_SET_MEMORY_ATTRIBUTES calls */
	uint64_t conversions, bytes;		/* ... that succeeded */
	struct pm_hist size_hist;		/* conversions by size */
	struct pm_hist attempt_size_hist;	/* attempts by size */
};

struct pm_recent_req {
	uint64_t ts, gpa, size, attrs;
	uint8_t source, dir;
	int32_t vcpu;
};

#define PM_RECENT_DENIALS 16	/* recent denials and would-denials kept per VM */

struct pm_recent_denial {
	uint64_t ts, gpa, size;
	uint32_t rule;
	uint8_t verdict, dir, would;
};

struct pm_pending {
	uint32_t tid;
	bool decided;
	uint64_t ts;
};

struct pm_vm {
	uint64_t id;
	uint32_t pid;
	char comm[PM_COMM_LEN];
	uint64_t cgroup_id;
	char cgroup[256];
	char name[PM_VM_NAME_LEN];	/* vmname.h: libvirt domain, QEMU -name, sandbox id or comm */
	uint8_t name_src;		/* enum pm_name_source */
	uint64_t first_ns, last_ns, destroyed_ns;
	bool destroyed;

	uint64_t guest_bytes;		/* sizes of the guest_memfds open: created minus closed */
	uint32_t gmem_count;		/* guest_memfds created */
	uint32_t gmem_closed;		/* ... and closed (their last reference gone) */
	/*
	 * What KVM holds PRIVATE (its attribute per page; none by default), as
	 * successful KVM_SET_MEMORY_ATTRIBUTES set and clear it: gpa ranges.
	 * shared_inexact: a conversion could not be booked (PM_VM_MAX_RANGES,
	 * memory), so private_mem is no longer exact; it stays set.
	 */
	struct pm_rangeset private_mem;
	bool shared_inexact;

	struct pm_dir_stats dir[3];	/* indexed by enum pm_dir */
	uint64_t req_hypercall, req_fault;
	uint64_t attr_errno[PM_ERRNO_SLOTS];
	uint64_t discards, discard_bytes, discard_errors;
	uint64_t denied, would_deny;
	/* [0] denied, [1] would_deny; by enum pm_verdict and by rule id (last slot: the rest) */
	uint64_t deny_reason[2][PM_VERDICTS];
	uint64_t deny_rule[2][PM_RULE_SLOTS];
	struct pm_recent_denial recent_denials[PM_RECENT_DENIALS];
	uint64_t denials_total;
	uint64_t resumes;
	struct pm_hist resume_lat;	/* request -> next KVM_RUN, ns */
	struct pm_hist decide_lat;	/* request -> KVM_SET_MEMORY_ATTRIBUTES, ns */

	struct pm_recent_req recent[PM_RECENT];
	uint64_t recent_total;

	struct pm_pending *pending;	/* one per vCPU thread with an open request */
	unsigned npending;
	size_t cap_pending;

	struct pm_vm_kstats k;		/* in-kernel aggregates, copied in */
	struct pm_vm *next;
};

#define PM_VM_BUCKETS 1024

struct pm_state {
	struct pm_vm *bucket[PM_VM_BUCKETS];
	unsigned nvms;
	uint64_t events;
	uint64_t by_type[PM_EV_TYPE_MAX];
	uint64_t bad_events;		/* undecodable records */
	uint64_t lost;			/* ring-buffer drops reported by the kernel */
	unsigned max_vms;		/* 0: no limit; else events of further VMs are refused */
	uint64_t over_cap;		/* events (and declarations) refused by max_vms */
	uint64_t forgotten;		/* VMs removed from the books (pm_state_remove, pm_state_prune) */
};

void pm_state_init(struct pm_state *s);
void pm_state_free(struct pm_state *s);
struct pm_vm *pm_state_find(struct pm_state *s, uint64_t id);
/* Returns the VM the event was booked to, or NULL (e.g. malformed record). */
struct pm_vm *pm_state_apply(struct pm_state *s, const struct pm_event *e);
/*
 * A VM known from elsewhere (a trace's VM table): found, or created with this
 * identity, without counting an event.
 */
struct pm_vm *pm_state_declare(struct pm_state *s, uint64_t id, uint32_t pid, const char *comm,
			       uint64_t cgroup_id, uint64_t first_ns);
/* Up to max VMs into a caller array, in display order: creation time, then id. */
unsigned pm_state_list(const struct pm_state *s, struct pm_vm **out, unsigned max);

/*
 * Every VM, in display order, as a snapshot the caller frees: the books may
 * change under a walk (a VM booked, marked destroyed) without breaking it.
 * On allocation failure n is 0 and err is -ENOMEM.
 */
struct pm_vms {
	struct pm_vm **v;
	unsigned n;
	int err;
};
struct pm_vms pm_state_vms(const struct pm_state *s);
void pm_vms_free(struct pm_vms *l);
#define pm_vms_each(l, vm) \
	for (unsigned pm__i = 0; pm__i < (l)->n && ((vm) = (l)->v[pm__i], 1); pm__i++)
/* Bytes KVM holds PRIVATE, as booked. */
uint64_t pm_vm_private_bytes(const struct pm_vm *vm);
/*
 * The shared part of guest memory, for the max_shared ceiling and reports:
 * open guest_memfd bytes minus private bytes, at least 0 (private ranges
 * are gpas, guest_bytes file sizes: nothing ties one to the other).
 */
uint64_t pm_vm_shared_bytes(const struct pm_vm *vm);
/*
 * A copy of the books for a reader on another thread (a /metrics scrape):
 * every VM, counter and private range, no open requests (pending). 0 or -ENOMEM (dst then
 * holds what was copied; pm_state_free it either way).
 */
int pm_state_copy(struct pm_state *dst, const struct pm_state *src);

/*
 * Forgetting VMs, so books of VMs that came and went stay bounded (~11 KiB
 * each). pm_state_remove unlinks and frees one VM: 0, or -ENOENT for an
 * unknown id. pm_state_prune removes the destroyed VMs destroyed keep_ns or
 * more before now_ns (a clock the caller reads: the books read none), then,
 * while more than max_destroyed are left, the oldest destroyed first. Live
 * VMs are never pruned. Returns how many it removed, or -ENOMEM when the
 * count bound could not be applied this time (the time bound was). Every
 * VM removed either way is counted in forgotten.
 */
int pm_state_remove(struct pm_state *s, uint64_t id);
int pm_state_prune(struct pm_state *s, uint64_t now_ns, uint64_t keep_ns, unsigned max_destroyed);

#endif
