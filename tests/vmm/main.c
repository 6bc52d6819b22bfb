// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * testvmm: the project's demo VM and the ground truth of its exact-count
 * tests.  Options, validation and the top-level ladder live here.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vmm.h"

static const char usage[] =
"Usage: testvmm [OPTIONS]\n"
"Run a one-vCPU guest on a guest_memfd and convert its memory on request,\n"
"as a VMM does; print what was done as one JSON object.  Where KVM has no\n"
"guest_memfd (KVM_CAP_GUEST_MEMFD 0), VM types but 1 run on anonymous memory:\n"
"the attribute calls are made, but nothing is punched and no fault is possible.\n"
"\n"
"  --seed N            request stream seed (default 1)\n"
"  --requests N        conversion requests the guest makes (default 37)\n"
"  --size BYTES        every request this size (multiple of 4 KiB; default: seeded,\n"
"                      4 KiB..2 MiB, powers of two and not)\n"
"  --dir D             shared | private | mixed (default mixed: seeded)\n"
"  --faults N          KVM_EXIT_MEMORY_FAULT exits to provoke (default 0); they need a\n"
"                      guest_memfd: on a KVM without one, exit 2, unless\n"
"  --faults-if-possible  ... then run with 0 faults (the JSON says \"guest_memfd\":false)\n"
"  --exits N           port-I/O exits in a timed loop (default 0)\n"
"  --mem BYTES         guest memory = guest_memfd size (default 64M; K/M/G suffixes)\n"
"  --vm-type N         KVM_CREATE_VM type (default 0; 1 = KVM_X86_SW_PROTECTED_VM:\n"
"                      private memory, MAP_GPA_RANGE hypercalls, see below)\n"
"  --swprot            the same as --vm-type 1\n"
"  --gmem-flags F      guest_memfd flags (default 3 = MMAP|INIT_SHARED for type 0, else 0;\n"
"                      without both bits the shared view is anonymous memory)\n"
"  --on-deny MODE      type 1: what a failed KVM_SET_MEMORY_ATTRIBUTES does: fail (default:\n"
"                      the hypercall returns -errno to the guest), retry (3 more tries,\n"
"                      10 ms apart, then fail), stop (write the JSON, exit 3, as QEMU stops)\n"
"  --kill-after-requests N  after handling the Nth request (or memory fault), write the\n"
"                      JSON (fsync'ed) and SIGKILL itself\n"
"  --start-delay-ms MS sleep after creating the VM, before running the guest\n"
"  --hold-ms MS        keep the VM open this long after the JSON is written\n"
"  --vms N             make N VMs (1..64) one after another, each closed before the\n"
"                      next, seeds seed+0..N-1; the JSON sums them and lists each\n"
"                      in \"vms\" (default 1: one VM, no \"vms\")\n"
"  --churn N           instead of the workload: make and destroy N VMs (1..2^20) as fast\n"
"                      as KVM allows, each with a 2 MiB guest_memfd (where KVM has\n"
"                      them) and one KVM_SET_MEMORY_ATTRIBUTES, no vCPU; with only\n"
"                      --vm-type/--swprot, --gmem-flags, --hold-ms, --json, --verbose\n"
"  --churn-pass-every K  destroy every K-th VM by passing its fds (SCM_RIGHTS) to a\n"
"                      helper process that closes them (default 0: never)\n"
"  --churn-hold-every M  keep every M-th VM open to the end of the run, through the\n"
"                      JSON and --hold-ms (default 0: never)\n"
"  --json FILE         write the JSON there (default stdout; renamed into place)\n"
"  --verbose           log each request and fault to stderr\n"
"  --help              this text\n"
"\n"
"Each to_shared request is KVM_SET_MEMORY_ATTRIBUTES(0) then a PUNCH_HOLE on the\n"
"guest_memfd (if any); each to_private request is KVM_SET_MEMORY_ATTRIBUTES(PRIVATE).\n"
"With --vm-type 1 the data region starts private, the guest asks with MAP_GPA_RANGE\n"
"hypercalls and faults on private pages, and the VMM converts as QEMU does:\n"
"attributes, then discard of the other side (PUNCH_HOLE, or MADV_DONTNEED of the\n"
"shared view).\n"
"Exit codes: 0 ok, 1 KVM or system failure, 2 bad options, 3 stopped on a failed\n"
"conversion (--on-deny stop).\n";

