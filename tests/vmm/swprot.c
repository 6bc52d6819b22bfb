// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * SW_PROTECTED_VM mode (--vm-type 1): real private memory without SEV or
 * TDX hardware, converted the way QEMU converts it.
 *
 * Memory: SLOT_MAIN is a guest_memfd (flags 0: KVM refuses INIT_SHARED
 * for VMs with private memory, and without it an mmap of the gmem only
 * faults SIGBUS) plus private anonymous memory at userspace_addr, the
 * shared view.  The guest's code, page tables, header and request table
 * sit below the data region in shared memory (attributes 0, KVM's
 * default).  At start the VMM makes the data region [table end, --mem)
 * and the fault window private with KVM_SET_MEMORY_ATTRIBUTES; those
 * setup calls are counted apart ("setup_attr_calls"/"setup_attr_bytes"),
 * not in the books, so the books hold exactly the calls made for the
 * guest's requests.
 *
 * Requests: the guest issues MAP_GPA_RANGE hypercalls (VMMCALL, rax 12,
 * rbx gpa, rcx npages, rdx attrs), which KVM hands to userspace as
 * KVM_EXIT_HYPERCALL because KVM_CAP_EXIT_HYPERCALL has bit 12 (kvm.c).
 * The VMM answers each one as QEMU's kvm_handle_hc_map_gpa_range() ->
 * kvm_convert_memory() does: KVM_SET_MEMORY_ATTRIBUTES(PRIVATE or 0) over
 * the range, and only if that succeeded, discard the side the guest gave
 * up: PUNCH_HOLE on the guest_memfd for to_shared, MADV_DONTNEED on the
 * shared view for to_private; then run->hypercall.ret = 0.
 *
 * Memory faults: on a SW_PROTECTED_VM the guest cannot make a mismatched
 * access.  KVM takes an access's private-ness from the attributes
 * (kvm_mmu_page_fault() sets PFERR_PRIVATE_ACCESS from
 * kvm_mem_is_private()), so the "private access to a shared page" that
 * gives SNP/TDX guests their implicit conversions does not exist here.
 * The exits such a guest can cause are private accesses KVM cannot serve,
 * all with KVM_MEMORY_EXIT_FLAG_PRIVATE: a private gfn without a memslot
 * (the state the kernel's private_mem_kvm_exits_test reaches by deleting
 * the slot), a slot without guest_memfd, or a guest_memfd that is gone.
 * testvmm uses the first: the fault window is private and has no slot, so
 * the guest's first read of each window page ends KVM_RUN with EFAULT and
 * exit 39 {flags PRIVATE, gpa of the page, size 4096}.  The VMM converts
 * [gpa, gpa + size) to what the guest accessed, exactly as QEMU's
 * KVM_EXIT_MEMORY_FAULT handling (kvm_convert_memory(gpa, size,
 * flags & PRIVATE)): attributes PRIVATE, then the shared view discarded.
 * KVM finds the attribute already in place (the ioctl succeeds, its
 * tracepoint fires, nothing changes), so the call counts as an attempt and
 * a conversion like any successful call.  Then, beyond what QEMU needs,
 * the VMM plugs a 4 KiB slot over the window's guest_memfd at that page,
 * and the guest's retried read is served from private memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "vmm.h"

struct sw_state {
	struct vm *vm;
	const struct opts *o;
	struct truth *t;
	struct swprot_truth *sw;
	uint64_t conv_base;	/* data region: [conv_base, vm->mem_size) */
	uint8_t *plugged;	/* per fault-window page */
	bool loop_running;
	uint64_t loop_t0;
	uint64_t t0;
	bool done;
};

static unsigned int log2_floor(uint64_t v)
{
	return 63u - (unsigned int)__builtin_clzll(v);
}

static int set_attributes(struct vm *vm, uint64_t gpa, uint64_t size, bool to_private)
{
	struct pm_kvm_memory_attributes a;

	memset(&a, 0, sizeof(a));
	a.address = gpa;
	a.size = size;
	a.attributes = to_private ? PM_KVM_MEMORY_ATTRIBUTE_PRIVATE : 0;
	return ioctl(vm->vm_fd, PM_KVM_SET_MEMORY_ATTRIBUTES, &a) < 0 ? errno : 0;
}

#define PRIVATE_MAP_PAGES	(1ull << 20)	/* 4 GiB: all guest memory and the fault window */

