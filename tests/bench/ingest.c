// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * ingest SECONDS: how many events/s the capture path sustains end to end:
 * the real exit-decoding BPF, fed by BPF_PROG_TEST_RUN (raw_tp allows no
 * in-kernel repeat, so one syscall per record bounds the feed rate),
 * through the ring buffer into privmemd's own accounting (pm_state_apply).
 * Every injected record is either booked or counted lost.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "privmem/events.h"
#include "privmem/kvm_abi.h"
#include "capture.skel.h"
#include "vmstate.h"

static struct pm_state st;
static atomic_int done;

static int on_ev(void *ctx, void *data, size_t len)
{
	(void)ctx;
	if (len >= sizeof(struct pm_event))
		pm_state_apply(&st, data);
	return 0;
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static void *consumer(void *arg)
{
	struct ring_buffer *rb = arg;

	while (!atomic_load(&done))
		ring_buffer__poll(rb, 10);
	ring_buffer__consume(rb);
	return NULL;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 2.0, t0, t1;
	/* a memory-fault request: the most common streamed record */
	uint64_t a[11] = { 0x77, 0, PM_KVM_EXIT_MEMORY_FAULT, (uint64_t)-14, 0, 0, 0, 0, 0, 0x1000, 0x1000 };
	LIBBPF_OPTS(bpf_test_run_opts, o, .ctx_in = a, .ctx_size_in = sizeof(a));
	struct capture_bpf *s = capture_bpf__open();
	struct bpf_program *p;
	struct ring_buffer *rb;
	pthread_t th;
	uint64_t sent = 0, lost = 0;
	int ncpu = libbpf_num_possible_cpus();
	uint32_t zero = 0;

	if (!s)
		return 1;
	bpf_object__for_each_program(p, s->obj)
		bpf_program__set_autoload(p, false);
	bpf_program__set_autoload(s->progs.pm_inject_exit, true);
	/* the daemon's wake threshold, as in production */
	if (capture_bpf__load(s))
		return 1;
	rb = ring_buffer__new(bpf_map__fd(s->maps.events), on_ev, NULL, NULL);
	pm_state_init(&st);
	pthread_create(&th, NULL, consumer, rb);
	t0 = now();
	while (now() - t0 < secs) {
		if (bpf_prog_test_run_opts(bpf_program__fd(s->progs.pm_inject_exit), &o))
			return 1;
		sent++;
	}
	atomic_store(&done, 1);
	pthread_join(th, NULL);
	t1 = now();
	{
		uint64_t v[ncpu];

		bpf_map_lookup_elem(bpf_map__fd(s->maps.lost), &zero, v);
		for (int i = 0; i < ncpu; i++)
			lost += v[i];
	}
	printf("{\"sent\":%llu,\"booked\":%llu,\"lost\":%llu,\"unaccounted\":%lld,\"seconds\":%.3f,"
	       "\"booked_per_s\":%.0f,\"sent_per_s\":%.0f}\n",
	       (unsigned long long)sent, (unsigned long long)st.events, (unsigned long long)lost,
	       (long long)(sent - st.events - lost), t1 - t0, st.events / (t1 - t0), sent / (t1 - t0));
	/* consumer capacity alone: fill the buffer, then time draining it */
	{
		uint64_t drained = 0, before;
		double busy = 0, d0;
		int err = sent == st.events + lost ? 0 : 1;

		for (int round = 0; round < 20; round++) {
			for (int i = 0; i < 80000; i++)
				bpf_prog_test_run_opts(bpf_program__fd(s->progs.pm_inject_exit), &o);
			before = st.events;
			d0 = now();
			ring_buffer__consume(rb);
			busy += now() - d0;
			drained += st.events - before;
		}
		printf("{\"drained\":%llu,\"drain_seconds\":%.4f,\"drain_per_s\":%.0f}\n",
		       (unsigned long long)drained, busy, drained / busy);
		ring_buffer__free(rb);
		capture_bpf__destroy(s);
		pm_state_free(&st);
		return err;
	}
}