enum {
	OPT_SEED = 256, OPT_REQUESTS, OPT_SIZE, OPT_DIR, OPT_FAULTS, OPT_EXITS, OPT_MEM,
	OPT_VM_TYPE, OPT_GMEM_FLAGS, OPT_START_DELAY, OPT_HOLD, OPT_JSON, OPT_VERBOSE,
	OPT_HELP, OPT_SWPROT, OPT_ON_DENY, OPT_KILL_AFTER, OPT_FAULTS_IF_POSSIBLE, OPT_VMS,
	OPT_CHURN, OPT_CHURN_PASS, OPT_CHURN_HOLD, OPT_END,
};

static const struct option longopts[] = {
	{ "seed", required_argument, NULL, OPT_SEED },
	{ "requests", required_argument, NULL, OPT_REQUESTS },
	{ "size", required_argument, NULL, OPT_SIZE },
	{ "dir", required_argument, NULL, OPT_DIR },
	{ "faults", required_argument, NULL, OPT_FAULTS },
	{ "faults-if-possible", no_argument, NULL, OPT_FAULTS_IF_POSSIBLE },
	{ "exits", required_argument, NULL, OPT_EXITS },
	{ "mem", required_argument, NULL, OPT_MEM },
	{ "vm-type", required_argument, NULL, OPT_VM_TYPE },
	{ "gmem-flags", required_argument, NULL, OPT_GMEM_FLAGS },
	{ "start-delay-ms", required_argument, NULL, OPT_START_DELAY },
	{ "hold-ms", required_argument, NULL, OPT_HOLD },
	{ "json", required_argument, NULL, OPT_JSON },
	{ "verbose", no_argument, NULL, OPT_VERBOSE },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "swprot", no_argument, NULL, OPT_SWPROT },
	{ "on-deny", required_argument, NULL, OPT_ON_DENY },
	{ "kill-after-requests", required_argument, NULL, OPT_KILL_AFTER },
	{ "vms", required_argument, NULL, OPT_VMS },
	{ "churn", required_argument, NULL, OPT_CHURN },
	{ "churn-pass-every", required_argument, NULL, OPT_CHURN_PASS },
	{ "churn-hold-every", required_argument, NULL, OPT_CHURN_HOLD },
	{ NULL, 0, NULL, 0 },
};

static void __attribute__((noreturn, format(printf, 1, 2))) bad(const char *fmt, ...)
{
	va_list ap;

	fputs("testvmm: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (see --help)\n", stderr);
	exit(2);
}

static uint64_t parse_u64(const char *opt, const char *s, bool suffixes)
{
	unsigned long long v;
	uint64_t mult = 1;
	char *end;

	errno = 0;
	if (*s == '-' || *s == '\0')
		bad("--%s: not a number: '%s'", opt, s);
	v = strtoull(s, &end, 0);
	if (errno)
		bad("--%s: not a number: '%s'", opt, s);
	if (suffixes && *end && !end[1]) {
		switch (*end) {
		case 'k': case 'K': mult = 1ull << 10; end++; break;
		case 'm': case 'M': mult = 1ull << 20; end++; break;
		case 'g': case 'G': mult = 1ull << 30; end++; break;
		}
	}
	if (*end)
		bad("--%s: not a number: '%s'", opt, s);
	if (v > UINT64_MAX / mult)
		bad("--%s: too large: '%s'", opt, s);
	return (uint64_t)v * mult;
}

#define MAX_CHURN	(1ull << 20)

_Static_assert(OPT_END - OPT_SEED <= 64, "every option has a bit in `given`");

static uint64_t opt_bit(int opt)
{
	return 1ull << (opt - OPT_SEED);
}

static const char *opt_name(int opt)
{
	for (const struct option *l = longopts; l->name; l++)
		if (l->val == opt)
			return l->name;
	return "?";
}

/*
 * --churn makes VMs and runs no guest, so every option of the workload is
 * meaningless with it (and --vms is the other way of making many VMs);
 * its own options mean nothing without it.  Each is refused, not ignored,
 * so a test never believes it ran what it did not.
 */
static void check_churn_opts(uint64_t given)
{
	static const int workload_only[] = {
		OPT_VMS, OPT_SEED, OPT_REQUESTS, OPT_SIZE, OPT_DIR, OPT_FAULTS,
		OPT_FAULTS_IF_POSSIBLE, OPT_EXITS, OPT_MEM, OPT_ON_DENY, OPT_KILL_AFTER,
		OPT_START_DELAY,
	};

	if (!(given & opt_bit(OPT_CHURN))) {
		if (given & opt_bit(OPT_CHURN_PASS))
			bad("--churn-pass-every: only with --churn");
		if (given & opt_bit(OPT_CHURN_HOLD))
			bad("--churn-hold-every: only with --churn");
		return;
	}
	for (size_t i = 0; i < sizeof(workload_only) / sizeof(workload_only[0]); i++)
		if (given & opt_bit(workload_only[i]))
			bad("--churn and --%s: --churn runs no guest workload", opt_name(workload_only[i]));
}

