/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * "What would this policy have denied?": re-decides every attempt of a
 * trace with the same decide() the LSM runs, as audit mode would have (the
 * attempts still happen, so later state is the recorded one).
 */
#ifndef PRIVMEM_WHATIF_H
#define PRIVMEM_WHATIF_H

#include <json-c/json.h>
#include "policy.h"
#include "replay.h"
#include "vmtab.h"

struct pm_whatif_denial {
	uint64_t ts, vm, gpa, size;
	uint32_t rule, verdict;
	uint8_t dir;
};

struct pm_whatif_vm;

struct pm_whatif {
	const struct pm_policy *policy;
	const char *path;
	uint64_t from_ns;		/* denials before this are decided, not reported */
	struct pm_vmtab vms;		/* VM id -> struct pm_whatif_vm */
	struct pm_whatif_denial *d;
	size_t nd, dcap;
	uint64_t decided;
};

void pm_whatif_init(struct pm_whatif *w, const struct pm_policy *p, const char *path);
/* Hook for struct pm_replay.pre_event (ctx = the pm_whatif). */
void pm_whatif_event(void *ctx, const struct pm_vm *vm, const struct pm_event *e);
/* {"policy":..,"mode":..,"decided":N,"would_deny":N,"vms":[..],"denials":[..]} */
json_object *pm_whatif_json(const struct pm_whatif *w, const struct pm_replay *r, const char *vm_prefix);
void pm_whatif_print(const struct pm_whatif *w, const struct pm_replay *r, const char *vm_prefix);
void pm_whatif_free(struct pm_whatif *w);

#endif
