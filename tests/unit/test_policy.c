// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The policy language: good files resolved against the defaults, units,
 * every error class with its exact FILE:LINE:COLUMN line, warnings, JSON
 * input, round trips of the normalised forms, and the resolver's order.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "policy.h"

#define KiB	(1ull << 10)
#define MiB	(1ull << 20)
#define GiB	(1ull << 30)

static struct pm_policy *parse_ok(const char *text)
{
	struct pm_policy *p;
	char err[512] = "";
	int rc = pm_policy_parse("t.yaml", text, strlen(text), &p, err, sizeof(err));

	if (rc)
		fail_msg("unexpected error %d: %s", rc, err);
	return p;
}

static char *print_yaml(const struct pm_policy *p)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	pm_policy_print_yaml(p, f);
	fclose(f);
	return buf;
}

static char *print_json(const struct pm_policy *p)
{
	json_object *o = pm_policy_to_json(p);
	char *s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));

	json_object_put(o);
	return s;
}

static const char issue_example[] =
	"mode: audit              # enforce | audit | off\n"
	"defaults:\n"
	"  to_shared:  {rate: 64MiB/s, burst: 256MiB, max_request: 2MiB}\n"
	"  to_private: {rate: 1GiB/s,  burst: 4GiB}\n"
	"vms:\n"
	"  - match: {cgroup: \"/machine.slice/machine-qemu*\"}     # or comm:, pid:\n"
	"    to_shared: {rate: 8MiB/s, burst: 32MiB}\n";

static void good_file_resolved(void **state)
{
	struct pm_policy *p = parse_ok(issue_example);
	const struct pm_rule *d, *r;

	(void)state;
	assert_int_equal(p->mode, PM_MODE_AUDIT);
	assert_int_equal(p->nwarnings, 0);
	d = &p->defaults;
	assert_int_equal(d->id, 0);
	assert_int_equal(d->mode, PM_MODE_AUDIT);
	assert_int_equal(d->to_shared.flags, PM_LIM_RATE | PM_LIM_MAX_REQUEST);
	assert_int_equal(d->to_shared.rate, 64 * MiB);
	assert_int_equal(d->to_shared.burst, 256 * MiB);
	assert_int_equal(d->to_shared.max_request, 2 * MiB);
	assert_int_equal(d->to_private.flags, PM_LIM_RATE);
	assert_int_equal(d->to_private.rate, GiB);
	assert_int_equal(d->to_private.burst, 4 * GiB);
	assert_int_equal(p->nrules, 1);
	r = &p->rules[0].rule;
	assert_int_equal(r->id, 1);
	assert_int_equal(p->rules[0].match, PM_MATCH_CGROUP);
	assert_string_equal(p->rules[0].cgroup, "/machine.slice/machine-qemu*");
	assert_int_equal(p->rules[0].line, 6);
	assert_int_equal(p->rules[0].col, 5);
	/* the rule's own rate and burst, the defaults' max_request */
	assert_int_equal(r->to_shared.flags, PM_LIM_RATE | PM_LIM_MAX_REQUEST);
	assert_int_equal(r->to_shared.rate, 8 * MiB);
	assert_int_equal(r->to_shared.burst, 32 * MiB);
	assert_int_equal(r->to_shared.max_request, 2 * MiB);
	assert_memory_equal(&r->to_private, &d->to_private, sizeof(r->to_private));
	pm_policy_free(p);
}

