// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* privmemd's /metrics text: names, labels, escaping, buckets, size bound. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "metrics.h"

static struct pm_vm *add_vm(struct pm_state *s, uint64_t id, uint32_t pid, const char *comm)
{
	struct pm_event e;
	struct pm_vm *vm;

	memset(&e, 0, sizeof(e));
	e.vm = id;
	e.pid = pid;
	e.type = PM_EV_DECIDE;
	e.dir = PM_TO_SHARED;
	e.size = 2 << 20;
	snprintf(e.comm, sizeof(e.comm), "%s", comm);
	vm = pm_state_apply(s, &e);			/* one 2 MiB conversion */
	e.dir = PM_TO_PRIVATE;
	e.size = 4096;
	e.ret = -25;
	pm_state_apply(s, &e);				/* one failed attempt: ENOTTY */
	return vm;
}

static const char *line_of(const char *text, const char *prefix)
{
	const char *p = text;

	while ((p = strstr(p, prefix))) {
		if (p == text || p[-1] == '\n')
			return p;
		p++;
	}
	return NULL;
}

static unsigned long long value_of(const char *text, const char *prefix)
{
	const char *l = line_of(text, prefix), *sp;

	assert_non_null(l);
	for (sp = l + strcspn(l, "\n"); sp > l && sp[-1] != ' '; sp--)
		;
	return strtoull(sp, NULL, 10);
}

static void escape(void **state)
{
	char out[64];

	(void)state;
	pm_metrics_escape(out, sizeof(out), "a\"b\\c\nd");
	assert_string_equal(out, "a\\\"b\\\\c\\nd");
	pm_metrics_escape(out, sizeof(out), "ok\xff\x01z");	/* bad UTF-8, control char */
	assert_string_equal(out, "ok??z");
	pm_metrics_escape(out, sizeof(out), "caf\xc3\xa9");	/* valid UTF-8 kept */
	assert_string_equal(out, "caf\xc3\xa9");
	pm_metrics_escape(out, 4, "\\\\\\");			/* never splits an escape */
	assert_string_equal(out, "\\\\");
}

