// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "util.h"
#include "vmstate.h"
#include "privmem/kvm_abi.h"

void pm_state_init(struct pm_state *s)
{
	memset(s, 0, sizeof(*s));
}

/* What a VM's books own besides themselves. */
static void vm_release(struct pm_vm *vm)
{
	free(vm->pending);
	pm_rs_free(&vm->private_mem);
}

/* Fresh books: all zero, no page private. */
static void vm_clear(struct pm_vm *vm)
{
	memset(vm, 0, sizeof(*vm));
	pm_rs_init(&vm->private_mem, PM_VM_MAX_RANGES);
}

void pm_state_free(struct pm_state *s)
{
	unsigned max;

	for (unsigned b = 0; b < PM_VM_BUCKETS; b++) {
		struct pm_vm *vm = s->bucket[b], *next;

		for (; vm; vm = next) {
			next = vm->next;
			vm_release(vm);
			free(vm);
		}
	}
	max = s->max_vms;
	memset(s, 0, sizeof(*s));
	s->max_vms = max;	/* a limit is configuration, not books */
}

static unsigned bucket_of(uint64_t id)
{
	return (unsigned)(id ^ (id >> 32)) % PM_VM_BUCKETS;
}

struct pm_vm *pm_state_find(struct pm_state *s, uint64_t id)
{
	for (struct pm_vm *vm = s->bucket[bucket_of(id)]; vm; vm = vm->next)
		if (vm->id == id)
			return vm;
	return NULL;
}

static struct pm_vm *vm_get(struct pm_state *s, const struct pm_event *e)
{
	struct pm_vm *vm = pm_state_find(s, e->vm), *next;
	unsigned b;

	if (vm && !(vm->destroyed && e->type == PM_EV_VM_CREATE))
		return vm;
	if (vm) {
		/* a new VM under a dead one's id: start its books afresh */
		next = vm->next;
		vm_release(vm);
		vm_clear(vm);
		vm->next = next;
		s->nvms--;
	} else {
		/* ~11 KiB a VM: a trace naming millions of ids must not take the machine */
		if (s->max_vms && s->nvms >= s->max_vms) {
			s->over_cap++;
			return NULL;
		}
		vm = malloc(sizeof(*vm));
		if (!vm)
			return NULL;
		vm_clear(vm);
		b = bucket_of(e->vm);
		vm->next = s->bucket[b];
		s->bucket[b] = vm;
	}
	vm->id = e->vm;
	vm->pid = e->pid;
	memcpy(vm->comm, e->comm, sizeof(vm->comm));
	vm->comm[PM_COMM_LEN - 1] = '\0';
	vm->cgroup_id = e->cgroup;
	vm->first_ns = e->ts;
	s->nvms++;
	return vm;
}

struct pm_vm *pm_state_declare(struct pm_state *s, uint64_t id, uint32_t pid, const char *comm,
			       uint64_t cgroup_id, uint64_t first_ns)
{
	struct pm_event e = { .ts = first_ns, .vm = id, .pid = pid, .cgroup = cgroup_id };

	if (!id)
		return NULL;
	if (comm)
		memcpy(e.comm, comm, strnlen(comm, PM_COMM_LEN - 1));
	return vm_get(s, &e);	/* type 0: an existing VM is returned as it is */
}

static struct pm_pending *pending_find(struct pm_vm *vm, uint32_t tid)
{
	for (unsigned i = 0; i < vm->npending; i++)
		if (vm->pending[i].tid == tid)
			return &vm->pending[i];
	return NULL;
}

static void pending_open(struct pm_vm *vm, uint32_t tid, uint64_t ts)
{
	struct pm_pending *p = pending_find(vm, tid);

	if (!p) {
		struct pm_pending *n = pm_grow(vm->pending, vm->npending, &vm->cap_pending, sizeof(*n), 4);

		if (!n)
			return;
		vm->pending = n;
		p = &vm->pending[vm->npending++];
		p->tid = tid;
	}
	p->ts = ts;
	p->decided = false;
}

static void pending_close(struct pm_vm *vm, struct pm_pending *p)
{
	*p = vm->pending[--vm->npending];
}

