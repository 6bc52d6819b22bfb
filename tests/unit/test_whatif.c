// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * What-if under max_shared: the ceiling weighs the books' shared bytes,
 * so what the books get wrong a policy lets through. Events are fed as
 * replay feeds them: decided on the books before the event, then booked.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "whatif.h"
#include "privmem/kvm_abi.h"

#define MiB (1ull << 20)

static const char policy_text[] = "mode: audit\ndefaults:\n  to_shared: {max_shared: 25%}\n";

struct bed {
	struct pm_policy *p;
	struct pm_whatif w;
	struct pm_state s;
	uint64_t ts;
};

static void bed_init(struct bed *b)
{
	char err[256];

	memset(b, 0, sizeof(*b));
	assert_int_equal(pm_policy_parse("t.yaml", policy_text, strlen(policy_text), &b->p, err, sizeof(err)), 0);
	pm_whatif_init(&b->w, b->p, "t.yaml");
	pm_state_init(&b->s);
}

static void bed_free(struct bed *b)
{
	pm_whatif_free(&b->w);
	pm_state_free(&b->s);
	pm_policy_free(b->p);
}

static void feed(struct bed *b, uint8_t type, uint64_t addr, uint64_t size, int dir)
{
	struct pm_event e;

	memset(&e, 0, sizeof(e));
	e.ts = ++b->ts;
	e.vm = 1;
	e.pid = 100;
	e.tid = 101;
	e.type = type;
	e.vcpu = -1;
	e.addr = addr;
	e.size = size;
	e.dir = (uint8_t)dir;
	e.attrs = dir == PM_TO_PRIVATE ? PM_KVM_MEMORY_ATTRIBUTE_PRIVATE : 0;
	strcpy(e.comm, "qemu-system-x86");
	pm_whatif_event(&b->w, pm_state_find(&b->s, e.vm), &e);
	pm_state_apply(&b->s, &e);
}

/*
 * Issue #16 item 4: to_private repeated on private memory used to drive the
 * shared estimate below zero and buy that much to_shared past the ceiling.
 * Now the 25% of 64 MiB is 16 MiB whatever the guest repeated: of twenty
 * 2 MiB conversions to shared, the last twelve cross it.
 */
static void repeated_to_private_buys_nothing(void **state)
{
	struct bed b;

	(void)state;
	bed_init(&b);
	feed(&b, PM_EV_GMEM_CREATE, 5, 64 * MiB, 0);
	feed(&b, PM_EV_DECIDE, 0, 64 * MiB, PM_TO_PRIVATE);
	for (int i = 0; i < 10; i++)
		feed(&b, PM_EV_DECIDE, 32 * MiB, 2 * MiB, PM_TO_PRIVATE);
	assert_int_equal(b.w.nd, 0);
	for (uint64_t i = 0; i < 20; i++)
		feed(&b, PM_EV_DECIDE, i * 2 * MiB, 2 * MiB, PM_TO_SHARED);
	assert_int_equal(b.w.decided, 31);
	assert_int_equal(b.w.nd, 12);
	assert_int_equal(b.w.d[0].gpa, 16 * MiB);
	assert_int_equal(b.w.d[0].verdict, PM_DENY_SHARED_CEILING);
	bed_free(&b);
}

/* A closed guest_memfd leaves the guest without known memory: no ceiling then (decide.h). */
static void gmem_close_reaches_the_decision(void **state)
{
	struct bed b;

	(void)state;
	bed_init(&b);
	feed(&b, PM_EV_GMEM_CREATE, 5, 64 * MiB, 0);
	feed(&b, PM_EV_DECIDE, 0, 2 * MiB, PM_TO_SHARED);	/* all 64 MiB shared: above 25% */
	assert_int_equal(b.w.nd, 1);
	feed(&b, PM_EV_GMEM_CLOSE, 5, 64 * MiB, 0);
	feed(&b, PM_EV_DECIDE, 2 * MiB, 2 * MiB, PM_TO_SHARED);
	assert_int_equal(b.w.decided, 2);
	assert_int_equal(b.w.nd, 1);
	bed_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(repeated_to_private_buys_nothing),
		cmocka_unit_test(gmem_close_reaches_the_decision),
	};

	return cmocka_run_group_tests_name("whatif", tests, NULL, NULL);
}
