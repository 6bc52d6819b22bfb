// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Seeded request generation, the vCPU loop and the handling of its exits. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "vmm.h"

/*
 * PRNG: xorshift64 (Marsaglia's 13/7/17 triple) seeded through one round
 * of splitmix64, so that small neighbouring seeds give unrelated streams
 * and seed 0 is usable.  Only fixed-width integer arithmetic: the same
 * seed gives the same requests on every machine and compiler.
 */
struct rng {
	uint64_t s;
};

static void rng_seed(struct rng *r, uint64_t seed)
{
	uint64_t z = seed + 0x9e3779b97f4a7c15ull;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	r->s = z ? z : 0x9e3779b97f4a7c15ull;	/* xorshift's one forbidden state */
}

static uint64_t rng_next(struct rng *r)
{
	uint64_t x = r->s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return r->s = x;
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

static unsigned int log2_floor(uint64_t v)
{
	return 63u - (unsigned int)__builtin_clzll(v);
}

/* First address conversions may target: past the table, on a 2 MiB line. */
uint64_t workload_table_end(uint64_t nreq)
{
	return align_up(GUEST_TABLE_GPA + nreq * sizeof(struct guest_req), SZ_2M);
}

/*
 * Each request draws exactly three numbers, whatever the options, so no
 * option shifts the stream: --dir changes only directions, --size only
 * sizes (and, as the gpa must leave room for the size, gpas):
 *   size  r1 odd:  a power of two, 2^(12 + (r1>>1) % 10): 4 KiB .. 2 MiB
 *         r1 even: (1 + (r1>>1) % 512) pages: any multiple of 4 KiB up to 2 MiB
 *         (--size replaces it)
 *   gpa   conv_base + (r2 % (pages in the area - pages of the request + 1)) pages
 *   dir   --dir mixed: to_private when bit 63 of r3 is set, else to_shared
 */
void workload_requests(const struct opts *o, uint64_t mem_size, struct guest_req *tab)
{
	uint64_t base = workload_table_end(o->requests);
	uint64_t area_pages = (mem_size - base) / PAGE_SIZE_4K;
	struct rng r;

	rng_seed(&r, o->seed);
	for (uint64_t i = 0; i < o->requests; i++) {
		uint64_t r1 = rng_next(&r), r2 = rng_next(&r), r3 = rng_next(&r);
		uint64_t size, pages;

		if (o->size)
			size = o->size;
		else if (r1 & 1)
			size = 1ull << (12 + (r1 >> 1) % 10);
		else
			size = (1 + (r1 >> 1) % 512) * PAGE_SIZE_4K;
		pages = size / PAGE_SIZE_4K;

		tab[i].size = size;
		tab[i].gpa = base + (r2 % (area_pages - pages + 1)) * PAGE_SIZE_4K;
		switch (o->dir) {
		case DIR_SHARED:
			tab[i].dir = REQ_TO_SHARED;
			break;
		case DIR_PRIVATE:
			tab[i].dir = REQ_TO_PRIVATE;
			break;
		default:
			tab[i].dir = (r3 >> 63) ? REQ_TO_PRIVATE : REQ_TO_SHARED;
			break;
		}
	}
}

void workload_prepare(struct vm *vm, const struct opts *o)
{
	struct guest_hdr *hdr = (struct guest_hdr *)(vm->mem + GUEST_HDR_GPA);

	workload_requests(o, vm->mem_size, (struct guest_req *)(vm->mem + GUEST_TABLE_GPA));
	hdr->nreq = o->requests;
	hdr->nfault = o->faults;
	hdr->nexit = o->exits;
	hdr->table_gpa = GUEST_TABLE_GPA;
	/* Not page-aligned on purpose: KVM must report the page, not the access. */
	hdr->fault_gpa = vm->fault_gpa + 0x80;
}

struct run_state {
	struct vm *vm;
	const struct opts *o;
	struct truth *t;
	uint64_t conv_base;
	bool fault_armed;
	bool native;		/* PVM native mode switched on for this fault */
	bool loop_running;
	uint64_t loop_t0;
	bool done;
};

/*
 * --kill-after-requests: the ground truth so far on disk, then SIGKILL.
 * Counted over the whole run: with --vms, earlier VMs' requests too.
 */
static void maybe_kill(struct run_state *st)
{
	if (st->o->kill_after && ++st->vm->sess->handled == st->o->kill_after)
		report_and_kill(st->vm->sess);
}

static void count(struct dir_stats *d, uint64_t size, bool ok)
{
	unsigned int b = log2_floor(size);

	d->attempts++;
	d->attempt_bytes += size;
	d->attempt_size_log2_hist[b]++;
	if (ok) {
		d->conversions++;
		d->bytes += size;
		d->size_log2_hist[b]++;
	}
}

/*
 * What QEMU's kvm_convert_memory() does for a guest's request: flip the
 * attributes, then discard the side the guest gave up.  Two deliberate
 * differences: the punch is made even when the attribute change failed
 * (QEMU would stop there), so hosts without memory attributes still
 * produce discard traffic; and to_private discards nothing (QEMU would
 * drop the shared copy: with an mmap-able gmem there is none, and without
 * one, leaving the anonymous view alone keeps "discards" meaning exactly
 * the PUNCH_HOLEs on guest_memfd).  Without any guest_memfd (a KVM that
 * has none) there is nothing to punch: the attribute call is all.
 */
static void handle_request(struct run_state *st)
{
	struct vm *vm = st->vm;
	struct truth *t = st->t;
	struct guest_req q;
	struct pm_kvm_memory_attributes a;
	bool to_private;
	int rc, err;
	char eb[16];

	memcpy(&q, vm->mem + GUEST_MAILBOX_GPA, sizeof(q));
	if (q.size == 0 || q.gpa % PAGE_SIZE_4K || q.size % PAGE_SIZE_4K ||
	    q.gpa < st->conv_base || q.gpa > vm->mem_size || q.size > vm->mem_size - q.gpa ||
	    q.dir > REQ_TO_PRIVATE) {
		fprintf(stderr, "testvmm: guest request %llu has a bad mailbox: gpa 0x%llx size 0x%llx dir %llu\n",
			(unsigned long long)t->mailbox, (unsigned long long)q.gpa,
			(unsigned long long)q.size, (unsigned long long)q.dir);
		exit(1);
	}
	t->mailbox++;
	to_private = q.dir == REQ_TO_PRIVATE;

	memset(&a, 0, sizeof(a));
	a.address = q.gpa;
	a.size = q.size;
	a.attributes = to_private ? PM_KVM_MEMORY_ATTRIBUTE_PRIVATE : 0;
	rc = ioctl(vm->vm_fd, PM_KVM_SET_MEMORY_ATTRIBUTES, &a);
	err = rc < 0 ? errno : 0;
	count(to_private ? &t->to_private : &t->to_shared, q.size, rc == 0);
	if (rc < 0)
		t->attr_errors[err < ERRNO_SLOTS - 1 ? err : ERRNO_SLOTS - 1]++;

	if (st->o->verbose)
		fprintf(stderr, "testvmm: request %llu %s gpa 0x%llx size 0x%llx: attributes %s",
			(unsigned long long)t->mailbox - 1, to_private ? "to_private" : "to_shared",
			(unsigned long long)q.gpa, (unsigned long long)q.size,
			rc == 0 ? "ok" : errno_name(err, eb, sizeof(eb)));

	if (!to_private && vm->has_gmem) {
		/* gmem offset == gpa: SLOT_MAIN maps the gmem from offset 0 at gpa 0. */
		rc = fallocate(vm->gmem_fd, PM_FALLOC_FL_PUNCH_HOLE | PM_FALLOC_FL_KEEP_SIZE,
			       (off_t)q.gpa, (off_t)q.size);
		err = rc < 0 ? errno : 0;
		t->discards++;
		t->discard_bytes += q.size;
		if (rc < 0)
			t->discard_errors++;
		if (st->o->verbose)
			fprintf(stderr, ", punch %s", rc == 0 ? "ok" : errno_name(err, eb, sizeof(eb)));
	}
	if (st->o->verbose)
		fputc('\n', stderr);
}

/*
 * Memory-fault exits, as they can be produced on the 6.18 KVM PVM hosts
 * (each step found necessary by trying without it):
 *  1. The fault window is its own slot and guest_memfd (kvm.c), so that
 *     losing it costs the guest nothing else.
 *  2. On the guest's PORT_FAULT_ARM, munmap the window's gmem and close
 *     its fd.  Either alone keeps the file alive and the guest simply
 *     reads the page.
 *  3. PVM emulates a plain CPL0 guest instruction by instruction, and the
 *     emulator reads guest memory through userspace_addr: with the gmem
 *     gone that read fails and KVM turns the access into KVM_EXIT_MMIO,
 *     not a memory fault.  Only an access made natively goes through the
 *     MMU's gmem fault path, so PVM's native mode (vmm.h: PVM_MSR_NATIVE)
 *     is switched on for that one access and off again afterwards, as
 *     native exits are ~3x slower and would spoil the --exits benchmark.
 *  4. The access then ends KVM_RUN with -1/EFAULT, exit_reason 39 and
 *     memory_fault {flags 0, gpa of the page (not of the access), size
 *     4096}.
 *  5. Recovery: re-adding the slot over a new gmem fails with EINVAL while
 *     the old slot exists; delete it (memory_size 0), create it again over
 *     a fresh guest_memfd, then re-enter: the access is retried and reads
 *     zeroes.
 * A real VMM would convert [gpa, gpa+size) per flags; this fault is an
 * artefact of the dropped gmem rather than a guest asking for memory, so
 * it is recorded as a request and nothing is converted or discarded.
 */
static void arm_fault(struct run_state *st)
{
	st->native = vm_set_native(st->vm, true);
	vm_fault_window_drop(st->vm);
	st->fault_armed = true;
}

static void handle_io(struct run_state *st)
{
	struct kvm_run *run = st->vm->run;
	struct truth *t = st->t;

	/* After the arm, the guest's very next exit must be the memory fault. */
	if (st->fault_armed) {
		fprintf(stderr, "testvmm: guest touched the dropped fault window without a memory-fault exit\n");
		exit(1);
	}
	if (run->io.direction != KVM_EXIT_IO_OUT) {
		fprintf(stderr, "testvmm: unexpected port read 0x%x\n", run->io.port);
		exit(1);
	}
	switch (run->io.port) {
	case PORT_REQUEST:
		handle_request(st);
		maybe_kill(st);
		break;
	case PORT_LOOP_BEGIN:
		st->loop_running = true;
		st->loop_t0 = now_ns();
		break;
	case PORT_LOOP:
		if (!st->loop_running) {
			fprintf(stderr, "testvmm: benchmark exit before its start\n");
			exit(1);
		}
		/* ns spans exactly `exits` round trips: begin marker to last exit. */
		if (++t->loop_exits == st->o->exits) {
			t->loop_ns = now_ns() - st->loop_t0;
			st->loop_running = false;
		}
		break;
	case PORT_FAULT_ARM:
		arm_fault(st);
		break;
	default:
		fprintf(stderr, "testvmm: unexpected port write 0x%x\n", run->io.port);
		exit(1);
	}
}

static void handle_memory_fault(struct run_state *st)
{
	struct pm_kvm_memory_fault mf;
	struct truth *t = st->t;

	memcpy(&mf, (uint8_t *)st->vm->run + PM_KVM_RUN_EXIT_UNION_OFFSET, sizeof(mf));
	t->faults[t->nfaults].gpa = mf.gpa;
	t->faults[t->nfaults].size = mf.size;
	t->faults[t->nfaults].flags = mf.flags;
	t->nfaults++;
	t->memory_fault++;
	if (st->o->verbose)
		fprintf(stderr, "testvmm: memory fault %zu gpa 0x%llx size 0x%llx flags 0x%llx\n",
			t->nfaults - 1, (unsigned long long)mf.gpa, (unsigned long long)mf.size,
			(unsigned long long)mf.flags);
	if (!st->fault_armed) {
		fprintf(stderr, "testvmm: unexpected memory fault at gpa 0x%llx size 0x%llx flags 0x%llx\n",
			(unsigned long long)mf.gpa, (unsigned long long)mf.size,
			(unsigned long long)mf.flags);
		exit(1);
	}
	vm_fault_window_delete_slot(st->vm);
	vm_fault_window_add(st->vm);
	if (st->native)
		vm_set_native(st->vm, false);
	st->fault_armed = false;
}

static void unexpected_exit(struct run_state *st, uint32_t reason)
{
	struct kvm_regs regs;

	memset(&regs, 0, sizeof(regs));
	ioctl(st->vm->vcpu_fd, KVM_GET_REGS, &regs);
	fprintf(stderr, "testvmm: unexpected exit reason %u at rip 0x%llx", reason,
		(unsigned long long)regs.rip);
	if (reason == KVM_EXIT_MMIO)
		fprintf(stderr, " (mmio %s 0x%llx)", st->vm->run->mmio.is_write ? "write" : "read",
			(unsigned long long)st->vm->run->mmio.phys_addr);
	else if (reason == KVM_EXIT_INTERNAL_ERROR)
		fprintf(stderr, " (internal error suberror %u)", st->vm->run->internal.suberror);
	fputc('\n', stderr);
	exit(1);
}

/* A reason past EXIT_SLOTS is never one we handle, so the run dies on it. */
static void count_exit(struct truth *t, uint32_t reason)
{
	if (reason < EXIT_SLOTS)
		t->exits[reason]++;
}

void workload_run(struct vm *vm, const struct opts *o, struct truth *t)
{
	struct run_state st = {
		.vm = vm, .o = o, .t = t,
		.conv_base = workload_table_end(o->requests),
	};

	t->faults = calloc(o->faults ? o->faults : 1, sizeof(*t->faults));
	if (!t->faults)
		die_errno("calloc", ENOMEM);

	while (!st.done) {
		int rc = ioctl(vm->vcpu_fd, KVM_RUN, NULL);
		int err = rc < 0 ? errno : 0;
		uint32_t reason = vm->run->exit_reason;

		/* Every return is an exit the VMM observed, failed ones included. */
		count_exit(t, reason);
		if (rc < 0) {
			t->kvm_run_errors++;
			if (err == EFAULT && reason == PM_KVM_EXIT_MEMORY_FAULT) {
				if (t->nfaults == o->faults) {
					fprintf(stderr, "testvmm: more memory faults than --faults\n");
					exit(1);
				}
				handle_memory_fault(&st);
				maybe_kill(&st);
				continue;
			}
			if (err == EINTR || err == EAGAIN)
				continue;
			die_errno("KVM_RUN", err);
		}
		switch (reason) {
		case KVM_EXIT_IO:
			handle_io(&st);
			break;
		case KVM_EXIT_HLT:
			if (st.fault_armed) {
				fprintf(stderr, "testvmm: guest touched the dropped fault window without a memory-fault exit\n");
				exit(1);
			}
			st.done = true;
			break;
		default:
			unexpected_exit(&st, reason);
		}
	}
}