static void apply_request(struct pm_vm *vm, const struct pm_event *e)
{
	struct pm_dir_stats *d = &vm->dir[e->dir];
	struct pm_recent_req *r = &vm->recent[vm->recent_total++ % PM_RECENT];

	d->requests++;
	d->request_bytes += e->size;
	if (e->source == PM_SRC_HYPERCALL)
		vm->req_hypercall++;
	else
		vm->req_fault++;
	r->ts = e->ts;
	r->gpa = e->addr;
	r->size = e->size;
	r->attrs = e->attrs;
	r->source = e->source;
	r->dir = e->dir;
	r->vcpu = e->vcpu;
	pending_open(vm, e->tid, e->ts);
}

/*
 * KVM_SET_MEMORY_ATTRIBUTES succeeded: the range now has exactly attrs, so
 * its PRIVATE bit sets or clears the range whatever it was before (a
 * repeat changes nothing). attrs, not dir: it is what KVM applied. The
 * exact bytes claimed, cut at the top of the space rather than wrapped.
 */
static void book_attributes(struct pm_vm *vm, const struct pm_event *e)
{
	uint64_t end = e->size > UINT64_MAX - e->addr ? UINT64_MAX : e->addr + e->size;
	int err;

	if (e->attrs & PM_KVM_MEMORY_ATTRIBUTE_PRIVATE)
		err = pm_rs_set(&vm->private_mem, e->addr, end, NULL);
	else
		err = pm_rs_clear(&vm->private_mem, e->addr, end, NULL);
	if (err)
		vm->shared_inexact = true;
}

static void apply_decide(struct pm_vm *vm, const struct pm_event *e)
{
	struct pm_dir_stats *d = &vm->dir[e->dir];
	struct pm_pending *p = pending_find(vm, e->tid);

	d->attempts++;
	d->attempt_bytes += e->size;
	pm_hist_add(&d->attempt_size_hist, e->size);
	if (e->ret == 0) {
		d->conversions++;
		d->bytes += e->size;
		pm_hist_add(&d->size_hist, e->size);
		book_attributes(vm, e);
	} else {
		int64_t err = -(int64_t)e->ret;	/* ret may be INT32_MIN */

		vm->attr_errno[err > 0 && err < PM_ERRNO_SLOTS ? err : PM_ERRNO_SLOTS - 1]++;
	}
	if (p && !p->decided && e->ts >= p->ts) {
		pm_hist_add(&vm->decide_lat, e->ts - p->ts);
		p->decided = true;
	}
}

static void apply_resume(struct pm_vm *vm, const struct pm_event *e)
{
	struct pm_pending *p = pending_find(vm, e->tid);

	vm->resumes++;
	if (!p)
		return;
	if (e->ts >= p->ts)
		pm_hist_add(&vm->resume_lat, e->ts - p->ts);
	pending_close(vm, p);
}

/* A guest_memfd gone is memory the guest no longer has: its ceiling shrinks. */
static void apply_gmem_close(struct pm_vm *vm, const struct pm_event *e)
{
	vm->gmem_closed++;
	/* floor 0: a close whose creation was not seen (privmemd started later) */
	vm->guest_bytes = e->size < vm->guest_bytes ? vm->guest_bytes - e->size : 0;
}

/* The kernel names one VM per exiting VMM; every VM of that process is gone. */
static void destroy_pid(struct pm_state *s, uint32_t pid, uint64_t ts)
{
	for (unsigned b = 0; b < PM_VM_BUCKETS; b++)
		for (struct pm_vm *vm = s->bucket[b]; vm; vm = vm->next)
			if (vm->pid == pid && !vm->destroyed) {
				vm->destroyed = true;
				vm->destroyed_ns = ts;
				vm->npending = 0;
			}
}

/* source carries the verdict (enum pm_verdict), aux the rule id. */
static void apply_denial(struct pm_vm *vm, const struct pm_event *e)
{
	int w = e->type == PM_EV_WOULD_DENY;

	if (w)
		vm->would_deny++;
	else
		vm->denied++;
	vm->deny_reason[w][e->source < PM_VERDICTS ? e->source : 0]++;
	vm->deny_rule[w][e->aux < PM_RULE_SLOTS ? e->aux : PM_RULE_SLOTS - 1]++;
	vm->recent_denials[vm->denials_total++ % PM_RECENT_DENIALS] = (struct pm_recent_denial){
		.ts = e->ts, .gpa = e->addr, .size = e->size, .rule = e->aux,
		.verdict = e->source, .dir = e->dir, .would = (uint8_t)w,
	};
}

