// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * decide.h: token-bucket refill and burst, max_request, the shared ceiling,
 * extreme rates and times against a 128-bit reference, a clock that goes
 * backwards, and exact token counts over scripted sequences.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "privmem/decide.h"

#define SEC	1000000000ull
#define MiB	(1ull << 20)
#define GiB	(1ull << 30)
#define YEAR	(365ull * 24 * 3600 * SEC)

typedef unsigned __int128 u128;

static struct pm_rule rule_rate(uint32_t dir, uint64_t rate, uint64_t burst)
{
	struct pm_rule r;
	struct pm_limits *l;

	memset(&r, 0, sizeof(r));
	r.mode = PM_MODE_ENFORCE;
	r.id = 1;
	l = dir == PM_TO_SHARED ? &r.to_shared : &r.to_private;
	l->rate = rate;
	l->burst = burst;
	l->flags = PM_LIM_RATE;
	return r;
}

static uint32_t dec(const struct pm_rule *r, struct pm_bucket *b, uint64_t now, uint64_t size)
{
	return pm_decide(r, PM_TO_SHARED, b, now, size, 0, 0);
}

static void layout_fits_map_values(void **state)
{
	(void)state;
	/* no implicit padding: BPF and userspace agree byte for byte */
	assert_int_equal(sizeof(struct pm_limits), 32);
	assert_int_equal(sizeof(struct pm_rule), 72);
	assert_int_equal(sizeof(struct pm_bucket), 24);
	assert_int_equal(offsetof(struct pm_rule, to_shared), 32);
	assert_int_equal(offsetof(struct pm_rule, id), 64);
	assert_int_equal(offsetof(struct pm_bucket, frac), 16);
}

static void refill_and_burst(void **state)
{
	struct pm_rule r = rule_rate(PM_TO_SHARED, 1000, 10000);
	struct pm_bucket b;

	(void)state;
	pm_bucket_init(&b, &r.to_shared, 0);
	assert_int_equal(b.tokens, 10000);
	/* a new bucket is full: the whole burst at once, then nothing */
	assert_int_equal(dec(&r, &b, 0, 10000), PM_ALLOW);
	assert_int_equal(b.tokens, 0);
	assert_int_equal(dec(&r, &b, 0, 1), PM_DENY_RATE);
	/* 1.5 s at 1000 B/s */
	assert_int_equal(dec(&r, &b, 1500000000ull, 1501), PM_DENY_RATE);
	assert_int_equal(b.tokens, 1500);
	assert_int_equal(dec(&r, &b, 1500000000ull, 1500), PM_ALLOW);
	assert_int_equal(b.tokens, 0);
	/* idle for an hour: capped at burst, remainder dropped */
	assert_int_equal(dec(&r, &b, 3600 * SEC + 7, 0), PM_ALLOW);
	assert_int_equal(b.tokens, 10000);
	assert_int_equal(b.frac, 0);
	/* more than the burst can never pass, however long one waits */
	assert_int_equal(dec(&r, &b, 7200 * SEC, 10001), PM_DENY_RATE);
	assert_int_equal(b.tokens, 10000);
}

static void fractions_carry(void **state)
{
	struct pm_rule r = rule_rate(PM_TO_SHARED, 3, 1000);
	struct pm_bucket b = { 0 };

	(void)state;
	b.last_ns = 0;
	/* 3 B/s polled every 100 ms: naive truncation would never refill */
	for (uint64_t k = 1; k <= 100; k++) {
		pm_bucket_refill(&b, &r.to_shared, k * SEC / 10);
		assert_int_equal(b.tokens, 3 * k / 10);
	}
	assert_int_equal(b.tokens, 30);
	/* and polling every nanosecond credits the same as one call */
	memset(&b, 0, sizeof(b));
	for (uint64_t t = 1; t <= 1000; t++)
		pm_bucket_refill(&b, &r.to_shared, t);
	assert_int_equal(b.tokens, 0);
	assert_int_equal(b.frac, 3000);
	r = rule_rate(PM_TO_SHARED, 999999999, 1ull << 40);
	memset(&b, 0, sizeof(b));
	for (uint64_t t = 1; t <= 3000; t++)
		pm_bucket_refill(&b, &r.to_shared, t * 7);
	assert_int_equal(b.tokens, (uint64_t)((u128)21000 * 999999999 / SEC));
}

