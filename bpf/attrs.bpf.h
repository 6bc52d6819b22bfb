/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Which guest pages are PRIVATE, as KVM keeps them, so the shared-bytes
 * ceiling follows the truth: a KVM_SET_MEMORY_ATTRIBUTES over pages that
 * already have the attributes changes nothing in KVM and nothing here. One
 * bit per 4 KiB page, 512 pages to a hash entry, a 64-page word a loop
 * step (1 GiB: 4096 steps); the atomic fetch-or/and
 * tell exactly which bits a conversion flipped, even when two race.
 * Included by policy.bpf.h, after struct vm_mem.
 */
#ifndef PRIVMEM_ATTRS_BPF_H
#define PRIVMEM_ATTRS_BPF_H

#define PM_ATTR_MAX_LOOPS	(1u << 23)	/* bpf_loop's own bound: 2 TiB of words in one call */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, PM_ATTR_CHUNKS);
	__type(key, struct pm_attr_key);
	__type(value, struct pm_attr_chunk);
} vm_attr SEC(".maps");

static struct pm_attr_chunk zero_chunk;

static __always_inline __u64 popcount64(__u64 x)
{
	x = x - ((x >> 1) & 0x5555555555555555ull);
	x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
	x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
	return (x * 0x0101010101010101ull) >> 56;
}

/* Bits [lo, hi) of a 64-bit word, 0 <= lo < hi <= 64. */
static __always_inline __u64 bit_range(__u64 lo, __u64 hi)
{
	__u64 upto = hi >= 64 ? ~0ull : (1ull << hi) - 1;

	return upto & ~((1ull << lo) - 1);
}

struct attr_walk {
	__u64 vm;
	__u64 first, last;	/* gfn range [first, last) */
	__u64 word0;		/* first 64-page word: first / 64 */
	bool set;
};

/*
 * What a walk found, in a map: loop steps that changed a counter on the
 * stack would be new states to the verifier at every step, and it would
 * never see the loop converge. Per CPU: a walk runs on one.
 */
struct attr_acc {
	__u64 flipped;		/* pages whose bit changed */
	__u64 failed;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct attr_acc);
} attr_acc SEC(".maps");

/* One 64-page word a loop step: the verifier checks a step once. */
static long attr_word_cb(__u32 i, void *ctx)
{
	struct attr_walk *w = ctx;
	__u32 zero = 0;
	struct attr_acc *acc = bpf_map_lookup_elem(&attr_acc, &zero);
	__u64 word = w->word0 + i, base = word * 64, lo, hi, mask;
	struct pm_attr_key key = { .vm = w->vm, .chunk = word / (PM_ATTR_CHUNK_PAGES / 64) };
	struct pm_attr_chunk *c = bpf_map_lookup_elem(&vm_attr, &key);
	__u32 j = word % (PM_ATTR_CHUNK_PAGES / 64);

	if (!acc)
		return 1;
	if (!c && w->set) {
		bpf_map_update_elem(&vm_attr, &key, &zero_chunk, BPF_NOEXIST);
		c = bpf_map_lookup_elem(&vm_attr, &key);
		if (!c) {
			state_full_count(PM_SF_ATTR);
			acc->failed = 1;
			return 1;
		}
	}
	if (!c || j >= PM_ATTR_CHUNK_PAGES / 64)
		return 0;	/* clearing pages never made private */
	lo = w->first > base ? w->first - base : 0;
	hi = w->last - base >= 64 ? 64 : w->last - base;
	if (lo >= 64 || lo >= hi)
		return 0;
	mask = bit_range(lo, hi);
	if (w->set)
		acc->flipped += popcount64(mask & ~__sync_fetch_and_or(&c->w[j], mask));
	else
		acc->flipped += popcount64(mask & __sync_fetch_and_and(&c->w[j], ~mask));
	return 0;
}

/*
 * Pages [gfn, gfn + npages) made private (set) or not; returns the bytes
 * whose state changed, or -1 when they could not all be tracked.
 */
static __always_inline __s64 attr_apply(__u64 vm, __u64 gfn, __u64 npages, bool set)
{
	struct attr_walk w = { .vm = vm, .first = gfn, .last = gfn + npages, .set = set };
	__u32 zero = 0;
	struct attr_acc *acc = bpf_map_lookup_elem(&attr_acc, &zero);
	__u64 nwords;

	if (!acc || !npages || w.last < gfn)
		return npages ? -1 : 0;
	w.word0 = gfn / 64;
	nwords = (w.last - 1) / 64 - w.word0 + 1;
	if (nwords > PM_ATTR_MAX_LOOPS)
		return -1;
	acc->flipped = 0;
	acc->failed = 0;
	bpf_loop(nwords, attr_word_cb, &w, 0);
	return acc->failed ? -1 : (__s64)(acc->flipped << 12);
}

struct attr_free {
	__u64 vm, chunk0;
};

static long attr_free_cb(__u32 i, void *ctx)
{
	struct attr_free *f = ctx;
	struct pm_attr_key key = { .vm = f->vm, .chunk = f->chunk0 + i };

	bpf_map_delete_elem(&vm_attr, &key);
	return 0;
}

/* Frees a VM's chunks in [lo, hi] (the range its conversions touched). */
static __always_inline void attr_free(__u64 vm, __u64 lo, __u64 hi)
{
	struct attr_free f = { .vm = vm, .chunk0 = lo };
	__u64 n = hi - lo + 1;

	if (hi < lo)
		return;
	bpf_loop(n > PM_ATTR_MAX_LOOPS ? PM_ATTR_MAX_LOOPS : n, attr_free_cb, &f, 0);
}

#endif
