/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The daemon's side of policy: holds the loaded policy, resolves each VM's
 * rule when the VM appears and writes it to the BPF maps, and reloads
 * atomically (a bad file leaves the running policy in place).
 */
#ifndef PRIVMEM_DPOLICY_H
#define PRIVMEM_DPOLICY_H

#include <stddef.h>
#include <json-c/json.h>
#include "capture.h"
#include "policy.h"
#include "vmstate.h"

struct pm_dpolicy {
	char path[4096];		/* "" when privmemd runs without a policy */
	struct pm_policy *policy;	/* NULL: no policy (mode off) */
	char *text;			/* the file as loaded, for trace headers */
	uint64_t loaded_ns;
	unsigned reloads, failed_reloads;
	char last_error[512];
};

/* Loads path into dp and the maps; on error dp keeps what it had. 0 or -errno, err one line. */
int pm_dpolicy_load(struct pm_dpolicy *dp, struct pm_capture *cap, struct pm_state *st, const char *path,
		    char *err, size_t len);
/* Re-reads dp->path (SIGHUP, socket "reload"). */
int pm_dpolicy_reload(struct pm_dpolicy *dp, struct pm_capture *cap, struct pm_state *st, char *err, size_t len);
/* Writes the rule of one (new) VM. */
void pm_dpolicy_apply_vm(struct pm_dpolicy *dp, struct pm_capture *cap, const struct pm_vm *vm);
/* {"file":..,"mode":..,"rules":N,"enforcing":bool,"reloads":N,...} for `status`. */
json_object *pm_dpolicy_status(const struct pm_dpolicy *dp, struct pm_capture *cap);
void pm_dpolicy_free(struct pm_dpolicy *dp);

#endif
