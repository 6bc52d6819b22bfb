// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include "vmjson.h"
#include "util.h"

const char *pm_hook_state_name(enum pm_hook_state s)
{
	static const char *const n[] = { "unavailable", "disabled", "superseded", "failed", "live" };

	return s <= PM_HOOK_LIVE ? n[s] : "?";
}

static void add_u64(json_object *o, const char *k, uint64_t v)
{
	json_object_object_add(o, k, json_object_new_uint64(v));
}

json_object *pm_json_hist(const struct pm_hist *h)
{
	json_object *o = json_object_new_object();
	char key[8];

	for (unsigned i = 0; i < PM_HIST_SLOTS; i++) {
		if (!h->slot[i])
			continue;
		snprintf(key, sizeof(key), "%u", i);
		add_u64(o, key, h->slot[i]);
	}
	return o;
}

static json_object *json_dir(const struct pm_dir_stats *d)
{
	json_object *o = json_object_new_object();

	add_u64(o, "requests", d->requests);
	add_u64(o, "request_bytes", d->request_bytes);
	add_u64(o, "attempts", d->attempts);
	add_u64(o, "attempt_bytes", d->attempt_bytes);
	add_u64(o, "conversions", d->conversions);
	add_u64(o, "bytes", d->bytes);
	json_object_object_add(o, "size_log2_hist", pm_json_hist(&d->size_hist));
	json_object_object_add(o, "attempt_size_log2_hist", pm_json_hist(&d->attempt_size_hist));
	return o;
}

static json_object *json_latency(const struct pm_hist *h)
{
	json_object *o = json_object_new_object();

	add_u64(o, "count", h->count);
	add_u64(o, "p50_ns", pm_hist_quantile(h, 500));
	add_u64(o, "p99_ns", pm_hist_quantile(h, 990));
	json_object_object_add(o, "ns_log2_hist", pm_json_hist(h));
	return o;
}

static json_object *json_recent(const struct pm_vm *vm)
{
	json_object *a = json_object_new_array();
	uint64_t n = vm->recent_total < PM_RECENT ? vm->recent_total : PM_RECENT;

	for (uint64_t i = vm->recent_total - n; i < vm->recent_total; i++) {
		const struct pm_recent_req *r = &vm->recent[i % PM_RECENT];
		json_object *o = json_object_new_object();

		add_u64(o, "ts", r->ts);
		json_object_object_add(o, "source",
			json_object_new_string(r->source == PM_SRC_HYPERCALL ? "hypercall" : "memory_fault"));
		json_object_object_add(o, "dir", json_object_new_string(pm_dir_name(r->dir)));
		add_u64(o, "gpa", r->gpa);
		add_u64(o, "size", r->size);
		add_u64(o, "flags", r->attrs);
		json_object_object_add(o, "vcpu", json_object_new_int(r->vcpu));
		json_object_array_add(a, o);
	}
	return a;
}

static json_object *json_kernel(const struct pm_vm_kstats *k)
{
	json_object *o = json_object_new_object(), *ex = json_object_new_object();
	char key[8];

	for (unsigned i = 0; i < PM_EXIT_REASONS; i++) {
		if (!k->exits[i])
			continue;
		snprintf(key, sizeof(key), "%u", i);
		add_u64(ex, key, k->exits[i]);
	}
	json_object_object_add(o, "exits", ex);
	add_u64(o, "kvm_run_errors", k->exit_errors);
	add_u64(o, "rmp_faults", k->rmp_faults);
	add_u64(o, "private_page_faults", k->private_faults);
	add_u64(o, "set_attr_calls", k->set_attr_calls);
	add_u64(o, "set_attr_bytes", k->set_attr_bytes);
	return o;
}

/* {"denied":{"by_reason":{..},"by_rule":{..}},"would_deny":{..}}, zeros omitted. */
static json_object *json_denials(const struct pm_vm *vm)
{
	json_object *o = json_object_new_object();
	char key[16];

	for (int w = 0; w < 2; w++) {
		json_object *k = json_object_new_object(), *br = json_object_new_object(),
			    *bu = json_object_new_object();

		for (int i = 1; i < 4; i++)
			if (vm->deny_reason[w][i])
				add_u64(br, pm_deny_reason(i), vm->deny_reason[w][i]);
		for (int i = 0; i < PM_RULE_SLOTS; i++) {
			if (!vm->deny_rule[w][i])
				continue;
			snprintf(key, sizeof(key), "%d", i);
			add_u64(bu, key, vm->deny_rule[w][i]);
		}
		json_object_object_add(k, "by_reason", br);
		json_object_object_add(k, "by_rule", bu);
		json_object_object_add(o, w ? "would_deny" : "denied", k);
	}
	return o;
}

