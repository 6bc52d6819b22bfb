/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * testvmm: a minimal VMM that drives real private/shared conversion
 * traffic through KVM and records, as ground truth, exactly which KVM
 * calls it made and which exits it saw.
 */
#ifndef TESTVMM_H
#define TESTVMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <errno.h>
#include <time.h>
#include <linux/types.h>
#include <linux/kvm.h>
#include <privmem/kvm_abi.h>

#define PAGE_SIZE_4K		0x1000ull
#define SZ_2M			0x200000ull

/*
 * Guest physical layout (identity-mapped, so also the guest's virtual
 * layout).  Everything the guest needs in order to run lives below
 * GUEST_TABLE_GPA + table size, and conversions are only ever requested
 * above that, so a punched hole can never remove the guest's own code,
 * page tables or mailbox.
 */
#define GUEST_CODE_GPA		0x1000ull
#define GUEST_PML4_GPA		0x2000ull	/* cr3; then PDPT and 4 PDs */
#define GUEST_PDPT_GPA		0x3000ull
#define GUEST_PD_GPA		0x4000ull	/* 4 pages: 0..4 GiB in 2 MiB pages */
#define GUEST_HDR_GPA		0x8000ull	/* struct guest_hdr */
#define GUEST_MAILBOX_GPA	0x9000ull	/* struct guest_req, written by the guest */
#define GUEST_STACK_TOP		0xb000ull	/* the guest does not push; kept valid anyway */
#define GUEST_PVM_NATIVE_GPA	0xc000ull	/* zero page named by PVM_MSR_NATIVE */
#define GUEST_TABLE_GPA		0x10000ull	/* struct guest_req[nreq] */
#define GUEST_IDMAP_LIMIT	0x100000000ull	/* what the page tables map */

/* Ports the guest writes to; each `out` is one KVM_EXIT_IO. */
#define PORT_REQUEST		0x510	/* mailbox holds a conversion request */
#define PORT_LOOP		0x511	/* one exit of the --exits benchmark */
#define PORT_FAULT_ARM		0x512	/* about to touch the fault window */
#define PORT_LOOP_BEGIN		0x513	/* benchmark starts with the next exit */

/*
 * KVM PVM (the paravirtual KVM of the development hosts) emulates a plain
 * CPL0 guest instruction by instruction; writing gpa|1 of a guest page to
 * this MSR lets the vCPU run natively instead, and 0 turns that off.
 * Found by trial: gpa 0 is accepted but changes nothing, a gpa outside
 * guest memory is refused, the page is left untouched, and the page
 * tables must set U/S or the native vCPU never comes back from KVM_RUN.
 */
#define PVM_MSR_NATIVE		0x4b564d10u
#define PVM_NATIVE_ENABLE	1ull

/* Memory slots. */
#define SLOT_MAIN		0
#define SLOT_FAULT		1	/* SW_PROTECTED_VM: the first of one 4 KiB slot per fault */

/* Shared with the guest code: layout fixed by the bytes in guest.c. */
struct guest_hdr {
	uint64_t nreq;
	uint64_t nfault;
	uint64_t nexit;
	uint64_t table_gpa;
	uint64_t fault_gpa;	/* first address the guest touches to fault */
};

/*
 * SW_PROTECTED_VM mode (swprot.c): the same header plus what the guest
 * writes back, and a table of ready-made MAP_GPA_RANGE arguments.
 */
struct guest_hdr_swprot {
	struct guest_hdr h;
	uint64_t hc_failed;	/* written by the guest: hypercalls that returned non-zero */
};

struct guest_hc {
	uint64_t gpa;
	uint64_t npages;
	uint64_t attrs;		/* PM_KVM_MAP_GPA_RANGE_ENCRYPTED | ..._PAGE_SZ_2M */
};

enum req_dir { REQ_TO_SHARED = 0, REQ_TO_PRIVATE = 1 };

struct guest_req {
	uint64_t gpa;
	uint64_t size;
	uint64_t dir;		/* enum req_dir */
};

enum dir_mode { DIR_MIXED, DIR_SHARED, DIR_PRIVATE };

/* What a failed KVM_SET_MEMORY_ATTRIBUTES does (SW_PROTECTED_VM mode). */
enum on_deny { DENY_FAIL, DENY_RETRY, DENY_STOP };

/* Exit status after --on-deny stop, as QEMU stops the VM on a failed conversion. */
#define EXIT_STOPPED		3

struct opts {
	uint64_t seed;
	uint64_t requests;
	uint64_t vm_type;
	uint64_t mem;
	uint64_t size;		/* 0: seeded sizes */
	enum dir_mode dir;
	uint64_t faults;	/* what will be provoked: 0 when dropped (below) */
	uint64_t faults_asked;	/* --faults as given */
	bool faults_if_possible;	/* without a guest_memfd, run with 0 faults instead of exit 2 */
	uint64_t exits;
	uint64_t hold_ms;
	uint64_t start_delay_ms;
	uint64_t gmem_flags;
	uint64_t kill_after;	/* --kill-after-requests; 0: never */
	enum on_deny on_deny;
	uint64_t vms;		/* --vms: VMs made one after another in this process */
	uint64_t churn;		/* --churn: VMs made and destroyed (churn.c); 0: the workload */
	uint64_t churn_pass_every;	/* destroy every K-th through the helper; 0: never */
	uint64_t churn_hold_every;	/* keep every M-th to the end; 0: never */
	const char *json;	/* NULL: stdout */
	bool verbose;
	bool gmem_flags_set;	/* --gmem-flags given */
};