static void inheritance(void **state)
{
	struct pm_policy *p = parse_ok(
		"mode: enforce\n"
		"defaults:\n"
		"  to_shared: {rate: 64MiB/s, burst: 256MiB, max_request: 2MiB, max_shared: 50%}\n"
		"vms:\n"
		"  - match: {pid: 1}\n"
		"    to_shared: {rate: 8MiB/s}\n"			/* burst: 1 s of its own rate */
		"  - match: {pid: 2}\n"
		"    to_shared: {burst: 1GiB}\n"			/* the defaults' rate */
		"  - match: {pid: 3}\n"
		"    to_shared: {max_request: unlimited, max_shared: 12.5%}\n"
		"  - match: {pid: 4}\n"
		"    mode: audit\n"
		"    to_shared: unlimited\n"
		"  - match: {pid: 5}\n"
		"    to_shared: {rate: unlimited}\n"
		"    to_private: {rate: 1KiB/s, burst: 0}\n");
	const struct pm_policy_rule *r = p->rules;

	(void)state;
	assert_int_equal(p->nrules, 5);
	assert_int_equal(r[0].rule.to_shared.rate, 8 * MiB);
	assert_int_equal(r[0].rule.to_shared.burst, 8 * MiB);
	assert_int_equal(r[0].rule.to_shared.max_request, 2 * MiB);
	assert_int_equal(r[0].rule.to_shared.max_shared_permille, 500);
	assert_int_equal(r[0].rule.to_shared.flags, PM_LIM_RATE | PM_LIM_MAX_REQUEST | PM_LIM_SHARED);
	assert_int_equal(r[0].rule.mode, PM_MODE_ENFORCE);
	assert_int_equal(r[1].rule.to_shared.rate, 64 * MiB);
	assert_int_equal(r[1].rule.to_shared.burst, GiB);
	assert_int_equal(r[2].rule.to_shared.flags, PM_LIM_RATE | PM_LIM_SHARED);
	assert_int_equal(r[2].rule.to_shared.max_shared_permille, 125);
	assert_int_equal(r[3].rule.to_shared.flags, 0);
	assert_int_equal(r[3].rule.mode, PM_MODE_AUDIT);
	assert_int_equal(r[4].rule.to_shared.flags, PM_LIM_MAX_REQUEST | PM_LIM_SHARED);
	assert_int_equal(r[4].rule.to_private.flags, PM_LIM_RATE);
	assert_int_equal(r[4].rule.to_private.burst, 0);
	/* no to_private anywhere: unlimited */
	assert_int_equal(r[0].rule.to_private.flags, 0);
	assert_int_equal(p->defaults.to_private.flags, 0);
	/* rate 1KiB/s: below a page per second; burst 0 denies all */
	assert_int_equal(p->nwarnings, 2);
	assert_string_equal(p->warnings[0], "t.yaml:16:24: warning: rate 1KiB/s is less than a page per second");
	assert_string_equal(p->warnings[1],
			    "t.yaml:16:39: warning: rule 5 to_private: burst 0B: every attempt but an empty one is denied");
	pm_policy_free(p);
}

static void minimal_and_mode_default(void **state)
{
	struct pm_policy *p = parse_ok("vms: []\n");

	(void)state;
	/* no mode: audit, the one that never breaks a VM */
	assert_int_equal(p->mode, PM_MODE_AUDIT);
	assert_int_equal(p->nrules, 0);
	assert_int_equal(p->defaults.to_shared.flags, 0);
	pm_policy_free(p);
	p = parse_ok("mode: off");
	assert_int_equal(p->mode, PM_MODE_OFF);
	assert_int_equal(p->defaults.mode, PM_MODE_OFF);
	pm_policy_free(p);
}