/* The last PM_RECENT_DENIALS denials and would-denials, oldest first. */
static json_object *json_recent_denials(const struct pm_vm *vm)
{
	json_object *a = json_object_new_array();
	uint64_t n = vm->denials_total < PM_RECENT_DENIALS ? vm->denials_total : PM_RECENT_DENIALS;
	char rule[16];

	for (uint64_t i = vm->denials_total - n; i < vm->denials_total; i++) {
		const struct pm_recent_denial *d = &vm->recent_denials[i % PM_RECENT_DENIALS];
		json_object *o = json_object_new_object();

		snprintf(rule, sizeof(rule), "%u", d->rule);
		add_u64(o, "ts", d->ts);
		json_object_object_add(o, "dir", json_object_new_string(pm_dir_name(d->dir)));
		add_u64(o, "gpa", d->gpa);
		add_u64(o, "size", d->size);
		json_object_object_add(o, "reason", json_object_new_string(pm_deny_reason(d->verdict)));
		json_object_object_add(o, "rule", json_object_new_string(rule));
		json_object_object_add(o, "would_deny", json_object_new_boolean(d->would));
		json_object_array_add(a, o);
	}
	return a;
}

json_object *pm_json_vm(const struct pm_vm *vm)
{
	json_object *o = json_object_new_object(), *req, *err;
	char id[24], nb[16];

	snprintf(id, sizeof(id), "%016" PRIx64, vm->id);
	json_object_object_add(o, "id", json_object_new_string(id));
	add_u64(o, "pid", vm->pid);
	json_object_object_add(o, "comm", json_object_new_string(vm->comm));
	json_object_object_add(o, "cgroup", json_object_new_string(vm->cgroup));
	add_u64(o, "cgroup_id", vm->cgroup_id);
	json_object_object_add(o, "state", json_object_new_string(vm->destroyed ? "destroyed" : "running"));
	add_u64(o, "guest_bytes", vm->guest_bytes);
	add_u64(o, "gmem_count", vm->gmem_count);
	add_u64(o, "shared_bytes", pm_vm_shared_bytes(vm));
	json_object_object_add(o, "to_private", json_dir(&vm->dir[PM_TO_PRIVATE]));
	json_object_object_add(o, "to_shared", json_dir(&vm->dir[PM_TO_SHARED]));
	req = json_object_new_object();
	add_u64(req, "hypercall", vm->req_hypercall);
	add_u64(req, "memory_fault", vm->req_fault);
	json_object_object_add(o, "requests", req);
	err = json_object_new_object();
	for (int i = 1; i < PM_ERRNO_SLOTS; i++)
		if (vm->attr_errno[i])
			add_u64(err, pm_errno_name(i, nb, sizeof(nb)), vm->attr_errno[i]);
	json_object_object_add(o, "attr_errors", err);
	add_u64(o, "discards", vm->discards);
	add_u64(o, "discard_bytes", vm->discard_bytes);
	add_u64(o, "discard_errors", vm->discard_errors);
	add_u64(o, "denied", vm->denied);
	add_u64(o, "would_deny", vm->would_deny);
	json_object_object_add(o, "denials", json_denials(vm));
	json_object_object_add(o, "recent_denials", json_recent_denials(vm));
	add_u64(o, "resumes", vm->resumes);
	json_object_object_add(o, "resume_latency", json_latency(&vm->resume_lat));
	json_object_object_add(o, "decide_latency", json_latency(&vm->decide_lat));
	json_object_object_add(o, "kernel", json_kernel(&vm->k));
	add_u64(o, "lost", vm->k.lost);
	json_object_object_add(o, "recent_requests", json_recent(vm));
	return o;
}

json_object *pm_json_hooks(const struct pm_hook_status *hooks, unsigned nhooks)
{
	json_object *o = json_object_new_object();

	for (unsigned i = 0; i < nhooks; i++) {
		json_object *h = json_object_new_object();

		if (!hooks[i].name)
			continue;
		json_object_object_add(h, "state", json_object_new_string(pm_hook_state_name(hooks[i].state)));
		json_object_object_add(h, "covers", json_object_new_string(hooks[i].covers ? hooks[i].covers : ""));
		json_object_object_add(h, "taxes_all_processes", json_object_new_boolean(hooks[i].taxes_all));
		add_u64(h, "hits", hooks[i].hits);
		if (hooks[i].reason[0])
			json_object_object_add(h, "reason", json_object_new_string(hooks[i].reason));
		json_object_object_add(o, hooks[i].name, h);
	}
	return o;
}

json_object *pm_json_vms(const struct pm_state *s, const struct pm_hook_status *hooks, unsigned nhooks)
{
	json_object *o = json_object_new_object(), *arr = json_object_new_array();
	struct pm_vms all = pm_state_vms(s);
	struct pm_vm *vm;

	pm_vms_each(&all, vm)
		json_object_array_add(arr, pm_json_vm(vm));
	pm_vms_free(&all);
	json_object_object_add(o, "vms", arr);
	add_u64(o, "lost", s->lost);
	add_u64(o, "events", s->events);
	add_u64(o, "bad_events", s->bad_events);
	if (hooks)
		json_object_object_add(o, "hooks", pm_json_hooks(hooks, nhooks));
	return o;
}
