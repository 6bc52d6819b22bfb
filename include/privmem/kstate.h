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

#define PM_MAX_VMS_KERNEL	16384	/* live VMs with per-VM kernel state */
#define PM_DEAD_VMS_KERNEL	16384	/* destroyed VMs whose final counts wait for privmemd */
#define PM_ATTR_CHUNKS		(1u << 20)	/* 2 MiB chunks of per-page PRIVATE bits (2 TiB) */
#define PM_ATTR_CHUNK_PAGES	512

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

/* A 2 MiB chunk of one VM's guest physical pages: bit set = PRIVATE. */
struct pm_attr_key {
	__u64 vm;
	__u64 chunk;		/* gfn / PM_ATTR_CHUNK_PAGES */
};

struct pm_attr_chunk {
	__u64 w[PM_ATTR_CHUNK_PAGES / 64];
};

#endif
