/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Records shared by the BPF programs and userspace: fixed-size, __u32/__u64
 * only, explicit padding (the verifier rejects reads of uninitialised holes).
 */
#ifndef PRIVMEM_EVENTS_H
#define PRIVMEM_EVENTS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define PM_COMM_LEN	16
#define PM_HIST_SLOTS	64	/* log2 buckets: slot n holds [2^n, 2^(n+1)) */
#define PM_EXIT_REASONS	64	/* KVM_EXIT_* counted per VM; larger ones go to the last slot */

enum pm_event_type {
	PM_EV_VM_CREATE = 1,	/* first sight of a VM (create, or already running) */
	PM_EV_VM_DESTROY,	/* kvm_destroy_vm, or the VMM process exited (PM_F_PROC_EXIT) */
	PM_EV_GMEM_CREATE,	/* KVM_CREATE_GUEST_MEMFD: addr = fd, size, attrs = flags */
	PM_EV_REQUEST,		/* guest asked: source, dir, addr = gpa, size */
	PM_EV_DECIDE,		/* KVM_SET_MEMORY_ATTRIBUTES: addr, size, attrs, ret */
	PM_EV_DISCARD,		/* PUNCH_HOLE on guest_memfd: addr = offset, size */
	PM_EV_RESUME,		/* next KVM_RUN of a vCPU with a pending request */
	PM_EV_HOST_TOUCH,	/* the host faulted on private guest memory */
	PM_EV_DENY,		/* privmem refused an attempt (aux = rule) */
	PM_EV_WOULD_DENY,	/* audit mode: would have refused (aux = rule) */
	PM_EV_GMEM_CLOSE,	/* a guest_memfd's last reference went: size = its size */
	PM_EV_TYPE_MAX,
};

enum pm_dir {
	PM_DIR_NONE = 0,
	PM_TO_PRIVATE = 1,
	PM_TO_SHARED = 2,
};

enum pm_source {
	PM_SRC_NONE = 0,
	PM_SRC_HYPERCALL = 1,	/* MAP_GPA_RANGE exit */
	PM_SRC_FAULT = 2,	/* KVM_EXIT_MEMORY_FAULT */
};

/* flags */
#define PM_F_HINT_2M	(1u << 0)	/* MAP_GPA_RANGE page-size hints */
#define PM_F_HINT_1G	(1u << 1)
#define PM_F_SYSCALL_TP	(1u << 2)	/* seen through a syscall tracepoint */
#define PM_F_PROC_EXIT	(1u << 3)	/* vm_destroy: the VMM exited, all its VMs go */
#define PM_F_REUSED	(1u << 4)	/* vm_destroy: found gone when a new VM took its struct kvm */

struct pm_event {
	__u64 ts;		/* CLOCK_MONOTONIC ns (bpf_ktime_get_ns) */
	__u64 vm;		/* VM id: one per VM creation, a keyed counter (no address) */
	__u32 pid;		/* VMM tgid */
	__u32 tid;
	__u8 type;		/* enum pm_event_type */
	__u8 dir;		/* enum pm_dir */
	__u8 source;		/* enum pm_source */
	__u8 flags;
	__s32 vcpu;		/* -1 when unknown */
	__u64 addr;		/* gpa, or guest_memfd offset for discards */
	__u64 size;		/* bytes */
	__u64 attrs;		/* memory attributes / gmem flags */
	__s32 ret;		/* 0 or -errno */
	__u32 aux;		/* exit reason, rule id */
	__u64 cgroup;		/* cgroup v2 id of the VMM */
	char comm[PM_COMM_LEN];
};

/* In-kernel per-VM aggregates for events too frequent to stream. */
struct pm_vm_kstats {
	__u64 exits[PM_EXIT_REASONS];		/* KVM_RUN returns by exit reason */
	__u64 exit_errors;			/* KVM_RUN returned < 0 */
	__u64 rmp_faults;
	__u64 rmp_level_hist[4];		/* by rmp_level (0..2, 3 = other) */
	__u64 private_faults;			/* kvm_page_fault with the private bit */
	__u64 private_fault_hist[PM_HIST_SLOTS]; /* by log2 of the gpa */
	__u64 set_attr_calls;			/* kvm_vm_set_mem_attributes */
	__u64 set_attr_bytes;
	__u64 lost;				/* events for this VM the ring buffer dropped */
};

/* Hook indices reported by the status command. */
enum pm_hook {
	PM_HOOK_EXIT = 0,		/* kvm_userspace_exit */
	PM_HOOK_IOCTL_TP,		/* syscalls/sys_{enter,exit}_ioctl (taxes every syscall) */
	PM_HOOK_FALLOCATE_TP,		/* syscalls/sys_{enter,exit}_fallocate */
	PM_HOOK_VM_IOCTL_FEXIT,		/* fexit kvm_vm_ioctl */
	PM_HOOK_GMEM_FALLOC_FEXIT,	/* fexit kvm_gmem_fallocate */
	PM_HOOK_VCPU_IOCTL_FENTRY,	/* fentry kvm_vcpu_ioctl (resume) */
	PM_HOOK_PROC_EXIT,		/* sched_process_exit */
	PM_HOOK_RMP_FAULT,
	PM_HOOK_PAGE_FAULT,
	PM_HOOK_SET_ATTR_TP,		/* kvm_vm_set_mem_attributes */
	PM_HOOK_LSM,			/* lsm/file_ioctl */
	PM_HOOK_DEV_IOCTL_FEXIT,	/* fexit kvm_dev_ioctl (vm_create) */
	PM_HOOK_DESTROY_FENTRY,		/* fentry kvm_destroy_vm */
	PM_HOOK_LSM_COMPAT,		/* lsm/file_ioctl_compat (32-bit VMMs) */
	PM_HOOK_GMEM_RELEASE_FENTRY,	/* fentry kvm_gmem_release (gmem_close) */
	PM_HOOK_MAX,
};

#endif
