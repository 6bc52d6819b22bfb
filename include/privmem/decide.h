/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The one decision function. The BPF LSM/audit programs and userspace
 * (tests, replay what-if) compile this file unchanged, so live enforcement
 * and replay cannot disagree. Hence: integers only, no libc, no loops,
 * fixed-size POD structs usable as map values.
 *
 * The caller serialises access to a bucket (in BPF: a bpf_spin_lock next
 * to it in the map value, or a per-VM value only one CPU updates).
 */
#ifndef PRIVMEM_DECIDE_H
#define PRIVMEM_DECIDE_H

#include "privmem/events.h"

/* BPF calls take at most five arguments: pm_decide must be inlined there. */
#ifdef __bpf__
#define PM_INLINE static inline __attribute__((always_inline))
#else
#define PM_INLINE static inline
#endif

#define PM_NSEC_PER_SEC	1000000000ull
#define PM_U64_MAX	(~0ull)

/* pm_limits.flags: which limits are set; an unset one never denies. */
#define PM_LIM_RATE		(1u << 0)	/* rate and burst */
#define PM_LIM_MAX_REQUEST	(1u << 1)
#define PM_LIM_SHARED		(1u << 2)	/* max_shared_permille, to_shared only */

/* Zero is off, so a zeroed map value never denies anything. */
enum pm_mode {
	PM_MODE_OFF = 0,	/* decide nothing */
	PM_MODE_AUDIT = 1,	/* decide, report would-deny, allow */
	PM_MODE_ENFORCE = 2,	/* decide, deny with EPERM */
};

enum pm_verdict {
	PM_ALLOW = 0,
	PM_DENY_RATE = 1,		/* not enough tokens in the bucket */
	PM_DENY_MAX_REQUEST = 2,	/* one attempt larger than max_request */
	PM_DENY_SHARED_CEILING = 3,	/* would take shared/guest above the ceiling */
	PM_DENY_UNREADABLE = 4,		/* the LSM could not read the attempt's argument */
	PM_DENY_NO_STATE = 5,		/* no per-VM state could be had (maps full): enforce fails closed */
	PM_VERDICTS,
};

/* Limits of one direction. */
struct pm_limits {
	__u64 rate;			/* bytes per second refilled */
	__u64 burst;			/* bucket depth, bytes */
	__u64 max_request;		/* largest single attempt, bytes */
	__u32 flags;			/* PM_LIM_* */
	__u32 max_shared_permille;	/* 0..1000 of guest memory */
};

/* What applies to one VM: resolved by privmemd, one map value per VM. */
struct pm_rule {
	struct pm_limits to_private;
	struct pm_limits to_shared;
	__u32 id;			/* 0: the policy's defaults; n: its n-th vms entry */
	__u32 mode;			/* enum pm_mode */
};

/* Token bucket of one VM and direction. */
struct pm_bucket {
	__u64 tokens;			/* bytes that may be converted now */
	__u64 last_ns;			/* refilled up to this time */
	__u32 frac;			/* carried remainder, in 1e-9 bytes (< 1e9) */
	__u32 pad;
};

PM_INLINE __u64 pm_sat_add(__u64 a, __u64 b)
{
	__u64 s = a + b;

	return s < a ? PM_U64_MAX : s;
}

/* In 32-bit halves: clang turns "b > MAX / a" into a 128-bit multiply BPF lacks. */
PM_INLINE __u64 pm_sat_mul(__u64 a, __u64 b)
{
	__u64 ah = a >> 32, al = a & 0xffffffffull;
	__u64 bh = b >> 32, bl = b & 0xffffffffull;
	__u64 mid;

	if (ah && bh)
		return PM_U64_MAX;
	mid = ah * bl + al * bh;	/* one term is 0, the other < 2^64 */
	if (mid >> 32)
		return PM_U64_MAX;
	return pm_sat_add(mid << 32, al * bl);
}

/*
 * A new bucket starts full: a booting guest converts in bursts. A zeroed
 * one counts as empty at boot (time 0) and refilled since: full in practice.
 */
PM_INLINE void pm_bucket_init(struct pm_bucket *b, const struct pm_limits *l, __u64 now_ns)
{
	b->tokens = l->burst;
	b->last_ns = now_ns;
	b->frac = 0;
	b->pad = 0;
}

