// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* pm_crcrange agrees with zlib's crc32 on every kind of range. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>
#include <zlib.h>
#include "crcrange.h"

#define N (64 * PM_CRC_STEP + 77)

static uint8_t buf[N];

static void check(struct pm_crcrange *x, uint32_t seed, size_t a, size_t b)
{
	uint32_t want = (uint32_t)crc32(seed, buf + a, (uInt)(b - a));

	assert_int_equal(pm_crcrange(x, seed, a, b), want);
}

static void ranges(void **state)
{
	struct pm_crcrange x;
	unsigned r = 1;

	(void)state;
	for (size_t i = 0; i < N; i++)
		buf[i] = (uint8_t)((r = r * 1103515245u + 12345u) >> 16);
	pm_crcrange_init(&x, buf, N);
	/* aligned, ragged, short, whole, and ranges ending past what the index covers yet */
	check(&x, 0, 0, N);
	check(&x, 0, 0, 0);
	check(&x, 0, 1, 2);
	check(&x, 0, PM_CRC_STEP, 5 * PM_CRC_STEP);
	check(&x, 0, PM_CRC_STEP - 1, 5 * PM_CRC_STEP + 1);
	check(&x, 0xdeadbeef, 36, N - 3);
	for (int i = 0; i < 2000; i++) {
		size_t a = (r = r * 1103515245u + 12345u) % N, b = (r = r * 1103515245u + 12345u) % N;

		check(&x, r, a < b ? a : b, a < b ? b : a);
	}
	pm_crcrange_free(&x);
}

int main(void)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(ranges) };

	return cmocka_run_group_tests(tests, NULL, NULL);
}
