// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* pm_grow: the growing arrays of the books, the codec, replay and what-if. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>
#include "util.h"

static void doubles_from_first(void **state)
{
	uint64_t *a = NULL;
	size_t cap = 0;

	(void)state;
	for (size_t n = 0; n < 1000; n++) {
		uint64_t *g = pm_grow(a, n, &cap, sizeof(*a), 4);

		assert_non_null(g);
		a = g;
		a[n] = n;
		assert_true(cap > n);
		/* 4, 8, 16, ...: a power of two times first */
		assert_int_equal(cap & (cap - 1), 0);
	}
	assert_int_equal(cap, 1024);
	for (size_t n = 0; n < 1000; n++)
		assert_int_equal(a[n], n);
	/* room left: the same array back, capacity untouched */
	assert_ptr_equal(pm_grow(a, 1000, &cap, sizeof(*a), 4), a);
	assert_int_equal(cap, 1024);
	free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(doubles_from_first),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
