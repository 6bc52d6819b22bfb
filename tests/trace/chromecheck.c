// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * chromecheck FILE [SLICES [COUNTERS]]: `privmem export --format chrome` output is
 * trace-event JSON that Perfetto/chrome://tracing load: the object form,
 * well-typed events, named processes and threads, slices that do not
 * overlap on a track, counters with numeric values; with SLICES, exactly
 * that many request slices; with COUNTERS, exactly that many counters
 * (else at least one).
 */
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "../kernel/ktest.h"

#define MAXT 4096

struct track {
	long long pid, tid;
	double end;
	bool named;
};

static struct track tracks[MAXT];
static int ntracks;
static long long named_pids[MAXT];
static int npids;

static struct track *track(long long pid, long long tid)
{
	for (int i = 0; i < ntracks; i++)
		if (tracks[i].pid == pid && tracks[i].tid == tid)
			return &tracks[i];
	if (ntracks == MAXT)
		return NULL;
	tracks[ntracks] = (struct track){ .pid = pid, .tid = tid, .end = -1 };
	return &tracks[ntracks++];
}

static bool pid_named(long long pid)
{
	for (int i = 0; i < npids; i++)
		if (named_pids[i] == pid)
			return true;
	return false;
}

static json_object *get(json_object *o, const char *k)
{
	json_object *v = NULL;

	return json_object_object_get_ex(o, k, &v) ? v : NULL;
}

static bool is_num(json_object *v)
{
	return v && (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double));
}

int main(int argc, char **argv)
{
	json_object *doc, *evs;
	long long want = -1, want_counters = -1, slices = 0, counters = 0, bad = 0, unnamed = 0, overlap = 0;
	size_t n;
	char *end;

	if (argc < 2) {
		fprintf(stderr, "usage: chromecheck FILE [SLICES [COUNTERS]]\n");
		return 2;
	}
	/* a missing or garbled expectation is an error, never "0 slices" */
	for (int i = 2; i < argc && i < 4; i++) {
		long long v = strtoll(argv[i], &end, 10);

		if (!*argv[i] || *end || v < 0) {
			fprintf(stderr, "chromecheck: %s: not a count: '%s'\n", i == 2 ? "SLICES" : "COUNTERS",
				argv[i]);
			return 2;
		}
		*(i == 2 ? &want : &want_counters) = v;
	}
	kt_name = argv[1];
	doc = json_object_from_file(argv[1]);
	if (!ASSERT_TRUE(doc && json_object_is_type(doc, json_type_object), "a JSON object"))
		return kt_summary();
	evs = get(doc, "traceEvents");
	if (!ASSERT_TRUE(evs && json_object_is_type(evs, json_type_array), "traceEvents is an array"))
		return kt_summary();
	ASSERT_TRUE(get(doc, "displayTimeUnit") && !strcmp(json_object_get_string(get(doc, "displayTimeUnit")), "ns"),
		    "displayTimeUnit ns");
	n = json_object_array_length(evs);
	ASSERT_TRUE(n > 0, "events present");
	/* metadata first: Perfetto accepts it anywhere, we check names against uses */
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(evs, i), *ph = get(e, "ph"), *args = get(e, "args");
		const char *name = get(e, "name") ? json_object_get_string(get(e, "name")) : NULL;

		if (!ph || strcmp(json_object_get_string(ph), "M"))
			continue;
		if (!name || !args || !get(e, "pid") || !get(e, "tid")) {
			bad++;
			continue;
		}
		if (!strcmp(name, "process_name") && json_object_is_type(get(args, "name"), json_type_string)) {
			if (npids < MAXT)
				named_pids[npids++] = json_object_get_int64(get(e, "pid"));
		} else if (!strcmp(name, "thread_name") && json_object_is_type(get(args, "name"), json_type_string)) {
			struct track *t = track(json_object_get_int64(get(e, "pid")), json_object_get_int64(get(e, "tid")));

			if (t)
				t->named = true;
		} else if (strcmp(name, "process_sort_index")) {
			bad++;
		}
	}
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(evs, i), *ph = get(e, "ph"), *ts = get(e, "ts"),
			    *pid = get(e, "pid"), *args = get(e, "args");
		const char *p = ph ? json_object_get_string(ph) : "";

		if (!json_object_is_type(e, json_type_object) || !ph || !get(e, "name") ||
		    !json_object_is_type(pid, json_type_int) || json_object_get_int64(pid) < 1) {
			bad++;
			continue;
		}
		if (!strcmp(p, "M"))
			continue;
		if (!is_num(ts) || json_object_get_double(ts) < 0) {
			bad++;
			continue;
		}
		if (!pid_named(json_object_get_int64(pid)))
			unnamed++;
		if (!strcmp(p, "X")) {
			json_object *dur = get(e, "dur"), *tid = get(e, "tid");
			struct track *t;
			double start = json_object_get_double(ts);

			if (!is_num(dur) || json_object_get_double(dur) < 0 || !json_object_is_type(tid, json_type_int) ||
			    !args || !json_object_is_type(get(args, "size"), json_type_int) ||
			    strncmp(json_object_get_string(get(args, "gpa")), "0x", 2)) {
				bad++;
				continue;
			}
			slices++;
			t = track(json_object_get_int64(pid), json_object_get_int64(tid));
			if (!t || !t->named)
				unnamed++;
			/* exported in time order per track: a slice starts after the previous ended */
			if (t && start + 1e-9 < t->end)
				overlap++;
			if (t)
				t->end = start + json_object_get_double(dur);
		} else if (!strcmp(p, "i")) {
			json_object *s = get(e, "s");

			if (!s || !strchr("tpg", json_object_get_string(s)[0]))
				bad++;
		} else if (!strcmp(p, "C")) {
			if (!args || !json_object_is_type(args, json_type_object) || !json_object_object_length(args)) {
				bad++;
				continue;
			}
			json_object_object_foreach(args, k, v) {
				(void)k;
				if (!is_num(v))
					bad++;
			}
			counters++;
		} else {
			bad++;
		}
	}
	ASSERT_EQ(bad, 0, "malformed events");
	ASSERT_EQ(unnamed, 0, "events on unnamed processes or tracks");
	ASSERT_EQ(overlap, 0, "overlapping slices on a track");
	if (want_counters >= 0)
		ASSERT_EQ(counters, want_counters, "shared_bytes counters");
	else
		ASSERT_TRUE(counters > 0, "shared_bytes counters present");
	if (want >= 0)
		ASSERT_EQ(slices, want, "request slices");
	else
		ASSERT_TRUE(slices > 0, "request slices present");
	printf("%s: %zu events, %lld slices, %lld counters\n", argv[1], n, slices, counters);
	json_object_put(doc);
	return kt_summary();
}
