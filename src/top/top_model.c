// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * privmemtop's snapshots.  A rate is the difference of a VM's counter
 * between two snapshots over the time between them; a VM seen for the
 * first time counts from zero (it appeared within the interval), except in
 * the very first snapshot, which has no rates.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "jsonutil.h"
#include "top_model.h"

/* {"12": n, ...} -> slots */
static void hist(json_object *o, uint64_t *slot)
{
	memset(slot, 0, PM_HIST_SLOTS * sizeof(*slot));
	if (!o || !json_object_is_type(o, json_type_object))
		return;
	json_object_object_foreach(o, k, v) {
		char *end;
		unsigned long i = strtoul(k, &end, 10);

		if (!*end && i < PM_HIST_SLOTS)
			slot[i] = json_object_get_uint64(v);
	}
}

void top_model_init(struct top_model *m)
{
	memset(m, 0, sizeof(*m));
}

void top_model_free(struct top_model *m)
{
	free(m->cur.vms);
	free(m->prev.vms);
	memset(m, 0, sizeof(*m));
}

static void fill_dir(struct top_dir *d, json_object *o)
{
	d->requests = pm_json_u64(o, "requests", 0);
	d->attempts = pm_json_u64(o, "attempts", 0);
	d->attempt_bytes = pm_json_u64(o, "attempt_bytes", 0);
	d->conversions = pm_json_u64(o, "conversions", 0);
	d->bytes = pm_json_u64(o, "bytes", 0);
	hist(pm_json_at(o, "size_log2_hist"), d->size_hist);
	hist(pm_json_at(o, "attempt_size_log2_hist"), d->attempt_size_hist);
}

static void fill_denials(struct top_vm *vm, json_object *arr)
{
	size_t n;

	vm->has_denial_log = arr && json_object_is_type(arr, json_type_array);
	if (!vm->has_denial_log)
		return;
	n = json_object_array_length(arr);
	for (size_t i = n > TOP_DENIALS ? n - TOP_DENIALS : 0; i < n; i++) {
		json_object *d = json_object_array_get_idx(arr, i);
		struct top_denial *t = &vm->denials[vm->ndenials++];
		json_object *w;

		t->ts = pm_json_u64(d, "ts", 0);
		t->gpa = pm_json_u64(d, "gpa", 0);
		t->size = pm_json_u64(d, "size", 0);
		snprintf(t->dir, sizeof(t->dir), "%s", pm_json_str(d, "dir"));
		snprintf(t->rule, sizeof(t->rule), "%s", pm_json_str(d, "rule"));
		w = pm_json_at(d, "would_deny");
		t->would = w && json_object_get_boolean(w);
	}
}

/* Appends " [lead]KEYkey=n" per counter of o; lead only before the first of its group. */
static void append_counts(char *buf, size_t len, size_t *off, json_object *o, const char *key, const char *lead,
			  bool *any)
{
	if (!o || !json_object_is_type(o, json_type_object))
		return;
	json_object_object_foreach(o, k, n) {
		if (*off < len)
			*off += (size_t)snprintf(buf + *off, len - *off, "%s%s%s%s=%llu", *off ? " " : "",
						 *any ? "" : lead, key, k, (unsigned long long)json_object_get_uint64(n));
		*any = true;
	}
}

/* {"denied":{"by_reason":{..},"by_rule":{..}},"would_deny":{..}} -> one line */
static void fill_deny_detail(struct top_vm *vm, json_object *d)
{
	static const char *const verdict[2] = { "denied", "would_deny" };
	static const char *const lead[2] = { "denied: ", "would-deny: " };
	size_t off = 0, len = sizeof(vm->deny_detail);

	for (int w = 0; w < 2; w++) {
		json_object *v = pm_json_at(d, verdict[w]);
		bool any = false;

		append_counts(vm->deny_detail, len, &off, pm_json_at(v, "by_reason"), "", lead[w], &any);
		append_counts(vm->deny_detail, len, &off, pm_json_at(v, "by_rule"), "rule ", lead[w], &any);
	}
}

