// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "replay.h"
#include "util.h"
#include "jsonutil.h"
#include "vmname.h"
#include "vmjson.h"

void pm_replay_init(struct pm_replay *r)
{
	memset(r, 0, sizeof(*r));
	pm_state_init(&r->st);
	pm_state_init(&r->base);
	r->st.max_vms = r->base.max_vms = PM_REPLAY_MAX_VMS;
	pm_vmtab_init(&r->tl, sizeof(struct pm_tl));
	r->to_ns = UINT64_MAX;
}

void pm_replay_free(struct pm_replay *r)
{
	struct pm_tl *t;

	pm_state_free(&r->st);
	pm_state_free(&r->base);
	pm_trace_info_free(&r->info);
	for (size_t i = 0; (t = pm_vmtab_next(&r->tl, &i, NULL));)
		free(t->b);
	pm_vmtab_free(&r->tl);
	free(r->gaps);
	memset(r, 0, sizeof(*r));
}

/* ---------------------------------------------------------------- timeline */

static struct pm_tl *tl_get(struct pm_replay *r, uint64_t vm)
{
	struct pm_tl *t = pm_vmtab_get(&r->tl, vm, NULL);

	if (t)
		t->vm = vm;
	return t;
}

const struct pm_tl *pm_replay_timeline(const struct pm_replay *r, uint64_t vm)
{
	return vm ? pm_vmtab_find(&r->tl, vm) : NULL;
}

#define TL_LOOKBACK 16

static struct pm_tl_bucket *tl_bucket(struct pm_tl *t, uint64_t sec)
{
	struct pm_tl_bucket *n;
	size_t i = t->n, stop = t->n > TL_LOOKBACK ? t->n - TL_LOOKBACK : 0;

	/*
	 * Records come in nearly time order: look back a little and insert. Further
	 * back (a hostile or damaged file), append and sort once at finish: an
	 * insertion sort there made a file of receding times cost O(events^2).
	 */
	while (i > stop && t->b[i - 1].sec > sec)
		i--;
	if (i > 0 && t->b[i - 1].sec == sec)
		return &t->b[i - 1];
	if (i == stop && stop > 0) {
		i = t->n;
		t->unsorted = true;
	}
	n = pm_grow(t->b, t->n, &t->cap, sizeof(*n), 16);
	if (!n)
		return NULL;
	t->b = n;
	memmove(&t->b[i + 1], &t->b[i], (t->n - i) * sizeof(*t->b));
	memset(&t->b[i], 0, sizeof(*t->b));
	t->b[i].sec = sec;
	t->n++;
	return &t->b[i];
}

static int cmp_bucket(const void *a, const void *b)
{
	const struct pm_tl_bucket *x = a, *y = b;

	return x->sec < y->sec ? -1 : x->sec > y->sec;
}

static void tl_merge(struct pm_tl_bucket *d, const struct pm_tl_bucket *s)
{
	d->events += s->events;
	d->requests += s->requests;
	d->attempts += s->attempts;
	d->conversions += s->conversions;
	d->errors += s->errors;
	d->to_private_bytes += s->to_private_bytes;
	d->to_shared_bytes += s->to_shared_bytes;
	d->discards += s->discards;
	d->discard_bytes += s->discard_bytes;
	d->denied += s->denied;
	d->would_deny += s->would_deny;
}

static void tl_sort(struct pm_tl *t)
{
	size_t k = 0;

	if (!t->unsorted || !t->n)
		return;
	qsort(t->b, t->n, sizeof(*t->b), cmp_bucket);
	for (size_t i = 1; i < t->n; i++) {
		if (t->b[i].sec == t->b[k].sec)
			tl_merge(&t->b[k], &t->b[i]);
		else
			t->b[++k] = t->b[i];
	}
	t->n = k + 1;
	t->unsorted = false;
}

