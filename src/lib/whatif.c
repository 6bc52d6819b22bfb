// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "privmem/decide.h"
#include "jsonutil.h"
#include "util.h"
#include "vmjson.h"
#include "whatif.h"

struct pm_whatif_vm {
	const struct pm_rule *rule;	/* NULL until the VM's first attempt */
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
	pm_vmtab_init(&w->vms, sizeof(struct pm_whatif_vm));
}

void pm_whatif_free(struct pm_whatif *w)
{
	pm_vmtab_free(&w->vms);
	free(w->d);
	memset(w, 0, sizeof(*w));
}

static void note_denial(struct pm_whatif *w, const struct pm_event *e, uint32_t rule, uint32_t verdict)
{
	struct pm_whatif_denial *n;

	if (e->ts < w->from_ns)
		return;
	n = pm_grow(w->d, w->nd, &w->dcap, sizeof(*n), 256);
	if (!n)
		return;
	w->d = n;
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
	v = pm_vmtab_get(&w->vms, e->vm, NULL);
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

static json_object *vm_json(const struct pm_whatif *w, const struct pm_vm *vm, const struct pm_whatif_vm *v)
{
	static const struct pm_whatif_vm none;
	json_object *o = json_object_new_object();
	char id[24], name[80];

	snprintf(id, sizeof(id), "%016" PRIx64, vm->id);
	json_object_object_add(o, "id", json_object_new_string(id));
	json_object_object_add(o, "pid", json_object_new_uint64(vm->pid));
	json_object_object_add(o, "comm", json_object_new_string(vm->comm));
	json_object_object_add(o, "rule", json_object_new_string(
		v ? pm_policy_rule_name(w->policy, v->rule->id, name, sizeof(name)) : "none"));
	json_object_object_add(o, "decided", json_object_new_uint64(v ? v->decided : 0));
	json_object_object_add(o, "would_deny", json_object_new_uint64(v ? v->denied : 0));
	json_object_object_add(o, "by_reason", pm_json_reasons((v ? v : &none)->by_reason));
	json_object_object_add(o, "by_rule", pm_json_sparse((v ? v : &none)->by_rule, PM_RULE_SLOTS));
	return o;
}

json_object *pm_whatif_json(const struct pm_whatif *w, const struct pm_replay *r, const char *vm_prefix)
{
	json_object *o = json_object_new_object(), *vms = json_object_new_array(), *ds = json_object_new_array();
	struct pm_vms all = pm_state_vms(&r->st);
	struct pm_vm *vm;
	uint64_t total = 0;

	pm_vms_each(&all, vm) {
		const struct pm_whatif_vm *v = pm_vmtab_find(&w->vms, vm->id);

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

		if (vm_prefix && !pm_replay_vm_match(pm_state_find((struct pm_state *)&r->st, d->vm), vm_prefix))
			continue;
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

static void print_vm_row(json_object *v)
{
	json_object *br = json_object_object_get(v, "by_reason");

	printf("%-16s %7" PRIu64 " %-15s %-20s %8" PRIu64 " %8" PRIu64 " ", pm_json_str(v, "id"),
	       pm_json_u64(v, "pid", 0), pm_json_str(v, "comm"), pm_json_str(v, "rule"),
	       pm_json_u64(v, "decided", 0), pm_json_u64(v, "would_deny", 0));
	json_object_object_foreach(br, k, n)
		printf(" %s=%" PRIu64, k, json_object_get_uint64(n));
	putchar('\n');
}

static void print_denial(json_object *d)
{
	printf("  %s vm %.8s %-10s gpa 0x%" PRIx64 " size %" PRIu64 " %s (rule %" PRIu64 ")\n",
	       pm_json_str(d, "time"), pm_json_str(d, "vm"), pm_json_str(d, "dir"), pm_json_u64(d, "gpa", 0),
	       pm_json_u64(d, "size", 0), pm_json_str(d, "reason"), pm_json_u64(d, "rule", 0));
}

void pm_whatif_print(const struct pm_whatif *w, const struct pm_replay *r, const char *vm_prefix)
{
	json_object *o = pm_whatif_json(w, r, vm_prefix), *vms, *ds;

	printf("\nwhat if %s (mode %s) had been in force: %" PRIu64 " of %" PRIu64 " attempts denied\n", w->path,
	       pm_mode_name(w->policy->mode), pm_json_u64(o, "would_deny", 0), w->decided);
	json_object_object_get_ex(o, "vms", &vms);
	printf("%-16s %7s %-15s %-20s %8s %8s  %s\n", "VM", "PID", "COMM", "RULE", "DECIDED", "DENIED", "BY REASON");
	for (size_t i = 0; i < json_object_array_length(vms); i++)
		print_vm_row(json_object_array_get_idx(vms, i));
	json_object_object_get_ex(o, "denials", &ds);
	/* the first 20: the JSON has them all */
	for (size_t i = 0; i < json_object_array_length(ds) && i < 20; i++) {
		if (!i)
			printf("first denials:\n");
		print_denial(json_object_array_get_idx(ds, i));
	}
	json_object_put(o);
}