static void units(void **state)
{
	static const struct {
		const char *s;
		bool rate;
		uint64_t v;
	} ok[] = {
		{ "0", false, 0 }, { "4096", false, 4096 }, { "1B", false, 1 }, { "1KiB", false, KiB },
		{ "3MiB", false, 3 * MiB }, { "2GiB", false, 2 * GiB }, { "1TiB", false, 1ull << 40 },
		{ "1KB", false, 1000 }, { "5MB", false, 5000000 }, { "7GB", false, 7000000000ull },
		{ "2TB", false, 2000000000000ull }, { "64 MiB", false, 64 * MiB },
		{ "64MiB/s", true, 64 * MiB }, { "100/s", true, 100 }, { "100", true, 100 },
		{ "8388608TiB/s", true, 1ull << 63 }, { "18446744073709551615", false, UINT64_MAX },
		{ "16777215TiB", false, 16777215ull << 40 },
	};
	static const struct {
		const char *s;
		bool rate;
		const char *why;
	} bad[] = {
		{ "", false, "expected a number and a unit, as in 2MiB" },
		{ "MiB", false, "expected a number and a unit, as in 2MiB" },
		{ "x/s", true, "expected a number, a unit and /s, as in 64MiB/s" },
		{ "-1", false, "negative" },
		{ "1.5GiB", false, "whole numbers only (write 1536MiB, not 1.5GiB)" },
		{ "2M", false, "unknown unit (use B, KiB, MiB, GiB, TiB, KB, MB, GB or TB)" },
		{ "2mib", false, "unknown unit (use B, KiB, MiB, GiB, TiB, KB, MB, GB or TB)" },
		{ "2MiB/s", false, "a size takes no /s" },
		{ "2MiB", true, "a rate needs /s, as in 64MiB/s" },
		{ "2MiB/sec", true, "a rate is per second: end it with /s" },
		{ "2MiB/m", true, "a rate is per second: end it with /s" },
		{ "18446744073709551616", false, "too large (the limit is 2^64-1 bytes)" },
		{ "16777216TiB", false, "too large (the limit is 2^64-1 bytes)" },
	};
	static const struct {
		uint64_t v;
		bool rate;
		const char *s;
	} fmt[] = {
		{ 0, false, "0B" }, { 1, false, "1B" }, { 1536 * MiB, false, "1536MiB" }, { 4 * GiB, false, "4GiB" },
		{ 1000000, true, "1MB/s" }, { 1500, false, "1500B" }, { UINT64_MAX, false, "18446744073709551615B" },
		{ 1ull << 63, true, "8388608TiB/s" }, { 64 * MiB, true, "64MiB/s" },
	};
	const char *why;
	uint64_t v;
	uint32_t pm;
	char buf[32];

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		v = 12345;
		if (pm_policy_parse_size(ok[i].s, ok[i].rate, &v, &why))
			fail_msg("'%s': %s", ok[i].s, why);
		assert_int_equal(v, ok[i].v);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		assert_int_equal(pm_policy_parse_size(bad[i].s, bad[i].rate, &v, &why), -EINVAL);
		assert_string_equal(why, bad[i].why);
	}
	for (size_t i = 0; i < sizeof(fmt) / sizeof(fmt[0]); i++) {
		assert_string_equal(pm_policy_format_size(fmt[i].v, fmt[i].rate, buf, sizeof(buf)), fmt[i].s);
		/* what is printed parses back to the same value */
		assert_int_equal(pm_policy_parse_size(buf, fmt[i].rate, &v, &why), 0);
		assert_int_equal(v, fmt[i].v);
	}
	assert_int_equal(pm_policy_parse_percent("0%", &pm, &why), 0);
	assert_int_equal(pm, 0);
	assert_int_equal(pm_policy_parse_percent("100%", &pm, &why), 0);
	assert_int_equal(pm, 1000);
	assert_int_equal(pm_policy_parse_percent("12.5%", &pm, &why), 0);
	assert_int_equal(pm, 125);
	assert_int_equal(pm_policy_parse_percent("100.1%", &pm, &why), -EINVAL);
	assert_int_equal(pm_policy_parse_percent("10000%", &pm, &why), -EINVAL);
	assert_int_equal(pm_policy_parse_percent(".5%", &pm, &why), -EINVAL);
	assert_int_equal(pm_policy_parse_percent("5.%", &pm, &why), -EINVAL);
	assert_int_equal(pm_policy_parse_percent("0.5", &pm, &why), -EINVAL);
}

