// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Chrome trace-event JSON, streamed (a trace may hold millions of records):
 * https://docs.google.com/document/d/1CvAClvFfyA5R-PhYUmn5OOQtYMH4h6I0nSsKchNAySU
 * Times are microseconds with nanosecond decimals from the trace's start.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "export.h"
#include "replay.h"
#include "trace.h"
#include "util.h"
#include "vmstate.h"
#include "vmtab.h"

struct xvm {
	int pid;		/* the JSON process id: 1, 2, ... in first-seen order */
	bool selected;
	struct pm_vmtab tids;	/* tid -> struct xtid */
};

struct xtid {
	uint32_t tid;
	bool named_vcpu;	/* its thread_name says "vCPU n" */
	bool pending, decided;
	int32_t ret;
	struct pm_event req;
};

struct xp {
	FILE *out;
	const struct pm_export_opts *o;
	const char *cur_file;
	bool first;
	uint64_t t0, last_ts;
	struct pm_state st;
	struct pm_vmtab vms;	/* VM id -> struct xvm */
	int next_pid;
};

static void jstr(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void begin(struct xp *x)
{
	fputs(x->first ? "\n" : ",\n", x->out);
	x->first = false;
}

static void ts_field(struct xp *x, const char *key, uint64_t ts)
{
	uint64_t d = ts > x->t0 ? ts - x->t0 : 0;

	fprintf(x->out, ",\"%s\":%" PRIu64 ".%03u", key, d / 1000, (unsigned)(d % 1000));
}

static void dur_field(struct xp *x, uint64_t d)
{
	fprintf(x->out, ",\"dur\":%" PRIu64 ".%03u", d / 1000, (unsigned)(d % 1000));
}

static void size_name(char *buf, size_t len, uint64_t b)
{
	if (b >= (1ull << 30) && !(b & ((1ull << 30) - 1)))
		snprintf(buf, len, "%" PRIu64 "GiB", b >> 30);
	else if (b >= (1ull << 20) && !(b & ((1ull << 20) - 1)))
		snprintf(buf, len, "%" PRIu64 "MiB", b >> 20);
	else if (b >= 1024 && !(b & 1023))
		snprintf(buf, len, "%" PRIu64 "KiB", b >> 10);
	else
		snprintf(buf, len, "%" PRIu64 "B", b);
}

static bool selected(const struct pm_export_opts *o, uint64_t vm, const char *id)
{
	if (o->vm_ids) {
		for (unsigned i = 0; i < o->n_vm_ids; i++)
			if (o->vm_ids[i] == vm)
				return true;
		return false;
	}
	return !o->vm_prefix || !strncasecmp(id, o->vm_prefix, strlen(o->vm_prefix));
}

static struct xvm *vm_of(struct xp *x, const struct pm_event *e)
{
	bool added;
	struct xvm *v = pm_vmtab_get(&x->vms, e->vm, &added);
	char id[24], name[96];

	if (!v || !added)
		return v;
	pm_vmtab_init(&v->tids, sizeof(struct xtid));
	snprintf(id, sizeof(id), "%016" PRIx64, (uint64_t)e->vm);
	v->selected = selected(x->o, e->vm, id);
	if (!v->selected)
		return v;
	v->pid = ++x->next_pid;
	snprintf(name, sizeof(name), "VM %s %.16s pid %u", id, e->comm, e->pid);
	begin(x);
	fprintf(x->out, "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":%d,\"tid\":0,\"args\":{\"name\":", v->pid);
	jstr(x->out, name);
	fputs("}}", x->out);
	begin(x);
	fprintf(x->out, "{\"name\":\"process_sort_index\",\"ph\":\"M\",\"pid\":%d,\"tid\":0,\"args\":{\"sort_index\":%d}}",
		v->pid, v->pid);
	return v;
}

static struct xtid *tid_of(struct xp *x, struct xvm *v, const struct pm_event *e)
{
	bool fresh, rename;
	struct xtid *t = pm_vmtab_get(&v->tids, e->tid, &fresh);

	if (!t)
		return NULL;
	t->tid = e->tid;
	rename = e->vcpu >= 0 && !t->named_vcpu;
	if (!fresh && !rename)
		return t;
	begin(x);
	fprintf(x->out, "{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":%d,\"tid\":%u,\"args\":{\"name\":", v->pid, e->tid);
	if (e->vcpu >= 0) {
		fprintf(x->out, "\"vCPU %d (tid %u)\"}}", e->vcpu, e->tid);
		t->named_vcpu = true;
	} else {
		fprintf(x->out, "\"tid %u\"}}", e->tid);
	}
	return t;
}

static void counter(struct xp *x, const struct xvm *v, const struct pm_event *e)
{
	struct pm_vm *vm = pm_state_find(&x->st, e->vm);

	if (!vm)
		return;
	begin(x);
	fprintf(x->out, "{\"name\":\"shared_bytes\",\"ph\":\"C\",\"pid\":%d,\"tid\":0", v->pid);
	ts_field(x, "ts", e->ts);
	fprintf(x->out, ",\"args\":{\"shared\":%" PRIu64 ",\"private\":%" PRIu64 "}}", pm_vm_shared_bytes(vm),
		vm->guest_bytes - pm_vm_shared_bytes(vm));
}

static void instant(struct xp *x, const struct xvm *v, const struct pm_event *e, const char *name, char scope)
{
	char nb[16];

	begin(x);
	fputs("{\"name\":", x->out);
	jstr(x->out, name);
	fprintf(x->out, ",\"cat\":\"privmem\",\"ph\":\"i\",\"s\":\"%c\",\"pid\":%d,\"tid\":%u", scope, v->pid,
		scope == 'p' ? 0 : e->tid);
	ts_field(x, "ts", e->ts);
	fprintf(x->out, ",\"args\":{\"gpa\":\"0x%" PRIx64 "\",\"size\":%" PRIu64 ",\"ret\":", (uint64_t)e->addr,
		(uint64_t)e->size);
	jstr(x->out, e->ret ? pm_errno_name(e->ret, nb, sizeof(nb)) : "ok");
	fputs("}}", x->out);
}

static void slice(struct xp *x, const struct xvm *v, struct xtid *t, uint64_t end, bool unresolved)
{
	const struct pm_event *r = &t->req;
	char sz[24], nb[16];

	size_name(sz, sizeof(sz), r->size);
	begin(x);
	fprintf(x->out, "{\"name\":\"%s %s\",\"cat\":\"request\",\"ph\":\"X\",\"pid\":%d,\"tid\":%u",
		pm_dir_name(r->dir), sz, v->pid, t->tid);
	ts_field(x, "ts", r->ts);
	dur_field(x, end >= r->ts ? end - r->ts : 0);
	fprintf(x->out, ",\"args\":{\"gpa\":\"0x%" PRIx64 "\",\"size\":%" PRIu64 ",\"source\":\"%s\",\"vcpu\":%d,"
		"\"decided\":", (uint64_t)r->addr, (uint64_t)r->size, r->source == PM_SRC_HYPERCALL ? "hypercall" : "memory_fault", r->vcpu);
	jstr(x->out, !t->decided ? "none" : t->ret ? pm_errno_name(t->ret, nb, sizeof(nb)) : "ok");
	fprintf(x->out, ",\"latency_ns\":%" PRIu64 "%s}}", (uint64_t)(end >= r->ts ? end - r->ts : 0),
		unresolved ? ",\"unresolved\":true" : "");
	t->pending = false;
}

/* Requests still pending end as unresolved slices. */
static void close_vm(struct xp *x, const struct xvm *v, uint64_t end)
{
	struct xtid *t;

	for (size_t i = 0; (t = pm_vmtab_next(&v->tids, &i, NULL));)
		if (t->pending)
			slice(x, v, t, end, true);
}

static void on_event(void *ctx, const struct pm_event *e)
{
	struct xp *x = ctx;
	struct xvm *v;
	struct xtid *t;
	struct pm_vm *vm;

	if (e->ts > x->o->to_ns)
		return;
	vm = pm_state_apply(&x->st, e);
	if (!vm || e->ts < x->o->from_ns)
		return;
	v = vm_of(x, e);
	if (!v || !v->selected)
		return;
	if (e->ts > x->last_ts)
		x->last_ts = e->ts;
	switch (e->type) {
	case PM_EV_REQUEST:
		t = tid_of(x, v, e);
		if (!t)
			return;
		if (t->pending)
			slice(x, v, t, e->ts, true);
		t->pending = true;
		t->decided = false;
		t->req = *e;
		break;
	case PM_EV_DECIDE:
		t = tid_of(x, v, e);
		if (t && t->pending && !t->decided) {
			t->decided = true;
			t->ret = e->ret;
		}
		instant(x, v, e, e->dir == PM_TO_PRIVATE ? "decide to_private" : "decide to_shared", 't');
		if (e->ret == 0)
			counter(x, v, e);
		break;
	case PM_EV_DISCARD:
		tid_of(x, v, e);
		instant(x, v, e, "discard", 't');
		break;
	case PM_EV_RESUME:
		t = tid_of(x, v, e);
		if (t && t->pending)
			slice(x, v, t, e->ts, false);
		break;
	case PM_EV_GMEM_CREATE:
		instant(x, v, e, "gmem_create", 'p');
		counter(x, v, e);
		break;
	case PM_EV_GMEM_CLOSE:
		instant(x, v, e, "gmem_close", 'p');
		counter(x, v, e);	/* less guest memory: the shared part may shrink */
		break;
	case PM_EV_VM_CREATE:
		instant(x, v, e, "vm_create", 'p');
		break;
	case PM_EV_VM_DESTROY:
		close_vm(x, v, e->ts);
		instant(x, v, e, "vm_destroy", 'p');
		break;
	case PM_EV_HOST_TOUCH:
		instant(x, v, e, "host_touch", 't');
		break;
	case PM_EV_DENY:
		instant(x, v, e, "deny", 't');
		break;
	case PM_EV_WOULD_DENY:
		instant(x, v, e, "would_deny", 't');
		break;
	default:
		break;
	}
}

static void on_warn(void *ctx, const char *msg)
{
	struct xp *x = ctx;

	if (x->o->warn)
		x->o->warn(x->o->warn_ctx, x->cur_file, msg);
}

static bool want_chunk(void *ctx, uint64_t min_ts, uint64_t max_ts)
{
	struct xp *x = ctx;

	(void)max_ts;
	return min_ts <= x->o->to_ns;
}

int pm_export_chrome(FILE *out, const char *const *paths, unsigned n, const struct pm_export_opts *o,
		     char *msg, size_t len)
{
	static const struct pm_trace_ops ops = { .event = on_event, .warn = on_warn, .want_chunk = want_chunk };
	struct xp x = { .out = out, .o = o, .first = true };
	struct xvm *v;
	struct pm_replay wall;	/* for its wall-clock formatting only */
	uint64_t lo = 0, hi = 0;
	int64_t off = 0;
	int err, skipped = 0;
	char w0[40];

	err = pm_replay_span(paths, n, &lo, &hi, &off, msg, len);
	if (err && err != -ENODATA)
		return err;
	x.t0 = o->from_ns > lo ? o->from_ns : lo;
	pm_state_init(&x.st);
	pm_vmtab_init(&x.vms, sizeof(struct xvm));
	pm_replay_init(&wall);
	wall.info.wall_offset_ns = off;
	pm_replay_wall(&wall, x.t0, w0, sizeof(w0));
	fputs("{\"displayTimeUnit\":\"ns\",\"otherData\":{\"generator\":\"privmem export\",\"start_wall\":", out);
	jstr(out, w0);
	fprintf(out, ",\"start_monotonic_ns\":%" PRIu64 "},\"traceEvents\":[", x.t0);
	for (unsigned i = 0; i < n; i++) {
		struct pm_trace *t;

		err = pm_trace_open(&t, paths[i], msg, len);
		if (err) {
			if (n == 1)
				goto out;
			if (o->warn)
				o->warn(o->warn_ctx, paths[i], msg);
			skipped = 1;
			continue;
		}
		x.cur_file = paths[i];
		err = pm_trace_read(t, &ops, &x, NULL);
		pm_trace_close(t);
		if (err < 0) {
			snprintf(msg, len, "%s", strerror(-err));
			goto out;
		}
		skipped |= err;
	}
	for (size_t i = 0; (v = pm_vmtab_next(&x.vms, &i, NULL));)
		close_vm(&x, v, x.last_ts);
	err = skipped;
out:
	fputs("\n]}\n", out);
	pm_state_free(&x.st);
	pm_replay_free(&wall);
	for (size_t i = 0; (v = pm_vmtab_next(&x.vms, &i, NULL));)
		pm_vmtab_free(&v->tids);
	pm_vmtab_free(&x.vms);
	return err;
}
