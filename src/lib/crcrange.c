// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <stdlib.h>
#include <zlib.h>
#include "crcrange.h"

void pm_crcrange_init(struct pm_crcrange *x, const void *base, size_t size)
{
	x->base = base;
	x->size = size;
	x->ck = NULL;
	x->nck = x->cap = 0;
}

void pm_crcrange_free(struct pm_crcrange *x)
{
	free(x->ck);
	x->ck = NULL;
	x->nck = x->cap = 0;
}

/* Makes ck[0..i] valid; false when out of memory. */
static int extend(struct pm_crcrange *x, size_t i)
{
	if (i >= x->cap) {
		size_t cap = x->cap ? x->cap : 1024;
		uint32_t *n;

		while (cap <= i)
			cap *= 2;
		n = realloc(x->ck, cap * sizeof(*n));
		if (!n)
			return 0;
		x->ck = n;
		x->cap = cap;
	}
	if (!x->nck) {
		x->ck[0] = (uint32_t)crc32(0, Z_NULL, 0);
		x->nck = 1;
	}
	for (; x->nck <= i; x->nck++)
		x->ck[x->nck] = (uint32_t)crc32(x->ck[x->nck - 1], x->base + (x->nck - 1) * PM_CRC_STEP, PM_CRC_STEP);
	return 1;
}

uint32_t pm_crcrange(struct pm_crcrange *x, uint32_t crc, size_t a, size_t b)
{
	size_t ia = (a + PM_CRC_STEP - 1) / PM_CRC_STEP, ib = b / PM_CRC_STEP, A, B;
	uint32_t mid;

	if (b - a <= 2 * PM_CRC_STEP || ia >= ib || !extend(x, ib))
		return (uint32_t)crc32(crc, x->base + a, (uInt)(b - a));
	A = ia * PM_CRC_STEP;
	B = ib * PM_CRC_STEP;
	crc = (uint32_t)crc32(crc, x->base + a, (uInt)(A - a));
	/* crc(P || M) = shift(crc(P), |M|) ^ crc(M), so crc(M) = ck[B] ^ shift(ck[A], |M|) */
	mid = x->ck[ib] ^ (uint32_t)crc32_combine(x->ck[ia], 0, (z_off_t)(B - A));
	crc = (uint32_t)crc32_combine(crc, mid, (z_off_t)(B - A));
	return (uint32_t)crc32(crc, x->base + B, (uInt)(b - B));
}