struct pm_vm *pm_state_apply(struct pm_state *s, const struct pm_event *e)
{
	struct pm_vm *vm;

	if (e->type == 0 || e->type >= PM_EV_TYPE_MAX || e->dir > PM_TO_SHARED || !e->vm) {
		s->bad_events++;
		return NULL;
	}
	/*
	 * A VM found gone when a new one took its struct kvm, that these books
	 * never saw (it died while nobody watched, its entry stale in pinned
	 * maps): counted, but no VM made up for it, under the new VM's pid.
	 */
	if (e->type == PM_EV_VM_DESTROY && (e->flags & PM_F_REUSED) && !pm_state_find(s, e->vm)) {
		s->events++;
		s->by_type[e->type]++;
		return NULL;
	}
	vm = vm_get(s, e);
	if (!vm)
		return NULL;
	s->events++;
	s->by_type[e->type]++;
	if (e->ts > vm->last_ns)
		vm->last_ns = e->ts;
	switch (e->type) {
	case PM_EV_VM_CREATE:
		vm->pid = e->pid;
		memcpy(vm->comm, e->comm, sizeof(vm->comm));
		vm->comm[PM_COMM_LEN - 1] = '\0';
		vm->cgroup_id = e->cgroup;
		break;
	case PM_EV_VM_DESTROY:
		if (e->flags & PM_F_PROC_EXIT)
			destroy_pid(s, e->pid, e->ts);
		vm->destroyed = true;
		vm->destroyed_ns = e->ts;
		vm->npending = 0;
		break;
	case PM_EV_GMEM_CREATE:
		if (e->ret == 0) {
			vm->gmem_count++;
			vm->guest_bytes += e->size;
		}
		break;
	case PM_EV_GMEM_CLOSE:
		apply_gmem_close(vm, e);
		break;
	case PM_EV_REQUEST:
		apply_request(vm, e);
		break;
	case PM_EV_DECIDE:
		apply_decide(vm, e);
		break;
	case PM_EV_DISCARD:
		if (e->ret == 0) {
			vm->discards++;
			vm->discard_bytes += e->size;
		} else {
			vm->discard_errors++;
		}
		break;
	case PM_EV_RESUME:
		apply_resume(vm, e);
		break;
	case PM_EV_DENY:
	case PM_EV_WOULD_DENY:
		apply_denial(vm, e);
		break;
	default:
		break;
	}
	return vm;
}

