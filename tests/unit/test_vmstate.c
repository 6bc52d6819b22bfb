// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Per-VM accounting and event decoding, fed synthetic records. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "vmstate.h"
#include "privmem/kvm_abi.h"

static struct pm_event ev(uint64_t vm, uint8_t type, uint32_t tid, uint64_t ts)
{
	struct pm_event e;

	memset(&e, 0, sizeof(e));
	e.vm = vm;
	e.type = type;
	e.pid = 100;
	e.tid = tid;
	e.ts = ts;
	e.vcpu = -1;
	strcpy(e.comm, "qemu-system-x86");
	return e;
}

static struct pm_event decide(uint64_t vm, uint64_t ts, uint64_t size, int dir, int ret)
{
	struct pm_event e = ev(vm, PM_EV_DECIDE, 101, ts);

	e.size = size;
	e.dir = dir;
	e.attrs = dir == PM_TO_PRIVATE ? PM_KVM_MEMORY_ATTRIBUTE_PRIVATE : 0;
	e.ret = ret;
	return e;
}

static struct pm_event decide_at(uint64_t vm, uint64_t ts, uint64_t gpa, uint64_t size, int dir, int ret)
{
	struct pm_event e = decide(vm, ts, size, dir, ret);

	e.addr = gpa;
	return e;
}

static struct pm_event gmem(uint64_t vm, uint8_t type, uint64_t ts, uint64_t size)
{
	struct pm_event e = ev(vm, type, 1, ts);

	e.size = size;
	return e;
}

static struct pm_vm *apply(struct pm_state *s, struct pm_event e)
{
	struct pm_vm *vm = pm_state_apply(s, &e);

	assert_non_null(vm);
	return vm;
}

static void attempts_and_conversions(void **state)
{
	struct pm_state s;
	struct pm_vm *vm;
	struct pm_event e;

	(void)state;
	pm_state_init(&s);
	for (int i = 0; i < 37; i++) {
		e = decide(7, 1000 + i, 2 << 20, PM_TO_SHARED, 0);
		pm_state_apply(&s, &e);
	}
	e = decide(7, 2000, 4096, PM_TO_PRIVATE, -25);
	pm_state_apply(&s, &e);
	e = decide(7, 2001, 12288, PM_TO_PRIVATE, -25);
	pm_state_apply(&s, &e);
	vm = pm_state_find(&s, 7);
	assert_non_null(vm);
	assert_int_equal(vm->dir[PM_TO_SHARED].attempts, 37);
	assert_int_equal(vm->dir[PM_TO_SHARED].conversions, 37);
	assert_int_equal(vm->dir[PM_TO_SHARED].bytes, 74ull << 20);
	assert_int_equal(vm->dir[PM_TO_SHARED].size_hist.slot[21], 37);
	assert_int_equal(vm->dir[PM_TO_PRIVATE].attempts, 2);
	assert_int_equal(vm->dir[PM_TO_PRIVATE].attempt_bytes, 16384);
	assert_int_equal(vm->dir[PM_TO_PRIVATE].conversions, 0);
	assert_int_equal(vm->dir[PM_TO_PRIVATE].attempt_size_hist.slot[12], 1);
	assert_int_equal(vm->dir[PM_TO_PRIVATE].attempt_size_hist.slot[13], 1);
	assert_int_equal(vm->attr_errno[25], 2);
	assert_string_equal(vm->comm, "qemu-system-x86");
	assert_int_equal(s.nvms, 1);
	assert_int_equal(s.events, 39);
	pm_state_free(&s);
}

