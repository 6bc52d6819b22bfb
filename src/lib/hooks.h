/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* What the running kernel let privmem attach, as reported to users. */
#ifndef PRIVMEM_HOOKS_H
#define PRIVMEM_HOOKS_H

#include <stdbool.h>
#include <stdint.h>
#include "privmem/events.h"

enum pm_hook_state {
	PM_HOOK_UNAVAILABLE = 0,	/* the kernel lacks it */
	PM_HOOK_DISABLED,		/* available, turned off by the operator */
	PM_HOOK_SUPERSEDED,		/* a cheaper hook covers the same events */
	PM_HOOK_FAILED,			/* load or attach refused */
	PM_HOOK_LIVE,			/* attached, proven to run, and seeing what its siblings see */
	PM_HOOK_SILENT,			/* attached, but misses calls its siblings see */
	PM_HOOK_STATES,
};

struct pm_hook_status {
	const char *name;		/* e.g. "kvm_userspace_exit" */
	const char *covers;		/* which events it supplies */
	enum pm_hook_state state;
	bool taxes_all;			/* costs every process (syscall tracepoints) */
	char reason[256];		/* why not live (what goes unseen, and what would see it) */
	char verified[64];		/* how a live trampoline was proven to run */
	uint64_t missed;		/* silent: calls its siblings saw that it did not */
	uint64_t hits;
};

const char *pm_hook_state_name(enum pm_hook_state s);

#endif
