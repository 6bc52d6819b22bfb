// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Forgetting VMs: pm_state_remove and pm_state_prune's time and count bounds. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "vmstate.h"

#define S 1000000000ull

static void book(struct pm_state *s, uint64_t vm, uint8_t type, uint64_t ts)
{
	struct pm_event e;

	memset(&e, 0, sizeof(e));
	e.vm = vm;
	e.type = type;
	e.pid = (uint32_t)(1000 + vm);	/* a VMM each: no process exit takes another's VM */
	e.tid = e.pid;
	e.ts = ts;
	e.vcpu = -1;
	strcpy(e.comm, "testvmm");
	assert_non_null(pm_state_apply(s, &e));
}

/* A VM created at created and destroyed at destroyed (0: still running). */
static void vm_at(struct pm_state *s, uint64_t vm, uint64_t created, uint64_t destroyed)
{
	book(s, vm, PM_EV_VM_CREATE, created);
	if (destroyed)
		book(s, vm, PM_EV_VM_DESTROY, destroyed);
}

static void remove_one(void **state)
{
	struct pm_state s;

	(void)state;
	pm_state_init(&s);
	/* 1, 1025 and 2049 share a bucket: the middle of a chain unlinks too */
	vm_at(&s, 1, 10, 0);
	vm_at(&s, 1025, 20, 0);
	vm_at(&s, 2049, 30, 0);
	book(&s, 1025, PM_EV_REQUEST, 40);	/* an open request: its pending array goes with it */
	assert_int_equal(s.nvms, 3);
	assert_int_equal(pm_state_remove(&s, 1025), 0);
	assert_null(pm_state_find(&s, 1025));
	assert_non_null(pm_state_find(&s, 1));
	assert_non_null(pm_state_find(&s, 2049));
	assert_int_equal(s.nvms, 2);
	assert_int_equal(s.forgotten, 1);
	/* a live VM may be removed on purpose; its id then starts fresh books */
	assert_int_equal(pm_state_remove(&s, 2049), 0);
	book(&s, 2049, PM_EV_REQUEST, 50);
	assert_int_equal(pm_state_find(&s, 2049)->dir[0].requests, 1);
	assert_int_equal(pm_state_find(&s, 2049)->first_ns, 50);
	assert_int_equal(s.nvms, 2);
	assert_int_equal(s.forgotten, 2);
	pm_state_free(&s);
}

static void remove_unknown(void **state)
{
	struct pm_state s;

	(void)state;
	pm_state_init(&s);
	assert_int_equal(pm_state_remove(&s, 7), -ENOENT);
	vm_at(&s, 7, 10, 20);
	assert_int_equal(pm_state_remove(&s, 1031), -ENOENT);	/* same bucket as 7, not there */
	assert_int_equal(pm_state_remove(&s, 7), 0);
	assert_int_equal(pm_state_remove(&s, 7), -ENOENT);	/* gone is gone */
	assert_int_equal(s.nvms, 0);
	assert_int_equal(s.forgotten, 1);
	pm_state_free(&s);
}

static void time_bound(void **state)
{
	struct pm_state s;

	(void)state;
	pm_state_init(&s);
	vm_at(&s, 1, 0, 100 * S);
	vm_at(&s, 2, 0, 200 * S);
	vm_at(&s, 3, 0, 300 * S);
	assert_int_equal(pm_state_prune(&s, 299 * S, 100 * S, 1024), 1);	/* 1 is 199 s gone */
	assert_null(pm_state_find(&s, 1));
	/* kept exactly keep_ns: expired */
	assert_int_equal(pm_state_prune(&s, 300 * S, 100 * S, 1024), 1);
	assert_null(pm_state_find(&s, 2));
	assert_int_equal(pm_state_prune(&s, 300 * S, 100 * S, 1024), 0);
	assert_non_null(pm_state_find(&s, 3));
	assert_int_equal(s.nvms, 1);
	assert_int_equal(s.forgotten, 2);
	pm_state_free(&s);
}

static void destroyed_after_now_is_no_age(void **state)
{
	struct pm_state s;

	(void)state;
	pm_state_init(&s);
	vm_at(&s, 1, 0, 500 * S);
	assert_int_equal(pm_state_prune(&s, 100 * S, 1, 1024), 0);
	assert_int_equal(pm_state_prune(&s, 100 * S, 0, 1024), 1);	/* keep 0: none kept */
	assert_int_equal(s.forgotten, 1);
	pm_state_free(&s);
}