static void request_resume_latency(void **state)
{
	struct pm_state s;
	struct pm_vm *vm;
	struct pm_event e;

	(void)state;
	pm_state_init(&s);
	e = ev(9, PM_EV_REQUEST, 300, 10000);
	e.source = PM_SRC_HYPERCALL;
	e.dir = PM_TO_SHARED;
	e.size = 8192;
	pm_state_apply(&s, &e);
	e = decide(9, 10500, 8192, PM_TO_SHARED, 0);
	e.tid = 300;
	pm_state_apply(&s, &e);
	e = ev(9, PM_EV_RESUME, 300, 12000);
	pm_state_apply(&s, &e);
	/* a resume with no open request is counted, not timed */
	e = ev(9, PM_EV_RESUME, 301, 13000);
	pm_state_apply(&s, &e);
	vm = pm_state_find(&s, 9);
	assert_int_equal(vm->req_hypercall, 1);
	assert_int_equal(vm->dir[PM_TO_SHARED].requests, 1);
	assert_int_equal(vm->dir[PM_TO_SHARED].request_bytes, 8192);
	assert_int_equal(vm->resumes, 2);
	assert_int_equal(vm->resume_lat.count, 1);
	assert_int_equal(vm->resume_lat.sum, 2000);
	assert_int_equal(vm->decide_lat.count, 1);
	assert_int_equal(vm->decide_lat.sum, 500);
	assert_int_equal(vm->npending, 0);
	assert_int_equal(vm->recent_total, 1);
	assert_int_equal(vm->recent[0].size, 8192);
	pm_state_free(&s);
}

static void separate_books_and_destroy(void **state)
{
	struct pm_state s;
	struct pm_event e;

	(void)state;
	pm_state_init(&s);
	e = ev(1, PM_EV_VM_CREATE, 1, 1);
	pm_state_apply(&s, &e);
	e = ev(2, PM_EV_VM_CREATE, 2, 2);
	e.pid = 200;
	pm_state_apply(&s, &e);
	e = ev(1, PM_EV_DISCARD, 1, 3);
	e.size = 4096;
	pm_state_apply(&s, &e);
	e = ev(2, PM_EV_DISCARD, 2, 4);
	e.size = 4096;
	e.ret = -95;
	pm_state_apply(&s, &e);
	e = ev(2, PM_EV_VM_DESTROY, 2, 5);
	pm_state_apply(&s, &e);
	assert_int_equal(pm_state_find(&s, 1)->discards, 1);
	assert_int_equal(pm_state_find(&s, 1)->discard_bytes, 4096);
	assert_int_equal(pm_state_find(&s, 2)->discards, 0);
	assert_int_equal(pm_state_find(&s, 2)->discard_errors, 1);
	assert_int_equal(pm_state_find(&s, 2)->pid, 200);
	assert_true(pm_state_find(&s, 2)->destroyed);
	assert_false(pm_state_find(&s, 1)->destroyed);
	pm_state_free(&s);
}

static void process_exit_takes_all_its_vms(void **state)
{
	struct pm_state s;
	struct pm_event e;

	(void)state;
	pm_state_init(&s);
	for (uint64_t id = 1; id <= 3; id++) {
		e = ev(id, PM_EV_VM_CREATE, 1, id);
		e.pid = id == 3 ? 999 : 100;
		pm_state_apply(&s, &e);
	}
	e = ev(2, PM_EV_VM_DESTROY, 1, 10);
	e.flags = PM_F_PROC_EXIT;
	pm_state_apply(&s, &e);
	assert_true(pm_state_find(&s, 1)->destroyed);
	assert_true(pm_state_find(&s, 2)->destroyed);
	assert_false(pm_state_find(&s, 3)->destroyed);
	assert_int_equal(pm_state_find(&s, 1)->destroyed_ns, 10);
	pm_state_free(&s);
}

static void id_reused_after_destroy(void **state)
{
	struct pm_state s;
	struct pm_event e;

	(void)state;
	pm_state_init(&s);
	e = decide(5, 1, 4096, PM_TO_SHARED, 0);
	pm_state_apply(&s, &e);
	e = ev(5, PM_EV_VM_DESTROY, 1, 2);
	pm_state_apply(&s, &e);
	e = ev(5, PM_EV_VM_CREATE, 1, 3);
	e.pid = 777;
	pm_state_apply(&s, &e);
	assert_int_equal(s.nvms, 1);
	assert_false(pm_state_find(&s, 5)->destroyed);
	assert_int_equal(pm_state_find(&s, 5)->pid, 777);
	assert_int_equal(pm_state_find(&s, 5)->dir[PM_TO_SHARED].attempts, 0);
	pm_state_free(&s);
}