/* The pages [gpa, gpa + size) now have PRIVATE (or not): the truth's bitmap. */
static void note_attributes(struct swprot_truth *sw, uint64_t gpa, uint64_t size, bool to_private)
{
	for (uint64_t p = gpa >> 12; p < (gpa + size) >> 12 && p < PRIVATE_MAP_PAGES; p++) {
		uint8_t bit = 1u << (p & 7), *w = &sw->private_bits[p >> 3];

		if (to_private && !(*w & bit)) {
			*w |= bit;
			sw->private_bytes += 4096;
		} else if (!to_private && (*w & bit)) {
			*w &= (uint8_t)~bit;
			sw->private_bytes -= 4096;
		}
	}
}

static uint64_t shared_bytes(const struct vm *vm, const struct swprot_truth *sw)
{
	return sw->private_bytes >= vm->gmem_created_bytes ? 0 : vm->gmem_created_bytes - sw->private_bytes;
}

static void setup_private(struct vm *vm, struct swprot_truth *sw, uint64_t gpa, uint64_t size,
			  const char *what)
{
	int err = set_attributes(vm, gpa, size, true);
	char eb[16];

	if (err) {
		fprintf(stderr, "testvmm: setup: KVM_SET_MEMORY_ATTRIBUTES(PRIVATE) over the %s "
			"[0x%llx, 0x%llx): %s (%s)\n", what, (unsigned long long)gpa,
			(unsigned long long)(gpa + size), errno_name(err, eb, sizeof(eb)), strerror(err));
		exit(1);
	}
	note_attributes(sw, gpa, size, true);
	sw->setup_attr_calls++;
	sw->setup_attr_bytes += size;
	sw->setup_attr_size_log2_hist[log2_floor(size)]++;
}

void swprot_set_memory(struct vm *vm, const struct opts *o, struct truth *t)
{
	struct swprot_truth *sw = calloc(1, sizeof(*sw));
	uint64_t base = workload_table_end(o->requests);

	if (!sw)
		die_errno("calloc", ENOMEM);
	t->sw = sw;
	sw->hcs = calloc(o->requests < HC_LIST_MAX ? (o->requests ? o->requests : 1) : HC_LIST_MAX,
			 sizeof(*sw->hcs));
	sw->private_bits = calloc(PRIVATE_MAP_PAGES / 8, 1);
	sw->shared_before = calloc(HC_LIST_MAX, sizeof(*sw->shared_before));
	if (!sw->hcs || !sw->private_bits || !sw->shared_before)
		die_errno("calloc", ENOMEM);
	if (o->faults + 1 > vm->nr_memslots) {
		fprintf(stderr, "testvmm: --faults %llu: each fault plugs a memslot and this KVM has %llu\n",
			(unsigned long long)o->faults, (unsigned long long)vm->nr_memslots);
		exit(1);
	}
	setup_private(vm, sw, base, vm->mem_size - base, "data region");
	if (o->faults)
		setup_private(vm, sw, vm->fault_gpa, vm->fault_size, "fault window");
}

/*
 * The seeded requests of host mode (workload_requests(): same seed, same
 * gpa, size and direction), as MAP_GPA_RANGE arguments, with the 2 MiB
 * page-size hint when the range is 2 MiB aligned and sized.
 */
void swprot_prepare(struct vm *vm, const struct opts *o)
{
	struct guest_hdr_swprot *hdr = (struct guest_hdr_swprot *)(vm->mem + GUEST_HDR_GPA);
	struct guest_hc *tab = (struct guest_hc *)(vm->mem + GUEST_TABLE_GPA);
	struct guest_req *req = calloc(o->requests ? o->requests : 1, sizeof(*req));

	if (!req)
		die_errno("calloc", ENOMEM);
	workload_requests(o, vm->mem_size, req);
	for (uint64_t i = 0; i < o->requests; i++) {
		tab[i].gpa = req[i].gpa;
		tab[i].npages = req[i].size / PAGE_SIZE_4K;
		tab[i].attrs = req[i].dir == REQ_TO_PRIVATE ? PM_KVM_MAP_GPA_RANGE_ENCRYPTED : 0;
		if (!(req[i].gpa % SZ_2M) && !(req[i].size % SZ_2M))
			tab[i].attrs |= PM_KVM_MAP_GPA_RANGE_PAGE_SZ_2M;
	}
	free(req);

	hdr->h.nreq = o->requests;
	hdr->h.nfault = o->faults;
	hdr->h.nexit = o->exits;
	hdr->h.table_gpa = GUEST_TABLE_GPA;
	/* Not page-aligned on purpose: KVM must report the page, not the access. */
	hdr->h.fault_gpa = vm->fault_gpa + 0x80;
	hdr->hc_failed = 0;
}