static void fill_vm(struct top_vm *vm, json_object *o)
{
	const char *cg, *slash;
	json_object *errs = pm_json_at(o, "attr_errors");
	size_t off = 0;

	memset(vm, 0, sizeof(*vm));
	snprintf(vm->id, sizeof(vm->id), "%s", pm_json_str(o, "id"));
	vm->pid = (uint32_t)pm_json_u64(o, "pid", 0);
	snprintf(vm->comm, sizeof(vm->comm), "%s", pm_json_str(o, "comm"));
	/* an older daemon has no name: its comm stands in */
	snprintf(vm->name, sizeof(vm->name), "%s", *pm_json_str(o, "name") ? pm_json_str(o, "name") : vm->comm);
	cg = pm_json_str(o, "cgroup");
	snprintf(vm->cgroup, sizeof(vm->cgroup), "%s", cg);
	slash = strrchr(cg, '/');
	snprintf(vm->unit, sizeof(vm->unit), "%s", slash && slash[1] ? slash + 1 : *cg ? "/" : "?");
	vm->running = strcmp(pm_json_str(o, "state"), "destroyed") != 0;
	vm->guest_bytes = pm_json_u64(o, "guest_bytes", 0);
	vm->shared_bytes = pm_json_u64(o, "shared_bytes", 0);
	fill_dir(&vm->dir[TOP_PRIV], pm_json_at(o, "to_private"));
	fill_dir(&vm->dir[TOP_SHRD], pm_json_at(o, "to_shared"));
	vm->hypercalls = pm_json_u64(o, "requests.hypercall", 0);
	vm->faults = pm_json_u64(o, "requests.memory_fault", 0);
	if (errs && json_object_is_type(errs, json_type_object)) {
		json_object_object_foreach(errs, k, v) {
			uint64_t n = json_object_get_uint64(v);

			vm->errors += n;
			if (off < sizeof(vm->errnames))
				off += (size_t)snprintf(vm->errnames + off, sizeof(vm->errnames) - off, "%s%s=%llu",
							off ? " " : "", k, (unsigned long long)n);
		}
	}
	vm->discards = pm_json_u64(o, "discards", 0);
	vm->discard_bytes = pm_json_u64(o, "discard_bytes", 0);
	vm->denied = pm_json_u64(o, "denied", 0);
	vm->would_deny = pm_json_u64(o, "would_deny", 0);
	vm->lost = pm_json_u64(o, "lost", 0);
	vm->resumes = pm_json_u64(o, "resume_latency.count", 0);
	vm->p50_ns = pm_json_u64(o, "resume_latency.p50_ns", 0);
	vm->p99_ns = pm_json_u64(o, "resume_latency.p99_ns", 0);
	hist(pm_json_at(o, "resume_latency.ns_log2_hist"), vm->lat_hist);
	fill_denials(vm, pm_json_at(o, "recent_denials"));
	fill_deny_detail(vm, pm_json_at(o, "denials"));
}

static const struct top_vm *find(const struct top_snapshot *s, const char *id)
{
	for (unsigned i = 0; i < s->nvms; i++)
		if (!strcmp(s->vms[i].id, id))
			return &s->vms[i];
	return NULL;
}

const struct top_vm *top_snapshot_find(const struct top_snapshot *s, const char *id)
{
	return find(s, id);
}

/* A counter that went backwards was reset (a re-created VM id): count from zero. */
static double rate(uint64_t now, uint64_t before, double secs)
{
	return secs > 0 ? (double)(now >= before ? now - before : now) / secs : 0;
}

static void rates(struct top_vm *vm, const struct top_vm *old, double secs)
{
	static const struct top_vm zero;
	const struct top_vm *p = old ? old : &zero;

	for (int d = 0; d < 2; d++) {
		vm->dir[d].conv_rate = rate(vm->dir[d].conversions, p->dir[d].conversions, secs);
		vm->dir[d].byte_rate = rate(vm->dir[d].bytes, p->dir[d].bytes, secs);
		vm->dir[d].attempt_rate = rate(vm->dir[d].attempts, p->dir[d].attempts, secs);
	}
	vm->fault_rate = rate(vm->faults, p->faults, secs);
	/* the sparkline (attempts/s: conversions and failures) carries on from the VM's previous snapshot */
	if (old) {
		memcpy(vm->spark, old->spark, sizeof(vm->spark));
		vm->nspark = old->nspark;
	}
	if (secs > 0) {
		float r = (float)(vm->dir[0].attempt_rate + vm->dir[1].attempt_rate);

		if (vm->nspark == TOP_SPARK) {
			memmove(vm->spark, vm->spark + 1, (TOP_SPARK - 1) * sizeof(float));
			vm->nspark--;
		}
		vm->spark[vm->nspark++] = r;
	}
}

