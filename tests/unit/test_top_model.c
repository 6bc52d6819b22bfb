// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* privmemtop's model: parsing, rates between snapshots, sorting, filtering. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "top_model.h"

#define SEC 1000000000ull

static json_object *vm_doc(const char *id, unsigned pid, const char *comm, const char *cgroup, const char *state,
			   uint64_t tp_conv, uint64_t tp_bytes, uint64_t ts_conv, uint64_t faults, uint64_t lost)
{
	char buf[2048];

	snprintf(buf, sizeof(buf),
		 "{\"id\":\"%s\",\"pid\":%u,\"comm\":\"%s\",\"cgroup\":\"%s\",\"state\":\"%s\","
		 "\"guest_bytes\":67108864,\"shared_bytes\":16777216,"
		 "\"to_private\":{\"requests\":1,\"attempts\":%llu,\"attempt_bytes\":%llu,\"conversions\":%llu,"
		 "\"bytes\":%llu,\"size_log2_hist\":{\"12\":%llu}},"
		 "\"to_shared\":{\"attempts\":%llu,\"conversions\":%llu,\"bytes\":0,\"size_log2_hist\":{}},"
		 "\"requests\":{\"hypercall\":0,\"memory_fault\":%llu},\"attr_errors\":{\"ENOTTY\":3},"
		 "\"denied\":2,\"would_deny\":1,\"lost\":%llu,"
		 "\"denials\":{\"denied\":{\"by_reason\":{\"rate\":2},\"by_rule\":{\"4\":2}},"
		 "\"would_deny\":{\"by_reason\":{\"max_request\":1},\"by_rule\":{}}},"
		 "\"resume_latency\":{\"count\":4,\"p50_ns\":1023,\"p99_ns\":8191,\"ns_log2_hist\":{\"9\":3,\"12\":1}}}",
		 id, pid, comm, cgroup, state, (unsigned long long)tp_conv, (unsigned long long)tp_bytes,
		 (unsigned long long)tp_conv, (unsigned long long)tp_bytes, (unsigned long long)tp_conv,
		 (unsigned long long)ts_conv, (unsigned long long)ts_conv, (unsigned long long)faults,
		 (unsigned long long)lost);
	return json_tokener_parse(buf);
}

static json_object *doc(json_object *a, json_object *b, uint64_t lost)
{
	json_object *o = json_object_new_object(), *arr = json_object_new_array();
	json_object *hooks = json_tokener_parse("{\"kvm_userspace_exit\":{\"state\":\"live\"},"
						"\"syscalls:ioctl\":{\"state\":\"live\",\"taxes_all_processes\":true},"
						"\"kvm_rmp_fault\":{\"state\":\"unavailable\"}}");

	if (a)
		json_object_array_add(arr, a);
	if (b)
		json_object_array_add(arr, b);
	json_object_object_add(o, "vms", arr);
	json_object_object_add(o, "lost", json_object_new_uint64(lost));
	json_object_object_add(o, "events", json_object_new_uint64(100));
	json_object_object_add(o, "hooks", hooks);
	return o;
}

static const struct top_vm *vm_by_pid(const struct top_snapshot *s, unsigned pid)
{
	for (unsigned i = 0; i < s->nvms; i++)
		if (s->vms[i].pid == pid)
			return &s->vms[i];
	return NULL;
}