/* The guest's count of failed hypercalls, while its memory is still there. */
static void read_guest_seen(struct sw_state *st)
{
	const struct guest_hdr_swprot *hdr =
		(const struct guest_hdr_swprot *)(st->vm->mem + GUEST_HDR_GPA);

	st->sw->guest_seen_failures = hdr->hc_failed;
}

static void stop_vm(struct sw_state *st, bool hypercall, uint64_t gpa, uint64_t size,
		    bool to_private, int err)
{
	struct swprot_truth *sw = st->sw;

	sw->outcome = OUT_STOPPED;
	sw->stop_hypercall = hypercall;
	sw->stop_gpa = gpa;
	sw->stop_size = size;
	sw->stop_to_private = to_private;
	sw->stop_errno = err;
	sw->run_ns = now_ns() - st->t0;
	read_guest_seen(st);
	fprintf(stderr, "testvmm: %s conversion of [0x%llx, 0x%llx) failed: %s; stopping the VM "
		"(--on-deny stop)\n", to_private ? "to_private" : "to_shared",
		(unsigned long long)gpa, (unsigned long long)(gpa + size), strerror(err));
	if (report_write_durable(st->vm->sess) < 0)
		exit(1);
	exit(EXIT_STOPPED);
}

static void maybe_kill(struct sw_state *st)
{
	/* counted over the whole run: with --vms, earlier VMs' requests too */
	if (st->o->kill_after && ++st->vm->sess->handled == st->o->kill_after) {
		st->sw->outcome = OUT_KILLED;
		st->sw->run_ns = now_ns() - st->t0;
		read_guest_seen(st);
		report_and_kill(st->vm->sess);
	}
}

/* The memory [gpa, gpa + size) lies in: its guest_memfd, offset and shared view. */
static void locate(struct sw_state *st, uint64_t gpa, uint64_t size, int *gmem_fd,
		   uint64_t *off, uint8_t **hva)
{
	struct vm *vm = st->vm;

	if (gpa < vm->mem_size && size <= vm->mem_size - gpa) {
		*gmem_fd = vm->gmem_fd;
		*off = gpa;
		*hva = vm->mem + gpa;
	} else {
		*gmem_fd = vm->fault_gmem_fd;
		*off = gpa - vm->fault_gpa;
		*hva = vm->fault_mem + *off;
	}
}

/*
 * QEMU's kvm_convert_memory(): the attributes, then (only when they
 * changed) the discard of the side given up.  Every
 * KVM_SET_MEMORY_ATTRIBUTES is an attempt in the books; with --on-deny
 * retry a failed one is tried again up to 3 times, 10 ms apart, each try
 * an attempt of its own.  Returns 0 or the errno of the last attempt.
 */
static int convert(struct sw_state *st, uint64_t gpa, uint64_t size, bool to_private,
		   bool from_fault)
{
	struct truth *t = st->t;
	struct swprot_truth *sw = st->sw;
	struct dir_stats *d = to_private ? &t->to_private : &t->to_shared;
	struct src_stats *s = from_fault ? &sw->by_fault : &sw->by_hypercall;
	unsigned int b = log2_floor(size);
	uint8_t *hva;
	uint64_t off;
	int fd, err, rc;
	char eb[16];

	for (int tries = 0;; tries++) {
		if (!to_private && sw->nshared_before < HC_LIST_MAX) {
			sw->shared_before[sw->nshared_before].shared_before = shared_bytes(st->vm, sw);
			sw->shared_before[sw->nshared_before++].size = size;
		}
		err = set_attributes(st->vm, gpa, size, to_private);
		d->attempts++;
		d->attempt_bytes += size;
		d->attempt_size_log2_hist[b]++;
		s->attempts++;
		if (!err) {
			note_attributes(sw, gpa, size, to_private);
			d->conversions++;
			d->bytes += size;
			d->size_log2_hist[b]++;
			s->conversions++;
			s->bytes += size;
			break;
		}
		t->attr_errors[err < ERRNO_SLOTS - 1 ? err : ERRNO_SLOTS - 1]++;
		if (st->o->verbose)
			fprintf(stderr, "testvmm: attributes %s [0x%llx, +0x%llx): %s\n",
				to_private ? "PRIVATE" : "0", (unsigned long long)gpa,
				(unsigned long long)size, errno_name(err, eb, sizeof(eb)));
		if (st->o->on_deny != DENY_RETRY || tries == 3)
			return err;
		sw->attr_retries++;
		sleep_ms(10);
	}

	locate(st, gpa, size, &fd, &off, &hva);
	if (to_private) {
		rc = madvise(hva, size, MADV_DONTNEED);
		sw->shared_discards++;
		sw->shared_discard_bytes += size;
		if (rc < 0)
			sw->shared_discard_errors++;
	} else {
		rc = fallocate(fd, PM_FALLOC_FL_PUNCH_HOLE | PM_FALLOC_FL_KEEP_SIZE, (off_t)off,
			       (off_t)size);
		t->discards++;
		t->discard_bytes += size;
		if (rc < 0)
			t->discard_errors++;
	}
	return 0;
}