static void tl_add(struct pm_replay *r, const struct pm_event *e)
{
	struct pm_tl *t = tl_get(r, e->vm);
	/* buckets are whole UTC seconds */
	int64_t wall = (int64_t)(e->ts + (uint64_t)r->info.wall_offset_ns);	/* wraps, as a bad header may make it */
	struct pm_tl_bucket *b = t ? tl_bucket(t, wall > 0 ? (uint64_t)wall / 1000000000ull : 0) : NULL;

	if (!b)
		return;
	b->events++;
	switch (e->type) {
	case PM_EV_REQUEST:
		b->requests++;
		break;
	case PM_EV_DECIDE:
		b->attempts++;
		if (e->ret == 0) {
			b->conversions++;
			if (e->dir == PM_TO_PRIVATE)
				b->to_private_bytes += e->size;
			else if (e->dir == PM_TO_SHARED)
				b->to_shared_bytes += e->size;
		} else {
			b->errors++;
		}
		break;
	case PM_EV_DISCARD:
		if (e->ret == 0) {
			b->discards++;
			b->discard_bytes += e->size;
		}
		break;
	case PM_EV_DENY:
		b->denied++;
		break;
	case PM_EV_WOULD_DENY:
		b->would_deny++;
		break;
	default:
		break;
	}
}

/* ---------------------------------------------------------------- reading */

static bool in_base(const struct pm_replay *r, uint64_t ts)
{
	return r->window && ts < r->from_ns;
}

static void on_event(void *ctx, const struct pm_event *e)
{
	struct pm_replay *r = ctx;
	struct pm_vm *vm;

	if (e->ts > r->to_ns)
		return;
	if (in_base(r, e->ts))
		pm_state_apply(&r->base, e);
	if (r->pre_event)
		r->pre_event(r->pre_ctx, pm_state_find(&r->st, e->vm), e);
	vm = pm_state_apply(&r->st, e);
	if (!vm || in_base(r, e->ts))
		return;
	if (!r->first_ts || e->ts < r->first_ts)
		r->first_ts = e->ts;
	if (e->ts > r->last_ts)
		r->last_ts = e->ts;
	tl_add(r, e);
}

static void on_kstats(void *ctx, uint64_t id, uint64_t ts, const struct pm_vm_kstats *k)
{
	struct pm_replay *r = ctx;
	struct pm_vm *vm;

	if (ts > r->to_ns)
		return;
	vm = pm_state_find(&r->st, id);
	if (vm)
		vm->k = *k;
	if (in_base(r, ts) && (vm = pm_state_find(&r->base, id)))
		vm->k = *k;
}

static void on_lost(void *ctx, uint64_t ts, uint64_t lost)
{
	struct pm_replay *r = ctx;

	if (ts > r->to_ns)
		return;
	r->st.lost = lost;
	if (in_base(r, ts))
		r->base.lost = lost;
}

static void on_vminfo(void *ctx, const struct pm_trace_vminfo *vi)
{
	struct pm_replay *r = ctx;
	struct pm_vm *vm;

	if (vi->first_ns > r->to_ns)
		return;
	vm = pm_state_declare(&r->st, vi->vm, vi->pid, vi->comm, vi->cgroup_id, vi->first_ns);
	if (!vm)
		return;
	snprintf(vm->cgroup, sizeof(vm->cgroup), "%s", vi->cgroup);
	if (vi->name[0]) {
		snprintf(vm->name, sizeof(vm->name), "%s", vi->name);
		vm->name_src = vi->name_src;
	}
}

static void vm_gone(struct pm_vm *vm, uint64_t ts)
{
	if (!vm || vm->destroyed)
		return;
	vm->destroyed = true;
	vm->destroyed_ns = ts;
	vm->npending = 0;
}

static void on_vm_gone(void *ctx, uint64_t id, uint64_t ts)
{
	struct pm_replay *r = ctx;

	if (ts > r->to_ns)
		return;
	vm_gone(pm_state_find(&r->st, id), ts);
	if (in_base(r, ts))
		vm_gone(pm_state_find(&r->base, id), ts);
}

static void on_hook_hits(void *ctx, const uint64_t *hits, unsigned n)
{
	struct pm_replay *r = ctx;

	for (unsigned i = 0; i < n && i < r->info.nhooks; i++)
		r->info.hooks[i].hits = hits[i];
}

