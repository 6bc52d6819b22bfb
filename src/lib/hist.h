/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* log2 histograms: slot n counts values in [2^n, 2^(n+1)); 0 goes to slot 0. */
#ifndef PRIVMEM_HIST_H
#define PRIVMEM_HIST_H

#include <stdint.h>
#include "privmem/events.h"

struct pm_hist {
	uint64_t slot[PM_HIST_SLOTS];
	uint64_t count;
	uint64_t sum;
};

unsigned pm_log2(uint64_t v);
void pm_hist_add(struct pm_hist *h, uint64_t v);
/* Upper bound (2^(n+1)-1) of the slot holding quantile q/1000; 0 if empty. */
uint64_t pm_hist_quantile(const struct pm_hist *h, unsigned permille);
void pm_hist_merge(struct pm_hist *dst, const struct pm_hist *src);

#endif
