// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * testvmm speaks to KVM with privmem's own constants (privmem/kvm_abi.h), so
 * a wrong number there would fool both sides alike. Each one is checked here,
 * at compile time, against the kernel's uapi where the installed headers have
 * it (linux-libc-dev 6.1 lacks guest_memfd and memory attributes: those are
 * guarded by #ifdef), and every ioctl number against the _IO* encoding of the
 * struct testvmm actually passes, which needs no header at all.
 */
#include <linux/falloc.h>
#include <linux/kvm.h>
#include <linux/kvm_para.h>
#include "privmem/kvm_abi.h"

#define SAME(ours, uapi) _Static_assert((ours) == (uapi), #ours " != " #uapi)

/* encodings from the argument structs (Documentation/virt/kvm/api.rst) */
SAME(PM_KVM_CREATE_VM, _IO(KVMIO, 0x01));
SAME(PM_KVM_CHECK_EXTENSION, _IO(KVMIO, 0x03));
SAME(PM_KVM_RUN, _IO(KVMIO, 0x80));
SAME(PM_KVM_SET_USER_MEMORY_REGION2, _IOW(KVMIO, 0x49, struct pm_kvm_userspace_memory_region2));
SAME(PM_KVM_SET_MEMORY_ATTRIBUTES, _IOW(KVMIO, 0xd2, struct pm_kvm_memory_attributes));
SAME(PM_KVM_CREATE_GUEST_MEMFD, _IOWR(KVMIO, 0xd4, struct pm_kvm_create_guest_memfd));
SAME(sizeof(struct pm_kvm_userspace_memory_region2), 160);
SAME(sizeof(struct pm_kvm_memory_attributes), 32);
SAME(sizeof(struct pm_kvm_create_guest_memfd), 64);

/* in every uapi header privmem builds against (6.1 and later) */
SAME(PM_KVM_CREATE_VM, KVM_CREATE_VM);
SAME(PM_KVM_CHECK_EXTENSION, KVM_CHECK_EXTENSION);
SAME(PM_KVM_RUN, KVM_RUN);
SAME(PM_KVM_CAP_EXIT_HYPERCALL, KVM_CAP_EXIT_HYPERCALL);
SAME(PM_KVM_EXIT_IO, KVM_EXIT_IO);
SAME(PM_KVM_EXIT_HYPERCALL, KVM_EXIT_HYPERCALL);
SAME(PM_KVM_EXIT_HLT, KVM_EXIT_HLT);
SAME(PM_KVM_EXIT_MMIO, KVM_EXIT_MMIO);
SAME(PM_KVM_EXIT_SHUTDOWN, KVM_EXIT_SHUTDOWN);
SAME(PM_KVM_HC_MAP_GPA_RANGE, KVM_HC_MAP_GPA_RANGE);
SAME(PM_KVM_MAP_GPA_RANGE_PAGE_SZ_2M, KVM_MAP_GPA_RANGE_PAGE_SZ_2M);
SAME(PM_KVM_MAP_GPA_RANGE_PAGE_SZ_1G, KVM_MAP_GPA_RANGE_PAGE_SZ_1G);
SAME(PM_KVM_MAP_GPA_RANGE_ENCRYPTED, KVM_MAP_GPA_RANGE_ENCRYPTED);
SAME(PM_FALLOC_FL_KEEP_SIZE, FALLOC_FL_KEEP_SIZE);
SAME(PM_FALLOC_FL_PUNCH_HOLE, FALLOC_FL_PUNCH_HOLE);
SAME(PM_KVM_RUN_EXIT_UNION_OFFSET, __builtin_offsetof(struct kvm_run, io));

/* newer than 6.1: checked where the headers have them */
#ifdef KVM_SET_USER_MEMORY_REGION2
SAME(PM_KVM_SET_USER_MEMORY_REGION2, KVM_SET_USER_MEMORY_REGION2);
#endif
#ifdef KVM_SET_MEMORY_ATTRIBUTES
SAME(PM_KVM_SET_MEMORY_ATTRIBUTES, KVM_SET_MEMORY_ATTRIBUTES);
SAME(PM_KVM_MEMORY_ATTRIBUTE_PRIVATE, KVM_MEMORY_ATTRIBUTE_PRIVATE);
#endif
#ifdef KVM_CREATE_GUEST_MEMFD
SAME(PM_KVM_CREATE_GUEST_MEMFD, KVM_CREATE_GUEST_MEMFD);
#endif
#ifdef KVM_CAP_USER_MEMORY2
SAME(PM_KVM_CAP_USER_MEMORY2, KVM_CAP_USER_MEMORY2);
#endif
#ifdef KVM_CAP_MEMORY_FAULT_INFO
SAME(PM_KVM_CAP_MEMORY_FAULT_INFO, KVM_CAP_MEMORY_FAULT_INFO);
#endif
#ifdef KVM_CAP_MEMORY_ATTRIBUTES
SAME(PM_KVM_CAP_MEMORY_ATTRIBUTES, KVM_CAP_MEMORY_ATTRIBUTES);
#endif
#ifdef KVM_CAP_GUEST_MEMFD
SAME(PM_KVM_CAP_GUEST_MEMFD, KVM_CAP_GUEST_MEMFD);
#endif
#ifdef KVM_CAP_VM_TYPES
SAME(PM_KVM_CAP_VM_TYPES, KVM_CAP_VM_TYPES);
#endif
#ifdef KVM_CAP_GUEST_MEMFD_FLAGS
SAME(PM_KVM_CAP_GUEST_MEMFD_FLAGS, KVM_CAP_GUEST_MEMFD_FLAGS);
#endif
#ifdef KVM_X86_SW_PROTECTED_VM
SAME(PM_KVM_X86_DEFAULT_VM, KVM_X86_DEFAULT_VM);
SAME(PM_KVM_X86_SW_PROTECTED_VM, KVM_X86_SW_PROTECTED_VM);
#endif
#ifdef KVM_MEM_GUEST_MEMFD
SAME(PM_KVM_MEM_GUEST_MEMFD, KVM_MEM_GUEST_MEMFD);
#endif
#ifdef GUEST_MEMFD_FLAG_MMAP
SAME(PM_GUEST_MEMFD_FLAG_MMAP, GUEST_MEMFD_FLAG_MMAP);
#endif
#ifdef GUEST_MEMFD_FLAG_INIT_SHARED
SAME(PM_GUEST_MEMFD_FLAG_INIT_SHARED, GUEST_MEMFD_FLAG_INIT_SHARED);
#endif
#ifdef KVM_EXIT_MEMORY_FAULT
SAME(PM_KVM_EXIT_MEMORY_FAULT, KVM_EXIT_MEMORY_FAULT);
SAME(PM_KVM_MEMORY_EXIT_FLAG_PRIVATE, KVM_MEMORY_EXIT_FLAG_PRIVATE);
#endif