static void recent_denials_ring(void **state)
{
	struct pm_state s;
	struct pm_event e;
	struct pm_vm *vm;

	(void)state;
	pm_state_init(&s);
	for (int i = 0; i < 20; i++) {
		e = ev(4, i & 1 ? PM_EV_DENY : PM_EV_WOULD_DENY, 1, 100 + i);
		e.dir = PM_TO_SHARED;
		e.addr = 0x1000 * i;
		e.size = 2 << 20;
		e.source = 2;	/* max_request */
		e.aux = 3;
		pm_state_apply(&s, &e);
	}
	vm = pm_state_find(&s, 4);
	assert_int_equal(vm->denials_total, 20);
	assert_int_equal(vm->denied, 10);
	assert_int_equal(vm->would_deny, 10);
	/* the oldest kept is the 5th (index 4), in slot 4 of the ring */
	assert_int_equal(vm->recent_denials[4 % PM_RECENT_DENIALS].gpa, 0x4000);
	assert_int_equal(vm->recent_denials[19 % PM_RECENT_DENIALS].gpa, 0x13000);
	assert_int_equal(vm->recent_denials[19 % PM_RECENT_DENIALS].would, 0);
	assert_int_equal(vm->recent_denials[18 % PM_RECENT_DENIALS].would, 1);
	assert_int_equal(vm->deny_rule[0][3], 10);
	pm_state_free(&s);
}

static void malformed_records(void **state)
{
	struct pm_state s;
	struct pm_event e;

	(void)state;
	pm_state_init(&s);
	e = ev(1, 0, 1, 1);
	assert_null(pm_state_apply(&s, &e));
	e = ev(1, PM_EV_TYPE_MAX, 1, 1);
	assert_null(pm_state_apply(&s, &e));
	e = ev(1, PM_EV_DECIDE, 1, 1);
	e.dir = 7;
	assert_null(pm_state_apply(&s, &e));
	e = ev(0, PM_EV_DECIDE, 1, 1);
	assert_null(pm_state_apply(&s, &e));
	e = decide(1, 1, 4096, PM_TO_SHARED, -100000);	/* errno out of range */
	assert_non_null(pm_state_apply(&s, &e));
	assert_int_equal(pm_state_find(&s, 1)->attr_errno[PM_ERRNO_SLOTS - 1], 1);
	assert_int_equal(s.bad_events, 4);
	assert_int_equal(s.nvms, 1);
	pm_state_free(&s);
}

/* INIT_SHARED no longer enters the estimate: all shared is KVM's default anyway. */
static void gmem_and_shared_fraction(void **state)
{
	struct pm_state s;
	struct pm_event e;
	struct pm_vm *vm;

	(void)state;
	pm_state_init(&s);
	e = ev(3, PM_EV_GMEM_CREATE, 1, 1);
	e.size = 64 << 20;
	e.attrs = PM_GUEST_MEMFD_FLAG_MMAP | PM_GUEST_MEMFD_FLAG_INIT_SHARED;
	pm_state_apply(&s, &e);
	e = decide(3, 2, 16 << 20, PM_TO_PRIVATE, 0);
	pm_state_apply(&s, &e);
	e = decide(3, 3, 4 << 20, PM_TO_SHARED, 0);
	pm_state_apply(&s, &e);
	vm = pm_state_find(&s, 3);
	assert_int_equal(vm->guest_bytes, 64 << 20);
	assert_int_equal(vm->gmem_count, 1);
	/* [0, 16M) private, then [0, 4M) shared again: 12 MiB private */
	assert_int_equal(pm_vm_private_bytes(vm), 12 << 20);
	assert_int_equal(pm_vm_shared_bytes(vm), 52 << 20);
	pm_state_free(&s);
}

#define MiB (1ull << 20)

/*
 * A guest repeating to_private on private memory changes nothing in KVM:
 * the old delta went below zero and then let through ceiling + |delta| of
 * to_shared. The books follow KVM's attribute, so they stay exact.
 */