static void rates_between_snapshots(void **state)
{
	struct top_model m;
	json_object *d;
	const struct top_vm *v;
	char err[128];

	(void)state;
	top_model_init(&m);
	d = doc(vm_doc("aa", 10, "qemu", "/machine.slice/vm-a.scope", "running", 100, 100 << 12, 50, 7, 0), NULL, 0);
	assert_int_equal(top_model_update(&m, d, NULL, 10 * SEC, err, sizeof(err)), 0);
	json_object_put(d);
	v = vm_by_pid(&m.cur, 10);
	assert_non_null(v);
	assert_true(v->dir[TOP_PRIV].conv_rate == 0);	/* first snapshot: no rates */
	assert_int_equal(m.cur.interval_s, 0);
	assert_string_equal(v->unit, "vm-a.scope");
	assert_string_equal(v->deny_detail, "denied: rate=2 rule 4=2 would-deny: max_request=1");
	assert_string_equal(m.cur.policy, "none");
	assert_int_equal(m.cur.hooks, 3);
	assert_int_equal(m.cur.hooks_live, 2);
	assert_true(m.cur.hooks_tax);
	assert_string_equal(m.cur.unseen, "");	/* the fallback is live: nothing goes unseen */

	/* 2 s later: +60 to-private conversions, +30 to-shared, +4 faults; a new VM appeared */
	d = doc(vm_doc("aa", 10, "qemu", "/machine.slice/vm-a.scope", "running", 160, 160 << 12, 80, 11, 0),
		vm_doc("bb", 20, "cloud-hv", "/", "running", 10, 10 << 12, 0, 0, 5), 5);
	assert_int_equal(top_model_update(&m, d, NULL, 12 * SEC, err, sizeof(err)), 0);
	json_object_put(d);
	v = vm_by_pid(&m.cur, 10);
	assert_true(m.cur.interval_s == 2.0);
	assert_true(v->dir[TOP_PRIV].conv_rate == 30.0);
	assert_true(v->dir[TOP_PRIV].byte_rate == 30.0 * 4096);
	assert_true(v->dir[TOP_SHRD].conv_rate == 15.0);
	assert_true(v->fault_rate == 2.0);
	assert_int_equal(v->nspark, 1);
	assert_true(v->spark[0] == 45.0f);	/* attempts/s, both directions */
	v = vm_by_pid(&m.cur, 20);
	assert_true(v->dir[TOP_PRIV].conv_rate == 5.0);	/* new VM: counted from zero */
	assert_string_equal(v->unit, "/");
	assert_int_equal(m.cur.lost, 5);
	assert_int_equal(m.cur.tot.vms, 2);
	assert_int_equal(m.cur.tot.conversions[TOP_PRIV], 170);
	assert_true(m.cur.tot.conv_rate[TOP_PRIV] == 35.0);
	assert_int_equal(m.cur.tot.lost, 5);
	assert_int_equal(m.cur.tot.denied, 4);

	/* the id was re-created (counters went back): rate from zero, never negative */
	d = doc(vm_doc("aa", 10, "qemu", "/machine.slice/vm-a.scope", "destroyed", 4, 4 << 12, 0, 0, 0), NULL, 5);
	assert_int_equal(top_model_update(&m, d, NULL, 13 * SEC, err, sizeof(err)), 0);
	json_object_put(d);
	v = vm_by_pid(&m.cur, 10);
	assert_true(v->dir[TOP_PRIV].conv_rate == 4.0);
	assert_false(v->running);
	assert_int_equal(v->nspark, 2);
	assert_null(vm_by_pid(&m.cur, 20));	/* gone from the books: gone from the view */
	top_model_free(&m);
}

static void bad_documents(void **state)
{
	struct top_model m;
	json_object *d = json_tokener_parse("{\"error\":\"unknown command\"}");
	char err[128];

	(void)state;
	top_model_init(&m);
	assert_int_equal(top_model_update(&m, d, NULL, SEC, err, sizeof(err)), -22);
	assert_string_equal(err, "unknown command");
	json_object_put(d);
	d = json_tokener_parse("{\"vms\":[{\"pid\":\"x\"},{\"id\":\"cc\",\"to_private\":7}]}");
	assert_int_equal(top_model_update(&m, d, NULL, SEC, err, sizeof(err)), 0);
	assert_int_equal(m.cur.nvms, 1);	/* no id: skipped; wrong types read as 0 */
	json_object_put(d);
	top_model_free(&m);
}

static void policy_from_status(void **state)
{
	struct top_model m;
	json_object *d = doc(NULL, NULL, 0), *st = json_tokener_parse("{\"policy\":{\"mode\":\"audit\",\"rules\":3}}");
	char err[128];

	(void)state;
	top_model_init(&m);
	assert_int_equal(top_model_update(&m, d, st, SEC, err, sizeof(err)), 0);
	assert_string_equal(m.cur.policy, "audit");
	json_object_put(st);
	st = json_tokener_parse("{\"policy\":\"enforce\"}");
	assert_int_equal(top_model_update(&m, d, st, 2 * SEC, err, sizeof(err)), 0);
	assert_string_equal(m.cur.policy, "enforce");
	json_object_put(st);
	json_object_put(d);
	top_model_free(&m);
}