static void count_bound_oldest_first(void **state)
{
	struct pm_state s;
	uint64_t gone[] = { 40, 10, 50, 20, 30 };	/* destroyed_ns of ids 1..5, in no order */

	(void)state;
	pm_state_init(&s);
	for (uint64_t i = 0; i < 5; i++)
		vm_at(&s, i + 1, 1, gone[i]);
	assert_int_equal(pm_state_prune(&s, 60, UINT64_MAX, 2), 3);
	/* left: the two destroyed last, 3 (at 50) and 1 (at 40) */
	assert_non_null(pm_state_find(&s, 3));
	assert_non_null(pm_state_find(&s, 1));
	assert_null(pm_state_find(&s, 2));
	assert_null(pm_state_find(&s, 4));
	assert_null(pm_state_find(&s, 5));
	assert_int_equal(s.nvms, 2);
	assert_int_equal(s.forgotten, 3);
	assert_int_equal(pm_state_prune(&s, 60, UINT64_MAX, 2), 0);
	assert_int_equal(pm_state_prune(&s, 60, UINT64_MAX, 0), 2);	/* 0: none kept */
	assert_int_equal(s.nvms, 0);
	assert_int_equal(s.forgotten, 5);
	pm_state_free(&s);
}

static void same_instant_older_id_first(void **state)
{
	struct pm_state s;

	(void)state;
	pm_state_init(&s);
	vm_at(&s, 9, 1, 100);
	vm_at(&s, 4, 1, 100);
	vm_at(&s, 6, 1, 100);
	assert_int_equal(pm_state_prune(&s, 100, UINT64_MAX, 1), 2);
	assert_non_null(pm_state_find(&s, 9));
	pm_state_free(&s);
}

static void live_never_pruned(void **state)
{
	struct pm_state s;

	(void)state;
	pm_state_init(&s);
	vm_at(&s, 1, 1, 0);		/* the oldest of all, running */
	vm_at(&s, 2, 2, 3);
	vm_at(&s, 3, 4, 0);
	book(&s, 3, PM_EV_REQUEST, 5);
	assert_int_equal(pm_state_prune(&s, UINT64_MAX, 0, 0), 1);	/* every bound at its tightest */
	assert_non_null(pm_state_find(&s, 1));
	assert_non_null(pm_state_find(&s, 3));
	assert_null(pm_state_find(&s, 2));
	assert_int_equal(s.nvms, 2);
	assert_int_equal(s.forgotten, 1);
	/* both bounds at once: the time bound first, then the count of what is left */
	vm_at(&s, 4, 10, 10 * S);
	vm_at(&s, 5, 10, 20 * S);
	vm_at(&s, 6, 10, 30 * S);
	vm_at(&s, 7, 10, 40 * S);
	assert_int_equal(pm_state_prune(&s, 41 * S, 20 * S, 1), 3);	/* 4 and 5 by age, then 6 by count */
	assert_non_null(pm_state_find(&s, 7));
	assert_int_equal(s.nvms, 3);
	assert_int_equal(s.forgotten, 4);
	pm_state_free(&s);
}

/* A cap on VMs (max_vms) counts what is booked: forgetting makes room. */
static void forgetting_frees_room_under_max_vms(void **state)
{
	struct pm_state s;
	struct pm_state c;

	(void)state;
	pm_state_init(&s);
	s.max_vms = 2;
	vm_at(&s, 1, 1, 2);
	vm_at(&s, 2, 3, 0);
	assert_int_equal(pm_state_prune(&s, 10, 0, 1024), 1);
	vm_at(&s, 3, 11, 0);
	assert_int_equal(s.nvms, 2);
	assert_int_equal(s.over_cap, 0);
	assert_int_equal(pm_state_copy(&c, &s), 0);	/* a /metrics snapshot carries the count */
	assert_int_equal(c.forgotten, 1);
	pm_state_free(&c);
	pm_state_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(remove_one),
		cmocka_unit_test(remove_unknown),
		cmocka_unit_test(time_bound),
		cmocka_unit_test(destroyed_after_now_is_no_age),
		cmocka_unit_test(count_bound_oldest_first),
		cmocka_unit_test(same_instant_older_id_first),
		cmocka_unit_test(live_never_pruned),
		cmocka_unit_test(forgetting_frees_room_under_max_vms),
	};

	return cmocka_run_group_tests_name("vmprune", tests, NULL, NULL);
}
