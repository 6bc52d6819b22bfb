// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "hist.h"

unsigned pm_log2(uint64_t v)
{
	return v ? 63 - (unsigned)__builtin_clzll(v) : 0;
}

void pm_hist_add(struct pm_hist *h, uint64_t v)
{
	h->slot[pm_log2(v)]++;
	h->count++;
	h->sum += v;
}

uint64_t pm_hist_quantile(const struct pm_hist *h, unsigned permille)
{
	uint64_t want, seen = 0;

	if (!h->count)
		return 0;
	/* rank of the quantile, 1-based, rounded up so p100 is the last value */
	want = (h->count * permille + 999) / 1000;
	if (!want)
		want = 1;
	for (unsigned i = 0; i < PM_HIST_SLOTS; i++) {
		seen += h->slot[i];
		if (seen >= want)
			return i == 63 ? UINT64_MAX : (2ull << i) - 1;
	}
	return UINT64_MAX;
}

void pm_hist_merge(struct pm_hist *dst, const struct pm_hist *src)
{
	for (unsigned i = 0; i < PM_HIST_SLOTS; i++)
		dst->slot[i] += src->slot[i];
	dst->count += src->count;
	dst->sum += src->sum;
}
