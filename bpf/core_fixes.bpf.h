/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Kernel types that changed name across the kernels privmem runs on.
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

#endif