static void fill_hooks(struct top_snapshot *s, json_object *hooks)
{
	size_t off = 0;

	if (!hooks || !json_object_is_type(hooks, json_type_object))
		return;
	json_object_object_foreach(hooks, name, h) {
		json_object *tax;

		s->hooks++;
		if (strcmp(pm_json_str(h, "state"), "silent") == 0) {
			size_t n = strlen(s->silent_hooks);

			s->hooks_silent++;
			snprintf(s->silent_hooks + n, sizeof(s->silent_hooks) - n, "%s%s", n ? " " : "", name);
		}
		bool taxes = json_object_object_get_ex(h, "taxes_all_processes", &tax) && json_object_get_boolean(tax);

		if (taxes && strcmp(pm_json_str(h, "state"), "disabled") == 0) {
			size_t n = strlen(s->unseen);

			snprintf(s->unseen + n, sizeof(s->unseen) - n, "%s%s", n ? ", " : "", pm_json_str(h, "covers"));
		}
		if (strcmp(pm_json_str(h, "state"), "live"))
			continue;
		s->hooks_live++;
		if (taxes)
			s->hooks_tax = true;
		if (off < sizeof(s->live_hooks))
			off += (size_t)snprintf(s->live_hooks + off, sizeof(s->live_hooks) - off, "%s%s",
						off ? " " : "", name);
	}
}

/* "policy": "audit" or {"mode": "audit", ...}; absent means none loaded. */
static void fill_policy(struct top_snapshot *s, json_object *status)
{
	json_object *p = pm_json_at(status, "policy");
	const char *mode = "none";

	if (p && json_object_is_type(p, json_type_string))
		mode = json_object_get_string(p);
	else if (p && json_object_is_type(p, json_type_object) && *pm_json_str(p, "mode"))
		mode = pm_json_str(p, "mode");
	snprintf(s->policy, sizeof(s->policy), "%s", *mode ? mode : "none");
}

int top_model_update(struct top_model *m, json_object *vms, json_object *status, uint64_t now_ns,
		     char *err, size_t len)
{
	json_object *arr = pm_json_at(vms, "vms");
	struct top_snapshot next = { 0 }, tmp;
	size_t n;

	if (!arr || !json_object_is_type(arr, json_type_array)) {
		snprintf(err, len, "%s", pm_json_at(vms, "error") ? pm_json_str(vms, "error") : "reply has no \"vms\" array");
		return -EINVAL;
	}
	n = json_object_array_length(arr);
	next.cap = n ? (unsigned)n : 1;
	next.vms = calloc(next.cap, sizeof(*next.vms));
	if (!next.vms) {
		snprintf(err, len, "out of memory");
		return -ENOMEM;
	}
	next.ts_ns = now_ns;
	next.interval_s = m->updates && now_ns > m->cur.ts_ns ? (now_ns - m->cur.ts_ns) / 1e9 : 0;
	next.events = pm_json_u64(vms, "events", 0);
	next.lost = pm_json_u64(vms, "lost", 0);
	next.bad_events = pm_json_u64(vms, "bad_events", 0);
	fill_hooks(&next, pm_json_at(vms, "hooks"));
	if (status && !next.hooks)
		fill_hooks(&next, pm_json_at(status, "hooks"));
	fill_policy(&next, status ? status : vms);
	for (size_t i = 0; i < n; i++) {
		struct top_vm *vm = &next.vms[next.nvms];
		struct top_totals *t = &next.tot;

		fill_vm(vm, json_object_array_get_idx(arr, i));
		if (!vm->id[0])
			continue;
		next.nvms++;
		rates(vm, m->updates ? find(&m->cur, vm->id) : NULL, next.interval_s);
		if (!m->updates)	/* no previous snapshot: no rates, nothing appeared "now" */
			vm->nspark = 0;
		t->vms++;
		t->running += vm->running;
		t->guest_bytes += vm->guest_bytes;
		t->shared_bytes += vm->shared_bytes;
		for (int d = 0; d < 2; d++) {
			t->conversions[d] += vm->dir[d].conversions;
			t->bytes[d] += vm->dir[d].bytes;
			t->attempts[d] += vm->dir[d].attempts;
			t->conv_rate[d] += vm->dir[d].conv_rate;
			t->byte_rate[d] += vm->dir[d].byte_rate;
		}
		t->faults += vm->faults;
		t->fault_rate += vm->fault_rate;
		t->denied += vm->denied;
		t->would_deny += vm->would_deny;
		t->lost += vm->lost;
	}
	/* rates of VMs the daemon forgot since the last snapshot simply stop */
	tmp = m->prev;
	m->prev = m->cur;
	m->cur = next;
	free(tmp.vms);
	m->have_prev = m->updates > 0;
	m->updates++;
	return 0;
}