static void repeated_to_private_changes_nothing(void **state)
{
	struct pm_state s;
	struct pm_vm *vm;

	(void)state;
	pm_state_init(&s);
	apply(&s, gmem(3, PM_EV_GMEM_CREATE, 1, 64 * MiB));
	vm = apply(&s, decide_at(3, 2, 0, 64 * MiB, PM_TO_PRIVATE, 0));
	for (int i = 0; i < 10; i++)
		vm = apply(&s, decide_at(3, 3 + i, 32 * MiB, 2 * MiB, PM_TO_PRIVATE, 0));
	assert_int_equal(pm_vm_private_bytes(vm), 64 * MiB);
	assert_int_equal(pm_vm_shared_bytes(vm), 0);
	vm = apply(&s, decide_at(3, 20, 32 * MiB, 2 * MiB, PM_TO_SHARED, 0));
	assert_int_equal(pm_vm_shared_bytes(vm), 2 * MiB);
	assert_int_equal(pm_vm_private_bytes(vm), 62 * MiB);
	assert_false(vm->shared_inexact);
	/* the counters still count every conversion the VMM made */
	assert_int_equal(vm->dir[PM_TO_PRIVATE].conversions, 11);
	assert_int_equal(vm->dir[PM_TO_PRIVATE].bytes, 84 * MiB);
	pm_state_free(&s);
}

static void repeated_to_shared_counts_once(void **state)
{
	struct pm_state s;
	struct pm_vm *vm;

	(void)state;
	pm_state_init(&s);
	apply(&s, gmem(3, PM_EV_GMEM_CREATE, 1, 64 * MiB));
	apply(&s, decide_at(3, 2, 0, 64 * MiB, PM_TO_PRIVATE, 0));
	apply(&s, decide_at(3, 3, 8 * MiB, 2 * MiB, PM_TO_SHARED, 0));
	vm = apply(&s, decide_at(3, 4, 8 * MiB, 2 * MiB, PM_TO_SHARED, 0));
	assert_int_equal(pm_vm_shared_bytes(vm), 2 * MiB);
	/* shared memory never made private stays shared: no page is private by default */
	vm = apply(&s, decide_at(3, 5, 64 * MiB, 2 * MiB, PM_TO_SHARED, 0));
	assert_int_equal(pm_vm_shared_bytes(vm), 2 * MiB);
	assert_int_equal(pm_vm_private_bytes(vm), 62 * MiB);
	pm_state_free(&s);
}

/* A guest_memfd closed takes its bytes out of guest memory, and so out of the shared part. */
static void gmem_close_shrinks_guest(void **state)
{
	struct pm_state s;
	struct pm_vm *vm;

	(void)state;
	pm_state_init(&s);
	apply(&s, gmem(3, PM_EV_GMEM_CREATE, 1, 64 * MiB));
	vm = apply(&s, gmem(3, PM_EV_GMEM_CREATE, 2, 16 * MiB));
	assert_int_equal(pm_vm_shared_bytes(vm), 80 * MiB);
	vm = apply(&s, decide_at(3, 3, 0, 60 * MiB, PM_TO_PRIVATE, 0));
	assert_int_equal(pm_vm_shared_bytes(vm), 20 * MiB);
	vm = apply(&s, gmem(3, PM_EV_GMEM_CLOSE, 4, 16 * MiB));
	assert_int_equal(vm->guest_bytes, 64 * MiB);
	assert_int_equal(vm->gmem_count, 2);
	assert_int_equal(vm->gmem_closed, 1);
	assert_int_equal(pm_vm_shared_bytes(vm), 4 * MiB);
	assert_int_equal(s.by_type[PM_EV_GMEM_CLOSE], 1);
	/* more closed than was seen created (privmemd started late): 0, no wrap */
	vm = apply(&s, gmem(3, PM_EV_GMEM_CLOSE, 5, 128 * MiB));
	assert_int_equal(vm->guest_bytes, 0);
	assert_int_equal(vm->gmem_closed, 2);
	assert_int_equal(pm_vm_shared_bytes(vm), 0);
	assert_int_equal(pm_vm_private_bytes(vm), 60 * MiB);	/* attributes are the VM's, not the file's */
	pm_state_free(&s);
}

