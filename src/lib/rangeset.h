/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * A set of bytes of a 64-bit space as disjoint half-open [start, end)
 * intervals, sorted, never touching (adjacent ones are merged), in one
 * growable array. vmstate keeps each VM's private memory in one, as KVM
 * keeps a PRIVATE attribute per page: setting a range twice adds nothing
 * the second time, clearing what is not there removes nothing.
 *
 * A lookup is a binary search; a change moves the array's tail. A guest
 * can fragment its memory page by page, so the number of intervals is
 * capped: a change that would need one more than the cap is refused whole
 * (-ENOSPC) and the set stays as it was, so the caller can say its count
 * is no longer exact rather than be wrong silently.
 */
#ifndef PRIVMEM_RANGESET_H
#define PRIVMEM_RANGESET_H

#include <stddef.h>
#include <stdint.h>

struct pm_range {
	uint64_t start, end;	/* start < end */
};

struct pm_rangeset {
	struct pm_range *r;
	size_t n, cap;		/* intervals held, allocated */
	size_t max;		/* intervals allowed at most (>= 1) */
	uint64_t bytes;		/* sum of the intervals' lengths */
};

/* An empty set of at most max intervals (0 counts as 1). */
void pm_rs_init(struct pm_rangeset *rs, size_t max);
/* Empty again, memory released; max stays. */
void pm_rs_free(struct pm_rangeset *rs);
/* dst (not initialised) gets src's intervals and cap. 0, or -ENOMEM with dst empty. */
int pm_rs_copy(struct pm_rangeset *dst, const struct pm_rangeset *src);

/*
 * Adds [start, end) (empty when start >= end). *added (may be NULL) gets
 * the bytes that were not in the set before. 0, or -ENOSPC (the cap) or
 * -ENOMEM with the set unchanged and *added 0.
 */
int pm_rs_set(struct pm_rangeset *rs, uint64_t start, uint64_t end, uint64_t *added);
/* Removes [start, end); *removed as *added above. Splitting one interval in two may hit the cap. */
int pm_rs_clear(struct pm_rangeset *rs, uint64_t start, uint64_t end, uint64_t *removed);

static inline uint64_t pm_rs_bytes(const struct pm_rangeset *rs)
{
	return rs->bytes;
}

#endif