/* ---- sorting and filtering ---- */

static const char *const col_names[TOP_COL_MAX] = {
	"pid", "name", "guest", "shared", "to_private_rate", "to_private_bytes_rate", "to_shared_rate",
	"to_shared_bytes_rate", "faults_rate", "p50", "p99", "denials", "drops",
};

const char *top_col_name(enum top_col col)
{
	return col < TOP_COL_MAX ? col_names[col] : "?";
}

static struct {
	enum top_col col;
	bool by_unit, totals;
} sort_key;

static double shared_frac(const struct top_vm *v)
{
	return v->guest_bytes ? (double)v->shared_bytes / (double)v->guest_bytes : 0;
}

static double col_value(const struct top_vm *v, enum top_col c)
{
	bool tot = sort_key.totals;

	switch (c) {
	case TOP_COL_PID: return v->pid;
	case TOP_COL_GUEST: return (double)v->guest_bytes;
	case TOP_COL_SHARED: return shared_frac(v);
	case TOP_COL_TP_RATE: return tot ? (double)v->dir[TOP_PRIV].conversions : v->dir[TOP_PRIV].conv_rate;
	case TOP_COL_TP_BYTES: return tot ? (double)v->dir[TOP_PRIV].bytes : v->dir[TOP_PRIV].byte_rate;
	case TOP_COL_TS_RATE: return tot ? (double)v->dir[TOP_SHRD].conversions : v->dir[TOP_SHRD].conv_rate;
	case TOP_COL_TS_BYTES: return tot ? (double)v->dir[TOP_SHRD].bytes : v->dir[TOP_SHRD].byte_rate;
	case TOP_COL_FAULTS: return tot ? (double)v->faults : v->fault_rate;
	case TOP_COL_P50: return (double)v->p50_ns;
	case TOP_COL_P99: return (double)v->p99_ns;
	case TOP_COL_DENY: return (double)(v->denied + v->would_deny);
	case TOP_COL_DROP: return (double)v->lost;
	default: return 0;
	}
}

static int cmp_asc(const void *a, const void *b)
{
	const struct top_vm *x = a, *y = b;
	int c;

	if (sort_key.col == TOP_COL_NAME) {
		c = strcasecmp(sort_key.by_unit ? x->unit : x->name, sort_key.by_unit ? y->unit : y->name);
	} else {
		double vx = col_value(x, sort_key.col), vy = col_value(y, sort_key.col);

		c = vx < vy ? -1 : vx > vy;
	}
	if (c)
		return c;
	if (x->pid != y->pid)	/* stable order among equals */
		return x->pid < y->pid ? -1 : 1;
	return strcmp(x->id, y->id);
}

static int cmp_desc(const void *a, const void *b)
{
	return cmp_asc(b, a);
}

void top_snapshot_sort(struct top_snapshot *s, enum top_col col, bool ascending, bool by_unit, bool totals)
{
	sort_key.col = col;
	sort_key.by_unit = by_unit;
	sort_key.totals = totals;
	qsort(s->vms, s->nvms, sizeof(*s->vms), ascending ? cmp_asc : cmp_desc);
}

bool top_vm_matches(const struct top_vm *vm, const char *filter)
{
	char pid[16];

	if (!filter || !*filter)
		return true;
	snprintf(pid, sizeof(pid), "%u", vm->pid);
	return strcasestr(vm->name, filter) || strcasestr(vm->comm, filter) || strcasestr(vm->cgroup, filter) || strstr(pid, filter) ||
	       strcasestr(vm->id, filter);
}

/* ---- JSON for scripts ---- */

static void add_rate(json_object *o, const char *k, double v)
{
	json_object_object_add(o, k, json_object_new_double(v));
}

static json_object *dir_json(const struct top_dir *d)
{
	json_object *o = json_object_new_object();

	pm_json_add_u64(o, "attempts", d->attempts);
	pm_json_add_u64(o, "attempt_bytes", d->attempt_bytes);
	pm_json_add_u64(o, "conversions", d->conversions);
	pm_json_add_u64(o, "bytes", d->bytes);
	add_rate(o, "conversions_per_s", d->conv_rate);
	add_rate(o, "bytes_per_s", d->byte_rate);
	add_rate(o, "attempts_per_s", d->attempt_rate);
	return o;
}