/* A failed KVM_SET_MEMORY_ATTRIBUTES changed nothing in KVM: nothing in the books' memory either. */
static void failed_decide_changes_nothing(void **state)
{
	struct pm_state s;
	struct pm_vm *vm;

	(void)state;
	pm_state_init(&s);
	apply(&s, gmem(3, PM_EV_GMEM_CREATE, 1, 64 * MiB));
	apply(&s, decide_at(3, 2, 0, 32 * MiB, PM_TO_PRIVATE, 0));
	vm = apply(&s, decide_at(3, 3, 32 * MiB, 32 * MiB, PM_TO_PRIVATE, -1));
	assert_int_equal(pm_vm_private_bytes(vm), 32 * MiB);
	vm = apply(&s, decide_at(3, 4, 0, 32 * MiB, PM_TO_SHARED, -1));
	assert_int_equal(pm_vm_private_bytes(vm), 32 * MiB);
	assert_int_equal(pm_vm_shared_bytes(vm), 32 * MiB);
	assert_int_equal(vm->private_mem.n, 1);
	assert_int_equal(vm->attr_errno[1], 2);
	pm_state_free(&s);
}

/* Any gpa and size a record claims: the range is cut at the top of the space, not wrapped to 0. */
static void decide_at_the_top_of_the_space(void **state)
{
	struct pm_state s;
	struct pm_vm *vm;

	(void)state;
	pm_state_init(&s);
	apply(&s, gmem(3, PM_EV_GMEM_CREATE, 1, 64 * MiB));
	vm = apply(&s, decide_at(3, 2, UINT64_MAX - 4095, 1ull << 63, PM_TO_PRIVATE, 0));
	assert_int_equal(pm_vm_private_bytes(vm), 4095);
	assert_int_equal(pm_vm_shared_bytes(vm), 64 * MiB - 4095);
	vm = apply(&s, decide_at(3, 3, 0, UINT64_MAX, PM_TO_PRIVATE, 0));
	assert_true(pm_vm_private_bytes(vm) == UINT64_MAX);
	assert_int_equal(pm_vm_shared_bytes(vm), 0);	/* more private than guest: 0, no wrap */
	vm = apply(&s, decide_at(3, 4, 0, 0, PM_TO_SHARED, 0));	/* empty */
	assert_true(pm_vm_private_bytes(vm) == UINT64_MAX);
	pm_state_free(&s);
}

/* Past PM_VM_MAX_RANGES the books say they are inexact rather than be wrong quietly. */
static void fragmented_memory_marks_inexact(void **state)
{
	struct pm_state s;
	struct pm_vm *vm;
	uint64_t priv;

	(void)state;
	pm_state_init(&s);
	apply(&s, gmem(3, PM_EV_GMEM_CREATE, 1, 1ull << 40));
	vm = apply(&s, decide_at(3, 2, 0, 1ull << 40, PM_TO_PRIVATE, 0));
	/* every other page shared: one private interval more each time */
	for (uint64_t i = 0; i < PM_VM_MAX_RANGES - 1; i++)
		vm = apply(&s, decide_at(3, 3 + i, (2 * i + 1) * 4096, 4096, PM_TO_SHARED, 0));
	assert_int_equal(vm->private_mem.n, PM_VM_MAX_RANGES);
	assert_false(vm->shared_inexact);
	priv = pm_vm_private_bytes(vm);
	vm = apply(&s, decide_at(3, 1ull << 30, (2 * PM_VM_MAX_RANGES + 1) * 4096ull, 4096, PM_TO_SHARED, 0));
	assert_true(vm->shared_inexact);
	assert_int_equal(pm_vm_private_bytes(vm), priv);	/* refused whole */
	assert_int_equal(vm->dir[PM_TO_SHARED].conversions, PM_VM_MAX_RANGES);
	/* it stays marked, even once the memory is whole again */
	vm = apply(&s, decide_at(3, 1ull << 31, 0, 1ull << 40, PM_TO_PRIVATE, 0));
	assert_int_equal(vm->private_mem.n, 1);
	assert_true(vm->shared_inexact);
	pm_state_free(&s);
}

