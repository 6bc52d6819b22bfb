// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "session.h"
#include "util.h"
#include "vmname.h"

#define REAP_NS 1000000000ull
/* a destroyed VM's final counts, unread this long, belong to no one (privmemd was down) */
#define DEAD_UNREAD_NS (30 * 1000000000ull)
/* LSM buckets left by VMs destroyed while privmemd was down: at start, then every 10 s */
#define ORPHAN_SWEEP_REAPS 10

struct pm_session {
	struct pm_capture *cap;
	struct pm_state st;
	struct pm_rec *rec;
	struct pm_session_ops ops;
	struct pm_session_keep keep;
	bool prune_failed;		/* said once, until pruning works again */
	uint64_t last_reap;
	unsigned reaps;
};

/* The recorder reads what the event stream does not carry through these. */
static int src_kstats(void *ctx, uint64_t vm, struct pm_vm_kstats *out)
{
	return pm_capture_kstats(((struct pm_session *)ctx)->cap, vm, out);
}

static uint64_t src_lost(void *ctx)
{
	return pm_capture_lost(((struct pm_session *)ctx)->cap);
}

static const struct pm_hook_status *src_hooks(void *ctx)
{
	return pm_capture_hooks(((struct pm_session *)ctx)->cap);
}

static struct pm_rec_src rec_src(struct pm_session *s)
{
	return (struct pm_rec_src){ .kstats = src_kstats, .lost = src_lost, .hooks = src_hooks,
				    .nhooks = PM_HOOK_MAX, .ctx = s };
}

/* Final in-kernel counts of a VM that is gone, then the kernel's slots freed. */
static void retire(struct pm_session *s, struct pm_vm *vm)
{
	if (pm_capture_kstats(s->cap, vm->id, &vm->k) == 0)
		pm_capture_forget_vm(s->cap, vm->id);
	if (s->rec)
		pm_rec_vm_kstats(s->rec, vm);
}

/* A destroy names its VMM: every VM of that pid now marked destroyed is retired. */
static void retire_pid(struct pm_session *s, uint32_t pid)
{
	struct pm_vms all = pm_state_vms(&s->st);
	struct pm_vm *vm;

	pm_vms_each(&all, vm)
		if (vm->pid == pid && vm->destroyed)
			retire(s, vm);
	pm_vms_free(&all);
}

static void on_event(void *ctx, const struct pm_event *e)
{
	struct pm_session *s = ctx;
	bool fresh = !pm_state_find(&s->st, e->vm);
	struct pm_vm *vm;

	if (s->rec)
		pm_rec_event(s->rec, e);
	vm = pm_state_apply(&s->st, e);
	if (vm && (fresh || e->type == PM_EV_VM_CREATE)) {
		/* the VMM may be gone by the time a batch is read: fall back to the id */
		if (pm_cgroup_of_pid(vm->pid, vm->cgroup, sizeof(vm->cgroup)) < 0)
			pm_cgroup_path_by_id(vm->cgroup_id, vm->cgroup, sizeof(vm->cgroup));
		pm_vm_lookup_name(vm);
		if (s->ops.vm_seen)
			s->ops.vm_seen(s->ops.ctx, vm);
		if (s->rec)
			pm_rec_vm_seen(s->rec, vm);
	}
	/* kvm_destroy_vm names the VM, whoever closed it (a passed fd); a VMM's exit names its pid */
	if (vm && e->type == PM_EV_VM_DESTROY) {
		if (e->flags & PM_F_PROC_EXIT)
			retire_pid(s, e->pid);
		else
			retire(s, vm);
	}
	if (s->ops.event)
		s->ops.event(s->ops.ctx, e, vm);
}

/* A VMM that died while nobody watched, or a VM fd closed: notice it. */
static void reap_gone(struct pm_session *s)
{
	struct pm_vms all = pm_state_vms(&s->st);
	struct pm_vm *vm;

	pm_vms_each(&all, vm) {
		if (vm->destroyed || kill((pid_t)vm->pid, 0) == 0 || errno != ESRCH)
			continue;
		pm_capture_kstats(s->cap, vm->id, &vm->k);
		pm_capture_forget_vm(s->cap, vm->id);
		vm->destroyed = true;
		vm->destroyed_ns = pm_now_ns();
		if (s->rec)
			pm_rec_vm_gone(s->rec, vm);
	}
	pm_vms_free(&all);
}

/*
 * Destroyed VMs past the keep limits go. Each was retired when it was marked
 * destroyed (a destroy in on_event, a gone VMM in reap_gone, both before
 * this runs): its final in-kernel counts are read and the recorder has had
 * them, so nothing still to be read is lost.
 */