/* Every error class: exactly one line, exactly this place and wording. */
static void errors(void **state)
{
	static const struct {
		const char *text, *err;
	} cases[] = {
		/* YAML itself */
		{ "mode: audit\n  bad: 1\n", "t.yaml:2:6: mapping values are not allowed in this context" },
		{ "mode: [audit\n", "t.yaml:2:1: did not find expected ',' or ']' (while parsing a flow sequence at 1:7)" },
		{ "a: \"x\n", "t.yaml:2:1: found unexpected end of stream (while scanning a quoted scalar at 1:4)" },
		{ "a: *x\n", "t.yaml:1:4: found undefined alias" },
		/* the end of a file without a final newline is on its last line */
		{ "vms: [1", "t.yaml:1:8: did not find expected ',' or ']' (while parsing a flow sequence at 1:6)" },
		{ "a: \xc3\x28\n", "t.yaml:1:5: invalid trailing UTF-8 octet" },
		{ "", "t.yaml:1:1: empty policy (write at least: mode: off)" },
		{ "# nothing\n", "t.yaml:1:1: empty policy (write at least: mode: off)" },
		{ "mode: audit\n---\nmode: off\n", "t.yaml:3:1: a second YAML document; a policy is one document" },
		/* shape */
		{ "- a\n", "t.yaml:1:1: a policy is a mapping (of mode, defaults and vms), found a list" },
		{ "moed: audit\n", "t.yaml:1:1: unknown key 'moed' in policy (expected mode, defaults or vms)" },
		{ "mode: audit\nmode: off\n", "t.yaml:2:1: duplicate key 'mode' in policy (first at 1:1)" },
		{ "? [a]\n: 1\n", "t.yaml:1:3: policy: expected a value, found a list" },
		{ "mode: {a: 1}\n", "t.yaml:1:7: mode: expected a value, found a mapping" },
		{ "mode: sometimes\n", "t.yaml:1:7: bad mode 'sometimes' (expected enforce, audit or off)" },
		{ "defaults: [1]\n", "t.yaml:1:11: defaults: expected a mapping (of to_shared or to_private), found a list" },
		{ "defaults: {to_shared: fast}\n",
		  "t.yaml:1:23: defaults to_shared: expected a mapping of limits or 'unlimited', found 'fast'" },
		{ "defaults: {to_shared: {rat: 1MiB/s}}\n",
		  "t.yaml:1:24: unknown key 'rat' in defaults to_shared (expected rate, burst, max_request or max_shared)" },
		{ "defaults: {to_private: {max_shared: 50%}}\n",
		  "t.yaml:1:25: unknown key 'max_shared' in defaults to_private (expected rate, burst or max_request); "
		  "max_shared applies to to_shared only" },
		{ "vms: {a: 1}\n", "t.yaml:1:6: vms: expected a list of rules, found a mapping" },
		{ "vms:\n  - 42\n",
		  "t.yaml:2:5: vms entry: expected a mapping (of name, match, mode, to_shared or to_private), found a value" },
		{ "vms:\n- match: {comm: a}\n  match: {comm: b}\n",
		  "t.yaml:3:3: duplicate key 'match' in vms entry (first at 2:3)" },
		/* units and values */
		{ "defaults: {to_shared: {rate: 64M/s}}\n",
		  "t.yaml:1:30: bad rate '64M/s': unknown unit (use B, KiB, MiB, GiB, TiB, KB, MB, GB or TB)" },
		{ "defaults: {to_shared: {rate: 64MiB}}\n", "t.yaml:1:30: bad rate '64MiB': a rate needs /s, as in 64MiB/s" },
		{ "defaults:\n  to_shared:\n    rate: 1MiB/s\n    burst: 64MiB/s\n",
		  "t.yaml:4:12: bad burst '64MiB/s': a size takes no /s" },
		{ "defaults: {to_shared: {max_request: 1.5GiB}}\n",
		  "t.yaml:1:37: bad max_request '1.5GiB': whole numbers only (write 1536MiB, not 1.5GiB)" },
		{ "defaults: {to_shared: {rate: -1}}\n", "t.yaml:1:30: bad rate '-1': negative" },
		{ "defaults: {to_shared: {rate: 99999999999TiB/s}}\n",
		  "t.yaml:1:30: bad rate '99999999999TiB/s': too large (the limit is 2^64-1 bytes)" },
		{ "defaults: {to_shared: {rate: 1MiB/sec}}\n",
		  "t.yaml:1:30: bad rate '1MiB/sec': a rate is per second: end it with /s" },
		{ "defaults: {to_shared: {max_shared: 150%}}\n", "t.yaml:1:36: bad max_shared '150%': above 100%" },
		{ "defaults: {to_shared: {max_shared: 50}}\n",
		  "t.yaml:1:36: bad max_shared '50': a percentage needs %, as in 25%" },
		{ "defaults: {to_shared: {max_shared: 12.25%}}\n",
		  "t.yaml:1:36: bad max_shared '12.25%': one decimal at most, as in 12.5%" },
		/* limits that do not make sense together */
		{ "defaults: {to_shared: {burst: 1MiB}}\n", "t.yaml:1:31: burst without a rate in defaults to_shared" },
		{ "defaults: {to_shared: {rate: 1MiB/s, burst: unlimited}}\n",
		  "t.yaml:1:45: burst cannot be unlimited (to lift the rate limit, write rate: unlimited)" },
		{ "defaults: {to_shared: {rate: 1MiB/s}}\nvms:\n  - match: {pid: 1}\n"
		  "    to_shared: {rate: unlimited, burst: 2MiB}\n",
		  "t.yaml:4:41: burst without a rate in rule 1 to_shared" },
		/* matches */
		{ "vms:\n  - to_shared: unlimited\n",
		  "t.yaml:2:5: vms entry without match (expected match: {cgroup: ..., comm: ..., pid: ...})" },
		{ "vms:\n  - match: {}\n", "t.yaml:2:12: empty match (expected cgroup, comm or pid)" },
		{ "vms:\n  - match: {uid: 0}\n", "t.yaml:2:13: unknown key 'uid' in match (expected cgroup, comm or pid)" },
		{ "vms:\n  - match: {pid: 0}\n", "t.yaml:2:18: bad pid '0' (expected 1 to 4194304)" },
		{ "vms:\n  - match: {pid: 12ab}\n", "t.yaml:2:18: bad pid '12ab' (expected 1 to 4194304)" },
		{ "vms:\n  - match: {pid: 4194305}\n", "t.yaml:2:18: bad pid '4194305' (expected 1 to 4194304)" },
		{ "vms:\n  - match: {comm: qemu-system-x86_64}\n",
		  "t.yaml:2:19: comm 'qemu-system-x86_64' never matches: the kernel keeps 15 characters ('qemu-system-x86')" },
		{ "vms:\n  - match: {comm: [a]}\n", "t.yaml:2:19: comm: expected a value, found a list" },
		{ "vms:\n  - match: {comm: \"a\\tb\"}\n", "t.yaml:2:19: control character in comm pattern" },
		{ "vms:\n  - match: {cgroup: machine.slice}\n",
		  "t.yaml:2:21: cgroup pattern 'machine.slice' must start with / (a cgroup v2 path, as in /proc/PID/cgroup)" },
		{ "vms:\n  - match: {cgroup: \"\"}\n", "t.yaml:2:21: empty cgroup pattern" },
		{ "vms:\n  - match: {comm: a}\n    name: x\n  - match: {comm: b}\n    name: x\n",
		  "t.yaml:5:11: duplicate name 'x' (also rule 1 at 2:5)" },
		{ "vms:\n  - match: {comm: a}\n    mode: strict\n",
		  "t.yaml:3:11: bad mode 'strict' (expected enforce, audit or off)" },
		{ "vms:\n  - match: {comm: a}\n    to_private: {max_shared: 5%}\n",
		  "t.yaml:3:18: unknown key 'max_shared' in rule 1 to_private (expected rate, burst or max_request); "
		  "max_shared applies to to_shared only" },
		/* JSON input gets the same checks */
		{ "{\"mode\": \"audit\", \"vms\": [{\"match\": {\"pid\": \"x\"}}]}",
		  "t.yaml:1:45: bad pid 'x' (expected 1 to 4194304)" },
		{ "{\"mode\": \"audit\"\n", "t.yaml:2:1: did not find expected ',' or '}' (while parsing a flow mapping at 1:1)" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pm_policy *p = (struct pm_policy *)1;
		char err[512] = "";
		int rc = pm_policy_parse("t.yaml", cases[i].text, strlen(cases[i].text), &p, err, sizeof(err));

		if (rc != -EINVAL || strcmp(err, cases[i].err))
			fail_msg("case %zu: rc %d\n  got  '%s'\n  want '%s'", i, rc, err, cases[i].err);
		assert_null(p);
		assert_null(strchr(err, '\n'));
	}
}

static void too_many_rules(void **state)
{
	size_t cap = 64 + (PM_POLICY_MAX_RULES + 1) * 24, len;
	char *text = malloc(cap), err[256];
	struct pm_policy *p;

	(void)state;
	len = (size_t)sprintf(text, "vms:\n");
	for (int i = 0; i <= PM_POLICY_MAX_RULES; i++)
		len += (size_t)sprintf(text + len, "- match: {pid: %d}\n", i + 1);
	assert_int_equal(pm_policy_parse("t.yaml", text, len, &p, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "t.yaml:1026:3: more than 1024 rules");
	/* one fewer is fine */
	len -= strlen("- match: {pid: 1025}\n");
	assert_int_equal(pm_policy_parse("t.yaml", text, len, &p, err, sizeof(err)), 0);
	assert_int_equal(p->nrules, PM_POLICY_MAX_RULES);
	pm_policy_free(p);
	free(text);
}

static void warnings(void **state)
{
	struct pm_policy *p = parse_ok(
		"defaults:\n"
		"  to_shared: {rate: 64, burst: 1MiB, max_request: 2MiB}\n"
		"vms:\n"
		"  - match: {cgroup: /machine.slice}\n"
		"  - match: {cgroup: /machine.slice/machine-qemu-1.scope, comm: qemu*}\n"	/* under rule 1 */
		"  - match: {comm: \"qemu*\"}\n"
		"  - match: {comm: \"qemu-kvm\", pid: 7}\n"					/* qemu* covers it */
		"  - match: {comm: \"qemu-?\"}\n"						/* nor this */
		"  - match: {cgroup: \"/a/b*\"}\n"
		"  - match: {cgroup: \"/a/b/c*\"}\n"						/* /a/b* covers it */
		"  - match: {cgroup: \"/x*y\"}\n"
		"  - match: {cgroup: \"/x*yz\"}\n");						/* not provable */

	(void)state;
	assert_int_equal(p->nwarnings, 6);
	assert_string_equal(p->warnings[0], "t.yaml:2:21: warning: rate 64B/s is less than a page per second "
					    "(a bare number is bytes per second: did you mean 64MiB/s?)");
	assert_string_equal(p->warnings[1], "t.yaml:2:14: warning: defaults to_shared: burst 1MiB is below max_request "
					    "2MiB: attempts larger than the burst are always denied");
	assert_string_equal(p->warnings[2], "t.yaml:5:5: warning: rule 2 never applies: rule 1 (4:5) matches all it "
					    "matches, and the first match wins");
	assert_string_equal(p->warnings[3], "t.yaml:7:5: warning: rule 4 never applies: rule 3 (6:5) matches all it "
					    "matches, and the first match wins");
	assert_string_equal(p->warnings[4], "t.yaml:8:5: warning: rule 5 never applies: rule 3 (6:5) matches all it "
					    "matches, and the first match wins");
	assert_string_equal(p->warnings[5], "t.yaml:10:5: warning: rule 7 never applies: rule 6 (9:5) matches all it "
					    "matches, and the first match wins");
	/* rules do not repeat the defaults' warnings */
	pm_policy_free(p);
}

static void json_input(void **state)
{
	/* what json.dumps would write, tabs and all */
	static const char json[] =
		"{\n"
		"\t\"mode\": \"audit\",\n"
		"\t\"defaults\": {\n"
		"\t\t\"to_shared\": {\"rate\": \"64MiB/s\", \"burst\": \"256MiB\", \"max_request\": \"2MiB\"},\n"
		"\t\t\"to_private\": {\"rate\": 1073741824, \"burst\": 4294967296}\n"
		"\t},\n"
		"\t\"vms\": [\n"
		"\t\t{\"match\": {\"cgroup\": \"/machine.slice/machine-qemu*\"},\n"
		"\t\t \"to_shared\": {\"rate\": \"8MiB/s\", \"burst\": \"32MiB\"}}\n"
		"\t]\n"
		"}\n";
	struct pm_policy *y = parse_ok(issue_example), *j = parse_ok(json);
	char *ys = print_yaml(y), *js = print_yaml(j);

	(void)state;
	assert_string_equal(ys, js);
	assert_memory_equal(&y->defaults, &j->defaults, sizeof(y->defaults));
	assert_memory_equal(&y->rules[0].rule, &j->rules[0].rule, sizeof(y->rules[0].rule));
	free(ys);
	free(js);
	pm_policy_free(y);
	pm_policy_free(j);
	/* json-c's compact output, no spaces after colons */
	j = parse_ok("{\"mode\":\"enforce\",\"vms\":[{\"match\":{\"pid\":42},\"to_shared\":{\"max_request\":4096}}]}");
	assert_int_equal(j->mode, PM_MODE_ENFORCE);
	assert_int_equal(j->rules[0].pid, 42);
	assert_int_equal(j->rules[0].rule.to_shared.max_request, 4096);
	pm_policy_free(j);
}

/* The normalised forms are fixed points: they parse back to themselves. */
static void round_trips(void **state)
{
	static const char text[] =
		"mode: enforce\n"
		"defaults:\n"
		"  to_shared: {rate: 64MiB/s, max_request: 2MiB, max_shared: 12.5%}\n"
		"vms:\n"
		"  - name: 'quote\" and \\ back'\n"
		"    match: {cgroup: \"/machine.slice/*\", comm: \"qemu*\", pid: 9}\n"
		"    mode: audit\n"
		"    to_shared: {rate: 1000000/s, burst: 3GB}\n"
		"    to_private: {rate: 18446744073709551615/s, max_request: 1B}\n"
		"  - match: {comm: \"cloud-hv\"}\n"
		"    to_shared: unlimited\n"
		"  - match: {pid: 3}\n"
		"    to_shared: {rate: unlimited}\n";
	struct pm_policy *p = parse_ok(text), *q, *r;
	char *y1 = print_yaml(p), *j1 = print_json(p), *y2, *j2, *y3;

	(void)state;
	q = parse_ok(y1);
	y2 = print_yaml(q);
	j2 = print_json(q);
	assert_string_equal(y1, y2);
	assert_string_equal(j1, j2);
	r = parse_ok(j1);
	y3 = print_yaml(r);
	assert_string_equal(y1, y3);
	for (unsigned i = 0; i < p->nrules; i++)
		assert_memory_equal(&p->rules[i].rule, &r->rules[i].rule, sizeof(p->rules[i].rule));
	assert_string_equal(r->rules[0].name, "quote\" and \\ back");
	assert_string_equal(y1,
		"# privmem policy, normalised: every rule carries its resolved limits;\n"
		"# the first vms rule that matches a VM applies, else the defaults.\n"
		"mode: enforce\n"
		"defaults:\n"
		"  to_shared: {rate: 64MiB/s, burst: 64MiB, max_request: 2MiB, max_shared: 12.5%}\n"
		"  to_private: unlimited\n"
		"vms:\n"
		"  # rule 1\n"
		"  - name: \"quote\\\" and \\\\ back\"\n"
		"    match: {cgroup: \"/machine.slice/*\", comm: \"qemu*\", pid: 9}\n"
		"    mode: audit\n"
		"    to_shared: {rate: 1MB/s, burst: 3GB, max_request: 2MiB, max_shared: 12.5%}\n"
		"    to_private: {rate: 18446744073709551615B/s, burst: 18446744073709551615B, max_request: 1B}\n"
		"  # rule 2\n"
		"  - match: {comm: \"cloud-hv\"}\n"
		"    mode: enforce\n"
		"    to_shared: unlimited\n"
		"    to_private: unlimited\n"
		"  # rule 3\n"
		"  - match: {pid: 3}\n"
		"    mode: enforce\n"
		"    to_shared: {rate: unlimited, max_request: 2MiB, max_shared: 12.5%}\n"
		"    to_private: unlimited\n");
	assert_string_equal(j1,
		"{\"mode\":\"enforce\",\"defaults\":{\"to_shared\":{\"rate\":67108864,\"burst\":67108864,"
		"\"max_request\":2097152,\"max_shared\":\"12.5%\"},\"to_private\":\"unlimited\"},\"vms\":["
		"{\"name\":\"quote\\\" and \\\\ back\",\"match\":{\"cgroup\":\"/machine.slice/*\",\"comm\":\"qemu*\","
		"\"pid\":9},\"mode\":\"audit\",\"to_shared\":{\"rate\":1000000,\"burst\":3000000000,"
		"\"max_request\":2097152,\"max_shared\":\"12.5%\"},\"to_private\":{\"rate\":18446744073709551615,"
		"\"burst\":18446744073709551615,\"max_request\":1}},"
		"{\"match\":{\"comm\":\"cloud-hv\"},\"mode\":\"enforce\",\"to_shared\":\"unlimited\",\"to_private\":\"unlimited\"},"
		"{\"match\":{\"pid\":3},\"mode\":\"enforce\",\"to_shared\":{\"rate\":\"unlimited\",\"max_request\":2097152,"
		"\"max_shared\":\"12.5%\"},\"to_private\":\"unlimited\"}]}");
	free(y1);
	free(y2);
	free(y3);
	free(j1);
	free(j2);
	pm_policy_free(p);
	pm_policy_free(q);
	pm_policy_free(r);
}

static void resolver_order(void **state)
{
	struct pm_policy *p = parse_ok(
		"defaults: {to_shared: {max_request: 2MiB}}\n"
		"vms:\n"
		"  - name: one-pid\n"
		"    match: {pid: 4242}\n"
		"  - name: qemu-in-machine\n"
		"    match: {cgroup: /machine.slice, comm: \"qemu*\"}\n"
		"  - name: any-machine\n"
		"    match: {cgroup: \"/machine.slice/machine-*\"}\n"
		"  - name: chv\n"
		"    match: {comm: \"cloud-hyperviso\"}\n");
	char buf[32];

	(void)state;
	/* first match wins, whatever comes after */
	assert_int_equal(pm_policy_resolve(p, 4242, "qemu-system-x86", "/machine.slice/machine-qemu-1.scope")->id, 1);
	/* a cgroup pattern matches the cgroup and everything under it */
	assert_int_equal(pm_policy_resolve(p, 1, "qemu-system-x86", "/machine.slice/machine-qemu-1.scope/libvirt/emulator")->id, 2);
	assert_int_equal(pm_policy_resolve(p, 1, "qemu-system-x86", "/machine.slice")->id, 2);
	/* all keys of a match must hold */
	assert_int_equal(pm_policy_resolve(p, 1, "crosvm", "/machine.slice/machine-crosvm.scope")->id, 3);
	assert_int_equal(pm_policy_resolve(p, 1, "qemu-system-x86", "/user.slice/user-1000.slice")->id, 0);
	/* a path component boundary is not needed for a *, but is for a literal */
	assert_int_equal(pm_policy_resolve(p, 1, "qemu-system-x86", "/machine.slices")->id, 0);
	assert_int_equal(pm_policy_resolve(p, 1, "cloud-hyperviso", "")->id, 4);
	/* an unknown cgroup matches no cgroup pattern, and no comm is "" */
	assert_int_equal(pm_policy_resolve(p, 1, "qemu-system-x86", "")->id, 0);
	assert_int_equal(pm_policy_resolve(p, 1, NULL, NULL)->id, 0);
	/* the defaults come back as a full rule */
	assert_ptr_equal(pm_policy_resolve(p, 1, "bash", "/"), &p->defaults);
	assert_int_equal(p->defaults.to_shared.max_request, 2 * MiB);
	assert_string_equal(pm_policy_rule_name(p, 0, buf, sizeof(buf)), "defaults");
	assert_string_equal(pm_policy_rule_name(p, 3, buf, sizeof(buf)), "any-machine");
	assert_string_equal(pm_policy_rule_name(p, 9, buf, sizeof(buf)), "rule 9");
	pm_policy_free(p);

	/* "*" is every cgroup, so is "/" (and the later one never applies) */
	p = parse_ok("vms:\n  - match: {cgroup: \"*\"}\n  - match: {cgroup: /}\n");
	assert_int_equal(pm_policy_resolve(p, 1, "x", "/a/b")->id, 1);
	assert_int_equal(p->nwarnings, 1);
	pm_policy_free(p);
}

static void load_files(void **state)
{
	char path[] = "/tmp/privmem-policy-XXXXXX", err[512];
	struct pm_policy *p;
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "mode: off\nvms: [{match: {pid: x}}]\n", 35), 35);
	close(fd);
	assert_int_equal(pm_policy_load(path, &p, err, sizeof(err)), -EINVAL);
	assert_true(strncmp(err, path, strlen(path)) == 0);
	assert_string_equal(err + strlen(path), ":2:21: bad pid 'x' (expected 1 to 4194304)");
	unlink(path);
	assert_int_equal(pm_policy_load(path, &p, err, sizeof(err)), -ENOENT);
	assert_true(strstr(err, ": No such file or directory") != NULL);
	assert_int_equal(pm_policy_load("/", &p, err, sizeof(err)), -EISDIR);
	assert_string_equal(err, "/: Is a directory");
	assert_null(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(good_file_resolved),
		cmocka_unit_test(inheritance),
		cmocka_unit_test(minimal_and_mode_default),
		cmocka_unit_test(units),
		cmocka_unit_test(errors),
		cmocka_unit_test(too_many_rules),
		cmocka_unit_test(warnings),
		cmocka_unit_test(json_input),
		cmocka_unit_test(round_trips),
		cmocka_unit_test(resolver_order),
		cmocka_unit_test(load_files),
	};

	return cmocka_run_group_tests_name("policy", tests, NULL, NULL);
}
