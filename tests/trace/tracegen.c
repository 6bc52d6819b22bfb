// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * tracegen -o FILE [-n EVENTS] [-c EVENTS_PER_CHUNK] [-v VMS] [-s SEED]:
 * writes a synthetic trace shaped like tests/vmm's traffic (tests/trace/
 * synth.h) through the real writer, then prints each chunk's offset and
 * record count ("chunk OFFSET EVENTS"), for the corruption tests and bench.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "trace.h"
#include "synth.h"

int main(int argc, char **argv)
{
	struct pm_trace_info info;
	struct pm_trace_writer *w;
	struct pm_vm_kstats k = { 0 };
	struct synth s;
	const char *out = NULL;
	unsigned long long n = 100000, per = 5000, vms = 2, seed = 1, since = 0, off;
	uint64_t lost = 0;
	int c, fd;

	while ((c = getopt(argc, argv, "o:n:c:v:s:")) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case 'n': n = strtoull(optarg, NULL, 0); break;
		case 'c': per = strtoull(optarg, NULL, 0); break;
		case 'v': vms = strtoull(optarg, NULL, 0); break;
		case 's': seed = strtoull(optarg, NULL, 0); break;
		default:
			fprintf(stderr, "usage: tracegen -o FILE [-n EVENTS] [-c PER_CHUNK] [-v VMS] [-s SEED]\n");
			return 2;
		}
	}
	if (!out || !per)
		return 2;
	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		perror(out);
		return 1;
	}
	pm_trace_info_local(&info, "tracegen");
	info.hooks[0] = (struct pm_hook_status){ .name = "kvm_userspace_exit", .covers = "exits, requests",
						 .state = PM_HOOK_LIVE };
	info.nhooks = 1;
	if (pm_tw_open(&w, fd, &info))
		return 1;
	synth_init(&s, seed, (unsigned)vms, -ENOTTY);
	off = pm_tw_bytes(w);
	for (unsigned long long i = 0; i < n; i++) {
		struct pm_event e = synth_next(&s);

		pm_tw_event(w, &e);
		since++;
		if (since == per || i + 1 == n) {
			/* what the recorder adds once a second: aggregates that changed, losses */
			k.exits[2] += since;
			pm_tw_kstats(w, s.vm[0], e.ts, &k);
			pm_tw_lost(w, e.ts, lost);
			if (pm_tw_flush(w))
				return 1;
			printf("chunk %llu %llu\n", off, since);
			off = pm_tw_bytes(w);
			since = 0;
		}
	}
	if (pm_tw_close(w))
		return 1;
	return 0;
}
