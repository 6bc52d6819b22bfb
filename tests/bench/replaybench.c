// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * replaybench FILE [SECONDS]: how fast one core turns a trace back into
 * the books: "replay" is privmem replay's path (decode, then pm_state_apply
 * and the timeline for every event), "decode" the format alone. Repeats the
 * whole file for at least SECONDS (default 2) of CPU time and prints JSON.
 * Rates are per CPU-second of this process (single-threaded), so other
 * load on the machine does not skew them; wall-clock rates follow.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "replay.h"
#include "trace.h"

static double clk(clockid_t id)
{
	struct timespec t;

	clock_gettime(id, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static double now(void)
{
	return clk(CLOCK_PROCESS_CPUTIME_ID);
}

static void nop(void *ctx, const struct pm_event *e)
{
	(void)e;
	++*(uint64_t *)ctx;
}

int main(int argc, char **argv)
{
	double secs = argc > 2 ? atof(argv[2]) : 2.0, t0, t, w0;
	uint64_t ev = 0, rounds = 0, n = 0, bytes = 0;
	struct pm_trace_ops ops = { .event = nop };
	char msg[256];

	if (argc < 2) {
		fprintf(stderr, "usage: replaybench FILE [SECONDS]\n");
		return 2;
	}
	/* full replay, as `privmem replay` does it */
	w0 = clk(CLOCK_MONOTONIC);
	t0 = now();
	do {
		struct pm_replay r;

		pm_replay_init(&r);
		if (pm_replay_file(&r, argv[1], msg, sizeof(msg)) < 0) {
			fprintf(stderr, "replaybench: %s: %s\n", argv[1], msg);
			return 1;
		}
		pm_replay_finish(&r);
		ev += r.stats.events;
		bytes = r.stats.file_bytes;
		pm_replay_free(&r);
		rounds++;
	} while ((t = now() - t0) < secs);
	printf("{\"file_bytes\":%llu,\"events\":%llu,\"rounds\":%llu,\"replay_events_per_s\":%.0f,"
	       "\"replay_events_per_wall_s\":%.0f,", (unsigned long long)bytes, (unsigned long long)(ev / rounds),
	       (unsigned long long)rounds, ev / t, ev / (clk(CLOCK_MONOTONIC) - w0));
	/* decode only */
	ev = rounds = 0;
	t0 = now();
	do {
		struct pm_trace *tr;

		if (pm_trace_open(&tr, argv[1], msg, sizeof(msg)))
			return 1;
		n = 0;
		pm_trace_read(tr, &ops, &n, NULL);
		pm_trace_close(tr);
		ev += n;
		rounds++;
	} while ((t = now() - t0) < secs);
	printf("\"decode_events_per_s\":%.0f}\n", ev / t);
	return 0;
}
