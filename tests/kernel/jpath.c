// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * jpath FILE PATH: prints the value at PATH in a JSON file, for shell tests.
 * PATH is dot-separated: object keys, array indices (negative from the end),
 * or @KEY=VALUE to pick the array element whose KEY equals VALUE.
 * Missing: prints nothing, exits 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>

static json_object *pick(json_object *arr, const char *sel)
{
	const char *eq = strchr(sel, '=');
	char key[128];

	if (!eq || (size_t)(eq - sel) >= sizeof(key))
		return NULL;
	snprintf(key, sizeof(key), "%.*s", (int)(eq - sel), sel);
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		json_object *e = json_object_array_get_idx(arr, i), *v;

		if (json_object_object_get_ex(e, key, &v) && strcmp(json_object_get_string(v), eq + 1) == 0)
			return e;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	json_object *o;
	char *path, *tok, *save = NULL;

	if (argc != 3) {
		fprintf(stderr, "usage: jpath FILE PATH\n");
		return 2;
	}
	o = json_object_from_file(argv[1]);
	path = strdup(argv[2]);
	for (tok = strtok_r(path, ".", &save); o && tok; tok = strtok_r(NULL, ".", &save)) {
		if (json_object_is_type(o, json_type_array)) {
			long n = (long)json_object_array_length(o), i = atol(tok);

			o = tok[0] == '@' ? pick(o, tok + 1) : json_object_array_get_idx(o, (size_t)(i < 0 ? n + i : i));
		} else if (!json_object_object_get_ex(o, tok, &o)) {
			o = NULL;
		}
	}
	if (!o)
		return 1;
	puts(json_object_is_type(o, json_type_string) ? json_object_get_string(o)
		: json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	return 0;
}
