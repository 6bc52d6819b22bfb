// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "rangeset.h"
#include "util.h"

void pm_rs_init(struct pm_rangeset *rs, size_t max)
{
	memset(rs, 0, sizeof(*rs));
	rs->max = max ? max : 1;
}

void pm_rs_free(struct pm_rangeset *rs)
{
	free(rs->r);
	pm_rs_init(rs, rs->max);
}

int pm_rs_copy(struct pm_rangeset *dst, const struct pm_rangeset *src)
{
	pm_rs_init(dst, src->max);
	if (!src->n)
		return 0;
	dst->r = malloc(src->n * sizeof(*dst->r));
	if (!dst->r)
		return -ENOMEM;
	memcpy(dst->r, src->r, src->n * sizeof(*dst->r));
	dst->n = dst->cap = src->n;
	dst->bytes = src->bytes;
	return 0;
}

/*
 * The intervals are disjoint and sorted, so their ends are sorted too: both
 * searches are over a monotone predicate.
 */

/* The first interval whose end is x or beyond (n if none). */
static size_t first_ending_from(const struct pm_rangeset *rs, uint64_t x)
{
	size_t lo = 0, hi = rs->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (rs->r[mid].end >= x)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* The first interval that starts after x (n if none). */
static size_t first_starting_after(const struct pm_rangeset *rs, uint64_t x)
{
	size_t lo = 0, hi = rs->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (rs->r[mid].start > x)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* Room for one interval more; the cap is checked first, so a refusal changes nothing. */
static int make_room(struct pm_rangeset *rs)
{
	struct pm_range *n;

	if (rs->n >= rs->max)
		return -ENOSPC;
	n = pm_grow(rs->r, rs->n, &rs->cap, sizeof(*n), 16);
	if (!n)
		return -ENOMEM;
	rs->r = n;
	return 0;
}

/* Intervals [from, n) move to start at index to. */
static void move_tail(struct pm_rangeset *rs, size_t from, size_t to)
{
	memmove(&rs->r[to], &rs->r[from], (rs->n - from) * sizeof(*rs->r));
	rs->n = rs->n - from + to;
}

static uint64_t bytes_of(const struct pm_rangeset *rs, size_t lo, size_t hi)
{
	uint64_t b = 0;

	for (size_t i = lo; i < hi; i++)
		b += rs->r[i].end - rs->r[i].start;
	return b;
}

int pm_rs_set(struct pm_rangeset *rs, uint64_t start, uint64_t end, uint64_t *added)
{
	size_t lo, hi;
	uint64_t had;
	int err;

	if (added)
		*added = 0;
	if (start >= end)
		return 0;
	/* [lo, hi): the intervals that overlap or touch [start, end], merged into one */
	lo = first_ending_from(rs, start);
	hi = first_starting_after(rs, end);
	if (lo == hi) {
		err = make_room(rs);
		if (err)
			return err;
		move_tail(rs, lo, lo + 1);
		rs->r[lo] = (struct pm_range){ start, end };
		had = 0;
	} else {
		had = bytes_of(rs, lo, hi);
		if (rs->r[lo].start < start)
			start = rs->r[lo].start;
		if (rs->r[hi - 1].end > end)
			end = rs->r[hi - 1].end;
		rs->r[lo] = (struct pm_range){ start, end };
		move_tail(rs, hi, lo + 1);
	}
	rs->bytes += (end - start) - had;
	if (added)
		*added = (end - start) - had;
	return 0;
}

int pm_rs_clear(struct pm_rangeset *rs, uint64_t start, uint64_t end, uint64_t *removed)
{
	struct pm_range left, right;
	size_t lo, hi, keep;
	uint64_t had;
	int err;

	if (removed)
		*removed = 0;
	if (start >= end)
		return 0;
	/* [lo, hi): the intervals that overlap [start, end); start < end <= UINT64_MAX, so neither bound wraps */
	lo = first_ending_from(rs, start + 1);
	hi = first_starting_after(rs, end - 1);
	if (lo >= hi)
		return 0;
	left = (struct pm_range){ rs->r[lo].start, start };
	right = (struct pm_range){ end, rs->r[hi - 1].end };
	keep = (left.start < left.end) + (right.start < right.end);
	/* only a cut through the middle of one interval needs a slot more */
	if (keep > hi - lo) {
		err = make_room(rs);
		if (err)
			return err;
	}
	had = bytes_of(rs, lo, hi);
	move_tail(rs, hi, lo + keep);
	if (left.start < left.end)
		rs->r[lo++] = left;
	if (right.start < right.end)
		rs->r[lo] = right;
	had -= (left.start < left.end ? left.end - left.start : 0) +
	       (right.start < right.end ? right.end - right.start : 0);
	rs->bytes -= had;
	if (removed)
		*removed = had;
	return 0;
}
