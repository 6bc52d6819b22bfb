/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Policy in the capture object: the rule maps privmemd writes, the per-VM
 * state decide() needs (buckets, guest and shared bytes), and the one
 * evaluation both the LSM (enforce or audit) and, where no LSM runs, the
 * attempt hooks (audit only) call. Included by capture.bpf.c.
 */
#ifndef PRIVMEM_POLICY_BPF_H
#define PRIVMEM_POLICY_BPF_H

#include "privmem/decide.h"

/* A VM without its own entry gets the policy's defaults. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct pm_rule);
} vm_rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pm_rule);
} default_rule SEC(".maps");

/* What the shared-fraction ceiling needs, kept by the capture hooks. */
struct vm_mem {
	__u64 guest_bytes;
	__s64 shared_delta;		/* converted to shared minus to private */
	__u64 init_shared;		/* a guest_memfd was created INIT_SHARED */
	struct pm_bucket b[2];		/* unlocked buckets: audit from tracing hooks */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct vm_mem);
} vm_mem SEC(".maps");

/* Tracing programs may not take spin locks; the LSM may, and must: it enforces. */
struct lsm_buckets {
	struct bpf_spin_lock lock;
	__u32 pad;
	struct pm_bucket b[2];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct lsm_buckets);
} vm_lsm_buckets SEC(".maps");

/* Set by the loader when the LSM program is live: it alone decides then. */
const volatile bool policy_in_lsm;
/*
 * A call the LSM refuses never reaches kvm_vm_ioctl, so an fexit there
 * cannot see it: the LSM then reports the failed attempt itself. (The
 * syscall tracepoint does see it, at sys_exit, with -EPERM.)
 */
const volatile bool lsm_reports_attempt;

/* No zeroed lsm_buckets in .bss: a spin lock in the global-data map's type would bar every tracing program from it. */
static struct vm_mem zero_mem;

static __always_inline struct vm_mem *vm_mem_of(__u64 vm)
{
	struct vm_mem *m = bpf_map_lookup_elem(&vm_mem, &vm);

	if (m || !vm)
		return m;
	bpf_map_update_elem(&vm_mem, &vm, &zero_mem, BPF_NOEXIST);
	return bpf_map_lookup_elem(&vm_mem, &vm);
}

static __always_inline void mem_note_gmem(__u64 vm, __u64 size, __u64 flags)
{
	struct vm_mem *m = vm_mem_of(vm);

	if (!m)
		return;
	__sync_fetch_and_add(&m->guest_bytes, size);
	if (flags & PM_GUEST_MEMFD_FLAG_INIT_SHARED)
		m->init_shared = 1;
}

static __always_inline void mem_note_conversion(__u64 vm, __u8 dir, __u64 size)
{
	struct vm_mem *m = vm_mem_of(vm);

	if (m)
		__sync_fetch_and_add(&m->shared_delta, dir == PM_TO_SHARED ? (__s64)size : -(__s64)size);
}

static __always_inline __u64 mem_shared(const struct vm_mem *m)
{
	__s64 v = (m->init_shared ? (__s64)m->guest_bytes : 0) + m->shared_delta;

	if (v < 0)
		return 0;
	return (__u64)v > m->guest_bytes ? m->guest_bytes : (__u64)v;
}

static __always_inline const struct pm_rule *rule_of(__u64 vm)
{
	struct pm_rule *r = bpf_map_lookup_elem(&vm_rules, &vm);
	__u32 zero = 0;

	return r ? r : bpf_map_lookup_elem(&default_rule, &zero);
}

/* Fresh buckets start full (pm_bucket_init); last_ns 0 marks never used. */
static __always_inline void bucket_ready(struct pm_bucket *b, const struct pm_rule *r, __u8 dir, __u64 now)
{
	if (!b->last_ns)
		pm_bucket_init(b, dir == PM_TO_PRIVATE ? &r->to_private : &r->to_shared, now);
}

static __always_inline void emit_verdict(__u64 vm, const struct pm_rule *r, __u32 verdict, bool deny,
					 __u8 dir, __u64 addr, __u64 size, __u64 attrs)
{
	struct pm_event *e = ev_reserve(vm, deny ? PM_EV_DENY : PM_EV_WOULD_DENY);

	if (!e)
		return;
	e->dir = dir;
	e->addr = addr;
	e->size = size;
	e->attrs = attrs;
	e->aux = r->id;
	e->source = verdict;
	e->ret = deny ? -1 /* EPERM */ : 0;
	ev_submit(e);
}

/*
 * Decides one KVM_SET_MEMORY_ATTRIBUTES attempt; returns true when it must
 * fail. The caller says whether it can enforce (the LSM) or only audit.
 */
static __always_inline bool policy_attempt(__u64 vm, const struct pm_kvm_memory_attributes *a, bool lsm)
{
	const struct pm_rule *r = rule_of(vm);
	__u8 dir = (a->attributes & PM_KVM_MEMORY_ATTRIBUTE_PRIVATE) ? PM_TO_PRIVATE : PM_TO_SHARED;
	__u64 now = bpf_ktime_get_ns(), shared = 0, guest = 0;
	struct vm_mem *m;
	__u32 verdict;
	bool deny;

	if (!r || r->mode == PM_MODE_OFF)
		return false;
	m = vm_mem_of(vm);
	if (!m)
		return false;
	shared = mem_shared(m);
	guest = m->guest_bytes;
	if (lsm) {
		struct lsm_buckets *lb = bpf_map_lookup_elem(&vm_lsm_buckets, &vm);

		if (!lb) {
			struct lsm_buckets zero = {};

			bpf_map_update_elem(&vm_lsm_buckets, &vm, &zero, BPF_NOEXIST);
			lb = bpf_map_lookup_elem(&vm_lsm_buckets, &vm);
			if (!lb)
				return false;
		}
		bpf_spin_lock(&lb->lock);
		bucket_ready(&lb->b[dir - 1], r, dir, now);
		verdict = pm_decide(r, dir, &lb->b[dir - 1], now, a->size, shared, guest);
		bpf_spin_unlock(&lb->lock);
	} else {
		bucket_ready(&m->b[dir - 1], r, dir, now);
		verdict = pm_decide(r, dir, &m->b[dir - 1], now, a->size, shared, guest);
	}
	if (verdict == PM_ALLOW)
		return false;
	deny = lsm && pm_denies(r, verdict);
	emit_verdict(vm, r, verdict, deny, dir, a->address, a->size, a->attributes);
	return deny;
}

#endif
