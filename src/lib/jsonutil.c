// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "jsonutil.h"

json_object *pm_json_at(json_object *o, const char *path)
{
	char key[64];

	while (o && *path) {
		const char *dot = strchr(path, '.');
		size_t n = dot ? (size_t)(dot - path) : strlen(path);

		snprintf(key, sizeof(key), "%.*s", (int)n, path);
		if (json_object_is_type(o, json_type_array))
			o = json_object_array_get_idx(o, (size_t)atoi(key));
		else if (!json_object_object_get_ex(o, key, &o))
			return NULL;
		path += n + (dot ? 1 : 0);
	}
	return o;
}

uint64_t pm_json_u64(json_object *o, const char *path, uint64_t missing)
{
	json_object *v = pm_json_at(o, path);

	return v ? json_object_get_uint64(v) : missing;
}

const char *pm_json_str(json_object *o, const char *path)
{
	json_object *v = pm_json_at(o, path);

	return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
}

void pm_json_add_u64(json_object *o, const char *key, uint64_t v)
{
	json_object_object_add(o, key, json_object_new_uint64(v));
}

json_object *pm_json_sparse(const uint64_t *v, unsigned n)
{
	json_object *o = json_object_new_object();
	char key[16];

	for (unsigned i = 0; i < n; i++) {
		if (!v[i])
			continue;
		snprintf(key, sizeof(key), "%u", i);
		pm_json_add_u64(o, key, v[i]);
	}
	return o;
}

void pm_json_err(bool json, const char *prog, const char *msg)
{
	if (json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "error", json_object_new_string(msg));
		puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
	} else if (prog) {
		fprintf(stderr, "%s: %s\n", prog, msg);
	} else {
		fprintf(stderr, "%s\n", msg);
	}
}