static void parse_opts(int argc, char **argv, struct opts *o)
{
	bool gmem_flags_set = false, on_deny_set = false;
	uint64_t gmem_flags = 0, given = 0;
	int c;

	*o = (struct opts){ .seed = 1, .requests = 37, .mem = 64ull << 20, .dir = DIR_MIXED,
			    .vms = 1 };
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		const char *name = optind > 0 && optind <= argc ? argv[optind - 1] : "?";

		if (c >= OPT_SEED && c < OPT_END)
			given |= opt_bit(c);
		switch (c) {
		case OPT_SEED: o->seed = parse_u64("seed", optarg, false); break;
		case OPT_REQUESTS: o->requests = parse_u64("requests", optarg, false); break;
		case OPT_SIZE:
			o->size = parse_u64("size", optarg, true);
			if (!o->size)
				bad("--size: must be at least 4096");
			break;
		case OPT_FAULTS: o->faults = parse_u64("faults", optarg, false); break;
		case OPT_FAULTS_IF_POSSIBLE: o->faults_if_possible = true; break;
		case OPT_EXITS: o->exits = parse_u64("exits", optarg, false); break;
		case OPT_MEM: o->mem = parse_u64("mem", optarg, true); break;
		case OPT_VM_TYPE: o->vm_type = parse_u64("vm-type", optarg, false); break;
		case OPT_GMEM_FLAGS:
			gmem_flags = parse_u64("gmem-flags", optarg, false);
			gmem_flags_set = true;
			break;
		case OPT_START_DELAY: o->start_delay_ms = parse_u64("start-delay-ms", optarg, false); break;
		case OPT_HOLD: o->hold_ms = parse_u64("hold-ms", optarg, false); break;
		case OPT_JSON: o->json = optarg; break;
		case OPT_VERBOSE: o->verbose = true; break;
		case OPT_SWPROT: o->vm_type = PM_KVM_X86_SW_PROTECTED_VM; break;
		case OPT_KILL_AFTER:
			o->kill_after = parse_u64("kill-after-requests", optarg, false);
			if (!o->kill_after)
				bad("--kill-after-requests: must be at least 1");
			break;
		case OPT_VMS:
			o->vms = parse_u64("vms", optarg, false);
			if (!o->vms || o->vms > MAX_VMS)
				bad("--vms: 1 to %d", MAX_VMS);
			break;
		case OPT_CHURN:
			o->churn = parse_u64("churn", optarg, false);
			if (!o->churn || o->churn > MAX_CHURN)
				bad("--churn: 1 to %llu", (unsigned long long)MAX_CHURN);
			break;
		case OPT_CHURN_PASS: o->churn_pass_every = parse_u64("churn-pass-every", optarg, false); break;
		case OPT_CHURN_HOLD: o->churn_hold_every = parse_u64("churn-hold-every", optarg, false); break;
		case OPT_ON_DENY:
			if (!strcmp(optarg, "fail"))
				o->on_deny = DENY_FAIL;
			else if (!strcmp(optarg, "retry"))
				o->on_deny = DENY_RETRY;
			else if (!strcmp(optarg, "stop"))
				o->on_deny = DENY_STOP;
			else
				bad("--on-deny: expected fail, retry or stop, not '%s'", optarg);
			on_deny_set = true;
			break;
		case OPT_DIR:
			if (!strcmp(optarg, "shared"))
				o->dir = DIR_SHARED;
			else if (!strcmp(optarg, "private"))
				o->dir = DIR_PRIVATE;
			else if (!strcmp(optarg, "mixed"))
				o->dir = DIR_MIXED;
			else
				bad("--dir: expected shared, private or mixed, not '%s'", optarg);
			break;
		case OPT_HELP:
			fputs(usage, stdout);
			exit(0);
		case ':':
			bad("%s: needs a value", name);
		default:
			bad("%s: unknown option, or a value where none is taken", name);
		}
	}
	/* after "--": a VMM's own words (QEMU's -name guest=...), for the VM name tests */
	if (optind < argc && strcmp(argv[optind - 1], "--"))
		bad("unexpected argument '%s'", argv[optind]);
	if (on_deny_set && !opts_swprot(o))
		bad("--on-deny: only with --vm-type 1 (other VM types convert nothing for real)");
	check_churn_opts(given);

	o->faults_asked = o->faults;
	o->gmem_flags_set = gmem_flags_set;
	o->gmem_flags = gmem_flags_set ? gmem_flags
		: o->vm_type == PM_KVM_X86_DEFAULT_VM
			? PM_GUEST_MEMFD_FLAG_MMAP | PM_GUEST_MEMFD_FLAG_INIT_SHARED : 0;
}