/* KVM_X86_SW_PROTECTED_VM: guest memory private by default, real conversions. */
static inline bool opts_swprot(const struct opts *o)
{
	return o->vm_type == PM_KVM_X86_SW_PROTECTED_VM;
}

/*
 * What /dev/kvm said before the VM was made: the ground truth names it
 * ("host_caps"), so a test derives what could happen from the same run.
 * A value is KVM_CHECK_EXTENSION's answer, 0 for an unknown capability.
 */
struct host_caps {
	int guest_memfd;
	int guest_memfd_flags;
	int memory_attributes;
	int vm_types;
	int user_memory2;
	int memory_fault_info;
	/*
	 * KVM_CAP_GUEST_MEMFD asked of the VM itself (-1 before one exists):
	 * 6.12 says yes on /dev/kvm and no for a VM type without private
	 * memory, which then refuses KVM_CREATE_GUEST_MEMFD.
	 */
	int vm_guest_memfd;
};

struct vm {
	int kvm_fd;
	int vm_fd;
	int vcpu_fd;
	struct kvm_run *run;
	size_t run_size;

	int gmem_fd;		/* backs [0, mem_size) in SLOT_MAIN */
	uint8_t *mem;		/* the shared view: that gmem's mmap, or anonymous memory */
	uint64_t mem_size;
	uint64_t gmem_flags;
	bool mem_is_gmem;
	/*
	 * false on a KVM without guest_memfd (KVM_CAP_GUEST_MEMFD 0): guest
	 * memory is then anonymous memory in a plain slot, so nothing can be
	 * discarded and no memory-fault exit can be provoked.
	 */
	bool has_gmem;
	struct host_caps caps;

	int fault_gmem_fd;	/* backs the fault window in SLOT_FAULT; -1 when dropped */
	uint8_t *fault_mem;
	uint64_t fault_gpa;
	uint64_t fault_size;

	uint64_t gmem_created;	/* KVM_CREATE_GUEST_MEMFD calls that succeeded */
	uint64_t gmem_created_bytes;

	/*
	 * SW_PROTECTED_VM mode: the fault window [fault_gpa, +fault_size) has a
	 * guest_memfd and a shared view but no memslot until a fault plugs one
	 * 4 KiB slot (SLOT_FAULT + page index) per page.
	 */
	bool swprot;
	uint64_t nr_memslots;	/* KVM_CAP_NR_MEMSLOTS */
	uint64_t slots_plugged;

	struct session *sess;	/* the run this VM is part of (reports write all of it) */
};

#define LOG2_BUCKETS		64
#define ERRNO_SLOTS		4096
#define EXIT_SLOTS		256

struct dir_stats {
	uint64_t attempts;
	uint64_t attempt_bytes;
	uint64_t conversions;
	uint64_t bytes;
	uint64_t size_log2_hist[LOG2_BUCKETS];
	uint64_t attempt_size_log2_hist[LOG2_BUCKETS];
};

struct fault_rec {
	uint64_t gpa;
	uint64_t size;
	uint64_t flags;
};

/* The ground truth printed as JSON: only what the VMM itself did and saw. */
struct truth {
	uint64_t mailbox;
	uint64_t memory_fault;
	struct dir_stats to_private;
	struct dir_stats to_shared;
	uint64_t attr_errors[ERRNO_SLOTS];	/* by errno; the last slot collects the rest */
	uint64_t discards;
	uint64_t discard_bytes;
	uint64_t discard_errors;
	struct fault_rec *faults;
	size_t nfaults;
	uint64_t exits[EXIT_SLOTS];		/* by kvm_run->exit_reason */
	uint64_t kvm_run_errors;
	uint64_t loop_exits;
	uint64_t loop_ns;

	/* SW_PROTECTED_VM mode only (swprot.c); printed only in that mode. */
	struct swprot_truth *sw;
};

struct hc_rec {
	uint64_t gpa;
	uint64_t npages;
	uint64_t attrs;
	uint64_t ret;		/* run->hypercall.ret the VMM gave back */
};

struct src_stats {
	uint64_t attempts;
	uint64_t conversions;
	uint64_t bytes;
};

enum outcome { OUT_COMPLETED, OUT_STOPPED, OUT_KILLED };

