/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Cross-checks between hooks that see the same calls, shared by the BPF
 * programs and the loader: a hook that is attached but sees nothing while
 * its siblings see calls it must see is reported silent, not live.
 */
#ifndef PRIVMEM_HOOKCHECK_H
#define PRIVMEM_HOOKCHECK_H

/* Counters in the xcheck map (per CPU, summed by the loader). */
enum pm_xcheck {
	PM_XC_LSM_SETATTR = 0,	/* lsm/file_ioctl: KVM_SET_MEMORY_ATTRIBUTES on a VM fd it let through */
	PM_XC_LSM_DENIED,	/* ... that it refused */
	PM_XC_FEXIT_SETATTR,	/* fexit kvm_vm_ioctl: KVM_SET_MEMORY_ATTRIBUTES, any result */
	PM_XC_FEXIT_SETATTR_OK,	/* ... that succeeded (each passed the kvm_vm_set_mem_attributes tracepoint) */
	PM_XC_TP_SETATTR,	/* syscalls:ioctl: KVM_SET_MEMORY_ATTRIBUTES on a VM fd the LSM let through */
	PM_XC_MAX,
};

/* Which commands the syscall-tracepoint programs handle (tp_cmds). */
#define PM_TP_CREATE_VM		(1u << 0)
#define PM_TP_SET_ATTR		(1u << 1)
#define PM_TP_GMEM_CREATE	(1u << 2)
#define PM_TP_RUN		(1u << 3)
#define PM_TP_ALL		(PM_TP_CREATE_VM | PM_TP_SET_ATTR | PM_TP_GMEM_CREATE | PM_TP_RUN)
/* what kvm_vm_ioctl's fexit covers, so what the tracepoint takes over from it */
#define PM_TP_VM_IOCTL		(PM_TP_SET_ATTR | PM_TP_GMEM_CREATE)

#endif