/*
 * Adds elapsed * rate / 1e9 tokens exactly, with no 128-bit product (BPF
 * has none): with el = s*1e9 + r and rate = q*1e9 + p,
 *   el * rate / 1e9 = s*rate + r*q + r*p/1e9,
 * where r*q < 2^64 (r < 1e9, q <= 2^64/1e9), r*p + frac < 2^60, and only
 * s*rate can overflow, which saturates. The remainder of r*p/1e9 is carried
 * in frac, so tokens credited never depend on how often this is called.
 */
PM_INLINE void pm_bucket_refill(struct pm_bucket *b, const struct pm_limits *l, __u64 now_ns)
{
	__u64 el, s, r, part, add;

	/* A clock that stands still or goes back mints nothing, and last_ns
	 * stays put so no interval is ever credited twice. */
	if (now_ns > b->last_ns && b->tokens < l->burst) {
		el = now_ns - b->last_ns;
		s = el / PM_NSEC_PER_SEC;
		r = el % PM_NSEC_PER_SEC;
		part = r * (l->rate % PM_NSEC_PER_SEC) + b->frac;
		add = pm_sat_mul(s, l->rate);
		add = pm_sat_add(add, r * (l->rate / PM_NSEC_PER_SEC));
		add = pm_sat_add(add, part / PM_NSEC_PER_SEC);
		b->frac = (__u32)(part % PM_NSEC_PER_SEC);
		b->tokens = pm_sat_add(b->tokens, add);
	}
	if (now_ns > b->last_ns)
		b->last_ns = now_ns;
	/* burst caps the bucket; a burst lowered by a reload applies at once */
	if (b->tokens >= l->burst) {
		b->tokens = l->burst;
		b->frac = 0;
	}
}

/* permille/1000 of x without overflowing x * permille; above 1000 is all of x. */
PM_INLINE __u64 pm_permille_of(__u64 x, __u32 permille)
{
	if (permille >= 1000)
		return x;
	return (x / 1000) * permille + (x % 1000) * permille / 1000;
}

/*
 * Decides one attempt of `size` bytes in direction `dir` (enum pm_dir) at
 * now_ns; shared_bytes and guest_bytes are the VM's before the attempt
 * (guest_bytes 0: unknown, no ceiling). Tokens are taken only when the
 * verdict is PM_ALLOW, in audit mode too: audit then predicts exactly what
 * enforce would have let through. Mode off touches nothing.
 */
PM_INLINE __u32 pm_decide(const struct pm_rule *rule, __u32 dir, struct pm_bucket *b,
			      __u64 now_ns, __u64 size, __u64 shared_bytes, __u64 guest_bytes)
{
	const struct pm_limits *l;
	__u64 ceiling;

	if (rule->mode == PM_MODE_OFF)
		return PM_ALLOW;
	if (dir == PM_TO_PRIVATE)
		l = &rule->to_private;
	else if (dir == PM_TO_SHARED)
		l = &rule->to_shared;
	else
		return PM_ALLOW;

	if ((l->flags & PM_LIM_MAX_REQUEST) && size > l->max_request)
		return PM_DENY_MAX_REQUEST;
	if (dir == PM_TO_SHARED && (l->flags & PM_LIM_SHARED) && guest_bytes) {
		ceiling = pm_permille_of(guest_bytes, l->max_shared_permille);
		/* shared + size > ceiling, without the sum overflowing */
		if (size > ceiling || shared_bytes > ceiling - size)
			return PM_DENY_SHARED_CEILING;
	}
	if (!(l->flags & PM_LIM_RATE))
		return PM_ALLOW;
	pm_bucket_refill(b, l, now_ns);
	if (size > b->tokens)
		return PM_DENY_RATE;
	b->tokens -= size;
	return PM_ALLOW;
}

/* Whether the VMM's call fails: only an enforcing rule denies. */
PM_INLINE __u32 pm_denies(const struct pm_rule *rule, __u32 verdict)
{
	return verdict != PM_ALLOW && rule->mode == PM_MODE_ENFORCE;
}

#endif
