// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The per-VM table: every key found again across growth, 0 a key like any other. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>
#include "vmtab.h"

struct ent {
	uint64_t key;
	unsigned hits;
};

/* kernel-pointer-like ids: 0, then 64-byte aligned addresses */
static uint64_t id(unsigned i)
{
	return i ? 0xffff888100000000ull + (uint64_t)i * 64 : 0;
}

static void grows_and_finds(void **state)
{
	struct pm_vmtab t = PM_VMTAB_INIT(struct ent);
	const unsigned n = 5000;
	bool added;

	(void)state;
	assert_null(pm_vmtab_find(&t, 0));
	for (unsigned i = 0; i < n; i++) {
		struct ent *e = pm_vmtab_get(&t, id(i), &added);

		assert_non_null(e);
		assert_true(added);
		assert_int_equal(e->hits, 0);
		e->key = id(i);
		e->hits = 1;
	}
	assert_int_equal(t.n, n);
	assert_true(t.cap >= 2 * n);
	for (unsigned i = 0; i < n; i++) {
		struct ent *e = pm_vmtab_get(&t, id(i), &added);

		assert_false(added);
		assert_int_equal(e->key, id(i));
		e->hits++;
	}
	assert_int_equal(t.n, n);
	assert_null(pm_vmtab_find(&t, id(n)));
	pm_vmtab_free(&t);
}

static void visits_each_once(void **state)
{
	struct pm_vmtab t;
	struct ent *e;
	uint64_t key, sum = 0, want = 0;
	unsigned seen = 0;

	(void)state;
	pm_vmtab_init(&t, sizeof(struct ent));
	for (unsigned i = 0; i < 300; i++) {
		e = pm_vmtab_get(&t, id(i), NULL);
		e->key = id(i);
		want += id(i);
	}
	for (size_t i = 0; (e = pm_vmtab_next(&t, &i, &key));) {
		assert_int_equal(key, e->key);
		sum += key;
		seen++;
	}
	assert_int_equal(seen, 300);
	assert_int_equal(sum, want);
	pm_vmtab_clear(&t);
	assert_int_equal(t.n, 0);
	assert_null(pm_vmtab_find(&t, id(7)));
	assert_null(pm_vmtab_next(&t, &(size_t){ 0 }, NULL));
	e = pm_vmtab_get(&t, id(7), NULL);
	assert_int_equal(e->hits, 0);	/* zeroed again after clear */
	pm_vmtab_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(grows_and_finds),
		cmocka_unit_test(visits_each_once),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
