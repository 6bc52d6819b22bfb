// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * burst --socket SOCK [--seconds S] [--rate EVENTS_PER_S] [--vms N]:
 * feeds a running privmemd through its own ring buffer (burst.bpf.c, one
 * BPF_PROG_TEST_RUN per burst of records) at the offered rate (0: as fast as
 * the producer goes), then waits until privmemd has booked or counted lost
 * every record, and prints one JSON line:
 * sent, booked, lost, unaccounted, seconds, offered and booked per second.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <json-c/json.h>
#include "burst.skel.h"
#include "sockapi.h"

#define BURST 8192

struct burst_args {
	__u64 n, nvms, vm_base, seq;
	__u32 pid, pad;
};

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

/* privmemd's events and lost counts, from its socket: 0 or -1. */
static int daemon_counts(const char *sock, unsigned long long *events, unsigned long long *lost)
{
	char *reply = NULL;
	json_object *o, *v;
	int ok = 0;

	if (pm_sock_request(sock, "status", &reply))
		return -1;
	o = json_tokener_parse(reply);
	free(reply);
	if (o && json_object_object_get_ex(o, "events", &v)) {
		*events = json_object_get_uint64(v);
		ok = json_object_object_get_ex(o, "lost", &v);
		*lost = json_object_get_uint64(v);
	}
	json_object_put(o);
	return ok ? 0 : -1;
}

/* The fd of a map named `name` used by the program named `prog`, or -1. */
static int map_of_prog(const char *prog, const char *name)
{
	__u32 id = 0;

	while (!bpf_prog_get_next_id(id, &id)) {
		struct bpf_prog_info pi = { 0 };
		__u32 len = sizeof(pi), ids[64], n;
		int fd = bpf_prog_get_fd_by_id(id);

		if (fd < 0)
			continue;
		if (bpf_obj_get_info_by_fd(fd, &pi, &len) || strcmp(pi.name, prog)) {
			close(fd);
			continue;
		}
		n = pi.nr_map_ids < 64 ? pi.nr_map_ids : 64;
		memset(&pi, 0, sizeof(pi));
		pi.nr_map_ids = n;
		pi.map_ids = (__u64)(unsigned long)ids;
		len = sizeof(pi);
		if (bpf_obj_get_info_by_fd(fd, &pi, &len))
			n = 0;
		close(fd);
		for (__u32 i = 0; i < n; i++) {
			struct bpf_map_info mi = { 0 };
			__u32 ml = sizeof(mi);
			int mfd = bpf_map_get_fd_by_id(ids[i]);

			if (mfd >= 0 && !bpf_obj_get_info_by_fd(mfd, &mi, &ml) && !strcmp(mi.name, name))
				return mfd;
			if (mfd >= 0)
				close(mfd);
		}
	}
	return -1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' }, { "seconds", required_argument, NULL, 't' },
		{ "rate", required_argument, NULL, 'r' },   { "vms", required_argument, NULL, 'v' },
		{ 0 },
	};
	const char *sock = NULL;
	double secs = 2, rate = 0, t0, t1, deadline;
	struct burst_args a = { .n = BURST, .nvms = 16, .vm_base = 0xb0b0000000000000ull, .pid = (__u32)getpid() };
	LIBBPF_OPTS(bpf_test_run_opts, o, .ctx_in = &a, .ctx_size_in = sizeof(a));
	unsigned long long ev0, lost0, ev1 = 0, lost1 = 0, sent = 0;
	struct burst_bpf *s;
	int c, efd, lfd;

	while ((c = getopt_long(argc, argv, "s:t:r:v:", opts, NULL)) != -1) {
		switch (c) {
		case 's': sock = optarg; break;
		case 't': secs = atof(optarg); break;
		case 'r': rate = atof(optarg); break;
		case 'v': a.nvms = strtoull(optarg, NULL, 10); break;
		default: return 2;
		}
	}
	if (!sock || secs <= 0 || !a.nvms) {
		fprintf(stderr, "usage: burst --socket SOCK [--seconds S] [--rate EVENTS_PER_S] [--vms N]\n");
		return 2;
	}
	efd = map_of_prog("pm_exit", "events");
	lfd = map_of_prog("pm_exit", "lost");
	if (efd < 0 || lfd < 0 || daemon_counts(sock, &ev0, &lost0)) {
		fprintf(stderr, "burst: no privmemd (its pm_exit program's maps, or its socket %s)\n", sock);
		return 1;
	}
	s = burst_bpf__open();
	if (!s || bpf_map__reuse_fd(s->maps.events, efd) || bpf_map__reuse_fd(s->maps.lost, lfd) ||
	    burst_bpf__load(s)) {
		fprintf(stderr, "burst: cannot load the producer: %s\n", strerror(errno));
		return 1;
	}
	t0 = now();
	while (now() - t0 < secs) {
		if (bpf_prog_test_run_opts(bpf_program__fd(s->progs.pm_burst), &o) || o.retval) {
			fprintf(stderr, "burst: test run failed: %s\n", strerror(errno));
			return 1;
		}
		sent += a.n;
		a.seq += a.n;
		/* pace to the offered rate: the next burst is due at sent / rate */
		while (rate > 0 && now() - t0 < sent / rate)
			;
	}
	t1 = now();
	/* every record is booked or counted lost: wait for the daemon to say so */
	for (deadline = now() + 30; now() < deadline;) {
		if (daemon_counts(sock, &ev1, &lost1))
			return 1;
		if (ev1 - ev0 + lost1 - lost0 >= sent)
			break;
		usleep(20000);
	}
	printf("{\"sent\":%llu,\"booked\":%llu,\"lost\":%llu,\"unaccounted\":%lld,\"seconds\":%.3f,"
	       "\"offered_per_s\":%.0f,\"booked_per_s\":%.0f}\n",
	       sent, ev1 - ev0, lost1 - lost0, (long long)(sent - (ev1 - ev0) - (lost1 - lost0)), now() - t0,
	       sent / (t1 - t0), (ev1 - ev0) / (now() - t0));
	burst_bpf__destroy(s);
	return sent == ev1 - ev0 + lost1 - lost0 ? 0 : 1;
}
