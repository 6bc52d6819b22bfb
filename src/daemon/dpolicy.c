// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "dpolicy.h"
#include "privmem/decide.h"
#include "util.h"

void pm_dpolicy_apply_vm(struct pm_dpolicy *dp, struct pm_capture *cap, const struct pm_vm *vm)
{
	const struct pm_rule *r;

	if (!dp->policy || vm->destroyed)
		return;
	r = pm_policy_resolve(dp->policy, vm->pid, vm->comm, vm->cgroup);
	pm_capture_set_rule(cap, vm->id, r);
}

/*
 * Defaults first, then every live VM's rule: each map update is atomic, so
 * a VM sees its old rule or its new one, never a mix.
 */
static void install(struct pm_dpolicy *dp, struct pm_capture *cap, struct pm_state *st)
{
	struct pm_vms all = pm_state_vms(st);
	struct pm_vm *vm;

	pm_capture_set_rule(cap, 0, &dp->policy->defaults);
	pm_vms_each(&all, vm)
		pm_dpolicy_apply_vm(dp, cap, vm);
	pm_vms_free(&all);
}

/* The policy text as read, NUL-terminated; NULL when unreadable (the parser then says why). */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t cap = 0, n = 0, got;

	if (!f)
		return NULL;
	do {
		char *nb;

		if (n + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 8192;
			nb = realloc(buf, cap);
			if (!nb) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = nb;
		}
		got = fread(buf + n, 1, 4096, f);
		n += got;
	} while (got > 0 && n < (1u << 20));
	fclose(f);
	buf[n] = '\0';
	return buf;
}

int pm_dpolicy_load(struct pm_dpolicy *dp, struct pm_capture *cap, struct pm_state *st, const char *path,
		    char *err, size_t len)
{
	struct pm_policy *p = NULL;
	int ret = pm_policy_load(path, &p, err, len);

	if (ret) {
		dp->failed_reloads++;
		snprintf(dp->last_error, sizeof(dp->last_error), "%s", err);
		return ret;
	}
	if (path != dp->path)
		snprintf(dp->path, sizeof(dp->path), "%s", path);
	pm_policy_free(dp->policy);
	dp->policy = p;
	free(dp->text);
	dp->text = slurp(path);
	dp->loaded_ns = pm_now_ns();
	dp->last_error[0] = '\0';
	install(dp, cap, st);
	return 0;
}

int pm_dpolicy_reload(struct pm_dpolicy *dp, struct pm_capture *cap, struct pm_state *st, char *err, size_t len)
{
	int ret;

	if (!dp->path[0]) {
		snprintf(err, len, "privmemd runs without a policy file (-c FILE)");
		return -ENOENT;
	}
	ret = pm_dpolicy_load(dp, cap, st, dp->path, err, len);
	if (!ret)
		dp->reloads++;
	return ret;
}

json_object *pm_dpolicy_status(const struct pm_dpolicy *dp, struct pm_capture *cap)
{
	json_object *o = json_object_new_object();
	uint32_t mode = dp->policy ? dp->policy->mode : PM_MODE_OFF;

	json_object_object_add(o, "file", json_object_new_string(dp->path));
	/* "none", as /metrics says: no policy is not the same as a policy in mode off */
	json_object_object_add(o, "mode", json_object_new_string(dp->policy ? pm_mode_name(mode) : "none"));
	json_object_object_add(o, "rules", json_object_new_int(dp->policy ? (int)dp->policy->nrules : 0));
	/* enforce without a live LSM only reports: say so rather than claim it */
	json_object_object_add(o, "enforcing",
			       json_object_new_boolean(mode == PM_MODE_ENFORCE && pm_capture_can_enforce(cap)));
	json_object_object_add(o, "can_enforce", json_object_new_boolean(pm_capture_can_enforce(cap)));
	json_object_object_add(o, "reloads", json_object_new_int(dp->reloads));
	json_object_object_add(o, "failed_reloads", json_object_new_int(dp->failed_reloads));
	if (dp->last_error[0])
		json_object_object_add(o, "last_error", json_object_new_string(dp->last_error));
	return o;
}

void pm_dpolicy_free(struct pm_dpolicy *dp)
{
	pm_policy_free(dp->policy);
	dp->policy = NULL;
	free(dp->text);
	dp->text = NULL;
}
