// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Drives the capture programs with BPF_PROG_TEST_RUN for what cannot fire
 * on this host (hypercall exits, rmp faults, private page faults) and for
 * the ring buffer's drop accounting. Runs as root on the real kernel.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "privmem/events.h"
#include "capture.skel.h"
#include "privmem/kvm_abi.h"
#include "privmem/decide.h"
#include "privmem/kstate.h"
#include "capture.h"
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

/* As privmemd reads them: the entry, its exits summed over the CPUs' copies of its slot. */
static bool kstats(struct capture_bpf *s, uint64_t vm, struct pm_vm_kstats *k)
{
	return pm_kstate_read(bpf_map__fd(s->maps.vm_kstats), bpf_map__fd(s->maps.exit_slots),
			      libbpf_num_possible_cpus(), vm, k) == 0;
}

/* The head of capture.bpf.c's struct vcpu_ident, as far as the request. */
struct vcpu_ident {
	uint64_t file, vcpu_ptr, kvm, vm, run, gen;
	int32_t vcpu;
	uint32_t req_open;
	uint64_t req_vm;
	int32_t req_vcpu;
	uint32_t pad;
};

/* This (single-threaded) process's entry in the task cache, keyed by a pidfd. */
static bool task_cache(struct capture_bpf *s, struct vcpu_ident *c)
{
	char buf[bpf_map__value_size(s->maps.vcpu_cache)];
	int pfd = (int)syscall(SYS_pidfd_open, getpid(), 0);
	bool ok;

	if (pfd < 0 || sizeof(buf) < sizeof(*c))
		return false;
	ok = bpf_map_lookup_elem(bpf_map__fd(s->maps.vcpu_cache), &pfd, buf) == 0;
	close(pfd);
	memcpy(c, buf, sizeof(*c));
	return ok;
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
	struct vcpu_ident c;

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
	ASSERT_TRUE(task_cache(s, &c), "this thread's cache");
	ASSERT_EQ(c.req_open, 1, "pending resume");
	ASSERT_EQ(c.req_vm, 0x1234, "pending vm");
	ASSERT_EQ(c.req_vcpu, 2, "pending vcpu");

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

/* The head of policy.bpf.h's struct vm_mem. */
struct vm_mem_head {
	int64_t guest_bytes;
	uint64_t private_bytes, chunk_lo, chunk_hi;
	uint32_t inexact, touched;
};

enum { INJ_CREATE, INJ_LOOKUP, INJ_DESTROY, INJ_GMEM, INJ_GMEM_CLOSE };

static uint64_t inject_vm(struct capture_bpf *s, uint64_t op, uint64_t kvm, uint64_t size)
{
	uint64_t a[3] = { op, kvm, size };

	s->bss->inject_id = 0;
	run(s->progs.pm_inject_vm, a, 3);
	return s->bss->inject_id;
}

static void inject_decide(struct capture_bpf *s, uint64_t vm, uint64_t addr, uint64_t size, bool priv, int64_t ret)
{
	uint64_t a[6] = { vm, addr, size, priv ? PM_KVM_MEMORY_ATTRIBUTE_PRIVATE : 0, (uint64_t)ret, 0 };

	run(s->progs.pm_inject_decide, a, 6);
}

static bool vm_mem(struct capture_bpf *s, uint64_t vm, struct vm_mem_head *m)
{
	char buf[bpf_map__value_size(s->maps.vm_mem)];

	if (bpf_map_lookup_elem(bpf_map__fd(s->maps.vm_mem), &vm, buf))
		return false;
	memcpy(m, buf, sizeof(*m));
	return true;
}

static uint64_t map_entries(struct bpf_map *m)
{
	size_t ks = bpf_map__key_size(m);
	char key[ks], next[ks];
	void *prev = NULL;
	uint64_t n = 0;

	while (bpf_map_get_next_key(bpf_map__fd(m), prev, next) == 0) {
		memcpy(key, next, ks);
		prev = key;
		n++;
	}
	return n;
}

static uint64_t state_full(struct capture_bpf *s, uint32_t i)
{
	int n = libbpf_num_possible_cpus();
	uint64_t v[n], sum = 0;

	bpf_map_lookup_elem(bpf_map__fd(s->maps.state_full), &i, v);
	for (int c = 0; c < n; c++)
		sum += v[c];
	return sum;
}

static const struct pm_event *find_ev(uint8_t type, uint64_t vm)
{
	for (unsigned i = 0; i < ngot; i++)
		if (got[i].type == type && got[i].vm == vm)
			return &got[i];
	return NULL;
}

/*
 * #16.1: one id per creation. A struct kvm that comes back (the next VM of
 * a process often gets the freed one) names a new VM, and the old one is
 * reported gone; ids are not the address.
 */
static void test_vm_identity(struct capture_bpf *s, struct ring_buffer *rb)
{
	const uint64_t kvm = 0xffff888012340000ull;
	uint64_t id1, id2, id3;
	const struct pm_event *e;

	kt_name = "vm_identity";
	drain(rb);
	id1 = inject_vm(s, INJ_CREATE, kvm, 0);
	ASSERT_TRUE(id1 != 0 && id1 != kvm, "an id that is not the address");
	ASSERT_EQ(inject_vm(s, INJ_LOOKUP, kvm, 0), id1, "the address finds its VM");
	id2 = inject_vm(s, INJ_CREATE, kvm, 0);
	ASSERT_TRUE(id2 != 0 && id2 != id1, "the same address, created again: a new id");
	drain(rb);
	e = find_ev(PM_EV_VM_DESTROY, id1);
	ASSERT_TRUE(e != NULL, "the first VM reported gone");
	ASSERT_EQ(e ? e->flags & PM_F_REUSED : 0, PM_F_REUSED, "... as found gone by reuse");
	ASSERT_TRUE(find_ev(PM_EV_VM_CREATE, id2) != NULL, "the second VM created");
	ASSERT_EQ(inject_vm(s, INJ_LOOKUP, kvm, 0), id2, "the address now finds the second");
	inject_vm(s, INJ_DESTROY, kvm, 0);
	drain(rb);
	e = find_ev(PM_EV_VM_DESTROY, id2);
	ASSERT_TRUE(e != NULL && !(e->flags & (PM_F_REUSED | PM_F_PROC_EXIT)), "kvm_destroy_vm names the VM");
	ASSERT_EQ(map_entries(s->maps.vm_ids), 0, "no address kept after destroy");
	id3 = inject_vm(s, INJ_LOOKUP, kvm, 0);
	ASSERT_TRUE(id3 != 0 && id3 != id1 && id3 != id2, "first sight after destroy: a new id");
	inject_vm(s, INJ_DESTROY, kvm, 0);
	/* 1000 creations at 16 addresses: 1000 distinct ids */
	{
		static uint64_t ids[1000];
		unsigned dup = 0;

		for (unsigned i = 0; i < 1000; i++)
			ids[i] = inject_vm(s, INJ_CREATE, kvm + (i % 16) * 0x1000, 0);
		for (unsigned i = 0; i < 1000; i++)
			for (unsigned j = i + 1; j < 1000; j++)
				dup += ids[i] == ids[j] || !ids[i];
		ASSERT_EQ(dup, 0, "1000 creations, 1000 ids");
		for (unsigned i = 0; i < 16; i++)
			inject_vm(s, INJ_DESTROY, kvm + i * 0x1000, 0);
		ASSERT_EQ(map_entries(s->maps.vm_ids), 0, "every address freed");
	}
	drain(rb);
}

/*
 * #16.4: the ceiling's books follow KVM's PRIVATE bits: a conversion of
 * pages already so changes nothing; a full ring loses the record, not the
 * bookkeeping; a closed guest_memfd leaves guest memory.
 */
static void test_ceiling_books(struct capture_bpf *s, struct ring_buffer *rb)
{
	const uint64_t kvm = 0xffff888056780000ull, M = 1 << 20;
	uint64_t a[11] = { 0, 0, PM_KVM_EXIT_MEMORY_FAULT, (uint64_t)-14, 0, 0, 0, 0, 0, 0x1000, 0x1000 };
	struct vm_mem_head m = { 0 };
	uint64_t vm, lost0, chunks;

	kt_name = "ceiling_books";
	vm = inject_vm(s, INJ_CREATE, kvm, 0);
	inject_vm(s, INJ_GMEM, kvm, 64 * M);
	inject_decide(s, vm, 0, 64 * M, true, 0);
	ASSERT_TRUE(vm_mem(s, vm, &m), "vm_mem exists");
	ASSERT_EQ(m.guest_bytes, 64 * M, "guest bytes");
	ASSERT_EQ(m.private_bytes, 64 * M, "all private");
	for (int i = 0; i < 10; i++)
		inject_decide(s, vm, 2 * M, 2 * M, true, 0);
	vm_mem(s, vm, &m);
	ASSERT_EQ(m.private_bytes, 64 * M, "to_private of private pages x10: nothing moves");
	inject_decide(s, vm, 2 * M, 2 * M, false, 0);
	inject_decide(s, vm, 2 * M, 2 * M, false, 0);
	vm_mem(s, vm, &m);
	ASSERT_EQ(m.private_bytes, 62 * M, "to_shared of the same 2 MiB twice: 2 MiB once");
	inject_decide(s, vm, 3 * M, 2 * M, true, 0);
	vm_mem(s, vm, &m);
	ASSERT_EQ(m.private_bytes, 63 * M, "a range half private: only the shared half counts");
	inject_decide(s, vm, 8 * M, 4 * M, false, -22);
	vm_mem(s, vm, &m);
	ASSERT_EQ(m.private_bytes, 63 * M, "a failed call changes nothing");
	inject_decide(s, vm, 0x4000, 0x3000, false, 0);
	vm_mem(s, vm, &m);
	ASSERT_EQ(m.private_bytes, 63 * M - 0x3000, "three pages inside one word");

	/* a full ring: the record is lost and counted, the books still move */
	drain(rb);
	lost0 = percpu_lost(s);
	a[0] = vm;
	while (percpu_lost(s) == lost0)
		run(s->progs.pm_inject_exit, a, 11);
	inject_decide(s, vm, 16 * M, 2 * M, false, 0);
	vm_mem(s, vm, &m);
	ASSERT_TRUE(percpu_lost(s) - lost0 >= 2, "the decide record was lost too");
	ASSERT_EQ(m.private_bytes, 61 * M - 0x3000, "... its conversion still booked");
	ring_buffer__consume(rb);

	inject_vm(s, INJ_GMEM_CLOSE, kvm, 64 * M);
	vm_mem(s, vm, &m);
	ASSERT_EQ(m.guest_bytes, 0, "guest_memfd closed: no guest bytes");
	chunks = map_entries(s->maps.vm_attr);
	ASSERT_EQ(chunks, 32, "64 MiB of private bits: 32 chunks");
	inject_vm(s, INJ_DESTROY, kvm, 0);
	ASSERT_EQ(map_entries(s->maps.vm_attr), 0, "destroy frees the chunks");
	ASSERT_TRUE(!vm_mem(s, vm, &m), "destroy frees vm_mem");
	drain(rb);
}

static void set_default_rule(struct capture_bpf *s, uint32_t mode, uint32_t shared_permille)
{
	struct pm_rule r = { .mode = mode };
	uint32_t zero = 0;

	if (shared_permille) {
		r.to_shared.flags = PM_LIM_SHARED;
		r.to_shared.max_shared_permille = shared_permille;
	}
	bpf_map_update_elem(bpf_map__fd(s->maps.default_rule), &zero, &r, BPF_ANY);
}

/* #16.3: state that cannot be had fails closed, with its own reason, counted. */
static void test_no_state(struct capture_bpf *s, struct ring_buffer *rb)
{
	const uint64_t M = 1 << 20;
	uint32_t max = bpf_map__max_entries(s->maps.vm_mem);
	const struct pm_event *e;
	uint64_t full0 = state_full(s, PM_SF_MEM);
	char val[bpf_map__value_size(s->maps.vm_mem)];
	uint64_t a[4] = { 0, 0, 2 * M, 0 };

	kt_name = "no_state";
	memset(val, 0, sizeof(val));
	set_default_rule(s, PM_MODE_ENFORCE, 0);
	for (uint64_t k = 1; k <= max; k++)
		bpf_map_update_elem(bpf_map__fd(s->maps.vm_mem), &k, val, BPF_NOEXIST);
	drain(rb);
	a[0] = 0x77777;	/* a VM with no room left for it */
	run(s->progs.pm_inject_attempt, a, 4);
	drain(rb);
	e = find_ev(PM_EV_WOULD_DENY, 0x77777);
	ASSERT_TRUE(e != NULL, "an attempt without state is reported");
	ASSERT_EQ(e ? e->source : 0, PM_DENY_NO_STATE, "... as no_state");
	ASSERT_EQ(state_full(s, PM_SF_MEM) - full0, 1, "the full map counted");
	for (uint64_t k = 1; k <= max; k++)
		bpf_map_delete_elem(bpf_map__fd(s->maps.vm_mem), &k);

	/* a ceiling that cannot be known: the chunk map is full */
	{
		const uint64_t kvm = 0xffff888099990000ull;
		uint64_t vm = inject_vm(s, INJ_CREATE, kvm, 0);
		uint32_t amax = bpf_map__max_entries(s->maps.vm_attr);
		struct vm_mem_head m = { 0 };

		set_default_rule(s, PM_MODE_ENFORCE, 500);
		inject_vm(s, INJ_GMEM, kvm, 4ull * amax * 2 * M);
		inject_decide(s, vm, 0, (uint64_t)(amax + 1) * 2 * M, true, 0);
		vm_mem(s, vm, &m);
		ASSERT_EQ(m.inexact, 1, "more chunks than the map holds: inexact");
		ASSERT_TRUE(state_full(s, PM_SF_ATTR) > 0, "the full chunk map counted");
		drain(rb);
		a[0] = vm;
		a[2] = 4096;
		run(s->progs.pm_inject_attempt, a, 4);
		drain(rb);
		e = find_ev(PM_EV_WOULD_DENY, vm);
		ASSERT_EQ(e ? e->source : 0, PM_DENY_NO_STATE, "to_shared under an unknown ceiling: no_state");
		inject_vm(s, INJ_DESTROY, kvm, 0);
		ASSERT_EQ(map_entries(s->maps.vm_attr), 0, "destroy frees what was tracked");
	}
	set_default_rule(s, PM_MODE_OFF, 0);
	drain(rb);
}

/* vm_kstats' own entry: the claim, and what was counted without a slot. */
static bool kstate(struct capture_bpf *s, uint64_t vm, struct pm_vm_kstate *ks)
{
	return bpf_map_lookup_elem(bpf_map__fd(s->maps.vm_kstats), &vm, ks) == 0;
}

static void io_exits(struct capture_bpf *s, uint64_t vm, unsigned n)
{
	uint64_t a[11] = { vm, 0, PM_KVM_EXIT_IO, 0 };

	for (unsigned i = 0; i < n; i++)
		run(s->progs.pm_inject_exit, a, 11);
}

static uint64_t io_count(struct capture_bpf *s, uint64_t vm)
{
	struct pm_vm_kstats k;

	return kstats(s, vm, &k) ? k.exits[PM_KVM_EXIT_IO] : UINT64_MAX;
}

/*
 * #14.1: exits are counted per CPU in the VM's slot. A destroyed VM keeps
 * its slot until its final counts are read and its entry deleted; a slot
 * given back starts from zero for its next VM; a VM that finds no slot free
 * is counted in its entry, as exactly.
 */
static void test_exit_slots(struct capture_bpf *s, struct ring_buffer *rb)
{
	const uint64_t ka = 0xffff8880aaaa0000ull, kb = 0xffff8880bbbb0000ull, kc = 0xffff8880cccc0000ull;
	int kfd = bpf_map__fd(s->maps.vm_kstats), ffd = bpf_map__fd(s->maps.slot_free);
	struct pm_vm_kstate ea, eb, ec, e;
	uint64_t a, b, c, first = 0x51070000, vm;
	unsigned n = 0;

	kt_name = "exit_slots";
	a = inject_vm(s, INJ_CREATE, ka, 0);
	io_exits(s, a, 300);
	ASSERT_TRUE(kstate(s, a, &ea) && ea.claim != 0, "a new VM has a slot");
	ASSERT_EQ(ea.k.exits[PM_KVM_EXIT_IO], 0, "... and its exits are counted there, not in the entry");
	ASSERT_EQ(io_count(s, a), 300, "300 exits read back");

	inject_vm(s, INJ_DESTROY, ka, 0);
	b = inject_vm(s, INJ_CREATE, kb, 0);
	io_exits(s, b, 7);
	ASSERT_TRUE(kstate(s, b, &eb) && eb.claim != 0, "the next VM has a slot");
	ASSERT_TRUE(pm_claim_slot(eb.claim) != pm_claim_slot(ea.claim), "... not the one of a VM destroyed unread");
	ASSERT_EQ(io_count(s, a), 300, "the destroyed VM's final count stands");
	ASSERT_EQ(io_count(s, b), 7, "the next VM's count is its own");

	ASSERT_EQ(pm_kstate_delete(kfd, ffd, a), 0, "final counts read: entry deleted, slot given back");
	c = inject_vm(s, INJ_CREATE, kc, 0);
	io_exits(s, c, 5);
	ASSERT_TRUE(kstate(s, c, &ec) && ec.claim != 0 && ec.claim != ea.claim, "a new claim");
	ASSERT_EQ(pm_claim_slot(ec.claim), pm_claim_slot(ea.claim), "... on the slot given back");
	ASSERT_EQ(io_count(s, c), 5, "a slot given back starts from zero");
	ASSERT_EQ(io_count(s, b), 7, "the other VM unmoved");

	/* every slot held: a VM without one is counted in its entry */
	for (vm = first; vm < first + 2 * bpf_map__max_entries(s->maps.exit_slots); vm++) {
		inject_decide(s, vm, 0, 4096, false, -22);	/* its first sight: an entry, a slot if any */
		n++;
		if (kstate(s, vm, &e) && e.claim == 0)
			break;
	}
	ASSERT_TRUE(kstate(s, vm, &e) && e.claim == 0, "slots run out before entries do");
	io_exits(s, vm, 9);
	ASSERT_EQ(io_count(s, vm), 9, "a VM without a slot: counted all the same");
	kstate(s, vm, &e);
	ASSERT_EQ(e.k.exits[PM_KVM_EXIT_IO], 9, "... in its entry");
	for (uint64_t v = first; v < first + n; v++)
		pm_kstate_delete(kfd, ffd, v);
	vm = inject_vm(s, INJ_CREATE, ka, 0);
	ASSERT_TRUE(kstate(s, vm, &e) && e.claim != 0, "slots given back are handed out again");
	io_exits(s, vm, 2);
	ASSERT_EQ(io_count(s, vm), 2, "... counted from zero");
	inject_vm(s, INJ_DESTROY, ka, 0);
	inject_vm(s, INJ_DESTROY, kb, 0);
	inject_vm(s, INJ_DESTROY, kc, 0);
	pm_kstate_delete(kfd, ffd, vm);
	pm_kstate_delete(kfd, ffd, b);
	pm_kstate_delete(kfd, ffd, c);
	drain(rb);
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
	bpf_program__set_autoload(s->progs.pm_inject_vm, true);
	bpf_program__set_autoload(s->progs.pm_inject_decide, true);
	bpf_program__set_autoload(s->progs.pm_inject_attempt, true);
	/* small maps, so "full" is quick to reach */
	bpf_map__set_max_entries(s->maps.vm_mem, 64);
	bpf_map__set_max_entries(s->maps.vm_attr, 256);
	bpf_map__set_max_entries(s->maps.exit_slots, 64);
	bpf_map__set_max_entries(s->maps.slot_free, 64);
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
	test_exit_slots(s, rb);
	test_vm_identity(s, rb);
	test_ceiling_books(s, rb);
	test_no_state(s, rb);
	ring_buffer__free(rb);
	capture_bpf__destroy(s);
	return kt_summary();
}
