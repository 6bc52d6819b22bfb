// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * jsoneq LIVE.json REPLAY.json PID...: the VM objects of each VMM pid are
 * equal, key for key, in the daemon's live `vms --json` and in `replay
 * --json` of its trace; so is the global loss count. Prints the first
 * differing paths.
 */
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "../kernel/ktest.h"

static int ndiff;

static void diff(json_object *a, json_object *b, const char *path)
{
	char p[512];

	if (json_object_equal(a, b))
		return;
	if (json_object_is_type(a, json_type_object) && json_object_is_type(b, json_type_object)) {
		json_object_object_foreach(a, k, va) {
			json_object *vb = NULL;

			snprintf(p, sizeof(p), "%s.%s", path, k);
			if (!json_object_object_get_ex(b, k, &vb)) {
				if (ndiff++ < 20)
					fprintf(stderr, "  %s: only in the first\n", p);
				continue;
			}
			diff(va, vb, p);
		}
		json_object_object_foreach(b, k2, vb2) {
			(void)vb2;
			if (!json_object_object_get_ex(a, k2, NULL) && ndiff++ < 20)
				fprintf(stderr, "  %s.%s: only in the second\n", path, k2);
		}
		return;
	}
	if (ndiff++ < 20)
		fprintf(stderr, "  %s: %s != %s\n", path, json_object_to_json_string(a), json_object_to_json_string(b));
}

static json_object *vm_of(json_object *doc, long long pid)
{
	json_object *vms, *hit = NULL;

	if (!json_object_object_get_ex(doc, "vms", &vms))
		return NULL;
	for (size_t i = 0; i < json_object_array_length(vms); i++) {
		json_object *vm = json_object_array_get_idx(vms, i), *p;

		if (json_object_object_get_ex(vm, "pid", &p) && json_object_get_int64(p) == pid) {
			if (hit)
				return NULL;	/* ambiguous */
			hit = vm;
		}
	}
	return hit;
}

int main(int argc, char **argv)
{
	json_object *a, *b, *la, *lb;

	if (argc < 4) {
		fprintf(stderr, "usage: jsoneq LIVE.json REPLAY.json PID...\n");
		return 2;
	}
	a = json_object_from_file(argv[1]);
	b = json_object_from_file(argv[2]);
	if (!ASSERT_TRUE(a && b, "both documents parse"))
		return kt_summary();
	kt_name = "live vs replay";
	ASSERT_TRUE(json_object_object_get_ex(a, "lost", &la) && json_object_object_get_ex(b, "lost", &lb) &&
		    json_object_equal(la, lb), "global lost equal");
	for (int i = 3; i < argc; i++) {
		json_object *va = vm_of(a, atoll(argv[i])), *vb = vm_of(b, atoll(argv[i]));
		char what[64];

		snprintf(what, sizeof(what), "one VM of pid %s in each", argv[i]);
		if (!ASSERT_TRUE(va && vb, what))
			continue;
		ndiff = 0;
		diff(va, vb, "vm");
		snprintf(what, sizeof(what), "VM of pid %s: live and replay equal", argv[i]);
		ASSERT_EQ(ndiff, 0, what);
	}
	json_object_put(a);
	json_object_put(b);
	return kt_summary();
}