json_object *top_snapshot_json(const struct top_snapshot *s, const char *source)
{
	json_object *o = json_object_new_object(), *arr = json_object_new_array(), *t = json_object_new_object();
	json_object *tp = json_object_new_object(), *ts = json_object_new_object();

	json_object_object_add(o, "source", json_object_new_string(source ? source : ""));
	pm_json_add_u64(o, "ts_ns", s->ts_ns);
	add_rate(o, "interval_s", s->interval_s);
	json_object_object_add(o, "policy", json_object_new_string(s->policy));
	pm_json_add_u64(o, "events", s->events);
	pm_json_add_u64(o, "lost", s->lost);
	pm_json_add_u64(o, "hooks_live", s->hooks_live);
	pm_json_add_u64(o, "hooks_silent", s->hooks_silent);
	json_object_object_add(o, "silent_hooks", json_object_new_string(s->silent_hooks));
	json_object_object_add(o, "hooks_tax_all_processes", json_object_new_boolean(s->hooks_tax));
	json_object_object_add(o, "unseen", json_object_new_string(s->unseen));

	pm_json_add_u64(t, "vms", s->tot.vms);
	pm_json_add_u64(t, "running", s->tot.running);
	pm_json_add_u64(t, "guest_bytes", s->tot.guest_bytes);
	pm_json_add_u64(t, "shared_bytes", s->tot.shared_bytes);
	pm_json_add_u64(tp, "attempts", s->tot.attempts[TOP_PRIV]);
	pm_json_add_u64(tp, "conversions", s->tot.conversions[TOP_PRIV]);
	pm_json_add_u64(tp, "bytes", s->tot.bytes[TOP_PRIV]);
	add_rate(tp, "conversions_per_s", s->tot.conv_rate[TOP_PRIV]);
	add_rate(tp, "bytes_per_s", s->tot.byte_rate[TOP_PRIV]);
	pm_json_add_u64(ts, "attempts", s->tot.attempts[TOP_SHRD]);
	pm_json_add_u64(ts, "conversions", s->tot.conversions[TOP_SHRD]);
	pm_json_add_u64(ts, "bytes", s->tot.bytes[TOP_SHRD]);
	add_rate(ts, "conversions_per_s", s->tot.conv_rate[TOP_SHRD]);
	add_rate(ts, "bytes_per_s", s->tot.byte_rate[TOP_SHRD]);
	json_object_object_add(t, "to_private", tp);
	json_object_object_add(t, "to_shared", ts);
	pm_json_add_u64(t, "memory_faults", s->tot.faults);
	add_rate(t, "memory_faults_per_s", s->tot.fault_rate);
	pm_json_add_u64(t, "denied", s->tot.denied);
	pm_json_add_u64(t, "would_deny", s->tot.would_deny);
	pm_json_add_u64(t, "lost", s->tot.lost);
	json_object_object_add(o, "totals", t);

	for (unsigned i = 0; i < s->nvms; i++) {
		const struct top_vm *v = &s->vms[i];
		json_object *j = json_object_new_object();

		json_object_object_add(j, "id", json_object_new_string(v->id));
		pm_json_add_u64(j, "pid", v->pid);
		json_object_object_add(j, "comm", json_object_new_string(v->comm));
		json_object_object_add(j, "name", json_object_new_string(v->name));
		json_object_object_add(j, "cgroup", json_object_new_string(v->cgroup));
		json_object_object_add(j, "unit", json_object_new_string(v->unit));
		json_object_object_add(j, "state", json_object_new_string(v->running ? "running" : "destroyed"));
		pm_json_add_u64(j, "guest_bytes", v->guest_bytes);
		pm_json_add_u64(j, "shared_bytes", v->shared_bytes);
		add_rate(j, "shared_fraction", shared_frac(v));
		json_object_object_add(j, "to_private", dir_json(&v->dir[TOP_PRIV]));
		json_object_object_add(j, "to_shared", dir_json(&v->dir[TOP_SHRD]));
		pm_json_add_u64(j, "hypercalls", v->hypercalls);
		pm_json_add_u64(j, "memory_faults", v->faults);
		add_rate(j, "memory_faults_per_s", v->fault_rate);
		pm_json_add_u64(j, "attempt_errors", v->errors);
		pm_json_add_u64(j, "discards", v->discards);
		pm_json_add_u64(j, "resume_p50_ns", v->p50_ns);
		pm_json_add_u64(j, "resume_p99_ns", v->p99_ns);
		pm_json_add_u64(j, "denied", v->denied);
		pm_json_add_u64(j, "would_deny", v->would_deny);
		pm_json_add_u64(j, "lost", v->lost);
		json_object_array_add(arr, j);
	}
	json_object_object_add(o, "vms", arr);
	return o;
}
