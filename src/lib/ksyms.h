/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
#ifndef PRIVMEM_KSYMS_H
#define PRIVMEM_KSYMS_H

#include <stdint.h>

struct pm_ksym_req {
	const char *name;
	uint64_t addr;		/* filled in; 0 when absent */
};

/* Resolves each name from /proc/kallsyms (text symbols). 0 or -errno. */
int pm_ksyms_resolve(struct pm_ksym_req *reqs, unsigned n);

#endif
