// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The JSON shape scripts rely on (docs/design.md, "Invariants"). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "jsonutil.h"
#include "vmjson.h"
#include "privmem/kvm_abi.h"

static void vms_shape(void **state)
{
	struct pm_state s;
	struct pm_event e;
	struct pm_hook_status hooks[2] = {
		{ .name = "kvm_userspace_exit", .covers = "exits", .state = PM_HOOK_LIVE, .hits = 5 },
		{ .name = "kvm_rmp_fault", .state = PM_HOOK_UNAVAILABLE, .reason = "no tracepoint" },
	};
	json_object *o, *back;
	const char *text;

	(void)state;
	pm_state_init(&s);
	memset(&e, 0, sizeof(e));
	e.vm = 0xabcdef;
	e.type = PM_EV_DECIDE;
	e.pid = 4242;
	e.dir = PM_TO_SHARED;
	e.size = 2 << 20;
	e.ret = -25;
	strcpy(e.comm, "testvmm");
	pm_state_apply(&s, &e);
	e.ret = 0;
	pm_state_apply(&s, &e);
	/* a second VM's memory: two guest_memfds, one closed, 8 MiB private */
	e.vm = 0xabcdf0;
	e.type = PM_EV_GMEM_CREATE;
	e.size = 64 << 20;
	pm_state_apply(&s, &e);
	e.size = 16 << 20;
	pm_state_apply(&s, &e);
	e.type = PM_EV_GMEM_CLOSE;
	pm_state_apply(&s, &e);
	e.type = PM_EV_DECIDE;
	e.dir = PM_TO_PRIVATE;
	e.attrs = PM_KVM_MEMORY_ATTRIBUTE_PRIVATE;
	e.size = 8 << 20;
	pm_state_apply(&s, &e);
	s.lost = 3;
	s.forgotten = 4;
	o = pm_json_vms(&s, hooks, 2);
	/* round trip through text, as a client sees it */
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	back = json_tokener_parse(text);
	assert_non_null(back);
	assert_string_equal(json_object_get_string(pm_json_at(back, "vms.0.id")), "0000000000abcdef");
	assert_int_equal(json_object_get_int64(pm_json_at(back, "vms.0.pid")), 4242);
	assert_string_equal(json_object_get_string(pm_json_at(back, "vms.0.comm")), "testvmm");
	assert_int_equal(json_object_get_int64(pm_json_at(back, "vms.0.to_shared.attempts")), 2);
	assert_int_equal(json_object_get_int64(pm_json_at(back, "vms.0.to_shared.attempt_bytes")), 4 << 20);
	assert_int_equal(json_object_get_int64(pm_json_at(back, "vms.0.to_shared.conversions")), 1);
	assert_int_equal(json_object_get_int64(pm_json_at(back, "vms.0.to_shared.bytes")), 2 << 20);
	assert_int_equal(json_object_get_int64(pm_json_at(back, "vms.0.to_shared.size_log2_hist.21")), 1);
	assert_int_equal(json_object_get_int64(pm_json_at(back, "vms.0.to_shared.attempt_size_log2_hist.21")), 2);
	assert_null(pm_json_at(back, "vms.0.to_shared.size_log2_hist.12"));
	assert_int_equal(json_object_get_int64(pm_json_at(back, "vms.0.attr_errors.ENOTTY")), 1);
	assert_int_equal(json_object_get_int64(pm_json_at(back, "vms.0.to_private.attempts")), 0);
	assert_non_null(pm_json_at(back, "vms.0.requests.hypercall"));
	assert_non_null(pm_json_at(back, "vms.0.requests.memory_fault"));
	assert_non_null(pm_json_at(back, "vms.0.discards"));
	assert_non_null(pm_json_at(back, "vms.0.discard_bytes"));
	assert_non_null(pm_json_at(back, "vms.0.denied"));
	assert_non_null(pm_json_at(back, "vms.0.would_deny"));
	assert_non_null(pm_json_at(back, "vms.0.guest_bytes"));
	assert_non_null(pm_json_at(back, "vms.0.cgroup"));
	/* the memory fields, on the second VM */
	assert_string_equal(json_object_get_string(pm_json_at(back, "vms.1.id")), "0000000000abcdf0");
	assert_int_equal(json_object_get_int64(pm_json_at(back, "vms.1.guest_bytes")), 64 << 20);
	assert_int_equal(json_object_get_int64(pm_json_at(back, "vms.1.gmem_count")), 2);
	assert_int_equal(json_object_get_int64(pm_json_at(back, "vms.1.gmem_closed")), 1);
	assert_int_equal(json_object_get_int64(pm_json_at(back, "vms.1.shared_bytes")), 56 << 20);
	assert_int_equal(json_object_get_int64(pm_json_at(back, "vms.1.private_bytes")), 8 << 20);
	assert_true(json_object_is_type(pm_json_at(back, "vms.1.shared_inexact"), json_type_boolean));
	assert_false(json_object_get_boolean(pm_json_at(back, "vms.1.shared_inexact")));
	assert_int_equal(json_object_get_int64(pm_json_at(back, "vms.0.shared_bytes")), 0);	/* no guest_memfd seen */
	assert_int_equal(json_object_get_int64(pm_json_at(back, "lost")), 3);
	assert_int_equal(json_object_get_int64(pm_json_at(back, "forgotten")), 4);	/* VMs no longer in vms */
	assert_string_equal(json_object_get_string(pm_json_at(back, "hooks.kvm_userspace_exit.state")), "live");
	assert_int_equal(json_object_get_int64(pm_json_at(back, "hooks.kvm_userspace_exit.hits")), 5);
	assert_string_equal(json_object_get_string(pm_json_at(back, "hooks.kvm_rmp_fault.reason")), "no tracepoint");
	json_object_put(back);
	json_object_put(o);
	pm_state_free(&s);
}

static void big_counters_survive(void **state)
{
	struct pm_hist h = { 0 };
	json_object *o, *back;

	(void)state;
	h.slot[63] = UINT64_MAX - 1;
	o = pm_json_hist(&h);
	back = json_tokener_parse(json_object_to_json_string(o));
	assert_true(json_object_get_uint64(pm_json_at(back, "63")) == UINT64_MAX - 1);
	json_object_put(back);
	json_object_put(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(vms_shape),
		cmocka_unit_test(big_counters_survive),
	};

	return cmocka_run_group_tests_name("vmjson", tests, NULL, NULL);
}
