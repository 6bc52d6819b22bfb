// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "jsonutil.h"
#include "vmjson.h"
#include "util.h"
#include "vmname.h"

const char *pm_hook_state_name(enum pm_hook_state s)
{
	static const char *const n[] = { "unavailable", "disabled", "superseded", "failed", "live", "silent" };

	return s < PM_HOOK_STATES ? n[s] : "?";
}

json_object *pm_json_hist(const struct pm_hist *h)
{
	return pm_json_sparse(h->slot, PM_HIST_SLOTS);
}

static json_object *json_dir(const struct pm_dir_stats *d)
{
	json_object *o = json_object_new_object();

	pm_json_add_u64(o, "requests", d->requests);
	pm_json_add_u64(o, "request_bytes", d->request_bytes);
	pm_json_add_u64(o, "attempts", d->attempts);
	pm_json_add_u64(o, "attempt_bytes", d->attempt_bytes);
	pm_json_add_u64(o, "conversions", d->conversions);
	pm_json_add_u64(o, "bytes", d->bytes);
	json_object_object_add(o, "size_log2_hist", pm_json_hist(&d->size_hist));
	json_object_object_add(o, "attempt_size_log2_hist", pm_json_hist(&d->attempt_size_hist));
	return o;
}

static json_object *json_latency(const struct pm_hist *h)
{
	json_object *o = json_object_new_object();

	pm_json_add_u64(o, "count", h->count);
	pm_json_add_u64(o, "p50_ns", pm_hist_quantile(h, 500));
	pm_json_add_u64(o, "p99_ns", pm_hist_quantile(h, 990));
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

		pm_json_add_u64(o, "ts", r->ts);
		json_object_object_add(o, "source",
			json_object_new_string(r->source == PM_SRC_HYPERCALL ? "hypercall" : "memory_fault"));
		json_object_object_add(o, "dir", json_object_new_string(pm_dir_name(r->dir)));
		pm_json_add_u64(o, "gpa", r->gpa);
		pm_json_add_u64(o, "size", r->size);
		pm_json_add_u64(o, "flags", r->attrs);
		json_object_object_add(o, "vcpu", json_object_new_int(r->vcpu));
		json_object_array_add(a, o);
	}
	return a;
}

static json_object *json_kernel(const struct pm_vm_kstats *k)
{
	json_object *o = json_object_new_object();
	uint64_t exits[PM_EXIT_REASONS];

	memcpy(exits, k->exits, sizeof(exits));	/* __u64 is another type than uint64_t */
	json_object_object_add(o, "exits", pm_json_sparse(exits, PM_EXIT_REASONS));
	pm_json_add_u64(o, "kvm_run_errors", k->exit_errors);
	pm_json_add_u64(o, "rmp_faults", k->rmp_faults);
	pm_json_add_u64(o, "private_page_faults", k->private_faults);
	pm_json_add_u64(o, "set_attr_calls", k->set_attr_calls);
	pm_json_add_u64(o, "set_attr_bytes", k->set_attr_bytes);
	return o;
}

json_object *pm_json_reasons(const uint64_t by_reason[PM_VERDICTS])
{
	json_object *o = json_object_new_object();

	for (int i = 1; i < PM_VERDICTS; i++)
		if (by_reason[i])
			pm_json_add_u64(o, pm_deny_reason(i), by_reason[i]);
	return o;
}

