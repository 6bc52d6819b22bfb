// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * libFuzzer: policy text (privmem.policy(5)) through the loader. A policy
 * that loads must print, as YAML and as JSON, to text that loads back to
 * the same policy (the promise of `privmem policy check`): abort otherwise.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "policy.h"

static char *yaml_of(const struct pm_policy *p, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);

	if (!f)
		abort();
	pm_policy_print_yaml(p, f);
	fclose(f);
	return buf;
}

static void same(const struct pm_policy *p, const char *text, size_t len, const char *form)
{
	struct pm_policy *q;
	char err[512];
	json_object *a, *b;

	if (pm_policy_parse(form, text, len, &q, err, sizeof(err))) {
		fprintf(stderr, "printed %s does not load back: %s\n---\n%.*s\n---\n", form, err, (int)len, text);
		abort();
	}
	a = pm_policy_to_json(p);
	b = pm_policy_to_json(q);
	if (!json_object_equal(a, b)) {
		fprintf(stderr, "printed %s loads back different:\n%s\n%s\n", form, json_object_to_json_string(a),
			json_object_to_json_string(b));
		abort();
	}
	json_object_put(a);
	json_object_put(b);
	pm_policy_free(q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pm_policy *p;
	char err[512], name[16];
	size_t len;
	char *y;
	json_object *j;
	const char *js;

	if (pm_policy_parse("fuzz", (const char *)data, size, &p, err, sizeof(err)))
		return 0;
	for (uint32_t id = 0; id <= p->nrules + 1; id++)
		pm_policy_rule_name(p, id, name, sizeof(name));
	pm_policy_resolve(p, 1234, "qemu-system-x86", "/machine.slice/machine-qemu-1.scope");
	y = yaml_of(p, &len);
	same(p, y, len, "yaml");
	free(y);
	j = pm_policy_to_json(p);
	js = json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN);
	same(p, js, strlen(js), "json");
	json_object_put(j);
	pm_policy_free(p);
	return 0;
}
