// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include "hist.h"

static void log2_edges(void **state)
{
	(void)state;
	assert_int_equal(pm_log2(0), 0);
	assert_int_equal(pm_log2(1), 0);
	assert_int_equal(pm_log2(2), 1);
	assert_int_equal(pm_log2(4095), 11);
	assert_int_equal(pm_log2(4096), 12);
	assert_int_equal(pm_log2(2 << 20), 21);
	assert_int_equal(pm_log2((2 << 20) + 4096), 21);
	assert_int_equal(pm_log2(UINT64_MAX), 63);
}

static void add_counts_and_sums(void **state)
{
	struct pm_hist h = { 0 };

	(void)state;
	pm_hist_add(&h, 4096);
	pm_hist_add(&h, 8192);
	pm_hist_add(&h, 12288);
	pm_hist_add(&h, 0);
	assert_int_equal(h.count, 4);
	assert_int_equal(h.sum, 24576);
	assert_int_equal(h.slot[12], 1);
	assert_int_equal(h.slot[13], 2);
	assert_int_equal(h.slot[0], 1);
}

static void quantiles(void **state)
{
	struct pm_hist h = { 0 };

	(void)state;
	assert_int_equal(pm_hist_quantile(&h, 500), 0);
	for (int i = 0; i < 99; i++)
		pm_hist_add(&h, 1000);	/* slot 9: [512, 1024) */
	pm_hist_add(&h, 1000000);	/* slot 19 */
	assert_int_equal(pm_hist_quantile(&h, 500), 1023);
	assert_int_equal(pm_hist_quantile(&h, 990), 1023);
	assert_int_equal(pm_hist_quantile(&h, 1000), (1u << 20) - 1);
	pm_hist_add(&h, UINT64_MAX);
	assert_int_equal(pm_hist_quantile(&h, 1000), UINT64_MAX);
}

static void merge(void **state)
{
	struct pm_hist a = { 0 }, b = { 0 };

	(void)state;
	pm_hist_add(&a, 5);
	pm_hist_add(&b, 5);
	pm_hist_add(&b, 1 << 30);
	pm_hist_merge(&a, &b);
	assert_int_equal(a.count, 3);
	assert_int_equal(a.slot[2], 2);
	assert_int_equal(a.slot[30], 1);
	assert_int_equal(a.sum, 10 + (1 << 30));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(log2_edges),
		cmocka_unit_test(add_counts_and_sums),
		cmocka_unit_test(quantiles),
		cmocka_unit_test(merge),
	};

	return cmocka_run_group_tests_name("hist", tests, NULL, NULL);
}