static void forget_destroyed(struct pm_session *s)
{
	uint64_t sec = s->keep.keep_destroyed_s;
	/* past UINT64_MAX ns (584 years) is forever, not a wrapped few seconds */
	uint64_t keep_ns = sec > UINT64_MAX / 1000000000ull ? UINT64_MAX : sec * 1000000000ull;
	int n = pm_state_prune(&s->st, pm_now_ns(), keep_ns, s->keep.max_destroyed);
	char msg[160];

	if (n < 0 && !s->prune_failed && s->ops.warn) {
		snprintf(msg, sizeof(msg), "destroyed VMs: %s: more than %u kept until memory allows",
			 strerror(-n), s->keep.max_destroyed);
		s->ops.warn(s->ops.ctx, msg);
	}
	s->prune_failed = n < 0;
}

int pm_session_open(struct pm_session **out, const struct pm_capture_opts *co, const struct pm_session_ops *ops,
		    char *msg, size_t len)
{
	struct pm_session *s = calloc(1, sizeof(*s));
	struct pm_capture_opts o = *co;
	int err;

	if (!s) {
		snprintf(msg, len, "out of memory");
		return -ENOMEM;
	}
	if (ops)
		s->ops = *ops;
	s->keep = ops && ops->keep ? *ops->keep
				   : (struct pm_session_keep){ PM_KEEP_DESTROYED_S, PM_MAX_DESTROYED };
	s->ops.keep = NULL;	/* the caller's copy need not outlive the call */
	pm_state_init(&s->st);
	o.cb = on_event;
	o.ctx = s;
	err = pm_capture_open(&s->cap, &o, msg, len);
	if (err) {
		pm_state_free(&s->st);
		free(s);
		return err;
	}
	s->last_reap = pm_now_ns();
	*out = s;
	return 0;
}

int pm_session_record(struct pm_session *s, struct pm_rec_opts *ro, char *msg, size_t len)
{
	ro->hooks = pm_capture_hooks(s->cap);
	ro->nhooks = PM_HOOK_MAX;
	return pm_rec_open(&s->rec, ro, msg, len);
}

int pm_session_poll(struct pm_session *s, int timeout_ms)
{
	int n = pm_capture_poll(s->cap, timeout_ms);

	if (n < 0 && n != -EINTR)
		return n;
	if (s->rec) {
		struct pm_rec_src src = rec_src(s);
		char msg[512];

		if (pm_rec_tick(s->rec, &s->st, &src, msg, sizeof(msg)) && s->ops.warn)
			s->ops.warn(s->ops.ctx, msg);
	}
	if (pm_now_ns() - s->last_reap > REAP_NS) {
		pm_capture_hooks(s->cap);	/* cross-checks sibling hooks: a silent one shows within a second */
		reap_gone(s);
		pm_capture_sweep_dead(s->cap, pm_now_ns(), DEAD_UNREAD_NS);
		if (s->reaps++ % ORPHAN_SWEEP_REAPS == 0)
			pm_capture_sweep_orphans(s->cap);
		forget_destroyed(s);
		s->last_reap = pm_now_ns();
	}
	return n < 0 ? 0 : n;
}

struct pm_state *pm_session_refresh(struct pm_session *s)
{
	struct pm_vms all = pm_state_vms(&s->st);
	struct pm_vm *vm;

	pm_vms_each(&all, vm)
		if (!vm->destroyed)
			pm_capture_kstats(s->cap, vm->id, &vm->k);
	pm_vms_free(&all);
	s->st.lost = pm_capture_lost(s->cap);
	return &s->st;
}

struct pm_state *pm_session_state(struct pm_session *s)
{
	return &s->st;
}

struct pm_capture *pm_session_capture(struct pm_session *s)
{
	return s->cap;
}

struct pm_rec *pm_session_recorder(struct pm_session *s)
{
	return s->rec;
}

int pm_session_stop_recording(struct pm_session *s)
{
	struct pm_rec_src src = rec_src(s);
	int err;

	if (!s->rec)
		return 0;
	/* a VMM's last events may be reported after its parent reaped it: drain first */
	pm_capture_poll(s->cap, 0);
	pm_capture_poll(s->cap, 0);
	err = pm_rec_close(s->rec, &s->st, &src);
	s->rec = NULL;
	return err;
}

void pm_session_close(struct pm_session *s)
{
	if (!s)
		return;
	pm_session_stop_recording(s);
	pm_capture_close(s->cap);
	pm_state_free(&s->st);
	free(s);
}