/* {"denied":{"by_reason":{..},"by_rule":{..}},"would_deny":{..}}, zeros omitted. */
static json_object *json_denials(const struct pm_vm *vm)
{
	json_object *o = json_object_new_object();

	for (int w = 0; w < 2; w++) {
		json_object *k = json_object_new_object();

		json_object_object_add(k, "by_reason", pm_json_reasons(vm->deny_reason[w]));
		json_object_object_add(k, "by_rule", pm_json_sparse(vm->deny_rule[w], PM_RULE_SLOTS));
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
		pm_json_add_u64(o, "ts", d->ts);
		json_object_object_add(o, "dir", json_object_new_string(pm_dir_name(d->dir)));
		pm_json_add_u64(o, "gpa", d->gpa);
		pm_json_add_u64(o, "size", d->size);
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
	pm_json_add_u64(o, "pid", vm->pid);
	json_object_object_add(o, "comm", json_object_new_string(vm->comm));
	json_object_object_add(o, "name", json_object_new_string(pm_vm_name(vm)));
	json_object_object_add(o, "name_source", json_object_new_string(pm_name_source_name(vm->name_src)));
	json_object_object_add(o, "cgroup", json_object_new_string(vm->cgroup));
	pm_json_add_u64(o, "cgroup_id", vm->cgroup_id);
	json_object_object_add(o, "state", json_object_new_string(vm->destroyed ? "destroyed" : "running"));
	pm_json_add_u64(o, "guest_bytes", vm->guest_bytes);
	pm_json_add_u64(o, "gmem_count", vm->gmem_count);
	pm_json_add_u64(o, "gmem_closed", vm->gmem_closed);
	pm_json_add_u64(o, "shared_bytes", pm_vm_shared_bytes(vm));
	pm_json_add_u64(o, "private_bytes", pm_vm_private_bytes(vm));
	json_object_object_add(o, "shared_inexact", json_object_new_boolean(vm->shared_inexact));
	json_object_object_add(o, "to_private", json_dir(&vm->dir[PM_TO_PRIVATE]));
	json_object_object_add(o, "to_shared", json_dir(&vm->dir[PM_TO_SHARED]));
	req = json_object_new_object();
	pm_json_add_u64(req, "hypercall", vm->req_hypercall);
	pm_json_add_u64(req, "memory_fault", vm->req_fault);
	json_object_object_add(o, "requests", req);
	err = json_object_new_object();
	for (int i = 1; i < PM_ERRNO_SLOTS; i++)
		if (vm->attr_errno[i])
			pm_json_add_u64(err, pm_errno_name(i, nb, sizeof(nb)), vm->attr_errno[i]);
	json_object_object_add(o, "attr_errors", err);
	pm_json_add_u64(o, "discards", vm->discards);
	pm_json_add_u64(o, "discard_bytes", vm->discard_bytes);
	pm_json_add_u64(o, "discard_errors", vm->discard_errors);
	pm_json_add_u64(o, "denied", vm->denied);
	pm_json_add_u64(o, "would_deny", vm->would_deny);
	json_object_object_add(o, "denials", json_denials(vm));
	json_object_object_add(o, "recent_denials", json_recent_denials(vm));
	pm_json_add_u64(o, "resumes", vm->resumes);
	json_object_object_add(o, "resume_latency", json_latency(&vm->resume_lat));
	json_object_object_add(o, "decide_latency", json_latency(&vm->decide_lat));
	json_object_object_add(o, "kernel", json_kernel(&vm->k));
	pm_json_add_u64(o, "lost", vm->k.lost);
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
		pm_json_add_u64(h, "hits", hooks[i].hits);
		if (hooks[i].reason[0])
			json_object_object_add(h, "reason", json_object_new_string(hooks[i].reason));
		if (hooks[i].verified[0])
			json_object_object_add(h, "verified", json_object_new_string(hooks[i].verified));
		if (hooks[i].state == PM_HOOK_SILENT)
			pm_json_add_u64(h, "missed", hooks[i].missed);
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
	pm_json_add_u64(o, "lost", s->lost);
	pm_json_add_u64(o, "events", s->events);
	pm_json_add_u64(o, "bad_events", s->bad_events);
	pm_json_add_u64(o, "forgotten", s->forgotten);	/* destroyed VMs no longer in vms */
	if (hooks)
		json_object_object_add(o, "hooks", pm_json_hooks(hooks, nhooks));
	return o;
}
