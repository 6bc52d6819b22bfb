// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Drives the capture programs with BPF_PROG_TEST_RUN for what cannot fire
 * on this host (hypercall exits, rmp faults, private page faults) and for
 * the ring buffer's drop accounting. Runs as root on the real kernel.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "privmem/events.h"
#include "capture.skel.h"
#include "privmem/kvm_abi.h"
#include "ktest.h"

#define MAX_EV 16

static struct pm_event got[MAX_EV];
static unsigned ngot;
static uint64_t nconsumed;

static int on_ev(void *ctx, void *data, size_t len)
{
	(void)ctx;
	if (len >= sizeof(struct pm_event) && ngot < MAX_EV)
		memcpy(&got[ngot++], data, sizeof(struct pm_event));
	nconsumed++;
	return 0;
}

static int run(struct bpf_program *p, uint64_t *args, unsigned n)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .ctx_in = args, .ctx_size_in = n * sizeof(uint64_t));

	return bpf_prog_test_run_opts(bpf_program__fd(p), &o);
}

static void drain(struct ring_buffer *rb)
{
	ngot = 0;
	ring_buffer__consume(rb);
}

static bool kstats(struct capture_bpf *s, uint64_t vm, struct pm_vm_kstats *k)
{
	return bpf_map_lookup_elem(bpf_map__fd(s->maps.vm_kstats), &vm, k) == 0;
}

static uint64_t percpu_lost(struct capture_bpf *s)
{
	int n = libbpf_num_possible_cpus();
	uint64_t v[n], sum = 0;
	uint32_t k = 0;

	bpf_map_lookup_elem(bpf_map__fd(s->maps.lost), &k, v);
	for (int i = 0; i < n; i++)
		sum += v[i];
	return sum;
}

static void test_hypercall(struct capture_bpf *s, struct ring_buffer *rb)
{
	uint64_t a[11] = { 0x1234, 2, PM_KVM_EXIT_HYPERCALL, 0, PM_KVM_HC_MAP_GPA_RANGE, 0x100000, 512,
			   PM_KVM_MAP_GPA_RANGE_ENCRYPTED | PM_KVM_MAP_GPA_RANGE_PAGE_SZ_2M, 0, 0, 0 };
	struct pm_vm_kstats k;
	uint32_t tid = gettid();
	struct { uint64_t vm; int32_t vcpu; uint32_t pad; } pr;

	kt_name = "hypercall_to_private";
	ASSERT_EQ(run(s->progs.pm_inject_exit, a, 11), 0, "test_run");
	drain(rb);
	ASSERT_EQ(ngot, 1, "one request record");
	ASSERT_EQ(got[0].type, PM_EV_REQUEST, "type");
	ASSERT_EQ(got[0].source, PM_SRC_HYPERCALL, "source");
	ASSERT_EQ(got[0].dir, PM_TO_PRIVATE, "dir");
	ASSERT_EQ(got[0].addr, 0x100000, "gpa");
	ASSERT_EQ(got[0].size, 2 << 20, "size = npages * 4 KiB");
	ASSERT_EQ(got[0].flags, PM_F_HINT_2M, "2M hint");
	ASSERT_EQ(got[0].vcpu, 2, "vcpu");
	ASSERT_EQ(got[0].vm, 0x1234, "vm");
	ASSERT_EQ(got[0].pid, getpid(), "pid");
	ASSERT_TRUE(kstats(s, 0x1234, &k), "kstats present");
	ASSERT_EQ(k.exits[PM_KVM_EXIT_HYPERCALL], 1, "exit counted");
	ASSERT_EQ(bpf_map_lookup_elem(bpf_map__fd(s->maps.pending), &tid, &pr), 0, "pending resume");
	ASSERT_EQ(pr.vm, 0x1234, "pending vm");

	kt_name = "hypercall_to_shared_1g";
	a[7] = PM_KVM_MAP_GPA_RANGE_PAGE_SZ_1G;
	a[6] = 3;
	ASSERT_EQ(run(s->progs.pm_inject_exit, a, 11), 0, "test_run");
	drain(rb);
	ASSERT_EQ(ngot, 1, "one request record");
	ASSERT_EQ(got[0].dir, PM_TO_SHARED, "dir");
	ASSERT_EQ(got[0].size, 3 * 4096, "size");
	ASSERT_EQ(got[0].flags, PM_F_HINT_1G, "1G hint");

	kt_name = "hypercall_other_nr";
	a[4] = 9; /* KVM_HC_CLOCK_PAIRING: not a conversion */
	ASSERT_EQ(run(s->progs.pm_inject_exit, a, 11), 0, "test_run");
	drain(rb);
	ASSERT_EQ(ngot, 0, "no record");
	kstats(s, 0x1234, &k);
	ASSERT_EQ(k.exits[PM_KVM_EXIT_HYPERCALL], 3, "still counted as an exit");
}