/* A new VM under a dead one's id starts with no page private and exact books. */
static void id_reuse_forgets_private_memory(void **state)
{
	struct pm_state s;
	struct pm_vm *vm;

	(void)state;
	pm_state_init(&s);
	apply(&s, gmem(5, PM_EV_GMEM_CREATE, 1, 64 * MiB));
	vm = apply(&s, decide_at(5, 2, 0, 64 * MiB, PM_TO_PRIVATE, 0));
	vm->shared_inexact = true;
	apply(&s, ev(5, PM_EV_VM_DESTROY, 1, 3));
	vm = apply(&s, ev(5, PM_EV_VM_CREATE, 1, 4));
	assert_int_equal(pm_vm_private_bytes(vm), 0);
	assert_int_equal(vm->private_mem.n, 0);
	assert_false(vm->shared_inexact);
	assert_int_equal(vm->guest_bytes, 0);
	vm = apply(&s, decide_at(5, 5, 0, 4096, PM_TO_PRIVATE, 0));
	assert_int_equal(pm_vm_private_bytes(vm), 4096);
	pm_state_free(&s);
}

/* Past max_vms, events of new VMs are refused and counted; known VMs go on. */
/*
 * A VM reported gone because a new one took its struct kvm, never seen by
 * these books (stale in pinned maps): counted, but no phantom VM under the
 * new VM's pid (the bed's by-pid rule test found two VMs for one VMM).
 */
static void reused_unknown_makes_no_vm(void **state)
{
	struct pm_state s;
	struct pm_event e;

	(void)state;
	pm_state_init(&s);
	e = ev(0x51, PM_EV_VM_DESTROY, 1, 10);
	e.flags = PM_F_REUSED;
	assert_null(pm_state_apply(&s, &e));
	assert_int_equal(s.nvms, 0);
	assert_int_equal(s.events, 1);
	assert_int_equal(s.by_type[PM_EV_VM_DESTROY], 1);
	/* a known VM found gone that way is destroyed as any other */
	e = ev(0x52, PM_EV_VM_CREATE, 1, 20);
	assert_non_null(pm_state_apply(&s, &e));
	e = ev(0x52, PM_EV_VM_DESTROY, 1, 30);
	e.flags = PM_F_REUSED;
	assert_non_null(pm_state_apply(&s, &e));
	assert_true(pm_state_find(&s, 0x52)->destroyed);
	assert_int_equal(s.nvms, 1);
	pm_state_free(&s);
}

static void vm_cap(void **state)
{
	struct pm_state s;
	struct pm_event e;

	(void)state;
	pm_state_init(&s);
	s.max_vms = 3;
	for (uint64_t id = 1; id <= 5; id++) {
		e = ev(id, PM_EV_VM_CREATE, 1, id);
		if (id <= 3)
			assert_non_null(pm_state_apply(&s, &e));
		else
			assert_null(pm_state_apply(&s, &e));
	}
	e = ev(2, PM_EV_REQUEST, 1, 10);
	assert_non_null(pm_state_apply(&s, &e));
	assert_null(pm_state_declare(&s, 9, 1, "x", 0, 1));
	assert_int_equal(s.nvms, 3);
	assert_int_equal(s.events, 4);
	assert_int_equal(s.over_cap, 3);
	pm_state_free(&s);
	assert_int_equal(s.max_vms, 3);	/* configuration survives a reset */
	pm_state_free(&s);
}

static void many_vms_listed_in_order(void **state)
{
	struct pm_state s;
	struct pm_vm *out[3000];
	struct pm_event e;

	(void)state;
	pm_state_init(&s);
	for (uint64_t i = 1; i <= 3000; i++) {
		e = ev(i * 2654435761ull, PM_EV_VM_CREATE, 1, 10000 - i);
		pm_state_apply(&s, &e);
	}
	assert_int_equal(s.nvms, 3000);
	assert_int_equal(pm_state_list(&s, out, 3000), 3000);
	for (int i = 1; i < 3000; i++)
		assert_true(out[i - 1]->first_ns <= out[i]->first_ns);
	assert_int_equal(pm_state_list(&s, out, 10), 10);
	pm_state_free(&s);
}

