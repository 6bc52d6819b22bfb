/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Trace export: Chrome/Perfetto trace-event JSON (ui.perfetto.dev opens it). */
#ifndef PRIVMEM_EXPORT_H
#define PRIVMEM_EXPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct pm_export_opts {
	const char *vm_prefix;		/* hex id prefix, NULL for all */
	const uint64_t *vm_ids;		/* or these VMs (privmem export --vm NAME resolves names to ids) */
	unsigned n_vm_ids;
	uint64_t from_ns, to_ns;	/* CLOCK_MONOTONIC window, inclusive */
	void (*warn)(void *ctx, const char *file, const char *msg);
	void *warn_ctx;
};

/*
 * One process per VM, one thread track per vCPU thread; a request is a
 * slice from the guest's exit to the vCPU's next KVM_RUN, decisions and
 * discards are instants, shared bytes a counter.
 * -errno (msg says why), 0, or 1 when some data was skipped.
 */
int pm_export_chrome(FILE *out, const char *const *paths, unsigned n, const struct pm_export_opts *o,
		     char *msg, size_t len);

#endif