#define MAX_REQUESTS	(1ull << 26)
#define MAX_FAULTS	(1ull << 20)
#define MAX_EXITS	(1ull << 40)
#define MAX_MS		(1ull << 32)

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

/* Refuse, as a usage error, anything the guest layout cannot hold. */
static void check_opts(const struct opts *o)
{
	uint64_t base, need;

	if (o->requests > MAX_REQUESTS)
		bad("--requests: at most %llu", (unsigned long long)MAX_REQUESTS);
	if (o->faults > MAX_FAULTS)
		bad("--faults: at most %llu", (unsigned long long)MAX_FAULTS);
	if (o->exits > MAX_EXITS)
		bad("--exits: at most %llu", (unsigned long long)MAX_EXITS);
	if (o->hold_ms > MAX_MS || o->start_delay_ms > MAX_MS)
		bad("--hold-ms/--start-delay-ms: at most %llu", (unsigned long long)MAX_MS);
	if (o->size && o->size % PAGE_SIZE_4K)
		bad("--size: %llu is not a multiple of 4096", (unsigned long long)o->size);
	if (o->mem % PAGE_SIZE_4K)
		bad("--mem: %llu is not a multiple of 4096", (unsigned long long)o->mem);
	if (o->gmem_flags & ~(PM_GUEST_MEMFD_FLAG_MMAP | PM_GUEST_MEMFD_FLAG_INIT_SHARED))
		bad("--gmem-flags: only MMAP (1) and INIT_SHARED (2) are known");
	if (opts_swprot(o) && (o->gmem_flags & PM_GUEST_MEMFD_FLAG_MMAP))
		bad("--gmem-flags: with --vm-type 1 the guest_memfd holds private memory only (no MMAP)");
	if (o->faults && !opts_swprot(o) && !gmem_is_host_view(o->gmem_flags))
		bad("--faults needs --gmem-flags 3: the recipe needs the gmem to be the only backing");

	base = workload_table_end(o->requests);
	need = base + (o->size ? o->size : SZ_2M);
	if (o->mem < need)
		bad("--mem: %llu is too small, the table and the largest request need %llu",
		    (unsigned long long)o->mem, (unsigned long long)need);
	if (align_up(o->mem, SZ_2M) + fault_window_size(o->faults) > GUEST_IDMAP_LIMIT)
		bad("--mem: guest memory and fault window must fit in the first 4 GiB");
}

/*
 * A KVM without guest_memfd can still run host mode on anonymous memory,
 * and its guests' requests still make every KVM_SET_MEMORY_ATTRIBUTES
 * call.  What needs a gmem cannot happen there: asking for it explicitly
 * is a usage error for this host (one line, exit 2), so a test never
 * mistakes a run without faults for the one it asked for; a test that can
 * do with whatever the host offers says --faults-if-possible and reads
 * "guest_memfd" and "requests.memory_fault" from the JSON.
 */
static void fit_to_host(struct opts *o, const struct vm *vm)
{
	/* the VM's answer where one exists (6.12: yes on /dev/kvm, no for a type-0 VM) */
	int cap = vm->caps.vm_guest_memfd >= 0 ? vm->caps.vm_guest_memfd : vm->caps.guest_memfd;

	if (vm->has_gmem || opts_swprot(o))
		return;	/* type 1 refuses a KVM without gmem itself (vm_create) */
	if (o->gmem_flags_set) {
		fprintf(stderr, "testvmm: --gmem-flags: this host's KVM has no guest_memfd "
			"(KVM_CAP_GUEST_MEMFD=%d)\n", cap);
		exit(2);
	}
	if (!o->faults)
		return;
	if (!o->faults_if_possible) {
		fprintf(stderr, "testvmm: --faults %llu: this host's KVM has no guest_memfd "
			"(KVM_CAP_GUEST_MEMFD=%d), so no memory-fault exit can be made "
			"(--faults-if-possible runs with 0)\n",
			(unsigned long long)o->faults, cap);
		exit(2);
	}
	fprintf(stderr, "testvmm: --faults %llu --faults-if-possible: no guest_memfd on this host, "
		"running with 0 memory faults\n", (unsigned long long)o->faults);
	o->faults = 0;
}

