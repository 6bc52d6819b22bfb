/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The kernel's per-VM state, shared by the BPF programs and the loader:
 * how many VMs it can hold, and the counters of state that could not be
 * had (a full map). Enforcement fails closed on those (PM_DENY_NO_STATE);
 * the counters make every other consequence visible (`privmem status`).
 */
#ifndef PRIVMEM_KSTATE_H
#define PRIVMEM_KSTATE_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif
#include "privmem/events.h"

#define PM_MAX_VMS_KERNEL	16384	/* live VMs with per-VM kernel state */
#define PM_DEAD_VMS_KERNEL	16384	/* destroyed VMs whose final counts wait for privmemd */
#define PM_ATTR_CHUNKS		(1u << 20)	/* 2 MiB chunks of per-page PRIVATE bits (2 TiB) */
#define PM_ATTR_CHUNK_PAGES	512

/*
 * Exit counts live in exit_slots, a per-CPU array indexed by the VM's slot:
 * every KVM_RUN return adds to its own CPU's copy, no hash lookup and no
 * atomic. One slot per VM with a vm_kstats entry, at most PM_MAX_VMS_KERNEL
 * and at most PM_EXIT_SLOTS_BYTES over all CPUs (the loader sizes it). A VM
 * without a slot has its exits counted in its vm_kstats entry: slower, as
 * exact.
 */
#define PM_EXIT_SLOTS_BYTES	(64u << 20)
#define PM_EXIT_SLOTS_MIN	64
#define PM_SLOT_BITS		14
_Static_assert((1u << PM_SLOT_BITS) == PM_MAX_VMS_KERNEL, "a claim's low bits hold any slot");

/*
 * A claim on a slot: (a per-load-unique count << PM_SLOT_BITS) | slot, one
 * word so that whoever reads it reads slot and owner together; 0 is none.
 */
static inline __u32 pm_claim_slot(__u64 claim)
{
	return (__u32)(claim & ((1u << PM_SLOT_BITS) - 1));
}

/*
 * vm_kstats' value. The slot is the entry's from its creation until the
 * entry is deleted (privmemd read the final counts, or they were dropped):
 * a dead VM's counts are never lost to a new owner of the slot.
 */
struct pm_vm_kstate {
	struct pm_vm_kstats k;	/* k.exits: only what was counted without a slot */
	__u64 claim;		/* on exit_slots, or 0 */
};

/*
 * One CPU's exit counts in a slot, for the claim it carries: a CPU's copy
 * with another claim is a former owner's, zeroed by the first exit of the
 * new owner on that CPU and ignored by readers until then.
 */
struct pm_exit_slot {
	__u64 claim;
	__u64 exits[PM_EXIT_REASONS];
	__u64 exit_errors;
};

/* Per CPU, summed by the loader: allocations refused, by map. */
enum pm_state_full {
	PM_SF_IDS = 0,		/* vm_ids: the VM got no id, nothing of it is counted */
	PM_SF_KSTATS,		/* vm_kstats: exits, faults, set_attr counts of a VM lost */
	PM_SF_MEM,		/* vm_mem: no guest/shared bytes, no audit buckets */
	PM_SF_LSM,		/* vm_lsm_buckets: no enforcement buckets */
	PM_SF_ATTR,		/* vm_attr: a conversion's pages not tracked, the VM's shared bytes inexact */
	PM_SF_DEAD,		/* dead_vms: a destroyed VM's final counts dropped unread */
	PM_SF_MAX,
};

/* vm_ids' value, by struct kvm address: read by privmemd to free a VM's entry. */
struct pm_vm_ident {
	__u64 id;
	__u32 tgid;		/* who created (or first used) it */
	__u32 pad;
};

/* A 2 MiB chunk of one VM's guest physical pages: bit set = PRIVATE. */
struct pm_attr_key {
	__u64 vm;
	__u64 chunk;		/* gfn / PM_ATTR_CHUNK_PAGES */
};

struct pm_attr_chunk {
	__u64 w[PM_ATTR_CHUNK_PAGES / 64];
};

#endif
