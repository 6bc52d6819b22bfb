// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * libFuzzer: ring-buffer records (struct pm_event, as the BPF side submits
 * them; a short tail is a short record) into the daemon's books
 * (pm_state_apply) and through the recorder's encoder: what the trace
 * reader decodes must be every event, bit for bit (comm normalised as the
 * writer does), or abort.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <json-c/json.h>
#include "trace.h"
#include "vmjson.h"
#include "vmstate.h"

struct check {
	const struct pm_event *want;
	size_t n, i;
};

static void norm(struct pm_event *e)
{
	size_t n = strnlen(e->comm, PM_COMM_LEN);

	memset(e->comm + n, 0, PM_COMM_LEN - n);
}

static void on_event(void *ctx, const struct pm_event *got)
{
	struct check *c = ctx;
	struct pm_event w;

	if (c->i >= c->n) {
		fprintf(stderr, "decoded more events than written\n");
		abort();
	}
	w = c->want[c->i++];
	norm(&w);
	if (memcmp(&w, got, sizeof(w))) {
		fprintf(stderr, "event %zu decodes differently (type %u vm %llx ts %llu)\n", c->i - 1, w.type,
			(unsigned long long)w.vm, (unsigned long long)w.ts);
		abort();
	}
}

static void on_warn(void *ctx, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "reader warned on our own output: %s\n", msg);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t n = size / sizeof(struct pm_event);
	struct pm_event *ev = malloc((n ? n : 1) * sizeof(*ev));
	struct pm_state st;
	struct pm_trace_info info;
	struct pm_trace_writer *w;
	struct pm_trace *t;
	struct pm_trace_ops ops = { .event = on_event, .warn = on_warn };
	struct check c = { .want = ev, .n = n };
	char msg[256];
	json_object *o;
	off_t len;
	void *m;
	int fd = memfd_create("fuzz_event", MFD_CLOEXEC);

	if (!ev || fd < 0)
		abort();
	memcpy(ev, data, n * sizeof(*ev));	/* ring records are aligned; fuzz input is not */
	pm_state_init(&st);
	pm_trace_info_local(&info, "fuzz");
	if (pm_tw_open(&w, fd, &info))
		abort();
	for (size_t i = 0; i < n; i++) {
		pm_tw_event(w, &ev[i]);
		pm_state_apply(&st, &ev[i]);
	}
	o = pm_json_vms(&st, NULL, 0);
	json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	json_object_put(o);
	pm_state_free(&st);
	fd = dup(fd);
	if (pm_tw_close(w))
		abort();
	len = lseek(fd, 0, SEEK_END);
	m = mmap(NULL, (size_t)len, PROT_READ, MAP_PRIVATE, fd, 0);
	if (m == MAP_FAILED || pm_trace_open_mem(&t, m, (size_t)len, msg, sizeof(msg)))
		abort();
	if (pm_trace_read(t, &ops, &c, NULL) != 0 || c.i != n) {
		fprintf(stderr, "decoded %zu of %zu events\n", c.i, n);
		abort();
	}
	pm_trace_close(t);
	munmap(m, (size_t)len);
	close(fd);
	free(ev);
	return 0;
}
