// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * pm_rangeset against a byte bitmap: the same bytes after every operation,
 * the same counts of bytes added and removed, and the intervals always
 * sorted, disjoint and never touching; the edges of the 64-bit space; the
 * cap refusing whole operations.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "rangeset.h"

#define SPACE 4096	/* bytes of the reference bitmap */

static uint64_t rnd(uint64_t *s)
{
	/* xorshift64*: the same sequence on every run */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

/* The set's invariants, and that it holds exactly the bytes base + i with ref[i]. */
static void same_as_ref(const struct pm_rangeset *rs, const bool *ref, uint64_t base)
{
	uint64_t total = 0;
	size_t k = 0;

	for (size_t i = 0; i < rs->n; i++) {
		assert_true(rs->r[i].start < rs->r[i].end);
		if (i)
			assert_true(rs->r[i - 1].end < rs->r[i].start);	/* touching ones are merged */
		total += rs->r[i].end - rs->r[i].start;
	}
	assert_true(rs->n <= rs->max);
	assert_true(total == pm_rs_bytes(rs));
	/* walk the bitmap's runs alongside the intervals */
	for (uint64_t i = 0; i < SPACE;) {
		uint64_t j = i;

		if (!ref[i]) {
			i++;
			continue;
		}
		while (j < SPACE && ref[j])
			j++;
		assert_true(k < rs->n);
		assert_true(rs->r[k].start == base + i);
		assert_true(rs->r[k].end == base + j);
		k++;
		i = j;
	}
	assert_int_equal(k, rs->n);
}

/* The reference's own operation: bytes changed. */
static uint64_t ref_apply(bool *ref, uint64_t a, uint64_t b, bool set)
{
	uint64_t changed = 0;

	for (uint64_t i = a; i < b; i++) {
		changed += ref[i] != set;
		ref[i] = set;
	}
	return changed;
}

/*
 * ops random operations within [base, base + SPACE), sized to fragment and to
 * span many intervals, some empty or reversed; with a small cap, refusals must
 * leave the set as the reference without that operation.
 */
static void random_against_bitmap(uint64_t base, size_t cap, unsigned ops, uint64_t seed)
{
	static bool ref[SPACE];
	struct pm_rangeset rs;
	unsigned refused = 0;

	memset(ref, 0, sizeof(ref));
	pm_rs_init(&rs, cap);
	for (unsigned op = 0; op < ops; op++) {
		uint64_t r = rnd(&seed), a = r % SPACE, len, b, got = 99, want;
		bool set = (r >> 20) & 1;
		bool saved[SPACE];
		int err;

		len = (r >> 32) & 1 ? (r >> 40) % 16 : (r >> 40) % (SPACE / 3);
		b = a + len > SPACE ? SPACE : a + len;
		if ((r >> 21) % 17 == 0)	/* now and then empty or reversed */
			b = a >= (r >> 50) % 3 ? a - (r >> 50) % 3 : a;
		memcpy(saved, ref, sizeof(saved));
		want = a < b ? ref_apply(ref, a, b, set) : 0;
		err = set ? pm_rs_set(&rs, base + a, base + b, &got) : pm_rs_clear(&rs, base + a, base + b, &got);
		if (err) {
			assert_int_equal(err, -ENOSPC);
			assert_true(got == 0);
			memcpy(ref, saved, sizeof(saved));
			refused++;
		} else {
			assert_true(got == want);
		}
		same_as_ref(&rs, ref, base);
	}
	if (cap < SPACE)
		assert_true(refused > 0);	/* the cap was met, not just configured */
	pm_rs_free(&rs);
	assert_int_equal(rs.n, 0);
	assert_true(pm_rs_bytes(&rs) == 0);
}

static void random_ops(void **state)
{
	(void)state;
	random_against_bitmap(0, SPACE, 20000, 0x9e3779b97f4a7c15ull);
	random_against_bitmap(1ull << 40, SPACE, 5000, 12345);
	/* the top of the space: end may be UINT64_MAX itself */
	random_against_bitmap(UINT64_MAX - SPACE, SPACE, 5000, 777);
}

static void random_ops_capped(void **state)
{
	(void)state;
	random_against_bitmap(0, 8, 20000, 42);
	random_against_bitmap(0, 1, 5000, 43);
}

/* Page-aligned operations as a bitmap of 4 KiB pages sees them (the BPF side's model). */
static void random_pages(void **state)
{
	enum { PAGES = 1024 };
	static bool page[PAGES];
	struct pm_rangeset rs;
	uint64_t seed = 2026, priv = 0;

	(void)state;
	pm_rs_init(&rs, 65536);
	for (int op = 0; op < 5000; op++) {
		uint64_t r = rnd(&seed), a = r % PAGES, n = (r >> 16) % 64, got;
		bool set = (r >> 30) & 1;

		if (a + n > PAGES)
			n = PAGES - a;
		if (set)
			assert_int_equal(pm_rs_set(&rs, a << 12, (a + n) << 12, &got), 0);
		else
			assert_int_equal(pm_rs_clear(&rs, a << 12, (a + n) << 12, &got), 0);
		priv = 0;
		for (uint64_t i = a; i < a + n; i++)
			page[i] = set;
		for (int i = 0; i < PAGES; i++)
			priv += page[i];
		assert_true(pm_rs_bytes(&rs) == priv << 12);
	}
	pm_rs_free(&rs);
}

static void empty_and_reversed(void **state)
{
	struct pm_rangeset rs;
	uint64_t got = 7;

	(void)state;
	pm_rs_init(&rs, 4);
	assert_int_equal(pm_rs_set(&rs, 10, 10, &got), 0);
	assert_true(got == 0);
	assert_int_equal(pm_rs_set(&rs, 10, 5, &got), 0);
	assert_int_equal(pm_rs_clear(&rs, 10, 10, NULL), 0);
	assert_int_equal(rs.n, 0);
	assert_int_equal(pm_rs_set(&rs, 0, 100, NULL), 0);
	assert_int_equal(pm_rs_clear(&rs, 50, 50, &got), 0);
	assert_true(got == 0);
	assert_int_equal(rs.n, 1);
	assert_true(pm_rs_bytes(&rs) == 100);
	pm_rs_free(&rs);
}

static void touching_and_spanning(void **state)
{
	struct pm_rangeset rs;
	uint64_t got;

	(void)state;
	pm_rs_init(&rs, 16);
	assert_int_equal(pm_rs_set(&rs, 0, 10, &got), 0);
	assert_int_equal(pm_rs_set(&rs, 10, 20, &got), 0);	/* touches: one interval */
	assert_true(got == 10);
	assert_int_equal(rs.n, 1);
	assert_int_equal(pm_rs_set(&rs, 30, 40, NULL), 0);
	assert_int_equal(pm_rs_set(&rs, 50, 60, NULL), 0);
	assert_int_equal(pm_rs_set(&rs, 20, 30, &got), 0);	/* touches both sides */
	assert_true(got == 10);
	assert_int_equal(rs.n, 2);
	assert_int_equal(pm_rs_set(&rs, 5, 55, &got), 0);	/* spans the gap and into the last */
	assert_true(got == 10);
	assert_int_equal(rs.n, 1);
	assert_true(rs.r[0].start == 0 && rs.r[0].end == 60);
	assert_int_equal(pm_rs_set(&rs, 0, 60, &got), 0);	/* again: nothing new */
	assert_true(got == 0);
	assert_int_equal(pm_rs_clear(&rs, 20, 30, &got), 0);	/* a hole */
	assert_true(got == 10);
	assert_int_equal(rs.n, 2);
	assert_int_equal(pm_rs_clear(&rs, 20, 30, &got), 0);	/* again: nothing to remove */
	assert_true(got == 0);
	assert_int_equal(pm_rs_clear(&rs, 60, 100, &got), 0);	/* touches the end only */
	assert_true(got == 0);
	assert_int_equal(pm_rs_clear(&rs, 0, 1, &got), 0);
	assert_true(got == 1);
	assert_true(rs.r[0].start == 1);
	assert_true(pm_rs_bytes(&rs) == 49);
	pm_rs_free(&rs);
}

static void top_of_the_space(void **state)
{
	struct pm_rangeset rs;
	uint64_t got;

	(void)state;
	pm_rs_init(&rs, 4);
	assert_int_equal(pm_rs_set(&rs, UINT64_MAX - 4096, UINT64_MAX, &got), 0);
	assert_true(got == 4096);
	assert_int_equal(pm_rs_set(&rs, 0, UINT64_MAX, &got), 0);	/* all of it: more than INT64_MAX */
	assert_true(got == UINT64_MAX - 4096);
	assert_true(pm_rs_bytes(&rs) == UINT64_MAX);
	assert_int_equal(rs.n, 1);
	assert_int_equal(pm_rs_clear(&rs, UINT64_MAX - 1, UINT64_MAX, &got), 0);
	assert_true(got == 1);
	assert_int_equal(pm_rs_clear(&rs, 0, UINT64_MAX, &got), 0);	/* full clear */
	assert_true(got == UINT64_MAX - 1);
	assert_int_equal(rs.n, 0);
	assert_true(pm_rs_bytes(&rs) == 0);
	pm_rs_free(&rs);
}

static void cap_refuses_whole(void **state)
{
	struct pm_rangeset rs;
	struct pm_range before[3];
	uint64_t got;

	(void)state;
	pm_rs_init(&rs, 3);
	assert_int_equal(pm_rs_set(&rs, 0, 10, NULL), 0);
	assert_int_equal(pm_rs_set(&rs, 20, 30, NULL), 0);
	assert_int_equal(pm_rs_set(&rs, 40, 50, NULL), 0);
	memcpy(before, rs.r, sizeof(before));
	got = 5;
	assert_int_equal(pm_rs_set(&rs, 60, 70, &got), -ENOSPC);	/* a fourth */
	assert_true(got == 0);
	assert_int_equal(pm_rs_clear(&rs, 22, 25, &got), -ENOSPC);	/* a split makes a fourth */
	assert_int_equal(rs.n, 3);
	assert_memory_equal(rs.r, before, sizeof(before));
	assert_true(pm_rs_bytes(&rs) == 30);
	/* at the cap, what does not add an interval goes on */
	assert_int_equal(pm_rs_set(&rs, 5, 25, &got), 0);	/* merges two */
	assert_true(got == 10);
	assert_int_equal(pm_rs_clear(&rs, 40, 45, &got), 0);	/* trims one */
	assert_true(got == 5);
	assert_int_equal(pm_rs_set(&rs, 60, 70, NULL), 0);	/* room again */
	assert_int_equal(rs.n, 3);
	assert_int_equal(pm_rs_clear(&rs, 0, UINT64_MAX, &got), 0);
	assert_true(got == 45);
	pm_rs_free(&rs);
}

static void copy_is_deep(void **state)
{
	struct pm_rangeset a, b, e;

	(void)state;
	pm_rs_init(&a, 8);
	assert_int_equal(pm_rs_copy(&e, &a), 0);	/* empty */
	assert_int_equal(e.n, 0);
	assert_int_equal(e.max, 8);
	pm_rs_free(&e);
	assert_int_equal(pm_rs_set(&a, 0, 10, NULL), 0);
	assert_int_equal(pm_rs_set(&a, 20, 30, NULL), 0);
	assert_int_equal(pm_rs_copy(&b, &a), 0);
	assert_ptr_not_equal(a.r, b.r);
	assert_int_equal(pm_rs_clear(&a, 0, 100, NULL), 0);
	assert_int_equal(b.n, 2);
	assert_true(pm_rs_bytes(&b) == 20);
	assert_int_equal(b.max, 8);
	assert_int_equal(pm_rs_set(&b, 10, 20, NULL), 0);	/* the copy grows on its own */
	assert_int_equal(b.n, 1);
	pm_rs_free(&a);
	pm_rs_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(random_ops),
		cmocka_unit_test(random_ops_capped),
		cmocka_unit_test(random_pages),
		cmocka_unit_test(empty_and_reversed),
		cmocka_unit_test(touching_and_spanning),
		cmocka_unit_test(top_of_the_space),
		cmocka_unit_test(cap_refuses_whole),
		cmocka_unit_test(copy_is_deep),
	};

	return cmocka_run_group_tests_name("rangeset", tests, NULL, NULL);
}
