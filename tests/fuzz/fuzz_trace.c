// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * libFuzzer: a trace file as `privmem replay` and `privmem export` read it:
 * header, chunks, resync over damage, record decoding, the books
 * (pm_state_apply via replay), the time span and the JSON report.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <json-c/json.h>
#include "replay.h"
#include "trace.h"

static void warn(void *ctx, const char *file, const char *msg)
{
	(void)ctx;
	(void)file;
	(void)msg;
}

static void replay(const uint8_t *data, size_t size, bool window, uint64_t from, uint64_t to)
{
	struct pm_replay r;
	char msg[256];
	json_object *o;

	pm_replay_init(&r);
	r.window = window;
	r.from_ns = from;
	r.to_ns = to;
	/*
	 * The product books 16384 VMs (tracetest checks that natively); under ASan
	 * their JSON alone takes seconds and ~2 GB, so one input here gets fewer,
	 * through the same cap.
	 */
	r.st.max_vms = r.base.max_vms = 1024;
	r.warn = warn;
	if (pm_replay_mem(&r, data, size, "fuzz", msg, sizeof(msg)) >= 0) {
		o = pm_replay_json(&r, NULL);
		json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
		json_object_put(o);
	}
	pm_replay_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pm_trace *t;
	uint64_t a = 0, b = 0;
	bool span = false;
	char msg[256];

	if (pm_trace_open_mem(&t, data, size, msg, sizeof(msg)) == 0) {
		span = pm_trace_span(t, &a, &b) == 0;
		pm_trace_close(t);
	}
	replay(data, size, false, 0, UINT64_MAX);
	/* odd sizes also replay the second half of the span: the window arithmetic (base books) */
	if (span && (size & 1))
		replay(data, size, true, a + (b - a) / 2, b);
	return 0;
}