static int cmp_vm(const void *a, const void *b)
{
	const struct pm_vm *x = *(struct pm_vm *const *)a, *y = *(struct pm_vm *const *)b;

	if (x->first_ns != y->first_ns)
		return x->first_ns < y->first_ns ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

unsigned pm_state_list(const struct pm_state *s, struct pm_vm **out, unsigned max)
{
	unsigned n = 0;

	for (unsigned b = 0; b < PM_VM_BUCKETS; b++)
		for (struct pm_vm *vm = s->bucket[b]; vm && n < max; vm = vm->next)
			out[n++] = vm;
	qsort(out, n, sizeof(*out), cmp_vm);
	return n;
}

struct pm_vms pm_state_vms(const struct pm_state *s)
{
	struct pm_vms l = { 0 };

	if (!s->nvms)
		return l;
	l.v = malloc(s->nvms * sizeof(*l.v));
	if (!l.v) {
		l.err = -ENOMEM;
		return l;
	}
	l.n = pm_state_list(s, l.v, s->nvms);
	return l;
}

void pm_vms_free(struct pm_vms *l)
{
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

uint64_t pm_vm_private_bytes(const struct pm_vm *vm)
{
	return pm_rs_bytes(&vm->private_mem);
}

uint64_t pm_vm_shared_bytes(const struct pm_vm *vm)
{
	uint64_t priv = pm_vm_private_bytes(vm);

	return priv < vm->guest_bytes ? vm->guest_bytes - priv : 0;
}

int pm_state_copy(struct pm_state *dst, const struct pm_state *src)
{
	*dst = *src;	/* the counters; the VMs are copied one by one below */
	memset(dst->bucket, 0, sizeof(dst->bucket));
	dst->nvms = 0;
	for (unsigned b = 0; b < PM_VM_BUCKETS; b++) {
		struct pm_vm **tail = &dst->bucket[b];

		for (const struct pm_vm *vm = src->bucket[b]; vm; vm = vm->next) {
			struct pm_vm *c = malloc(sizeof(*c));

			if (!c)
				return -ENOMEM;
			*c = *vm;
			c->pending = NULL;
			c->npending = c->cap_pending = 0;
			c->next = NULL;
			*tail = c;
			tail = &c->next;
			dst->nvms++;
			/* its own ranges: the by-value copy shares the source's array */
			if (pm_rs_copy(&c->private_mem, &vm->private_mem))
				return -ENOMEM;
		}
	}
	return 0;
}

/* ---------------------------------------------------------------- forgetting destroyed VMs */

/* The link that points at the VM of id, so it can be unlinked; NULL when unknown. */
static struct pm_vm **vm_link(struct pm_state *s, uint64_t id)
{
	for (struct pm_vm **l = &s->bucket[bucket_of(id)]; *l; l = &(*l)->next)
		if ((*l)->id == id)
			return l;
	return NULL;
}

static void vm_unlink_free(struct pm_state *s, struct pm_vm **link)
{
	struct pm_vm *vm = *link;

	*link = vm->next;
	/* what a VM owns beside itself: as pm_state_free frees it */
	vm_release(vm);
	free(vm);
	s->nvms--;
	s->forgotten++;
}

int pm_state_remove(struct pm_state *s, uint64_t id)
{
	struct pm_vm **link = vm_link(s, id);

	if (!link)
		return -ENOENT;
	vm_unlink_free(s, link);
	return 0;
}

/* A destroy stamped after now (another clock's reading) is no age, not a huge one. */
static bool expired(const struct pm_vm *vm, uint64_t now_ns, uint64_t keep_ns)
{
	return vm->destroyed && (vm->destroyed_ns > now_ns ? 0 : now_ns - vm->destroyed_ns) >= keep_ns;
}

/* The time bound: every destroyed VM kept keep_ns or longer goes. How many went. */
static unsigned prune_expired(struct pm_state *s, uint64_t now_ns, uint64_t keep_ns)
{
	unsigned n = 0;

	for (unsigned b = 0; b < PM_VM_BUCKETS; b++)
		for (struct pm_vm **l = &s->bucket[b]; *l;)
			if (expired(*l, now_ns, keep_ns)) {
				vm_unlink_free(s, l);
				n++;
			} else {
				l = &(*l)->next;
			}
	return n;
}

/* Oldest destroyed first; the same instant: the older id (ids count creations). */
static int cmp_destroyed(const void *a, const void *b)
{
	const struct pm_vm *x = *(struct pm_vm *const *)a, *y = *(struct pm_vm *const *)b;

	if (x->destroyed_ns != y->destroyed_ns)
		return x->destroyed_ns < y->destroyed_ns ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* The count bound: past max destroyed VMs, the oldest go. How many went, or -ENOMEM. */
static int prune_excess(struct pm_state *s, unsigned max)
{
	struct pm_vm **v;
	unsigned n = 0, excess;

	for (unsigned b = 0; b < PM_VM_BUCKETS; b++)
		for (struct pm_vm *vm = s->bucket[b]; vm; vm = vm->next)
			n += vm->destroyed;
	if (n <= max)
		return 0;
	v = malloc(n * sizeof(*v));
	if (!v)
		return -ENOMEM;
	n = 0;
	for (unsigned b = 0; b < PM_VM_BUCKETS; b++)
		for (struct pm_vm *vm = s->bucket[b]; vm; vm = vm->next)
			if (vm->destroyed)
				v[n++] = vm;
	qsort(v, n, sizeof(*v), cmp_destroyed);
	excess = n - max;
	for (unsigned i = 0; i < excess; i++)
		pm_state_remove(s, v[i]->id);
	free(v);
	return (int)excess;
}

int pm_state_prune(struct pm_state *s, uint64_t now_ns, uint64_t keep_ns, unsigned max_destroyed)
{
	int n = (int)prune_expired(s, now_ns, keep_ns), more = prune_excess(s, max_destroyed);

	return more < 0 ? more : n + more;
}