struct swprot_truth {
	uint64_t hypercall;		/* MAP_GPA_RANGE exits */
	uint64_t hc_to_private;
	uint64_t hc_to_shared;
	struct hc_rec *hcs;		/* the first HC_LIST_MAX of them */
	size_t nhcs;
	uint64_t setup_attr_calls;	/* the VMM's own initial PRIVATE, outside the books */
	uint64_t setup_attr_bytes;
	uint64_t setup_attr_size_log2_hist[LOG2_BUCKETS];
	struct src_stats by_hypercall;	/* attribute calls per request source */
	struct src_stats by_fault;
	uint64_t shared_discards;	/* MADV_DONTNEED of the shared view after to_private */
	uint64_t shared_discard_bytes;
	uint64_t shared_discard_errors;
	uint64_t attr_retries;
	uint64_t guest_failed_requests;	/* requests the VMM failed (--on-deny fail/retry) */
	/*
	 * The guest's own count of failed hypercalls (guest_hdr_swprot.hc_failed),
	 * copied out of guest memory when the run ends, stops or is killed: the
	 * report may be written after that memory is gone (--vms).
	 */
	uint64_t guest_seen_failures;
	uint64_t handled_requests;	/* hypercalls + memory faults handled */
	uint64_t run_ns;		/* first KVM_RUN to the final hlt */
	/*
	 * KVM's PRIVATE bit per guest page below 4 GiB, as this VMM set it,
	 * and, before each to_shared attempt, the bytes of guest_memfd not
	 * private: the truth of privmem's max_shared ceiling (the first
	 * HC_LIST_MAX attempts). NULL in the sums of a --vms run.
	 */
	uint8_t *private_bits;
	uint64_t private_bytes;
	struct { uint64_t shared_before, size; } *shared_before;
	size_t nshared_before;
	enum outcome outcome;
	/* --on-deny stop: the request that stopped the VM */
	bool stop_hypercall;
	uint64_t stop_gpa, stop_size, stop_to_private;
	int stop_errno;
};

#define HC_LIST_MAX		65536

/* --vms: at most this many VMs in one run (each keeps its records to the end). */
#define MAX_VMS			64

/* One VM of a run: its options (seed + index), VMM state and ground truth. */
struct vm_rec {
	struct opts o;
	struct vm vm;
	struct truth t;
};

/*
 * The run: every VM made so far, so that a report written from inside one
 * VM's run (--kill-after-requests, --on-deny stop) has all of them.
 */
struct session {
	const struct opts *o;	/* as given: the top level's seed */
	struct vm_rec *recs;	/* o->vms of them */
	size_t started;		/* VMs made so far; the last may still be running */
	uint64_t handled;	/* requests and memory faults of all VMs (--kill-after-requests) */
};

/*
 * The host may read and write a guest_memfd through mmap only with both
 * flags: INIT_SHARED is what lets its pages fault in as shared.  Without
 * them (VM types with private memory) the shared view is separate memory.
 */
static inline bool gmem_is_host_view(uint64_t flags)
{
	const uint64_t both = PM_GUEST_MEMFD_FLAG_MMAP | PM_GUEST_MEMFD_FLAG_INIT_SHARED;

	return (flags & both) == both;
}

/* One 4 KiB page per fault, in whole 2 MiB pages of the guest's map. */
static inline uint64_t fault_window_size(uint64_t faults)
{
	return (faults * PAGE_SIZE_4K + SZ_2M - 1) & ~(SZ_2M - 1);
}

/* kvm.c */
void die_errno(const char *what, int err) __attribute__((noreturn));
void vm_open(struct vm *vm);
void vm_check_type(const struct vm *vm, const struct opts *o);
void vm_create(struct vm *vm, const struct opts *o);
void vm_set_main_memory(struct vm *vm);
void vm_fault_window_add(struct vm *vm);
void vm_fault_window_drop(struct vm *vm);
void vm_fault_window_delete_slot(struct vm *vm);
void vm_fault_window_create_unplugged(struct vm *vm);
void vm_fault_window_plug(struct vm *vm, uint64_t page);
void vm_create_vcpu(struct vm *vm);
bool vm_set_native(struct vm *vm, bool on);
void vm_destroy(struct vm *vm);

/* churn.c */
int churn_run(const struct opts *o, struct vm *kvm);

/* guest.c */
void guest_load(struct vm *vm);
void guest_set_regs(struct vm *vm);

/* workload.c */
uint64_t workload_table_end(uint64_t nreq);
void workload_requests(const struct opts *o, uint64_t mem_size, struct guest_req *tab);
void workload_prepare(struct vm *vm, const struct opts *o);
void workload_run(struct vm *vm, const struct opts *o, struct truth *t);

/* swprot.c */
void swprot_set_memory(struct vm *vm, const struct opts *o, struct truth *t);
void swprot_prepare(struct vm *vm, const struct opts *o);
void swprot_run(struct vm *vm, const struct opts *o, struct truth *t);

/* guest.c */
void guest_load_swprot(struct vm *vm);

/* report.c */
const char *errno_name(int err, char *buf, size_t len);
typedef int (*report_put_fn)(FILE *f, const void *ctx);
int report_put_json(const char *path, report_put_fn put, const void *ctx);
void report_put_host(FILE *f, const struct vm *vm);
int report_write(const struct session *s);
int report_write_durable(const struct session *s);
void report_and_kill(const struct session *s) __attribute__((noreturn));

/* The clocks every part of testvmm reads: one definition. */
static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline void sleep_ms(uint64_t ms)
{
	struct timespec ts = { .tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

#endif
