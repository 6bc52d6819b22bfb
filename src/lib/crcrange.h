/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * CRC-32 (zlib's) of any byte range of a buffer in bounded time: prefix
 * CRCs every PM_CRC_STEP bytes, computed once as far as they are needed, and
 * CRC-32's linearity (crc32_combine) give the middle of a range; only its
 * ragged ends are hashed. Resync tries a candidate chunk at every "PMCK" of a
 * damaged file; each claims up to 64 MiB, so hashing every claim from scratch
 * made a file of fake headers cost O(file x claim).
 */
#ifndef PRIVMEM_CRCRANGE_H
#define PRIVMEM_CRCRANGE_H

#include <stddef.h>
#include <stdint.h>

#define PM_CRC_STEP 512	/* index: 4 bytes per 512 of file */

struct pm_crcrange {
	const uint8_t *base;
	size_t size;
	uint32_t *ck;		/* ck[i] = crc32 of base[0, i * PM_CRC_STEP) */
	size_t nck, cap;	/* valid entries, allocated */
};

void pm_crcrange_init(struct pm_crcrange *x, const void *base, size_t size);
void pm_crcrange_free(struct pm_crcrange *x);
/* crc32(crc, base + a, b - a), b <= size; falls back to hashing when out of memory. */
uint32_t pm_crcrange(struct pm_crcrange *x, uint32_t crc, size_t a, size_t b);

#endif