static void on_policy(void *ctx, uint64_t ts, const char *text, size_t len)
{
	struct pm_replay *r = ctx;

	if (ts > r->to_ns)
		return;
	free(r->info.policy);
	r->info.policy = strndup(text, len);
}

static void on_gap(void *ctx, const struct pm_trace_gap *g)
{
	struct pm_replay *r = ctx;

	if (g->from_ns > r->to_ns || (r->window && g->to_ns < r->from_ns))
		return;
	if (r->ngaps == r->cap_gaps) {
		size_t cap = r->cap_gaps ? r->cap_gaps * 2 : 8;
		struct pm_trace_gap *n = realloc(r->gaps, cap * sizeof(*n));

		if (!n) {
			r->skipped = true;
			return;
		}
		r->gaps = n;
		r->cap_gaps = cap;
	}
	r->gaps[r->ngaps++] = *g;
	r->gap_events += g->events;
}

static void on_warn(void *ctx, const char *msg)
{
	struct pm_replay *r = ctx;

	if (r->warn)
		r->warn(r->warn_ctx, r->cur_file, msg);
}

static bool want_chunk(void *ctx, uint64_t min_ts, uint64_t max_ts)
{
	struct pm_replay *r = ctx;

	(void)max_ts;
	return min_ts <= r->to_ns;
}

static const struct pm_trace_ops replay_ops = {
	.event = on_event,
	.kstats = on_kstats,
	.lost = on_lost,
	.vminfo = on_vminfo,
	.vm_gone = on_vm_gone,
	.hook_hits = on_hook_hits,
	.policy = on_policy,
	.gap = on_gap,
	.warn = on_warn,
	.want_chunk = want_chunk,
};

static void copy_info(struct pm_trace_info *dst, const struct pm_trace_info *src)
{
	*dst = *src;
	dst->policy = src->policy ? strdup(src->policy) : NULL;
	for (unsigned i = 0; i < src->nhooks; i++) {
		dst->hooks[i].name = strdup(src->hooks[i].name ? src->hooks[i].name : "");
		dst->hooks[i].covers = strdup(src->hooks[i].covers ? src->hooks[i].covers : "");
	}
}

static int replay_trace(struct pm_replay *r, struct pm_trace *t, const char *path, char *msg, size_t len);

int pm_replay_file(struct pm_replay *r, const char *path, char *msg, size_t len)
{
	struct pm_trace *t;
	int err = pm_trace_open(&t, path, msg, len);

	if (err)
		return err;
	return replay_trace(r, t, path, msg, len);
}

int pm_replay_mem(struct pm_replay *r, const void *buf, size_t size, const char *name, char *msg, size_t len)
{
	struct pm_trace *t;
	int err = pm_trace_open_mem(&t, buf, size, msg, len);

	if (err)
		return err;
	return replay_trace(r, t, name, msg, len);
}

static int replay_trace(struct pm_replay *r, struct pm_trace *t, const char *path, char *msg, size_t len)
{
	int err;

	if (!r->have_info) {
		copy_info(&r->info, pm_trace_get_info(t));
		r->have_info = true;
	}
	r->cur_file = path;
	err = pm_trace_read(t, &replay_ops, r, &r->stats);
	pm_trace_close(t);
	if (err < 0) {
		snprintf(msg, len, "%s", strerror(-err));
		return err;
	}
	if (err > 0)
		r->skipped = true;
	return err;
}

int pm_replay_span(const char *const *paths, unsigned n, uint64_t *min_ts, uint64_t *max_ts,
		   int64_t *wall_offset, char *msg, size_t len)
{
	bool any = false;

	for (unsigned i = 0; i < n; i++) {
		struct pm_trace *t;
		uint64_t a, b;
		int err = pm_trace_open(&t, paths[i], msg, len);

		if (err)
			return err;
		if (i == 0)
			*wall_offset = pm_trace_get_info(t)->wall_offset_ns;
		if (pm_trace_span(t, &a, &b) == 0) {
			if (!any || a < *min_ts)
				*min_ts = a;
			if (!any || b > *max_ts)
				*max_ts = b;
			any = true;
		}
		pm_trace_close(t);
	}
	if (!any) {
		snprintf(msg, len, "no readable records");
		return -ENODATA;
	}
	return 0;
}