static void families_and_values(void **state)
{
	struct pm_state s;
	struct pm_hook_status hooks[2] = {
		{ .name = "kvm_userspace_exit", .state = PM_HOOK_LIVE, .hits = 9 },
		{ .name = "syscalls:ioctl", .state = PM_HOOK_LIVE, .taxes_all = true },
	};
	struct pm_metrics_view v = { .st = &s, .hooks = hooks, .nhooks = 2, .policy_mode = "none", .lost = 7,
				     .keep_destroyed_s = 600, .max_destroyed = 1024 };
	struct pm_vm *vm;
	size_t len;
	char *t;
	const char *lbl = "{vm=\"00000000000000ab\",name=\"web \\\"01\\\"\",pid=\"42\",comm=\"qemu \\\"x\\\"\",cgroup=\"/machine.slice/a\\\\b\"";
	char key[256];

	(void)state;
	pm_state_init(&s);
	vm = add_vm(&s, 0xab, 42, "qemu \"x\"");
	snprintf(vm->cgroup, sizeof(vm->cgroup), "/machine.slice/a\\b");
	snprintf(vm->name, sizeof(vm->name), "web \"01\"");	/* escaped like comm */
	vm->would_deny = 5;
	vm->deny_reason[1][2] = 5;			/* would_deny, max_request */
	vm->deny_rule[1][3] = 5;
	pm_hist_add(&vm->resume_lat, 700);		/* slot 9: le 1.023e-06 */
	pm_hist_add(&vm->resume_lat, 3000000);		/* slot 21 */
	pm_hist_add(&vm->resume_lat, 1ull << 40);	/* beyond the last bucket: +Inf only */
	s.forgotten = 3;
	t = pm_metrics_render(&v, PM_METRICS_TEXT, PM_METRICS_MAX_BYTES, &len);
	assert_non_null(t);
	assert_int_equal(strlen(t), len);
	assert_non_null(strstr(t, "# TYPE privmem_conversions_total counter\n"));
	assert_non_null(strstr(t, "# TYPE privmem_resume_latency_seconds histogram\n"));
	snprintf(key, sizeof(key), "privmem_conversions_total%s,direction=\"to_shared\"}", lbl);
	assert_int_equal(value_of(t, key), 1);
	snprintf(key, sizeof(key), "privmem_conversion_bytes_total%s,direction=\"to_shared\"}", lbl);
	assert_int_equal(value_of(t, key), 2 << 20);
	snprintf(key, sizeof(key), "privmem_attempts_total%s,direction=\"to_private\"}", lbl);
	assert_int_equal(value_of(t, key), 1);
	snprintf(key, sizeof(key), "privmem_attempt_errors_total%s,errno=\"ENOTTY\"}", lbl);
	assert_int_equal(value_of(t, key), 1);
	/* cumulative buckets, le = the largest value a log2 slot holds */
	snprintf(key, sizeof(key), "privmem_resume_latency_seconds_bucket%s,le=\"1.023e-06\"}", lbl);
	assert_int_equal(value_of(t, key), 1);
	snprintf(key, sizeof(key), "privmem_resume_latency_seconds_bucket%s,le=\"0.004194303\"}", lbl);
	assert_int_equal(value_of(t, key), 2);
	snprintf(key, sizeof(key), "privmem_resume_latency_seconds_bucket%s,le=\"+Inf\"}", lbl);
	assert_int_equal(value_of(t, key), 3);
	snprintf(key, sizeof(key), "privmem_resume_latency_seconds_count%s}", lbl);
	assert_int_equal(value_of(t, key), 3);
	snprintf(key, sizeof(key), "privmem_conversion_size_bytes_bucket%s,direction=\"to_shared\",le=\"4194303\"}", lbl);
	assert_int_equal(value_of(t, key), 1);
	snprintf(key, sizeof(key), "privmem_conversion_size_bytes_bucket%s,direction=\"to_shared\",le=\"2097151\"}", lbl);
	assert_int_equal(value_of(t, key), 0);
	snprintf(key, sizeof(key), "privmem_would_denials_total%s}", lbl);
	assert_int_equal(value_of(t, key), 5);
	snprintf(key, sizeof(key), "privmem_denials_by_reason_total%s,verdict=\"would_deny\",reason=\"max_request\"}", lbl);
	assert_int_equal(value_of(t, key), 5);
	snprintf(key, sizeof(key), "privmem_denials_by_rule_total%s,verdict=\"would_deny\",rule=\"3\"}", lbl);
	assert_int_equal(value_of(t, key), 5);
	assert_null(strstr(t, "verdict=\"denied\""));	/* zeros omitted */
	snprintf(key, sizeof(key), "privmem_shared_memory_inexact%s}", lbl);
	assert_int_equal(value_of(t, key), 0);
	/* host level */
	assert_int_equal(value_of(t, "privmem_events_lost_total "), 7);
	assert_int_equal(value_of(t, "privmem_hooks_live "), 2);
	assert_int_equal(value_of(t, "privmem_hook_taxes_all_processes{hook=\"syscalls:ioctl\"} "), 1);
	assert_int_equal(value_of(t, "privmem_policy_mode{mode=\"none\"} "), 1);
	assert_int_equal(value_of(t, "privmem_policy_mode{mode=\"enforce\"} "), 0);
	assert_int_equal(value_of(t, "privmem_vms{state=\"running\"} "), 1);
	/* forgetting destroyed VMs: how many went, and the limits that made them go */
	assert_non_null(strstr(t, "# HELP privmem_vms_forgotten_total "));
	assert_non_null(strstr(t, "# TYPE privmem_vms_forgotten_total counter\n"));
	assert_int_equal(value_of(t, "privmem_vms_forgotten_total "), 3);
	assert_non_null(strstr(t, "# TYPE privmem_keep_destroyed_seconds gauge\n"));
	assert_int_equal(value_of(t, "privmem_keep_destroyed_seconds "), 600);
	assert_non_null(strstr(t, "# TYPE privmem_max_destroyed_vms gauge\n"));
	assert_int_equal(value_of(t, "privmem_max_destroyed_vms "), 1024);
	assert_null(strstr(t, "# EOF"));
	free(t);

	t = pm_metrics_render(&v, PM_METRICS_OPENMETRICS, PM_METRICS_MAX_BYTES, &len);
	assert_non_null(t);
	assert_non_null(strstr(t, "# TYPE privmem_conversions counter\n"));
	assert_non_null(strstr(t, "# TYPE privmem_vms_forgotten counter\n"));
	assert_non_null(line_of(t, "privmem_conversions_total{"));
	assert_string_equal(t + len - 6, "# EOF\n");
	free(t);
	pm_state_free(&s);
}

static void bounded(void **state)
{
	struct pm_state s;
	struct pm_metrics_view v = { .st = &s, .policy_mode = "audit" };
	size_t len, full;
	char *t;

	(void)state;
	pm_state_init(&s);
	for (unsigned i = 0; i < 200; i++)
		add_vm(&s, 0x1000 + i, 100 + i, "vmm");
	t = pm_metrics_render(&v, PM_METRICS_TEXT, PM_METRICS_MAX_BYTES, &full);
	assert_int_equal(value_of(t, "privmem_metrics_vms_omitted "), 0);
	assert_int_equal(value_of(t, "privmem_policy_mode{mode=\"audit\"} "), 1);
	free(t);
	t = pm_metrics_render(&v, PM_METRICS_TEXT, full / 3, &len);
	assert_non_null(t);
	assert_true(len <= full / 3);
	assert_true(value_of(t, "privmem_metrics_vms_omitted ") >= 100);
	assert_non_null(strstr(t, "privmem_events_total "));	/* host part always there */
	free(t);
	pm_state_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(escape),
		cmocka_unit_test(families_and_values),
		cmocka_unit_test(bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
