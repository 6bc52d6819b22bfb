/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * VM identity: one id per VM creation, unique for a boot and a trace, and
 * no function of a kernel address (ids are published to every local user
 * by /metrics). A freed struct kvm soon comes back at the same address,
 * often for the very next VM of the same process, so the address only
 * finds the id; the id is a keyed permutation of a creation counter.
 * Included by capture.bpf.c.
 */
#ifndef PRIVMEM_VMID_BPF_H
#define PRIVMEM_VMID_BPF_H

#include "privmem/kstate.h"

/* Random per load (getrandom), never 0: ids of two loads do not collide. */
const volatile __u64 id_key;

/* struct kvm * -> id, for the VM's life; pinned, so the LSM and a restarted privmemd agree */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PM_MAX_VMS_KERNEL);
	__type(key, __u64);
	__type(value, struct pm_vm_ident);
} vm_ids SEC(".maps");

/* [0] creation counter; [1] generation: bumped by every create and destroy (task caches revalidate) */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} vm_seq SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PM_SF_MAX);
	__type(key, __u32);
	__type(value, __u64);
} state_full SEC(".maps");

static __always_inline void state_full_count(__u32 i)
{
	__u64 *n = bpf_map_lookup_elem(&state_full, &i);

	if (n)
		*n += 1;
}

/*
 * A trampoline's typed argument is a pointer to the verifier, which allows
 * no bitwise arithmetic on it: copy its bits out through the stack.
 */
static __always_inline __u64 ptr_bits(const void *p)
{
	__u64 v = 0;

	bpf_probe_read_kernel(&v, sizeof(v), &p);
	return v;
}

static __always_inline __u64 fmix64(__u64 x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

static __always_inline __u64 vm_gen(void)
{
	__u32 one = 1;
	__u64 *g = bpf_map_lookup_elem(&vm_seq, &one);

	return g ? *g : 0;
}

static __always_inline void vm_gen_bump(void)
{
	__u32 one = 1;
	__u64 *g = bpf_map_lookup_elem(&vm_seq, &one);

	if (g)
		__sync_fetch_and_add(g, 1);
}

/* fmix64 is a bijection: distinct counts give distinct ids for one key. */
static __always_inline __u64 vm_id_new(void)
{
	__u32 zero = 0;
	__u64 *seq = bpf_map_lookup_elem(&vm_seq, &zero), id;

	if (!seq)
		return 0;
	id = fmix64(__sync_fetch_and_add(seq, 1) + 1 + id_key);
	return id ? id : 1;
}

/* A VM seen for the first time (created before privmem, or its creation unseen) gets an id then. */
static __always_inline __u64 vm_id(void *kvm)
{
	__u64 k = ptr_bits(kvm);
	struct pm_vm_ident *v, fresh = {};

	if (!k)
		return 0;
	v = bpf_map_lookup_elem(&vm_ids, &k);
	if (v)
		return v->id;
	fresh.id = vm_id_new();
	fresh.tgid = bpf_get_current_pid_tgid() >> 32;
	if (!fresh.id)
		return 0;
	/* two CPUs may race to name it: the first one's id stands */
	bpf_map_update_elem(&vm_ids, &k, &fresh, BPF_NOEXIST);
	v = bpf_map_lookup_elem(&vm_ids, &k);
	if (!v)
		state_full_count(PM_SF_IDS);
	return v ? v->id : 0;
}

/* The id of a VM already named, or 0: for hooks that must not name a dying VM. */
static __always_inline __u64 vm_id_known(void *kvm)
{
	__u64 k = ptr_bits(kvm);
	struct pm_vm_ident *v = k ? bpf_map_lookup_elem(&vm_ids, &k) : NULL;

	return v ? v->id : 0;
}

#endif