/* ---------------------------------------------------------------- windows */

static uint64_t sub(uint64_t a, uint64_t b)
{
	return a > b ? a - b : 0;
}

static void hist_sub(struct pm_hist *a, const struct pm_hist *b)
{
	for (unsigned i = 0; i < PM_HIST_SLOTS; i++)
		a->slot[i] = sub(a->slot[i], b->slot[i]);
	a->count = sub(a->count, b->count);
	a->sum = sub(a->sum, b->sum);
}

static void dir_sub(struct pm_dir_stats *a, const struct pm_dir_stats *b)
{
	a->requests = sub(a->requests, b->requests);
	a->request_bytes = sub(a->request_bytes, b->request_bytes);
	a->attempts = sub(a->attempts, b->attempts);
	a->attempt_bytes = sub(a->attempt_bytes, b->attempt_bytes);
	a->conversions = sub(a->conversions, b->conversions);
	a->bytes = sub(a->bytes, b->bytes);
	hist_sub(&a->size_hist, &b->size_hist);
	hist_sub(&a->attempt_size_hist, &b->attempt_size_hist);
}

/* Counters become "during the window"; gauges stay as at its end. */
static void vm_sub(struct pm_vm *a, const struct pm_vm *b)
{
	uint64_t ka[sizeof(a->k) / 8], kb[sizeof(b->k) / 8];

	for (int d = 0; d < 3; d++)
		dir_sub(&a->dir[d], &b->dir[d]);
	a->req_hypercall = sub(a->req_hypercall, b->req_hypercall);
	a->req_fault = sub(a->req_fault, b->req_fault);
	for (int i = 0; i < PM_ERRNO_SLOTS; i++)
		a->attr_errno[i] = sub(a->attr_errno[i], b->attr_errno[i]);
	a->discards = sub(a->discards, b->discards);
	a->discard_bytes = sub(a->discard_bytes, b->discard_bytes);
	a->discard_errors = sub(a->discard_errors, b->discard_errors);
	a->denied = sub(a->denied, b->denied);
	a->would_deny = sub(a->would_deny, b->would_deny);
	for (int w = 0; w < 2; w++) {
		for (int i = 0; i < 4; i++)
			a->deny_reason[w][i] = sub(a->deny_reason[w][i], b->deny_reason[w][i]);
		for (int i = 0; i < PM_RULE_SLOTS; i++)
			a->deny_rule[w][i] = sub(a->deny_rule[w][i], b->deny_rule[w][i]);
	}
	a->resumes = sub(a->resumes, b->resumes);
	hist_sub(&a->resume_lat, &b->resume_lat);
	hist_sub(&a->decide_lat, &b->decide_lat);
	memcpy(ka, &a->k, sizeof(ka));
	memcpy(kb, &b->k, sizeof(kb));
	for (size_t i = 0; i < sizeof(ka) / 8; i++)
		ka[i] = sub(ka[i], kb[i]);
	memcpy(&a->k, ka, sizeof(ka));
}

static void recent_from(struct pm_vm *vm, uint64_t from)
{
	struct pm_recent_req keep[PM_RECENT];
	uint64_t n = vm->recent_total < PM_RECENT ? vm->recent_total : PM_RECENT, k = 0;

	for (uint64_t i = vm->recent_total - n; i < vm->recent_total; i++)
		if (vm->recent[i % PM_RECENT].ts >= from)
			keep[k++] = vm->recent[i % PM_RECENT];
	memcpy(vm->recent, keep, k * sizeof(keep[0]));
	vm->recent_total = k;
}

