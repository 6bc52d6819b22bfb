// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "privmem/decide.h"
#include "util.h"
#include "whatif.h"

struct pm_whatif_vm {
	uint64_t id;			/* 0: free slot */
	const struct pm_rule *rule;
	struct pm_bucket b[2];
	uint64_t decided, denied;
	uint64_t by_reason[4];
	uint64_t by_rule[PM_RULE_SLOTS];
};

void pm_whatif_init(struct pm_whatif *w, const struct pm_policy *p, const char *path)
{
	memset(w, 0, sizeof(*w));
	w->policy = p;
	w->path = path;
}

void pm_whatif_free(struct pm_whatif *w)
{
	free(w->vms);
	free(w->d);
	memset(w, 0, sizeof(*w));
}

static struct pm_whatif_vm *slot(struct pm_whatif *w, uint64_t id)
{
	size_t i;

	if (w->nvms * 2 >= w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 64;
		struct pm_whatif_vm *n = calloc(cap, sizeof(*n));

		if (!n)
			return NULL;
		for (size_t j = 0; j < w->cap; j++) {
			if (!w->vms[j].id)
				continue;
			for (i = w->vms[j].id % cap; n[i].id; i = (i + 1) % cap)
				;
			n[i] = w->vms[j];
		}
		free(w->vms);
		w->vms = n;
		w->cap = cap;
	}
	for (i = id % w->cap; w->vms[i].id && w->vms[i].id != id; i = (i + 1) % w->cap)
		;
	if (!w->vms[i].id) {
		w->vms[i].id = id;
		w->nvms++;
	}
	return &w->vms[i];
}

static void note_denial(struct pm_whatif *w, const struct pm_event *e, uint32_t rule, uint32_t verdict)
{
	if (e->ts < w->from_ns)
		return;
	if (w->nd == w->dcap) {
		size_t cap = w->dcap ? w->dcap * 2 : 256;
		struct pm_whatif_denial *n = realloc(w->d, cap * sizeof(*n));

		if (!n)
			return;
		w->d = n;
		w->dcap = cap;
	}
	w->d[w->nd++] = (struct pm_whatif_denial){
		.ts = e->ts, .vm = e->vm, .gpa = e->addr, .size = e->size,
		.rule = rule, .verdict = verdict, .dir = e->dir,
	};
}

/*
 * Attempts are DECIDE records. The rule is resolved when the VM is first
 * decided for, from what the trace knows of its VMM, as privmemd does when
 * it first sees a VM.
 */
void pm_whatif_event(void *ctx, const struct pm_vm *vm, const struct pm_event *e)
{
	struct pm_whatif *w = ctx;
	struct pm_whatif_vm *v;
	uint32_t verdict;

	if (e->type != PM_EV_DECIDE || (e->dir != PM_TO_PRIVATE && e->dir != PM_TO_SHARED))
		return;
	v = slot(w, e->vm);
	if (!v)
		return;
	if (!v->rule) {
		v->rule = pm_policy_resolve(w->policy, vm ? vm->pid : e->pid, vm ? vm->comm : e->comm,
					    vm ? vm->cgroup : "");
		pm_bucket_init(&v->b[0], &v->rule->to_private, e->ts);
		pm_bucket_init(&v->b[1], &v->rule->to_shared, e->ts);
	}
	verdict = pm_decide(v->rule, e->dir, &v->b[e->dir - 1], e->ts, e->size,
			    vm ? pm_vm_shared_bytes(vm) : 0, vm ? vm->guest_bytes : 0);
	w->decided++;
	v->decided++;
	if (verdict == PM_ALLOW)
		return;
	v->denied++;
	v->by_reason[verdict & 3]++;
	v->by_rule[v->rule->id < PM_RULE_SLOTS ? v->rule->id : PM_RULE_SLOTS - 1]++;
	note_denial(w, e, v->rule->id, verdict);
}

static const struct pm_whatif_vm *find(const struct pm_whatif *w, uint64_t id)
{
	if (!w->cap)
		return NULL;
	for (size_t i = id % w->cap; w->vms[i].id; i = (i + 1) % w->cap)
		if (w->vms[i].id == id)
			return &w->vms[i];
	return NULL;
}

static json_object *vm_json(const struct pm_whatif *w, const struct pm_vm *vm, const struct pm_whatif_vm *v)
{
	json_object *o = json_object_new_object(), *br = json_object_new_object(), *bu = json_object_new_object();
	char id[24], name[80];

	snprintf(id, sizeof(id), "%016" PRIx64, vm->id);
	json_object_object_add(o, "id", json_object_new_string(id));
	json_object_object_add(o, "pid", json_object_new_uint64(vm->pid));
	json_object_object_add(o, "comm", json_object_new_string(vm->comm));
	json_object_object_add(o, "rule", json_object_new_string(
		v ? pm_policy_rule_name(w->policy, v->rule->id, name, sizeof(name)) : "none"));
	json_object_object_add(o, "decided", json_object_new_uint64(v ? v->decided : 0));
	json_object_object_add(o, "would_deny", json_object_new_uint64(v ? v->denied : 0));
	for (int i = 1; v && i < 4; i++)
		if (v->by_reason[i])
			json_object_object_add(br, pm_deny_reason(i), json_object_new_uint64(v->by_reason[i]));
	for (int i = 0; v && i < PM_RULE_SLOTS; i++) {
		char k[16];

		if (!v->by_rule[i])
			continue;
		snprintf(k, sizeof(k), "%d", i);
		json_object_object_add(bu, k, json_object_new_uint64(v->by_rule[i]));
	}
	json_object_object_add(o, "by_reason", br);
	json_object_object_add(o, "by_rule", bu);
	return o;
}

