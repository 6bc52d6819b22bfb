/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Kernel types and fields that differ across the kernels privmem runs on
 * (the bed's matrix: Debian's 6.1, 6.12 and 7.x, tests/vmtest).
 *
 * guest_memfd's per-file state was "struct kvm_gmem" (6.8, virt/kvm/
 * guest_memfd.c) and became "struct gmem_file" (7.x, when the inode took
 * over the bindings). Both start with the owning struct kvm *.
 */
#ifndef PRIVMEM_CORE_FIXES_BPF_H
#define PRIVMEM_CORE_FIXES_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>

struct gmem_file___new {
	struct kvm *kvm;
} __attribute__((preserve_access_index));

struct kvm_gmem___old {
	struct kvm *kvm;
} __attribute__((preserve_access_index));

static __always_inline struct kvm *gmem_file_kvm(void *private_data)
{
	if (bpf_core_type_exists(struct gmem_file___new))
		return BPF_CORE_READ((struct gmem_file___new *)private_data, kvm);
	return BPF_CORE_READ((struct kvm_gmem___old *)private_data, kvm);
}

/*
 * kvm_run's memory_fault came with KVM_EXIT_MEMORY_FAULT (6.8). Before it
 * the union has no such member: an unguarded read is a relocation libbpf
 * poisons, and the verifier refuses the whole exit program on 6.1. There is
 * no such exit to decode there: false, and the caller books no request.
 */
static __always_inline bool kvm_run_memory_fault(struct kvm_run *run, __u64 *flags, __u64 *gpa, __u64 *size)
{
	if (!bpf_core_field_exists(run->memory_fault))
		return false;
	*flags = BPF_CORE_READ(run, memory_fault.flags);
	*gpa = BPF_CORE_READ(run, memory_fault.gpa);
	*size = BPF_CORE_READ(run, memory_fault.size);
	return true;
}

#endif