void pm_replay_finish(struct pm_replay *r)
{
	struct pm_vms all;
	struct pm_vm *vm;
	struct pm_tl *t;

	if (r->finished)
		return;
	for (size_t i = 0; (t = pm_vmtab_next(&r->tl, &i, NULL));)
		tl_sort(t);
	if (!r->window)
		goto out;
	all = pm_state_vms(&r->st);
	pm_vms_each(&all, vm) {
		struct pm_vm *b = pm_state_find(&r->base, vm->id);

		/* the same incarnation of the id only */
		if (b && b->first_ns == vm->first_ns)
			vm_sub(vm, b);
		recent_from(vm, r->from_ns);
	}
	pm_vms_free(&all);
	r->st.events = sub(r->st.events, r->base.events);
	r->st.bad_events = sub(r->st.bad_events, r->base.bad_events);
	for (int t = 0; t < PM_EV_TYPE_MAX; t++)
		r->st.by_type[t] = sub(r->st.by_type[t], r->base.by_type[t]);
	r->st.lost = sub(r->st.lost, r->base.lost);
out:
	r->finished = true;
}

/* ---------------------------------------------------------------- output */

void pm_replay_wall(const struct pm_replay *r, uint64_t mono_ns, char *buf, size_t len)
{
	int64_t wall = (int64_t)(mono_ns + (uint64_t)r->info.wall_offset_ns);
	time_t secs = (time_t)(wall / 1000000000ll);
	struct tm tm;

	if (wall < 0 || !gmtime_r(&secs, &tm)) {
		snprintf(buf, len, "?");
		return;
	}
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		 tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(wall % 1000000000ll / 1000000));
}

bool pm_replay_vm_match(const struct pm_vm *vm, const char *sel)
{
	return pm_vm_selected(vm, sel);
}

static bool listed(const struct pm_replay *r, const struct pm_vm *vm, const char *prefix)
{
	/* a window lists the VMs alive in it */
	if (r->window && vm->destroyed && vm->destroyed_ns < r->from_ns)
		return false;
	return pm_replay_vm_match(vm, prefix);
}

static json_object *json_timeline(const struct pm_replay *r, struct pm_vm **vms, unsigned n)
{
	json_object *o = json_object_new_object(), *arr = json_object_new_array();
	char wall[40], id[24];

	pm_json_add_u64(o, "bucket_ns", 1000000000ull);
	for (unsigned i = 0; i < n; i++) {
		const struct pm_tl *t = pm_replay_timeline(r, vms[i]->id);
		json_object *v = json_object_new_object(), *b = json_object_new_array();

		snprintf(id, sizeof(id), "%016" PRIx64, vms[i]->id);
		json_object_object_add(v, "id", json_object_new_string(id));
		for (size_t j = 0; t && j < t->n; j++) {
			const struct pm_tl_bucket *x = &t->b[j];
			json_object *e = json_object_new_object();

			uint64_t mono = x->sec * 1000000000ull - (uint64_t)r->info.wall_offset_ns;

			pm_json_add_u64(e, "ts", mono);
			pm_replay_wall(r, mono, wall, sizeof(wall));
			json_object_object_add(e, "wall", json_object_new_string(wall));
			pm_json_add_u64(e, "events", x->events);
			pm_json_add_u64(e, "requests", x->requests);
			pm_json_add_u64(e, "attempts", x->attempts);
			pm_json_add_u64(e, "conversions", x->conversions);
			pm_json_add_u64(e, "errors", x->errors);
			pm_json_add_u64(e, "to_private_bytes", x->to_private_bytes);
			pm_json_add_u64(e, "to_shared_bytes", x->to_shared_bytes);
			pm_json_add_u64(e, "discards", x->discards);
			pm_json_add_u64(e, "discard_bytes", x->discard_bytes);
			pm_json_add_u64(e, "denied", x->denied);
			pm_json_add_u64(e, "would_deny", x->would_deny);
			json_object_array_add(b, e);
		}
		json_object_object_add(v, "buckets", b);
		json_object_array_add(arr, v);
	}
	json_object_object_add(o, "vms", arr);
	return o;
}