/*
 * One VM's whole life but its end: created, its memory and vCPU set up,
 * the guest run to its hlt.  r->vm is open afterwards, for the report and
 * --hold-ms (the last VM) or to be destroyed before the next (--vms).
 */
static void run_vm(struct vm_rec *r)
{
	struct opts *o = &r->o;
	struct vm *vm = &r->vm;
	struct truth *t = &r->t;

	vm_create(vm, o);
	fit_to_host(o, vm);	/* again: the VM may have said no guest_memfd where /dev/kvm said yes */
	vm_set_main_memory(vm);
	if (o->faults) {
		vm->fault_gpa = align_up(vm->mem_size, SZ_2M);
		vm->fault_size = fault_window_size(o->faults);
		if (vm->swprot)
			vm_fault_window_create_unplugged(vm);
		else
			vm_fault_window_add(vm);
	}
	if (vm->swprot)
		swprot_set_memory(vm, o, t);
	vm_create_vcpu(vm);
	if (vm->swprot) {
		guest_load_swprot(vm);
		swprot_prepare(vm, o);
	} else {
		guest_load(vm);
		workload_prepare(vm, o);
	}
	guest_set_regs(vm);

	if (o->start_delay_ms)
		sleep_ms(o->start_delay_ms);
	if (vm->swprot) {
		swprot_run(vm, o, t);
		fprintf(stderr, "testvmm: swprot: %llu hypercalls and %llu memory faults in %.1f ms, "
			"%.0f requests/s\n", (unsigned long long)t->sw->hypercall,
			(unsigned long long)t->memory_fault, (double)t->sw->run_ns / 1e6,
			t->sw->run_ns ? (double)t->sw->handled_requests * 1e9 / (double)t->sw->run_ns : 0.0);
	} else {
		workload_run(vm, o, t);
	}

	if (o->exits && t->loop_ns)
		fprintf(stderr, "testvmm: exit loop: %llu exits in %llu ns, %.0f exits/s\n",
			(unsigned long long)t->loop_exits, (unsigned long long)t->loop_ns,
			(double)t->loop_exits * 1e9 / (double)t->loop_ns);
}

static void free_truth(struct truth *t)
{
	free(t->faults);
	if (t->sw) {
		free(t->sw->hcs);
		free(t->sw->private_bits);
		free(t->sw->shared_before);
		free(t->sw);
	}
}

/* --churn: only /dev/kvm is opened here; churn.c makes and destroys the VMs. */
static int churn_main(struct opts *o)
{
	struct vm kvm;
	int rc;

	vm_open(&kvm);
	fit_to_host(o, &kvm);
	rc = churn_run(o, &kvm);
	vm_destroy(&kvm);
	return rc;
}

/*
 * --vms N: N VMs in turn, each with every fd and mapping closed before
 * the next is made, so the kernel frees its struct kvm and (likely)
 * hands the same address to the next: what privmem must tell apart.
 * Each VM's request stream is seeded with seed + its index.  The last VM
 * stays open through the report and --hold-ms, as a single run's does.
 */
int main(int argc, char **argv)
{
	static struct session sess;
	struct opts o;
	int rc = 0;

	parse_opts(argc, argv, &o);
	check_opts(&o);
	if (o.churn)
		return churn_main(&o);
	sess.o = &o;
	sess.recs = calloc(o.vms, sizeof(*sess.recs));	/* large: keep them off the stack */
	if (!sess.recs)
		die_errno("calloc", ENOMEM);

	for (size_t i = 0; i < o.vms; i++) {
		struct vm_rec *r = &sess.recs[i];

		vm_open(&r->vm);
		if (i == 0)
			fit_to_host(&o, &r->vm);
		r->o = o;
		r->o.seed = o.seed + i;
		r->vm.sess = &sess;
		sess.started = i + 1;
		run_vm(r);
		if (i + 1 < o.vms)
			vm_destroy(&r->vm);
	}

	if (report_write(&sess) < 0)
		rc = 1;
	else if (o.hold_ms)
		sleep_ms(o.hold_ms);
	vm_destroy(&sess.recs[o.vms - 1].vm);
	for (size_t i = 0; i < o.vms; i++)
		free_truth(&sess.recs[i].t);
	free(sess.recs);
	return rc;
}
