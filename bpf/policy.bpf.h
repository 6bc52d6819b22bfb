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
	__uint(max_entries, PM_MAX_VMS_KERNEL);
	__type(key, __u64);
	__type(value, struct pm_rule);
} vm_rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pm_rule);
} default_rule SEC(".maps");

/*
 * What the shared-fraction ceiling needs, kept by the capture hooks:
 * shared = open guest_memfd bytes - PRIVATE pages (attrs.bpf.h), KVM's
 * own view (no page is private until made so).
 */
struct vm_mem {
	__s64 guest_bytes;		/* guest_memfds open: created minus released */
	__u64 private_bytes;		/* pages with the PRIVATE attribute */
	__u64 chunk_lo, chunk_hi;	/* vm_attr chunks touched, to free them */
	__u32 inexact;			/* a conversion could not be tracked: shared unknown */
	__u32 touched;			/* chunk_lo/hi are set */
	struct pm_bucket b[2];		/* unlocked buckets: audit from tracing hooks */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PM_MAX_VMS_KERNEL);
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
	__uint(max_entries, PM_MAX_VMS_KERNEL);
	__type(key, __u64);
	__type(value, struct lsm_buckets);
} vm_lsm_buckets SEC(".maps");

#include "attrs.bpf.h"

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
	m = bpf_map_lookup_elem(&vm_mem, &vm);
	if (!m)
		state_full_count(PM_SF_MEM);
	return m;
}

static __always_inline void mem_note_gmem(__u64 vm, __u64 size)
{
	struct vm_mem *m = vm_mem_of(vm);

	if (m)
		__sync_fetch_and_add(&m->guest_bytes, (__s64)size);
}

static __always_inline void mem_note_gmem_close(__u64 vm, __u64 size)
{
	struct vm_mem *m = vm ? bpf_map_lookup_elem(&vm_mem, &vm) : NULL;

	if (m)
		__sync_fetch_and_add(&m->guest_bytes, -(__s64)size);
}

/* Widens the touched chunk range; a lost race only widens less, and is retried. */
static __always_inline void mem_touch(struct vm_mem *m, __u64 lo, __u64 hi)
{
	if (!m->touched) {
		__sync_val_compare_and_swap(&m->chunk_lo, 0, lo);
		__sync_val_compare_and_swap(&m->chunk_hi, 0, hi);
		m->touched = 1;
	}
	for (int i = 0; i < 4; i++) {
		__u64 cur = m->chunk_lo;

		if (cur <= lo || __sync_val_compare_and_swap(&m->chunk_lo, cur, lo) == cur)
			break;
	}
	for (int i = 0; i < 4; i++) {
		__u64 cur = m->chunk_hi;

		if (cur >= hi || __sync_val_compare_and_swap(&m->chunk_hi, cur, hi) == cur)
			break;
	}
}

/* A successful KVM_SET_MEMORY_ATTRIBUTES: only the pages it flipped move the books. */
static __always_inline void mem_note_conversion(__u64 vm, __u8 dir, __u64 addr, __u64 size)
{
	struct vm_mem *m = vm_mem_of(vm);
	__u64 gfn = addr >> 12, npages = size >> 12;
	__s64 flipped;

	if (!m || !npages)
		return;
	mem_touch(m, gfn / PM_ATTR_CHUNK_PAGES, (gfn + npages - 1) / PM_ATTR_CHUNK_PAGES);
	flipped = attr_apply(vm, gfn, npages, dir == PM_TO_PRIVATE);
	if (flipped < 0) {
		m->inexact = 1;
		return;
	}
	if (dir == PM_TO_PRIVATE)
		__sync_fetch_and_add(&m->private_bytes, flipped);
	else
		__sync_fetch_and_add(&m->private_bytes, -flipped);
}

static __always_inline __u64 mem_guest(const struct vm_mem *m)
{
	return m->guest_bytes > 0 ? (__u64)m->guest_bytes : 0;
}

static __always_inline __u64 mem_shared(const struct vm_mem *m)
{
	__u64 g = mem_guest(m);

	return m->private_bytes >= g ? 0 : g - m->private_bytes;
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
	const struct pm_limits *l;
	__u64 now = bpf_ktime_get_ns();
	struct pm_bucket *b = NULL;
	struct lsm_buckets *lb = NULL;
	struct vm_mem *m;
	__u32 verdict;
	bool deny;

	if (!r || r->mode == PM_MODE_OFF)
		return false;
	l = dir == PM_TO_PRIVATE ? &r->to_private : &r->to_shared;
	m = vm_mem_of(vm);
	if (m && lsm) {
		lb = bpf_map_lookup_elem(&vm_lsm_buckets, &vm);
		if (!lb) {
			struct lsm_buckets zero = {};

			bpf_map_update_elem(&vm_lsm_buckets, &vm, &zero, BPF_NOEXIST);
			lb = bpf_map_lookup_elem(&vm_lsm_buckets, &vm);
			if (!lb)
				state_full_count(PM_SF_LSM);
		}
	}
	/* no state, or a ceiling that cannot be known: decide nothing, refuse (fails closed) */
	if (!vm || !m || (lsm && !lb) || (m->inexact && (l->flags & PM_LIM_SHARED))) {
		verdict = PM_DENY_NO_STATE;
	} else if (lb) {
		bpf_spin_lock(&lb->lock);
		bucket_ready(&lb->b[dir - 1], r, dir, now);
		verdict = pm_decide(r, dir, &lb->b[dir - 1], now, a->size, mem_shared(m), mem_guest(m));
		bpf_spin_unlock(&lb->lock);
	} else {
		b = &m->b[dir - 1];
		bucket_ready(b, r, dir, now);
		verdict = pm_decide(r, dir, b, now, a->size, mem_shared(m), mem_guest(m));
	}
	if (verdict == PM_ALLOW)
		return false;
	deny = lsm && pm_denies(r, verdict);
	emit_verdict(vm, r, verdict, deny, dir, a->address, a->size, a->attributes);
	return deny;
}

/*
 * A VM's last reference went (kvm_destroy_vm), or its struct kvm came back
 * for a new VM: its state goes with it, whoever holds the fd. Not its LSM
 * buckets: a map with a spin lock is barred to tracing programs, so
 * privmemd frees those (on the destroy event, and a sweep of ids no live
 * VM has, for destroys made while it was down). Ids are never reused, so
 * a stale bucket can only take room, never decide for another VM.
 */
static __always_inline void policy_forget(__u64 vm)
{
	struct vm_mem *m = bpf_map_lookup_elem(&vm_mem, &vm);

	if (m && m->touched)
		attr_free(vm, m->chunk_lo, m->chunk_hi);
	bpf_map_delete_elem(&vm_rules, &vm);
	bpf_map_delete_elem(&vm_mem, &vm);
}

#endif