static void handle_hypercall(struct sw_state *st)
{
	struct kvm_run *run = st->vm->run;
	struct swprot_truth *sw = st->sw;
	uint64_t gpa = run->hypercall.args[0], npages = run->hypercall.args[1];
	uint64_t attrs = run->hypercall.args[2], size, ret = 0;
	bool to_private = attrs & PM_KVM_MAP_GPA_RANGE_ENCRYPTED;
	struct hc_rec *rec = NULL;
	int err;

	if (run->hypercall.nr != PM_KVM_HC_MAP_GPA_RANGE) {
		fprintf(stderr, "testvmm: unexpected hypercall %llu\n",
			(unsigned long long)run->hypercall.nr);
		exit(1);
	}
	size = npages * PAGE_SIZE_4K;
	if (!npages || npages > st->vm->mem_size / PAGE_SIZE_4K || gpa % PAGE_SIZE_4K ||
	    gpa < st->conv_base || gpa > st->vm->mem_size || size > st->vm->mem_size - gpa) {
		fprintf(stderr, "testvmm: guest hypercall %llu outside the data region: gpa 0x%llx npages %llu\n",
			(unsigned long long)sw->hypercall, (unsigned long long)gpa,
			(unsigned long long)npages);
		exit(1);
	}
	sw->hypercall++;
	if (to_private)
		sw->hc_to_private++;
	else
		sw->hc_to_shared++;
	if (sw->nhcs < HC_LIST_MAX) {
		rec = &sw->hcs[sw->nhcs++];
		rec->gpa = gpa;
		rec->npages = npages;
		rec->attrs = attrs;
	}

	err = convert(st, gpa, size, to_private, false);
	if (err) {
		if (st->o->on_deny == DENY_STOP)
			stop_vm(st, true, gpa, size, to_private, err);
		/* The hypercall ABI's error: -KVM_EPERM and so on (they are errnos). */
		ret = (uint64_t)-(int64_t)err;
		sw->guest_failed_requests++;
	}
	run->hypercall.ret = ret;
	if (rec)
		rec->ret = ret;
	if (st->o->verbose)
		fprintf(stderr, "testvmm: hypercall %llu %s gpa 0x%llx npages %llu attrs 0x%llx: ret %lld\n",
			(unsigned long long)sw->hypercall - 1, to_private ? "to_private" : "to_shared",
			(unsigned long long)gpa, (unsigned long long)npages,
			(unsigned long long)attrs, (long long)ret);
	sw->handled_requests++;
	maybe_kill(st);
}