json_object *pm_whatif_json(const struct pm_whatif *w, const struct pm_replay *r, const char *vm_prefix)
{
	json_object *o = json_object_new_object(), *vms = json_object_new_array(), *ds = json_object_new_array();
	struct pm_vms all = pm_state_vms(&r->st);
	struct pm_vm *vm;
	uint64_t total = 0;

	pm_vms_each(&all, vm) {
		const struct pm_whatif_vm *v = find(w, vm->id);

		if (!pm_replay_vm_match(vm, vm_prefix))
			continue;
		json_object_array_add(vms, vm_json(w, vm, v));
		total += v ? v->denied : 0;
	}
	pm_vms_free(&all);
	for (size_t i = 0; i < w->nd; i++) {
		const struct pm_whatif_denial *d = &w->d[i];
		json_object *x;
		char id[24], wall[40];

		if (vm_prefix) {
			snprintf(id, sizeof(id), "%016" PRIx64, d->vm);
			if (strncasecmp(id, vm_prefix, strlen(vm_prefix)))
				continue;
		}
		x = json_object_new_object();
		snprintf(id, sizeof(id), "%016" PRIx64, d->vm);
		pm_replay_wall(r, d->ts, wall, sizeof(wall));
		json_object_object_add(x, "ts", json_object_new_uint64(d->ts));
		json_object_object_add(x, "time", json_object_new_string(wall));
		json_object_object_add(x, "vm", json_object_new_string(id));
		json_object_object_add(x, "dir", json_object_new_string(pm_dir_name(d->dir)));
		json_object_object_add(x, "gpa", json_object_new_uint64(d->gpa));
		json_object_object_add(x, "size", json_object_new_uint64(d->size));
		json_object_object_add(x, "reason", json_object_new_string(pm_deny_reason(d->verdict)));
		json_object_object_add(x, "rule", json_object_new_uint64(d->rule));
		json_object_array_add(ds, x);
	}
	json_object_object_add(o, "policy", json_object_new_string(w->path));
	json_object_object_add(o, "mode", json_object_new_string(pm_mode_name(w->policy->mode)));
	json_object_object_add(o, "decided", json_object_new_uint64(w->decided));
	json_object_object_add(o, "would_deny", json_object_new_uint64(total));
	json_object_object_add(o, "vms", vms);
	json_object_object_add(o, "denials", ds);
	return o;
}

void pm_whatif_print(const struct pm_whatif *w, const struct pm_replay *r, const char *vm_prefix)
{
	json_object *o = pm_whatif_json(w, r, vm_prefix), *vms, *ds;
	size_t shown = 0;

	printf("\nwhat if %s (mode %s) had been in force: %" PRIu64 " of %" PRIu64 " attempts denied\n", w->path,
	       pm_mode_name(w->policy->mode), json_object_get_uint64(json_object_object_get(o, "would_deny")),
	       w->decided);
	json_object_object_get_ex(o, "vms", &vms);
	printf("%-16s %7s %-15s %-20s %8s %8s  %s\n", "VM", "PID", "COMM", "RULE", "DECIDED", "DENIED", "BY REASON");
	for (size_t i = 0; i < json_object_array_length(vms); i++) {
		json_object *v = json_object_array_get_idx(vms, i), *br;

		printf("%-16s %7" PRIu64 " %-15s %-20s %8" PRIu64 " %8" PRIu64 " ",
		       json_object_get_string(json_object_object_get(v, "id")),
		       json_object_get_uint64(json_object_object_get(v, "pid")),
		       json_object_get_string(json_object_object_get(v, "comm")),
		       json_object_get_string(json_object_object_get(v, "rule")),
		       json_object_get_uint64(json_object_object_get(v, "decided")),
		       json_object_get_uint64(json_object_object_get(v, "would_deny")));
		br = json_object_object_get(v, "by_reason");
		json_object_object_foreach(br, k, n)
			printf(" %s=%" PRIu64, k, json_object_get_uint64(n));
		putchar('\n');
	}
	json_object_object_get_ex(o, "denials", &ds);
	for (size_t i = 0; i < json_object_array_length(ds) && shown < 20; i++, shown++) {
		json_object *d = json_object_array_get_idx(ds, i);

		if (!i)
			printf("first denials:\n");
		printf("  %s vm %.8s %-10s gpa 0x%" PRIx64 " size %" PRIu64 " %s (rule %" PRIu64 ")\n",
		       json_object_get_string(json_object_object_get(d, "time")),
		       json_object_get_string(json_object_object_get(d, "vm")),
		       json_object_get_string(json_object_object_get(d, "dir")),
		       json_object_get_uint64(json_object_object_get(d, "gpa")),
		       json_object_get_uint64(json_object_object_get(d, "size")),
		       json_object_get_string(json_object_object_get(d, "reason")),
		       json_object_get_uint64(json_object_object_get(d, "rule")));
	}
	json_object_put(o);
}