static void max_request(void **state)
{
	struct pm_rule r = rule_rate(PM_TO_SHARED, MiB, 8 * MiB);
	struct pm_bucket b;

	(void)state;
	r.to_shared.flags |= PM_LIM_MAX_REQUEST;
	r.to_shared.max_request = 2 * MiB;
	pm_bucket_init(&b, &r.to_shared, 100);
	assert_int_equal(dec(&r, &b, 5 * SEC, 2 * MiB + 4096), PM_DENY_MAX_REQUEST);
	/* a max_request denial takes no tokens and does not even refill */
	assert_int_equal(b.tokens, 8 * MiB);
	assert_int_equal(b.last_ns, 100);
	assert_int_equal(dec(&r, &b, 5 * SEC, 2 * MiB), PM_ALLOW);
	assert_int_equal(b.tokens, 6 * MiB);
	/* max_request alone, no rate: the bucket is never touched */
	r.to_shared.flags = PM_LIM_MAX_REQUEST;
	memset(&b, 0, sizeof(b));
	assert_int_equal(dec(&r, &b, 9 * SEC, 1 * MiB), PM_ALLOW);
	assert_int_equal(b.tokens, 0);
	assert_int_equal(b.last_ns, 0);
	/* limits of the other direction do not apply */
	assert_int_equal(pm_decide(&r, PM_TO_PRIVATE, &b, 9 * SEC, 1ull << 40, 0, 0), PM_ALLOW);
}