/* A copy for another thread (a /metrics snapshot): the same books, none shared. */
static void copy_is_deep(void **state)
{
	struct pm_state s, c;
	struct pm_vm *a, *b;
	struct pm_event e;

	(void)state;
	pm_state_init(&s);
	for (uint64_t vm = 1; vm <= 3000; vm++) {
		e = decide(vm, 1000 + vm, 4096 * vm, vm & 1 ? PM_TO_SHARED : PM_TO_PRIVATE, vm % 7 ? 0 : -25);
		pm_state_apply(&s, &e);
	}
	e = ev(5, PM_EV_REQUEST, 77, 9000);
	pm_state_apply(&s, &e);	/* an open request: pending, not copied */
	assert_int_equal(pm_state_copy(&c, &s), 0);
	assert_int_equal(c.nvms, s.nvms);
	assert_int_equal(c.events, s.events);
	for (uint64_t vm = 1; vm <= 3000; vm++) {
		a = pm_state_find(&s, vm);
		b = pm_state_find(&c, vm);
		assert_non_null(b);
		assert_ptr_not_equal(a, b);
		assert_memory_equal(&a->dir, &b->dir, sizeof(a->dir));
		assert_memory_equal(a->attr_errno, b->attr_errno, sizeof(a->attr_errno));
		assert_null(b->pending);
		assert_int_equal(pm_vm_private_bytes(a), pm_vm_private_bytes(b));
		assert_int_equal(a->private_mem.n, b->private_mem.n);
		if (a->private_mem.n)
			assert_ptr_not_equal(a->private_mem.r, b->private_mem.r);
	}
	e = decide(2, 99999, 4096, PM_TO_PRIVATE, 0);
	pm_state_apply(&s, &e);
	assert_int_equal(pm_state_find(&s, 2)->dir[PM_TO_PRIVATE].attempts, 2);
	assert_int_equal(pm_state_find(&c, 2)->dir[PM_TO_PRIVATE].attempts, 1);
	e = decide_at(2, 99999, 1 << 20, 4096, PM_TO_PRIVATE, 0);	/* the source's ranges grow; the copy's stay */
	pm_state_apply(&s, &e);
	assert_int_equal(pm_vm_private_bytes(pm_state_find(&s, 2)), 4096 * 3);
	assert_int_equal(pm_vm_private_bytes(pm_state_find(&c, 2)), 4096 * 2);
	pm_state_free(&s);
	assert_int_equal(pm_state_find(&c, 3000)->dir[PM_TO_PRIVATE].attempts, 1);
	assert_int_equal(pm_vm_private_bytes(pm_state_find(&c, 3000)), 4096 * 3000);
	pm_state_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(attempts_and_conversions),
		cmocka_unit_test(request_resume_latency),
		cmocka_unit_test(separate_books_and_destroy),
		cmocka_unit_test(process_exit_takes_all_its_vms),
		cmocka_unit_test(id_reused_after_destroy),
		cmocka_unit_test(recent_denials_ring),
		cmocka_unit_test(malformed_records),
		cmocka_unit_test(gmem_and_shared_fraction),
		cmocka_unit_test(repeated_to_private_changes_nothing),
		cmocka_unit_test(repeated_to_shared_counts_once),
		cmocka_unit_test(gmem_close_shrinks_guest),
		cmocka_unit_test(failed_decide_changes_nothing),
		cmocka_unit_test(decide_at_the_top_of_the_space),
		cmocka_unit_test(fragmented_memory_marks_inexact),
		cmocka_unit_test(id_reuse_forgets_private_memory),
		cmocka_unit_test(many_vms_listed_in_order),
		cmocka_unit_test(copy_is_deep),
		cmocka_unit_test(vm_cap),
		cmocka_unit_test(reused_unknown_makes_no_vm),
	};

	return cmocka_run_group_tests_name("vmstate", tests, NULL, NULL);
}