static void handle_memory_fault(struct sw_state *st)
{
	struct pm_kvm_memory_fault mf;
	struct vm *vm = st->vm;
	struct truth *t = st->t;
	struct swprot_truth *sw = st->sw;
	bool to_private;
	uint64_t page;
	int err;

	memcpy(&mf, (uint8_t *)vm->run + PM_KVM_RUN_EXIT_UNION_OFFSET, sizeof(mf));
	if (t->nfaults == st->o->faults) {
		fprintf(stderr, "testvmm: more memory faults than --faults (gpa 0x%llx size 0x%llx flags 0x%llx)\n",
			(unsigned long long)mf.gpa, (unsigned long long)mf.size,
			(unsigned long long)mf.flags);
		exit(1);
	}
	t->faults[t->nfaults].gpa = mf.gpa;
	t->faults[t->nfaults].size = mf.size;
	t->faults[t->nfaults].flags = mf.flags;
	t->nfaults++;
	t->memory_fault++;
	if (st->o->verbose)
		fprintf(stderr, "testvmm: memory fault %zu gpa 0x%llx size 0x%llx flags 0x%llx\n",
			t->nfaults - 1, (unsigned long long)mf.gpa, (unsigned long long)mf.size,
			(unsigned long long)mf.flags);

	page = (mf.gpa - vm->fault_gpa) / PAGE_SIZE_4K;
	if (mf.gpa < vm->fault_gpa || mf.gpa % PAGE_SIZE_4K || mf.size != PAGE_SIZE_4K ||
	    page >= st->o->faults || st->plugged[page] ||
	    (mf.flags & ~PM_KVM_MEMORY_EXIT_FLAG_PRIVATE)) {
		fprintf(stderr, "testvmm: unexpected memory fault at gpa 0x%llx size 0x%llx flags 0x%llx\n",
			(unsigned long long)mf.gpa, (unsigned long long)mf.size,
			(unsigned long long)mf.flags);
		exit(1);
	}

	to_private = mf.flags & PM_KVM_MEMORY_EXIT_FLAG_PRIVATE;
	err = convert(st, mf.gpa, mf.size, to_private, true);
	if (err) {
		if (st->o->on_deny == DENY_STOP)
			stop_vm(st, false, mf.gpa, mf.size, to_private, err);
		/*
		 * A memory fault has no error channel to the guest: the request
		 * counts as failed, and the page is plugged anyway so that the
		 * guest (whose access was private, as the page already is) goes on.
		 */
		sw->guest_failed_requests++;
	}
	vm_fault_window_plug(vm, page);
	st->plugged[page] = 1;
	sw->handled_requests++;
	maybe_kill(st);
}

static void handle_io(struct sw_state *st)
{
	struct kvm_run *run = st->vm->run;
	struct truth *t = st->t;

	if (run->io.direction != KVM_EXIT_IO_OUT) {
		fprintf(stderr, "testvmm: unexpected port read 0x%x\n", run->io.port);
		exit(1);
	}
	switch (run->io.port) {
	case PORT_LOOP_BEGIN:
		st->loop_running = true;
		st->loop_t0 = now_ns();
		break;
	case PORT_LOOP:
		if (!st->loop_running) {
			fprintf(stderr, "testvmm: benchmark exit before its start\n");
			exit(1);
		}
		if (++t->loop_exits == st->o->exits) {
			t->loop_ns = now_ns() - st->loop_t0;
			st->loop_running = false;
		}
		break;
	default:
		fprintf(stderr, "testvmm: unexpected port write 0x%x\n", run->io.port);
		exit(1);
	}
}

static void unexpected_exit(struct sw_state *st, uint32_t reason)
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

void swprot_run(struct vm *vm, const struct opts *o, struct truth *t)
{
	struct sw_state st = {
		.vm = vm, .o = o, .t = t, .sw = t->sw,
		.conv_base = workload_table_end(o->requests),
	};

	t->faults = calloc(o->faults ? o->faults : 1, sizeof(*t->faults));
	st.plugged = calloc(o->faults ? o->faults : 1, 1);
	if (!t->faults || !st.plugged)
		die_errno("calloc", ENOMEM);

	st.t0 = now_ns();
	while (!st.done) {
		int rc = ioctl(vm->vcpu_fd, KVM_RUN, NULL);
		int err = rc < 0 ? errno : 0;
		uint32_t reason = vm->run->exit_reason;

		if (reason < EXIT_SLOTS)
			t->exits[reason]++;
		if (rc < 0) {
			t->kvm_run_errors++;
			if (err == EFAULT && reason == PM_KVM_EXIT_MEMORY_FAULT) {
				handle_memory_fault(&st);
				continue;
			}
			if (err == EINTR || err == EAGAIN)
				continue;
			die_errno("KVM_RUN", err);
		}
		switch (reason) {
		case PM_KVM_EXIT_HYPERCALL:
			handle_hypercall(&st);
			break;
		case KVM_EXIT_IO:
			handle_io(&st);
			break;
		case KVM_EXIT_HLT:
			st.done = true;
			break;
		default:
			unexpected_exit(&st, reason);
		}
	}
	t->sw->run_ns = now_ns() - st.t0;
	read_guest_seen(&st);
	free(st.plugged);
}