static void reference_refill(uint64_t rate, uint64_t burst, struct pm_bucket *b, uint64_t now)
{
	u128 t;

	if (now > b->last_ns && b->tokens < burst) {
		t = (u128)(now - b->last_ns) * rate + b->frac;
		b->frac = (uint32_t)(t % SEC);
		t = t / SEC + b->tokens;
		b->tokens = t > UINT64_MAX ? UINT64_MAX : (uint64_t)t;
	}
	if (now > b->last_ns)
		b->last_ns = now;
	if (b->tokens >= burst) {
		b->tokens = burst;
		b->frac = 0;
	}
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Values at the edges of every quantity the arithmetic splits on. */
static uint64_t edge(uint64_t *s)
{
	static const uint64_t v[] = {
		0, 1, 2, 999999999, SEC, SEC + 1, 4096, 64 * MiB, GiB, 1ull << 32, (1ull << 32) - 1,
		1ull << 62, 1ull << 63, (1ull << 63) + 1, UINT64_MAX - 1, UINT64_MAX, YEAR, 100 * YEAR,
		18446744073ull, 18446744074ull, 709551615ull,
	};
	uint64_t x = rnd(s);

	switch (x % 4) {
	case 0: return v[(x >> 8) % (sizeof(v) / sizeof(v[0]))];
	case 1: return rnd(s) >> (rnd(s) % 64);
	case 2: return rnd(s) % (10 * SEC);
	}
	return rnd(s);
}

static void overflow_at_extreme_rates(void **state)
{
	struct pm_rule r = rule_rate(PM_TO_SHARED, 1ull << 63, UINT64_MAX);
	struct pm_bucket b = { 0 };
	uint64_t seed = 0x9e3779b97f4a7c15ull;

	(void)state;
	/* 2^63 B/s for ten years: saturates at the burst, no wrap to small */
	pm_bucket_refill(&b, &r.to_shared, 10 * YEAR);
	assert_int_equal(b.tokens, UINT64_MAX);
	/* 2^64-1 B/s for 1 ns: 18446744073 bytes, the rest carried */
	r.to_shared.rate = UINT64_MAX;
	memset(&b, 0, sizeof(b));
	pm_bucket_refill(&b, &r.to_shared, 1);
	assert_int_equal(b.tokens, 18446744073ull);
	assert_int_equal(b.frac, 709551615);
	/* 1 B/s for a century: exact */
	r.to_shared.rate = 1;
	memset(&b, 0, sizeof(b));
	pm_bucket_refill(&b, &r.to_shared, 100 * YEAR + SEC - 1);
	assert_int_equal(b.tokens, 100 * YEAR / SEC);
	assert_int_equal(b.frac, SEC - 1);
	/* a bucket already near 2^64 does not wrap when topped up */
	memset(&b, 0, sizeof(b));
	b.tokens = UINT64_MAX - 5;
	r.to_shared.rate = GiB;
	pm_bucket_refill(&b, &r.to_shared, SEC);
	assert_int_equal(b.tokens, UINT64_MAX);

	/* against 128-bit arithmetic: random and edge values, many steps */
	for (int i = 0; i < 200000; i++) {
		struct pm_bucket got, want;
		uint64_t rate = edge(&seed), burst = edge(&seed), now;

		memset(&got, 0, sizeof(got));
		got.tokens = edge(&seed);
		got.last_ns = edge(&seed);
		got.frac = (uint32_t)(rnd(&seed) % SEC);
		now = got.last_ns + edge(&seed);	/* may wrap: then it goes back */
		want = got;
		r.to_shared.rate = rate;
		r.to_shared.burst = burst;
		pm_bucket_refill(&got, &r.to_shared, now);
		reference_refill(rate, burst, &want, now);
		if (memcmp(&got, &want, sizeof(got)))
			fail_msg("step %d rate %llu burst %llu now %llu: tokens %llu/%llu frac %u/%u", i,
				 (unsigned long long)rate, (unsigned long long)burst, (unsigned long long)now,
				 (unsigned long long)got.tokens, (unsigned long long)want.tokens, got.frac, want.frac);
	}
}

static void saturating_helpers(void **state)
{
	uint64_t seed = 12345;

	(void)state;
	for (int i = 0; i < 200000; i++) {
		uint64_t a = edge(&seed), b = edge(&seed);
		u128 m = (u128)a * b, s = (u128)a + b;
		uint32_t pm = (uint32_t)(rnd(&seed) % 1001);

		assert_int_equal(pm_sat_mul(a, b), m > UINT64_MAX ? UINT64_MAX : (uint64_t)m);
		assert_int_equal(pm_sat_add(a, b), s > UINT64_MAX ? UINT64_MAX : (uint64_t)s);
		assert_int_equal(pm_permille_of(a, pm), (uint64_t)((u128)a * pm / 1000));
		/* a corrupt map value above 100% means all, not an overflow */
		assert_int_equal(pm_permille_of(a, (uint32_t)rnd(&seed) | 1024), a);
	}
}

static void clock_backwards(void **state)
{
	struct pm_rule r = rule_rate(PM_TO_SHARED, 1000, 1000000);
	struct pm_bucket b = { .tokens = 0, .last_ns = 10 * SEC };

	(void)state;
	/* back 5 s: nothing minted, and last_ns holds */
	assert_int_equal(dec(&r, &b, 5 * SEC, 1), PM_DENY_RATE);
	assert_int_equal(b.tokens, 0);
	assert_int_equal(b.last_ns, 10 * SEC);
	/* forward again: only time after 10 s counts, never 5..10 twice */
	assert_int_equal(dec(&r, &b, 11 * SEC, 0), PM_ALLOW);
	assert_int_equal(b.tokens, 1000);
	/* back to 0 and forward to 11 s again: nothing new */
	pm_bucket_refill(&b, &r.to_shared, 0);
	pm_bucket_refill(&b, &r.to_shared, 11 * SEC);
	assert_int_equal(b.tokens, 1000);
	/* the same instant twice: nothing */
	pm_bucket_refill(&b, &r.to_shared, 11 * SEC);
	assert_int_equal(b.tokens, 1000);
	assert_int_equal(b.frac, 0);
}

static void shared_ceiling(void **state)
{
	struct pm_rule r;
	struct pm_bucket b = { 0 };

	(void)state;
	memset(&r, 0, sizeof(r));
	r.mode = PM_MODE_AUDIT;
	r.to_shared.flags = PM_LIM_SHARED;
	r.to_shared.max_shared_permille = 500;
	/* 400 MiB shared of 1 GiB: up to 512 MiB may be */
	assert_int_equal(pm_decide(&r, PM_TO_SHARED, &b, 1, 112 * MiB, 400 * MiB, GiB), PM_ALLOW);
	assert_int_equal(pm_decide(&r, PM_TO_SHARED, &b, 1, 112 * MiB + 1, 400 * MiB, GiB), PM_DENY_SHARED_CEILING);
	/* unknown guest size: no ceiling */
	assert_int_equal(pm_decide(&r, PM_TO_SHARED, &b, 1, GiB, 400 * MiB, 0), PM_ALLOW);
	/* converting to private lowers the fraction: never refused for it */
	r.to_private.flags = PM_LIM_SHARED;
	r.to_private.max_shared_permille = 0;
	assert_int_equal(pm_decide(&r, PM_TO_PRIVATE, &b, 1, GiB, GiB, GiB), PM_ALLOW);
	/* shared + size near 2^64 saturates rather than wrapping under the limit */
	assert_int_equal(pm_decide(&r, PM_TO_SHARED, &b, 1, 10, UINT64_MAX - 5, UINT64_MAX), PM_DENY_SHARED_CEILING);
	/* 100% of a huge guest, exactly */
	r.to_shared.max_shared_permille = 1000;
	assert_int_equal(pm_decide(&r, PM_TO_SHARED, &b, 1, 1, UINT64_MAX - 1, UINT64_MAX), PM_ALLOW);
	assert_int_equal(pm_decide(&r, PM_TO_SHARED, &b, 1, 2, UINT64_MAX - 1, UINT64_MAX), PM_DENY_SHARED_CEILING);
	/* 0%: nothing more may become shared */
	r.to_shared.max_shared_permille = 0;
	assert_int_equal(pm_decide(&r, PM_TO_SHARED, &b, 1, 4096, 0, GiB), PM_DENY_SHARED_CEILING);
	assert_int_equal(b.tokens, 0);
	assert_int_equal(b.last_ns, 0);
}

static void verdict_order(void **state)
{
	struct pm_rule r = rule_rate(PM_TO_SHARED, 0, 0);
	struct pm_bucket b = { 0 };

	(void)state;
	r.to_shared.flags |= PM_LIM_MAX_REQUEST | PM_LIM_SHARED;
	r.to_shared.max_request = MiB;
	r.to_shared.max_shared_permille = 100;
	/* every limit broken: the cheapest, stateless one is reported */
	assert_int_equal(pm_decide(&r, PM_TO_SHARED, &b, SEC, 2 * MiB, GiB, GiB), PM_DENY_MAX_REQUEST);
	assert_int_equal(pm_decide(&r, PM_TO_SHARED, &b, SEC, MiB, GiB, GiB), PM_DENY_SHARED_CEILING);
	assert_int_equal(pm_decide(&r, PM_TO_SHARED, &b, SEC, MiB, 0, GiB), PM_DENY_RATE);
	/* rate 0, burst 0: nothing but empty attempts ever passes */
	assert_int_equal(pm_decide(&r, PM_TO_SHARED, &b, 100 * YEAR, 1, 0, GiB), PM_DENY_RATE);
	assert_int_equal(pm_decide(&r, PM_TO_SHARED, &b, 100 * YEAR, 0, 0, GiB), PM_ALLOW);
}

static void modes(void **state)
{
	struct pm_rule r = rule_rate(PM_TO_SHARED, 1, 4096);
	struct pm_bucket b, a;

	(void)state;
	pm_bucket_init(&b, &r.to_shared, 0);
	a = b;
	/* audit decides exactly as enforce, tokens included, but lets it through */
	assert_int_equal(dec(&r, &b, 0, 4096), PM_ALLOW);
	assert_int_equal(dec(&r, &b, 0, 4096), PM_DENY_RATE);
	assert_true(pm_denies(&r, PM_DENY_RATE));
	r.mode = PM_MODE_AUDIT;
	assert_int_equal(dec(&r, &a, 0, 4096), PM_ALLOW);
	assert_int_equal(dec(&r, &a, 0, 4096), PM_DENY_RATE);
	assert_memory_equal(&a, &b, sizeof(a));
	assert_false(pm_denies(&r, PM_DENY_RATE));
	assert_false(pm_denies(&r, PM_ALLOW));
	/* off: allowed, bucket untouched */
	r.mode = PM_MODE_OFF;
	assert_int_equal(dec(&r, &a, SEC, 1ull << 50), PM_ALLOW);
	assert_memory_equal(&a, &b, sizeof(a));
	/* a zeroed rule (an empty map value) is off */
	memset(&r, 0, sizeof(r));
	assert_int_equal(dec(&r, &a, SEC, UINT64_MAX), PM_ALLOW);
	/* no direction: nothing to police */
	r = rule_rate(PM_TO_SHARED, 0, 0);
	assert_int_equal(pm_decide(&r, PM_DIR_NONE, &a, SEC, GiB, 0, 0), PM_ALLOW);
	assert_int_equal(pm_decide(&r, 7, &a, SEC, GiB, 0, 0), PM_ALLOW);
}

static void reload_and_zeroed_bucket(void **state)
{
	struct pm_rule r = rule_rate(PM_TO_PRIVATE, GiB, 4 * GiB);
	struct pm_bucket b = { 0 };

	(void)state;
	/* a zeroed bucket counts as refilled since boot: full after 4 s */
	assert_int_equal(pm_decide(&r, PM_TO_PRIVATE, &b, 4 * SEC, 4 * GiB, 0, 0), PM_ALLOW);
	assert_int_equal(b.tokens, 0);
	b.tokens = 3 * GiB;
	/* a reload that lowers the burst applies at once, even with no time passed */
	r.to_private.burst = GiB;
	assert_int_equal(pm_decide(&r, PM_TO_PRIVATE, &b, 4 * SEC, GiB + 1, 0, 0), PM_DENY_RATE);
	assert_int_equal(b.tokens, GiB);
	assert_int_equal(pm_decide(&r, PM_TO_PRIVATE, &b, 3 * SEC, GiB, 0, 0), PM_ALLOW);
	assert_int_equal(b.tokens, 0);
}

/* Exact bucket contents after every step of a realistic sequence. */
static void exact_sequence(void **state)
{
	static const struct {
		uint64_t now, size;
		uint32_t verdict;
		uint64_t tokens;
	} seq[] = {
		/* 64 MiB/s, burst and max_request 256 MiB: a guest boots */
		{ 0, 2 * MiB, PM_ALLOW, 254 * MiB },
		{ 1000, 256 * MiB + 1, PM_DENY_MAX_REQUEST, 254 * MiB },
		{ 1000000, 2 * MiB, PM_ALLOW, 252 * MiB + 67108 },
		{ 1000000, 2 * MiB, PM_ALLOW, 250 * MiB + 67108 },
		/* then takes all there is */
		{ 2000000, 0, PM_ALLOW, 250 * MiB + 134217 },
		{ 2000000, 250 * MiB + 134217, PM_ALLOW, 0 },
		{ 2000001, 4096, PM_DENY_RATE, 0 },
		/* 1/64 s later: 1 MiB, the carried fraction just short of a byte */
		{ 15625000 + 2000001, MiB + 1, PM_DENY_RATE, MiB },
		{ 15625000 + 2000001, MiB, PM_ALLOW, 0 },
		/* clock back: nothing; then an hour idle: the full burst */
		{ 1000, 1, PM_DENY_RATE, 0 },
		{ 3600 * SEC, 256 * MiB, PM_ALLOW, 0 },
	};
	struct pm_rule r = rule_rate(PM_TO_SHARED, 64 * MiB, 256 * MiB);
	struct pm_bucket b;

	(void)state;
	r.to_shared.flags |= PM_LIM_MAX_REQUEST;
	r.to_shared.max_request = 256 * MiB;
	pm_bucket_init(&b, &r.to_shared, 0);
	for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
		uint32_t v = dec(&r, &b, seq[i].now, seq[i].size);

		if (v != seq[i].verdict || b.tokens != seq[i].tokens)
			fail_msg("step %zu: verdict %u want %u, tokens %llu want %llu", i, v, seq[i].verdict,
				 (unsigned long long)b.tokens, (unsigned long long)seq[i].tokens);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(layout_fits_map_values),
		cmocka_unit_test(refill_and_burst),
		cmocka_unit_test(fractions_carry),
		cmocka_unit_test(max_request),
		cmocka_unit_test(overflow_at_extreme_rates),
		cmocka_unit_test(saturating_helpers),
		cmocka_unit_test(clock_backwards),
		cmocka_unit_test(shared_ceiling),
		cmocka_unit_test(verdict_order),
		cmocka_unit_test(modes),
		cmocka_unit_test(reload_and_zeroed_bucket),
		cmocka_unit_test(exact_sequence),
	};

	return cmocka_run_group_tests_name("decide", tests, NULL, NULL);
}