static json_object *json_gaps(const struct pm_replay *r)
{
	json_object *arr = json_object_new_array();
	char wall[40];

	for (size_t i = 0; i < r->ngaps; i++) {
		const struct pm_trace_gap *g = &r->gaps[i];
		json_object *o = json_object_new_object(), *errs = json_object_new_array();

		pm_json_add_u64(o, "from_ts", g->from_ns);
		pm_json_add_u64(o, "to_ts", g->to_ns);
		pm_replay_wall(r, g->from_ns, wall, sizeof(wall));
		json_object_object_add(o, "from_wall", json_object_new_string(wall));
		pm_replay_wall(r, g->to_ns, wall, sizeof(wall));
		json_object_object_add(o, "to_wall", json_object_new_string(wall));
		pm_json_add_u64(o, "events", g->events);
		for (unsigned k = 0; k < g->nerrs; k++)
			json_object_array_add(errs, json_object_new_string(pm_errno_name(g->errs[k], wall, sizeof(wall))));
		json_object_object_add(o, "errors", errs);
		json_object_array_add(arr, o);
	}
	return arr;
}

static json_object *json_trace(const struct pm_replay *r)
{
	json_object *o = json_object_new_object();
	char wall[40];

	json_object_object_add(o, "host", json_object_new_string(r->info.host));
	json_object_object_add(o, "kernel", json_object_new_string(r->info.kernel));
	json_object_object_add(o, "version", json_object_new_string(r->info.version));
	json_object_object_add(o, "writer", json_object_new_string(r->info.writer));
	json_object_object_add(o, "policy", json_object_new_string(r->info.policy ? r->info.policy : ""));
	json_object_object_add(o, "wall_offset_ns", json_object_new_int64(r->info.wall_offset_ns));
	pm_json_add_u64(o, "first_ts", r->first_ts);
	pm_json_add_u64(o, "last_ts", r->last_ts);
	pm_replay_wall(r, r->first_ts, wall, sizeof(wall));
	json_object_object_add(o, "first_wall", json_object_new_string(r->first_ts ? wall : ""));
	pm_replay_wall(r, r->last_ts, wall, sizeof(wall));
	json_object_object_add(o, "last_wall", json_object_new_string(r->last_ts ? wall : ""));
	if (r->window) {
		pm_json_add_u64(o, "from_ts", r->from_ns);
		pm_json_add_u64(o, "to_ts", r->to_ns);
	}
	pm_json_add_u64(o, "chunks", r->stats.chunks);
	pm_json_add_u64(o, "records", r->stats.records);
	pm_json_add_u64(o, "bad_chunks", r->stats.bad_chunks);
	json_object_object_add(o, "truncated", json_object_new_boolean(r->stats.truncated != 0));
	pm_json_add_u64(o, "skipped_bytes", r->stats.skipped_bytes);
	pm_json_add_u64(o, "unknown_records", r->stats.unknown_records);
	pm_json_add_u64(o, "max_vms", r->st.max_vms);
	pm_json_add_u64(o, "vms_over_cap_events", r->st.over_cap);
	pm_json_add_u64(o, "unrecorded_events", r->gap_events);
	json_object_object_add(o, "gaps", json_gaps(r));
	return o;
}

json_object *pm_replay_json(struct pm_replay *r, const char *vm_prefix)
{
	json_object *o, *arr = json_object_new_array();
	struct pm_vms all;
	struct pm_vm *vm;
	unsigned k = 0;

	pm_replay_finish(r);
	o = pm_json_vms(&r->st, r->info.nhooks ? r->info.hooks : NULL, r->info.nhooks);
	all = pm_state_vms(&r->st);
	pm_vms_each(&all, vm) {
		if (!listed(r, vm, vm_prefix))
			continue;
		json_object_array_add(arr, pm_json_vm(vm));
		all.v[k++] = vm;	/* the listed ones, in order, for the timeline */
	}
	json_object_object_add(o, "vms", arr);	/* replaces the unfiltered list */
	json_object_object_add(o, "trace", json_trace(r));
	json_object_object_add(o, "timeline", json_timeline(r, all.v, k));
	pm_vms_free(&all);
	return o;
}
