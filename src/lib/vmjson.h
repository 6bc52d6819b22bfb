/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* The stable JSON shape of `privmem vms --json` (docs/design.md). */
#ifndef PRIVMEM_VMJSON_H
#define PRIVMEM_VMJSON_H

#include <json-c/json.h>
#include "vmstate.h"
#include "hooks.h"

json_object *pm_json_hist(const struct pm_hist *h);
/* {"max_request": n, ...}: decide() verdicts by reason (index = verdict & 3), zeros omitted. */
json_object *pm_json_reasons(const uint64_t by_reason[4]);
json_object *pm_json_vm(const struct pm_vm *vm);
/* {"vms":[...],"lost":N,"events":N,"hooks":{...}}; hooks may be NULL. */
json_object *pm_json_vms(const struct pm_state *s, const struct pm_hook_status *hooks, unsigned nhooks);
json_object *pm_json_hooks(const struct pm_hook_status *hooks, unsigned nhooks);

#endif