static void test_memory_fault(struct capture_bpf *s, struct ring_buffer *rb)
{
	uint64_t a[11] = { 0x5678, 0, PM_KVM_EXIT_MEMORY_FAULT, (uint64_t)-14, 0, 0, 0, 0,
			   PM_KVM_MEMORY_EXIT_FLAG_PRIVATE, 0x7000, 0x1000 };
	struct pm_vm_kstats k;

	kt_name = "memory_fault_private";
	ASSERT_EQ(run(s->progs.pm_inject_exit, a, 11), 0, "test_run");
	drain(rb);
	ASSERT_EQ(ngot, 1, "one request");
	ASSERT_EQ(got[0].source, PM_SRC_FAULT, "source");
	ASSERT_EQ(got[0].dir, PM_TO_PRIVATE, "dir");
	ASSERT_EQ(got[0].addr, 0x7000, "gpa");
	ASSERT_EQ(got[0].size, 0x1000, "size");
	ASSERT_EQ(got[0].attrs, PM_KVM_MEMORY_EXIT_FLAG_PRIVATE, "flags");

	kt_name = "memory_fault_shared";
	a[8] = 0;
	ASSERT_EQ(run(s->progs.pm_inject_exit, a, 11), 0, "test_run");
	drain(rb);
	ASSERT_EQ(ngot, 1, "one request");
	ASSERT_EQ(got[0].dir, PM_TO_SHARED, "dir");

	kt_name = "exit_reason_39_without_efault";
	a[3] = 0;
	ASSERT_EQ(run(s->progs.pm_inject_exit, a, 11), 0, "test_run");
	drain(rb);
	ASSERT_EQ(ngot, 0, "stale exit_reason is no request");

	kt_name = "io_exit";
	a[2] = PM_KVM_EXIT_IO;
	ASSERT_EQ(run(s->progs.pm_inject_exit, a, 11), 0, "test_run");
	a[2] = 200; /* beyond the table: last slot */
	a[3] = (uint64_t)-4;
	ASSERT_EQ(run(s->progs.pm_inject_exit, a, 11), 0, "test_run");
	drain(rb);
	ASSERT_EQ(ngot, 0, "no record");
	kstats(s, 0x5678, &k);
	ASSERT_EQ(k.exits[PM_KVM_EXIT_IO], 1, "io counted");
	ASSERT_EQ(k.exits[PM_KVM_EXIT_MEMORY_FAULT], 3, "faults counted");
	ASSERT_EQ(k.exits[PM_EXIT_REASONS - 1], 1, "overflow slot");
	ASSERT_EQ(k.exit_errors, 3, "errors: 2 EFAULT + 1 EINTR");
}

static void test_rmp_and_private_faults(struct capture_bpf *s)
{
	/* vcpu NULL: no VM to attribute to, booked under id 0 */
	uint64_t rmp[6] = { 0, 0x200000, 0x1234, 0x8000000000000007ull, 1, 0 };
	uint64_t pf[3] = { 0, 0x40000000, 1ull << 49 };
	struct pm_vm_kstats k;

	kt_name = "rmp_fault";
	for (int i = 0; i < 3; i++)
		ASSERT_EQ(run(s->progs.pm_rmp_fault, rmp, 6), 0, "test_run");
	rmp[4] = 7;
	ASSERT_EQ(run(s->progs.pm_rmp_fault, rmp, 6), 0, "test_run");
	ASSERT_TRUE(kstats(s, 0, &k), "kstats");
	ASSERT_EQ(k.rmp_faults, 4, "rmp faults");
	ASSERT_EQ(k.rmp_level_hist[1], 3, "level 1");
	ASSERT_EQ(k.rmp_level_hist[3], 1, "other level");

	kt_name = "private_page_fault";
	ASSERT_EQ(run(s->progs.pm_page_fault, pf, 3), 0, "test_run");
	pf[2] = 0x6; /* shared access: ignored */
	ASSERT_EQ(run(s->progs.pm_page_fault, pf, 3), 0, "test_run");
	kstats(s, 0, &k);
	ASSERT_EQ(k.private_faults, 1, "private faults");
	ASSERT_EQ(k.private_fault_hist[30], 1, "log2(gpa) = 30");
}

/* Overflow the ring buffer without reading: every record is either read or counted lost. */
static void test_drops(struct capture_bpf *s, struct ring_buffer *rb)
{
	uint64_t a[11] = { 0x9abc, 0, PM_KVM_EXIT_MEMORY_FAULT, (uint64_t)-14, 0, 0, 0, 0, 0, 0x1000, 0x1000 };
	uint64_t sent = 200000, lost0 = percpu_lost(s);
	struct pm_vm_kstats k;

	kt_name = "drops_counted";
	drain(rb);
	nconsumed = 0;
	for (uint64_t i = 0; i < sent; i++)
		run(s->progs.pm_inject_exit, a, 11);
	ring_buffer__consume(rb);
	ASSERT_TRUE(percpu_lost(s) - lost0 > 0, "some were lost");
	ASSERT_EQ(nconsumed + (percpu_lost(s) - lost0), sent, "read + lost = sent");
	kstats(s, 0x9abc, &k);
	ASSERT_EQ(k.lost, percpu_lost(s) - lost0, "per-VM lost");
	printf("ring buffer held %" PRIu64 " of %" PRIu64 " records, %" PRIu64 " counted lost\n",
	       nconsumed, sent, percpu_lost(s) - lost0);
}

int main(void)
{
	struct capture_bpf *s = capture_bpf__open();
	struct ring_buffer *rb = NULL;
	struct bpf_program *p;

	if (!s) {
		fprintf(stderr, "open: %s\n", strerror(errno));
		return 1;
	}
	bpf_object__for_each_program(p, s->obj)
		bpf_program__set_autoload(p, false);
	bpf_program__set_autoload(s->progs.pm_inject_exit, true);
	bpf_program__set_autoload(s->progs.pm_rmp_fault, true);
	bpf_program__set_autoload(s->progs.pm_page_fault, true);
	if (capture_bpf__load(s)) {
		fprintf(stderr, "load: %s\n", strerror(errno));
		return 1;
	}
	rb = ring_buffer__new(bpf_map__fd(s->maps.events), on_ev, NULL, NULL);
	if (!rb)
		return 1;
	test_hypercall(s, rb);
	test_memory_fault(s, rb);
	test_rmp_and_private_faults(s);
	test_drops(s, rb);
	ring_buffer__free(rb);
	capture_bpf__destroy(s);
	return kt_summary();
}