static void sort_filter_json(void **state)
{
	struct top_model m;
	json_object *d, *j, *v;
	char err[128];

	(void)state;
	top_model_init(&m);
	d = doc(vm_doc("aa", 30, "qemu", "/machine.slice/vm-a.scope", "running", 1, 4096, 0, 0, 0),
		vm_doc("bb", 20, "Cloud-hv", "/system.slice/b.service", "running", 9, 9 * 4096, 0, 0, 0), 0);
	top_model_update(&m, d, NULL, SEC, err, sizeof(err));
	top_snapshot_sort(&m.cur, TOP_COL_PID, true, false, false);
	assert_int_equal(m.cur.vms[0].pid, 20);
	top_snapshot_sort(&m.cur, TOP_COL_TP_RATE, false, false, true);	/* totals: by conversions */
	assert_int_equal(m.cur.vms[0].pid, 20);
	top_snapshot_sort(&m.cur, TOP_COL_NAME, true, false, false);	/* case-insensitive */
	assert_string_equal(m.cur.vms[0].comm, "Cloud-hv");
	top_snapshot_sort(&m.cur, TOP_COL_NAME, true, true, false);	/* by unit */
	assert_string_equal(m.cur.vms[0].unit, "b.service");
	assert_true(top_vm_matches(&m.cur.vms[0], "CLOUD"));
	assert_true(top_vm_matches(&m.cur.vms[0], "system.slice"));
	assert_true(top_vm_matches(&m.cur.vms[0], "20"));
	assert_false(top_vm_matches(&m.cur.vms[0], "qemu"));
	assert_true(top_vm_matches(&m.cur.vms[0], ""));

	j = top_snapshot_json(&m.cur, "test");
	assert_true(json_object_object_get_ex(j, "totals", &v));
	assert_true(json_object_object_get_ex(v, "to_private", &v));
	assert_true(json_object_object_get_ex(v, "conversions", &v));
	assert_int_equal(json_object_get_uint64(v), 10);
	assert_true(json_object_object_get_ex(j, "vms", &v));
	assert_int_equal(json_object_array_length(v), 2);
	json_object_put(j);
	json_object_put(d);
	top_model_free(&m);
}

/* No trampolines and no --syscall-hooks: what the disabled fallback covers is named, no tax */
static void unseen_without_syscall_hooks(void **state)
{
	struct top_model m;
	json_object *d = json_tokener_parse(
		"{\"vms\":[],\"hooks\":{\"kvm_userspace_exit\":{\"state\":\"live\"},"
		"\"syscalls:ioctl\":{\"state\":\"disabled\",\"taxes_all_processes\":true,"
		"\"covers\":\"vm_create, decide\"},"
		"\"syscalls:fallocate\":{\"state\":\"disabled\",\"taxes_all_processes\":true,\"covers\":\"discard\"},"
		"\"lsm/file_ioctl\":{\"state\":\"disabled\",\"covers\":\"deny\"}}}"), *j, *v;
	char err[128];

	(void)state;
	top_model_init(&m);
	assert_int_equal(top_model_update(&m, d, NULL, SEC, err, sizeof(err)), 0);
	assert_false(m.cur.hooks_tax);
	assert_string_equal(m.cur.unseen, "vm_create, decide, discard");	/* only the taxing ones */
	j = top_snapshot_json(&m.cur, "test");
	assert_true(json_object_object_get_ex(j, "unseen", &v));
	assert_string_equal(json_object_get_string(v), "vm_create, decide, discard");
	json_object_put(j);
	json_object_put(d);
	top_model_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rates_between_snapshots),
		cmocka_unit_test(bad_documents),
		cmocka_unit_test(unseen_without_syscall_hooks),
		cmocka_unit_test(policy_from_status),
		cmocka_unit_test(sort_filter_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
