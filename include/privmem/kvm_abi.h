/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The slice of KVM's uapi that privmem needs and that Debian 12's 6.1
 * <linux/kvm.h> lacks (guest_memfd, memory attributes, memory-fault exits,
 * VM types), copied from include/uapi/linux/kvm.h of Linux 6.18.
 * Only #defines and fixed-size structs: BPF programs include it too.
 */
#ifndef PRIVMEM_KVM_ABI_H
#define PRIVMEM_KVM_ABI_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* ioctl numbers, spelled out so BPF code needs no <linux/ioctl.h>. */
#define PM_KVM_CREATE_VM		0xae01u
#define PM_KVM_CHECK_EXTENSION		0xae03u
#define PM_KVM_RUN			0xae80u
#define PM_KVM_SET_USER_MEMORY_REGION2	0x40a0ae49u
#define PM_KVM_SET_MEMORY_ATTRIBUTES	0x4020aed2u
#define PM_KVM_CREATE_GUEST_MEMFD	0xc040aed4u

/* Capabilities. */
#define PM_KVM_CAP_EXIT_HYPERCALL	201
#define PM_KVM_CAP_USER_MEMORY2		231
#define PM_KVM_CAP_MEMORY_FAULT_INFO	232
#define PM_KVM_CAP_MEMORY_ATTRIBUTES	233
#define PM_KVM_CAP_GUEST_MEMFD		234
#define PM_KVM_CAP_VM_TYPES		235
#define PM_KVM_CAP_GUEST_MEMFD_FLAGS	244

#define PM_KVM_X86_DEFAULT_VM		0
#define PM_KVM_X86_SW_PROTECTED_VM	1

#define PM_KVM_MEM_GUEST_MEMFD		(1u << 2)
#define PM_GUEST_MEMFD_FLAG_MMAP	(1ull << 0)
#define PM_GUEST_MEMFD_FLAG_INIT_SHARED	(1ull << 1)
#define PM_KVM_MEMORY_ATTRIBUTE_PRIVATE	(1ull << 3)

/* Exits. */
#define PM_KVM_EXIT_IO			2
#define PM_KVM_EXIT_HYPERCALL		3
#define PM_KVM_EXIT_HLT			5
#define PM_KVM_EXIT_MMIO		6
#define PM_KVM_EXIT_SHUTDOWN		8
#define PM_KVM_EXIT_MEMORY_FAULT	39
#define PM_KVM_MEMORY_EXIT_FLAG_PRIVATE	(1ull << 3)

/*
 * struct kvm_run: the per-exit union starts at this offset on x86
 * (request_interrupt_window..padding1[6], exit_reason, flags, cr8,
 * apic_base); memory_fault is the union member for exit 39.
 */
#define PM_KVM_RUN_EXIT_UNION_OFFSET	32

/* MAP_GPA_RANGE hypercall (the form SNP PSC and TDX MapGPA take). */
#define PM_KVM_HC_MAP_GPA_RANGE		12
#define PM_KVM_MAP_GPA_RANGE_PAGE_SZ_2M	(1ull << 0)
#define PM_KVM_MAP_GPA_RANGE_PAGE_SZ_1G	(1ull << 1)
#define PM_KVM_MAP_GPA_RANGE_ENCRYPTED	(1ull << 4)

/* fallocate(2) modes seen on guest_memfd. */
#define PM_FALLOC_FL_KEEP_SIZE		0x01
#define PM_FALLOC_FL_PUNCH_HOLE		0x02

struct pm_kvm_create_guest_memfd {
	__u64 size;
	__u64 flags;
	__u64 reserved[6];
};

struct pm_kvm_userspace_memory_region2 {
	__u32 slot;
	__u32 flags;
	__u64 guest_phys_addr;
	__u64 memory_size;
	__u64 userspace_addr;
	__u64 guest_memfd_offset;
	__u32 guest_memfd;
	__u32 pad1;
	__u64 pad2[14];
};

/* kvm_run->memory_fault (KVM_EXIT_MEMORY_FAULT). */
struct pm_kvm_memory_fault {
	__u64 flags;
	__u64 gpa;
	__u64 size;
};

struct pm_kvm_memory_attributes {
	__u64 address;
	__u64 size;
	__u64 attributes;
	__u64 flags;
};

#endif
