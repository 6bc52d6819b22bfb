// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sys/random.h>
#include <time.h>
#include "privmem/kvm_abi.h"
#include "privmem/hookcheck.h"
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include "capture.h"
#include "ksyms.h"
#include "capture.skel.h"

static uint64_t percpu_sum(int fd, uint32_t key, int ncpus);

struct pm_capture {
	struct capture_bpf *skel;
	struct ring_buffer *rb;
	struct pm_hook_status hooks[PM_HOOK_MAX];
	struct bpf_link *plink[24];	/* per entry of progs[] */
	struct bpf_link *standin[4];	/* syscall tracepoints standing in for a silent trampoline */
	/* what an earlier pass of the load found refused: only those hooks go */
	struct { bool on; char why[160]; } refused[PM_HOOK_MAX];
	pm_event_fn cb;
	void *ctx;
	int ncpus;
	char pin_dir[128];
	bool pin;
	bool ioctl_standby;		/* syscall ioctl programs loaded, unattached, ready to stand in */
	bool lsm_nosleep;		/* the kernel refused the sleepable LSM program */
	bool baselining;		/* cross_check_baseline: take counts, judge nothing */
	/* cross-check: counts when the hook last moved (see check_silent) */
	struct { uint64_t hook, sib; } xsnap[PM_HOOK_MAX];
};

/* libbpf's own messages, kept so a failed load can name the verifier's reason. */
static char libbpf_log[16384];
static size_t libbpf_log_len;

static int log_libbpf(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	int n;

	if (level == LIBBPF_DEBUG)
		return 0;
	if (getenv("PRIVMEM_LIBBPF_LOG")) {
		va_list cp;

		va_copy(cp, ap);
		vfprintf(stderr, fmt, cp);
		va_end(cp);
	}
	if (libbpf_log_len > sizeof(libbpf_log) - 512)
		libbpf_log_len = 0;
	n = vsnprintf(libbpf_log + libbpf_log_len, sizeof(libbpf_log) - libbpf_log_len, fmt, ap);
	if (n > 0)
		libbpf_log_len += (size_t)n < sizeof(libbpf_log) - libbpf_log_len ? (size_t)n : 0;
	return 0;
}

/* The verifier's last complaint is the line just before libbpf's summary. */
static void last_reason(char *out, size_t len)
{
	static char copy[sizeof(libbpf_log)];	/* strtok_r cuts it up: the log stays whole for failed_prog() */
	char *line, *save = NULL, *best = NULL, *prev = NULL;

	memcpy(copy, libbpf_log, sizeof(copy));
	copy[sizeof(copy) - 1] = '\0';
	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (strstr(line, "-- END PROG LOAD LOG --") && prev)
			best = prev;
		if (!best && (strstr(line, "failed to load") || strstr(line, "permission")))
			best = line;
		prev = line;
	}
	if (!best)
		best = prev;
	snprintf(out, len, "%s", best ? best : "no log");
}

static void set_hook(struct pm_capture *c, enum pm_hook h, const char *name, const char *covers, bool tax)
{
	c->hooks[h].name = name;
	c->hooks[h].covers = covers;
	c->hooks[h].taxes_all = tax;
	c->hooks[h].state = PM_HOOK_UNAVAILABLE;
	c->hooks[h].reason[0] = '\0';
}

static void hook_reason(struct pm_capture *c, enum pm_hook h, enum pm_hook_state st, const char *fmt, ...)
{
	va_list ap;

	c->hooks[h].state = st;
	va_start(ap, fmt);
	vsnprintf(c->hooks[h].reason, sizeof(c->hooks[h].reason), fmt, ap);
	va_end(ap);
}

/*
 * The kernel's BTF, parsed once per open: vmlinux and KVM's modules. Parsing
 * vmlinux takes a while (seconds under emulation); the probe asks it a
 * dozen questions.
 */
static struct btf *kbtf[4];	/* vmlinux, kvm, kvm_amd, kvm_intel */

static void kbtf_load(void)
{
	static const char *const mods[] = { "kvm", "kvm_amd", "kvm_intel" };

	if (kbtf[0])
		return;
	kbtf[0] = btf__load_vmlinux_btf();
	if (!kbtf[0])
		return;
	for (int i = 0; i < 3; i++)
		kbtf[i + 1] = btf__load_module_btf(mods[i], kbtf[0]);
}

static void kbtf_free(void)
{
	/* modules' BTF is split on vmlinux's: free them first */
	for (int i = 3; i >= 0; i--) {
		btf__free(kbtf[i]);
		kbtf[i] = NULL;
	}
}

/* Parameters of a tracepoint's BTF prototype (ctx included), or -ENOENT. */
static int tp_nparams(const char *tp)
{
	char tname[128];

	kbtf_load();
	snprintf(tname, sizeof(tname), "btf_trace_%s", tp);
	for (int i = 0; i < 4; i++) {
		const struct btf_type *t;
		int id;

		if (!kbtf[i])
			continue;
		id = btf__find_by_name_kind(kbtf[i], tname, BTF_KIND_TYPEDEF);
		if (id <= 0)
			continue;
		t = btf__type_by_id(kbtf[i], btf__resolve_type(kbtf[i], id));
		if (t && btf_is_ptr(t))
			t = btf__type_by_id(kbtf[i], t->type);
		return t && btf_is_func_proto(t) ? btf_vlen(t) : -ENOENT;
	}
	return -ENOENT;
}

/* Is NAME a function in vmlinux or KVM's module BTF (an fentry/fexit target)? */
static bool btf_has_func(const char *name)
{
	kbtf_load();
	for (int i = 0; i < 4; i++)
		if (kbtf[i] && btf__find_by_name_kind(kbtf[i], name, BTF_KIND_FUNC) > 0)
			return true;
	return false;
}

static bool syscall_tp_exists(const char *name)
{
	char p[256];

	snprintf(p, sizeof(p), "/sys/kernel/tracing/events/syscalls/%s/id", name);
	if (access(p, R_OK) == 0)
		return true;
	snprintf(p, sizeof(p), "/sys/kernel/debug/tracing/events/syscalls/%s/id", name);
	return access(p, R_OK) == 0;
}

/* Trampoline hooks, in groups that must all be live to replace a syscall tracepoint. */
static const struct {
	enum pm_hook hook;
	const char *func;
	const char *covers;
} fexit_hooks[] = {
	{ PM_HOOK_VM_IOCTL_FEXIT, "kvm_vm_ioctl", "decide, gmem_create" },
	{ PM_HOOK_DEV_IOCTL_FEXIT, "kvm_dev_ioctl", "vm_create" },
	{ PM_HOOK_VCPU_IOCTL_FENTRY, "kvm_vcpu_ioctl", "resume" },
	{ PM_HOOK_GMEM_FALLOC_FEXIT, "kvm_gmem_fallocate", "discard" },
	{ PM_HOOK_DESTROY_FENTRY, "kvm_destroy_vm", "vm_destroy" },
	{ PM_HOOK_GMEM_RELEASE_FENTRY, "kvm_gmem_release", "gmem_close" },
};

static bool live(const struct pm_capture *c, enum pm_hook h)
{
	return c->hooks[h].state == PM_HOOK_LIVE;
}

static void apply_refusal(struct pm_capture *c, enum pm_hook h)
{
	if (c->refused[h].on && c->hooks[h].state == PM_HOOK_LIVE)
		hook_reason(c, h, PM_HOOK_FAILED, "%s", c->refused[h].why);
}

static void probe_fexit(struct pm_capture *c)
{
	for (unsigned i = 0; i < sizeof(fexit_hooks) / sizeof(fexit_hooks[0]); i++) {
		enum pm_hook h = fexit_hooks[i].hook;

		set_hook(c, h, fexit_hooks[i].func, fexit_hooks[i].covers, false);
		if (!btf_has_func(fexit_hooks[i].func))
			hook_reason(c, h, PM_HOOK_UNAVAILABLE, "%s not in kernel BTF", fexit_hooks[i].func);
		else
			c->hooks[h].state = PM_HOOK_LIVE;
		apply_refusal(c, h);
	}
	/* the ioctl group replaces the ioctl tracepoints only as a whole */
	if (!live(c, PM_HOOK_VM_IOCTL_FEXIT) || !live(c, PM_HOOK_DEV_IOCTL_FEXIT) ||
	    !live(c, PM_HOOK_VCPU_IOCTL_FENTRY)) {
		static const enum pm_hook group[] = {
			PM_HOOK_VM_IOCTL_FEXIT, PM_HOOK_DEV_IOCTL_FEXIT, PM_HOOK_VCPU_IOCTL_FENTRY,
		};

		for (unsigned i = 0; i < 3; i++)
			if (live(c, group[i]))
				hook_reason(c, group[i], PM_HOOK_UNAVAILABLE,
					    "needs kvm_vm_ioctl, kvm_dev_ioctl and kvm_vcpu_ioctl together");
	}
}

/*
 * A syscall tracepoint pair where no trampoline covers its calls: live only
 * when asked for (--syscall-hooks), as it taxes every syscall of every
 * process. --no-syscall-hooks is the operator's "never", reported as such
 * whatever the kernel has; the default's "disabled" says the flag would
 * make it live, so the kernel's lacks come before it.
 */
static void probe_syscall_tp(struct pm_capture *c, enum pm_hook h, const char *sc, bool have_sym,
			     const char *sym, bool superseded, enum pm_syscall_hooks want, const char *unseen)
{
	char enter[64], exit_[64];

	snprintf(enter, sizeof(enter), "sys_enter_%s", sc);
	snprintf(exit_, sizeof(exit_), "sys_exit_%s", sc);
	if (superseded)
		hook_reason(c, h, PM_HOOK_SUPERSEDED, "fentry/fexit hooks cover it at no cost to other processes");
	else if (want == PM_SYSCALL_HOOKS_OFF)
		hook_reason(c, h, PM_HOOK_DISABLED, "--no-syscall-hooks");
	else if (!syscall_tp_exists(enter) || !syscall_tp_exists(exit_))
		hook_reason(c, h, PM_HOOK_UNAVAILABLE, "no syscall tracepoints (tracefs unmounted?)");
	else if (!have_sym)
		hook_reason(c, h, PM_HOOK_UNAVAILABLE, "%s not in /proc/kallsyms", sym);
	else if (want == PM_SYSCALL_HOOKS_DEFAULT)
		hook_reason(c, h, PM_HOOK_DISABLED,
			    "not attached by default: %s are not seen on this kernel (no trampolines); "
			    "--syscall-hooks attaches them and taxes every process's syscalls", unseen);
	else
		c->hooks[h].state = PM_HOOK_LIVE;
}

static void probe_tp(struct pm_capture *c, enum pm_hook h, const char *tp, int nparams, const char *why)
{
	int n = tp_nparams(tp);

	if (n == nparams)
		c->hooks[h].state = PM_HOOK_LIVE;
	else
		hook_reason(c, h, PM_HOOK_UNAVAILABLE, n < 0 ? "kernel has no %s tracepoint" : "%s: %s", tp,
			    n < 0 ? "" : why);
}

/* An LSM program attaches even when bpf is not an active LSM, and then enforces nothing. */
static bool bpf_lsm_active(void)
{
	char buf[512] = "";
	FILE *f = fopen("/sys/kernel/security/lsm", "re");
	char *tok, *save = NULL;

	if (!f)
		return false;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
		if (strcmp(tok, "bpf") == 0)
			return true;
	return false;
}

static void probe_lsm(struct pm_capture *c, const struct pm_ksym_req *ks)
{
	set_hook(c, PM_HOOK_LSM, "lsm/file_ioctl", "policy enforcement (deny), audit", false);
	if (access("/sys/kernel/security/lsm", R_OK) != 0)
		hook_reason(c, PM_HOOK_LSM, PM_HOOK_UNAVAILABLE, "securityfs not mounted: cannot tell whether bpf is an active LSM");
	else if (!bpf_lsm_active())
		hook_reason(c, PM_HOOK_LSM, PM_HOOK_UNAVAILABLE, "bpf is not an active LSM (boot with lsm=...,bpf)");
	else if (!ks[1].addr)
		hook_reason(c, PM_HOOK_LSM, PM_HOOK_UNAVAILABLE, "kvm_vm_ioctl not in /proc/kallsyms");
	else
		c->hooks[PM_HOOK_LSM].state = PM_HOOK_LIVE;
	apply_refusal(c, PM_HOOK_LSM);
}

/*
 * Every program and the hook it feeds, in attach order. A program the
 * kernel refuses (at load or attach) costs only its own hook: the load is
 * retried without it, and a fallback that needs it gone takes over.
 */
static const struct {
	const char *prog;
	enum pm_hook hook;
} progs[] = {
	{ "pm_exit", PM_HOOK_EXIT },
	/* exits before enters: an enter without its exit would leave a call in flight */
	{ "pm_sys_exit_ioctl", PM_HOOK_IOCTL_TP },
	{ "pm_sys_exit_compat", PM_HOOK_IOCTL_TP },	/* 32-bit VMMs (raw_syscalls) */
	{ "pm_sys_enter_ioctl", PM_HOOK_IOCTL_TP },
	{ "pm_sys_enter_compat", PM_HOOK_IOCTL_TP },
	{ "pm_sys_exit_fallocate", PM_HOOK_FALLOCATE_TP },
	{ "pm_sys_enter_fallocate", PM_HOOK_FALLOCATE_TP },
	{ "pm_proc_exit", PM_HOOK_PROC_EXIT },
	{ "pm_rmp_fault", PM_HOOK_RMP_FAULT },
	{ "pm_page_fault", PM_HOOK_PAGE_FAULT },
	{ "pm_set_attr", PM_HOOK_SET_ATTR_TP },
	{ "pm_vm_ioctl_exit", PM_HOOK_VM_IOCTL_FEXIT },
	{ "pm_dev_ioctl_exit", PM_HOOK_DEV_IOCTL_FEXIT },
	{ "pm_vcpu_ioctl_entry", PM_HOOK_VCPU_IOCTL_FENTRY },
	{ "pm_gmem_fallocate_exit", PM_HOOK_GMEM_FALLOC_FEXIT },
	{ "pm_destroy_vm", PM_HOOK_DESTROY_FENTRY },
	{ "pm_gmem_release", PM_HOOK_GMEM_RELEASE_FENTRY },
	{ "pm_lsm_ioctl_s", PM_HOOK_LSM },	/* sleepable; pm_lsm_ioctl where refused */
	{ "pm_lsm_ioctl", PM_HOOK_LSM },
	{ "pm_lsm_ioctl_compat", PM_HOOK_LSM_COMPAT },
};
#define NPROGS (sizeof(progs) / sizeof(progs[0]))

static struct bpf_program *prog_of(struct pm_capture *c, unsigned i)
{
	return bpf_object__find_program_by_name(c->skel->obj, progs[i].prog);
}

static bool wanted(const struct pm_capture *c, unsigned i)
{
	if (strcmp(progs[i].prog, "pm_lsm_ioctl_s") == 0)
		return live(c, PM_HOOK_LSM) && !c->lsm_nosleep;
	if (strcmp(progs[i].prog, "pm_lsm_ioctl") == 0)
		return live(c, PM_HOOK_LSM) && c->lsm_nosleep;
	return live(c, progs[i].hook) || (progs[i].hook == PM_HOOK_IOCTL_TP && c->ioctl_standby);
}

static void set_autoload(struct pm_capture *c)
{
	struct bpf_program *p;

	bpf_program__set_autoload(c->skel->progs.pm_inject_exit, false);
	bpf_program__set_autoload(c->skel->progs.pm_inject_decide, false);
	for (unsigned i = 0; i < NPROGS; i++)
		if ((p = prog_of(c, i)))
			bpf_program__set_autoload(p, wanted(c, i));
}

/* 32-bit VMMs' ioctls: security_file_ioctl_compat (6.8+), beside the native hook. */
static void probe_lsm_compat(struct pm_capture *c)
{
	set_hook(c, PM_HOOK_LSM_COMPAT, "lsm/file_ioctl_compat", "policy enforcement of 32-bit VMMs", false);
	if (c->hooks[PM_HOOK_LSM].state != PM_HOOK_LIVE)
		hook_reason(c, PM_HOOK_LSM_COMPAT, PM_HOOK_UNAVAILABLE, "lsm/file_ioctl is not live");
	else if (!btf_has_func("bpf_lsm_file_ioctl_compat"))
		hook_reason(c, PM_HOOK_LSM_COMPAT, PM_HOOK_UNAVAILABLE,
			    "kernel has no security_file_ioctl_compat (before 6.8): compat ioctls take lsm/file_ioctl");
	else
		c->hooks[PM_HOOK_LSM_COMPAT].state = PM_HOOK_LIVE;
}

static void probe(struct pm_capture *c, const struct pm_capture_opts *o, const struct pm_ksym_req *ks)
{
	struct capture_bpf *s = c->skel;
	bool ioctl_fexit, falloc_fexit;

	set_hook(c, PM_HOOK_EXIT, "kvm_userspace_exit", "exits, requests", false);
	set_hook(c, PM_HOOK_IOCTL_TP, "syscalls:ioctl", "vm_create, gmem_create, decide, resume", true);
	set_hook(c, PM_HOOK_FALLOCATE_TP, "syscalls:fallocate", "discard", true);
	set_hook(c, PM_HOOK_PROC_EXIT, "sched_process_exit", "vm_destroy (VMM exit)", false);
	set_hook(c, PM_HOOK_RMP_FAULT, "kvm_rmp_fault", "rmp_fault (aggregated)", false);
	set_hook(c, PM_HOOK_PAGE_FAULT, "kvm_page_fault", "private page_fault (aggregated)", false);
	set_hook(c, PM_HOOK_SET_ATTR_TP, "kvm_vm_set_mem_attributes", "set_attr (aggregated)", false);
	probe_fexit(c);
	probe_lsm(c, ks);
	probe_lsm_compat(c);
	apply_refusal(c, PM_HOOK_LSM_COMPAT);
	s->rodata->policy_in_lsm = live(c, PM_HOOK_LSM);
	s->rodata->lsm_reports_attempt = live(c, PM_HOOK_LSM) && live(c, PM_HOOK_VM_IOCTL_FEXIT);
	ioctl_fexit = live(c, PM_HOOK_VM_IOCTL_FEXIT);
	falloc_fexit = live(c, PM_HOOK_GMEM_FALLOC_FEXIT);

	if (tp_nparams("kvm_userspace_exit") < 0)
		hook_reason(c, PM_HOOK_EXIT, PM_HOOK_UNAVAILABLE, "no kvm_userspace_exit tracepoint (KVM not loaded?)");
	else if (!ks[2].addr)
		hook_reason(c, PM_HOOK_EXIT, PM_HOOK_UNAVAILABLE, "kvm_vcpu_ioctl not in /proc/kallsyms");
	else
		c->hooks[PM_HOOK_EXIT].state = PM_HOOK_LIVE;
	probe_syscall_tp(c, PM_HOOK_IOCTL_TP, "ioctl", ks[1].addr, "kvm_vm_ioctl", ioctl_fexit, o->syscall_hooks,
			 "VM creation, attempts, guest_memfd creation and resumes");
	/*
	 * Superseded, yet loaded: it stands in if kvm_vm_ioctl's trampoline
	 * falls silent. Allowed by default (the stand-in only repairs a
	 * trampoline that stopped seeing attempts, and says so); only
	 * --no-syscall-hooks refuses it.
	 */
	c->ioctl_standby = c->hooks[PM_HOOK_IOCTL_TP].state == PM_HOOK_SUPERSEDED &&
			   o->syscall_hooks != PM_SYSCALL_HOOKS_OFF &&
			   syscall_tp_exists("sys_enter_ioctl") && syscall_tp_exists("sys_exit_ioctl") &&
			   ks[1].addr && !c->refused[PM_HOOK_IOCTL_TP].on;
	probe_syscall_tp(c, PM_HOOK_FALLOCATE_TP, "fallocate", ks[3].addr, "kvm_gmem_fallocate", falloc_fexit,
			 o->syscall_hooks, "discards");
	c->hooks[PM_HOOK_PROC_EXIT].state = tp_nparams("sched_process_exit") > 0 ? PM_HOOK_LIVE : PM_HOOK_UNAVAILABLE;
	probe_tp(c, PM_HOOK_RMP_FAULT, "kvm_rmp_fault", 7, "unknown prototype");
	probe_tp(c, PM_HOOK_PAGE_FAULT, "kvm_page_fault", 4, "lacks the vCPU argument");
	probe_tp(c, PM_HOOK_SET_ATTR_TP, "kvm_vm_set_mem_attributes", 4, "unknown prototype");
	if (live(c, PM_HOOK_SET_ATTR_TP) && !ks[1].addr)
		hook_reason(c, PM_HOOK_SET_ATTR_TP, PM_HOOK_UNAVAILABLE, "kvm_vm_ioctl not in /proc/kallsyms");

	for (unsigned h = 0; h < PM_HOOK_MAX; h++)
		apply_refusal(c, h);
	set_autoload(c);
}

/*
 * Everything the LSM program touches: pinned, a restarted privmemd loads its
 * programs against the very maps the running LSM program decides with.
 */
static struct bpf_map *pinned_maps(struct capture_bpf *s, unsigned i)
{
	struct bpf_map *m[] = {
		s->maps.events, s->maps.lost, s->maps.vm_kstats, s->maps.hook_hits, s->maps.vmm_tgids,
		s->maps.vm_rules, s->maps.default_rule, s->maps.vm_mem, s->maps.vm_lsm_buckets, s->maps.lsm_owner,
		s->maps.vm_ids, s->maps.vm_seq, s->maps.state_full, s->maps.dead_vms, s->maps.vm_attr,
		s->maps.exit_slots, s->maps.slot_free, s->maps.slot_seq,
	};

	return i < sizeof(m) / sizeof(m[0]) ? m[i] : NULL;
}

static void pin_paths(struct pm_capture *c)
{
	char path[256];
	struct bpf_map *m;

	mkdir(c->pin_dir, 0700);
	for (unsigned i = 0; (m = pinned_maps(c->skel, i)); i++) {
		snprintf(path, sizeof(path), "%s/%s", c->pin_dir, bpf_map__name(m));
		bpf_map__set_pin_path(m, path);
	}
}

/*
 * Exit slots for every VM the kernel keeps state for, unless that would
 * take more than PM_EXIT_SLOTS_BYTES of per-CPU memory (a big host): then
 * fewer, and the VMs beyond them are counted the slower way.
 */
static void size_exit_slots(struct capture_bpf *s, int ncpus)
{
	uint64_t n = PM_EXIT_SLOTS_BYTES / (sizeof(struct pm_exit_slot) * (uint64_t)(ncpus > 0 ? ncpus : 1));

	if (n < PM_EXIT_SLOTS_MIN)
		n = PM_EXIT_SLOTS_MIN;
	if (n > PM_MAX_VMS_KERNEL)
		n = PM_MAX_VMS_KERNEL;
	bpf_map__set_max_entries(s->maps.exit_slots, (uint32_t)n);
	bpf_map__set_max_entries(s->maps.slot_free, (uint32_t)n);
}

/* No policy to keep: whatever a previous privmemd pinned stops enforcing. */
static void unpin_all(const char *dir)
{
	char path[512];
	DIR *d = opendir(dir);
	struct dirent *de;

	if (!d)
		return;
	snprintf(path, sizeof(path), "%s/link_lsm", dir);
	if (unlink(path) == 0)
		fprintf(stderr, "privmemd: removed the enforcement a previous privmemd left pinned in %s\n", dir);
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
}


static uint64_t pm_gen_fallback(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec) ^ ((uint64_t)getpid() << 40);
}

/* This load's LSM generation: unique per load, never 0 (lsm_owner). */
static uint64_t lsm_generation(void)
{
	static uint64_t n;
	uint64_t g = 0;

	if (getrandom(&g, sizeof(g), 0) != sizeof(g))
		g = pm_gen_fallback();
	g ^= ++n;
	return g ? g : 1;
}

/* The fresh program decides from now on; an old one still attached stands aside. */
static void claim_lsm(struct pm_capture *c)
{
	uint32_t zero = 0;
	uint64_t g = c->skel->rodata->lsm_gen;

	if (bpf_map_update_elem(bpf_map__fd(c->skel->maps.lsm_owner), &zero, &g, BPF_ANY))
		fprintf(stderr, "privmemd: cannot claim the LSM for this load: %s (an old program may decide too)\n",
			strerror(errno));
}

/*
 * The LSM link. One pinned by a previous privmemd is adopted, so
 * enforcement has no gap, and the fresh program takes its place: the old
 * one was loaded for another privmem and another KVM (its rodata holds the
 * addresses of that load). A tracing link cannot be updated in place
 * (BPF_LINK_UPDATE wants update_prog, which tracing links lack), so the
 * fresh program gets its own link, the pin moves to it (rename), it claims
 * the hook (lsm_owner: the old program stands aside from then on, while the
 * kernel takes an RCU grace period to free its link), and the old link
 * goes: never a moment without a decision. An attempt made in the instant
 * between attach and claim is decided twice, never not at all.
 */
static int attach_lsm(struct pm_capture *c, unsigned i, struct bpf_program *p, char *why, size_t len)
{
	char path[256], tmp[272];
	struct bpf_link *old = NULL, *l;
	int err;

	snprintf(path, sizeof(path), "%s/%s", c->pin_dir,
		 progs[i].hook == PM_HOOK_LSM_COMPAT ? "link_lsm_compat" : "link_lsm");
	snprintf(tmp, sizeof(tmp), "%s_new", path);	/* bpffs refuses dots in names (EPERM) */
	if (c->pin)
		old = bpf_link__open(path);
	if (old && bpf_link__update_program(old, p) == 0) {
		c->plink[i] = old;
		claim_lsm(c);
		snprintf(c->hooks[progs[i].hook].reason, sizeof(c->hooks[progs[i].hook].reason),
			 "adopted the pinned link of a previous privmemd, fresh program swapped in");
		return 0;
	}
	l = bpf_program__attach(p);
	if (!l) {
		err = -errno;
		snprintf(why, len, "attach %s: %s", bpf_program__name(p), strerror(errno));
		bpf_link__destroy(old);
		return err;
	}
	c->plink[i] = l;
	if (!c->pin) {
		claim_lsm(c);
		return 0;
	}
	unlink(tmp);
	if (bpf_link__pin(l, old ? tmp : path) || (old && rename(tmp, path))) {
		err = errno;
		/* the old link stays pinned and keeps deciding: no claim, and status says so */
		fprintf(stderr, "privmemd: cannot pin %s: %s (%s)\n", path, strerror(err),
			old ? "the old program keeps deciding" : "enforcement ends with this process");
		unlink(tmp);
		if (old)
			snprintf(c->hooks[progs[i].hook].reason, sizeof(c->hooks[progs[i].hook].reason),
				 "the pinned program of a previous privmemd decides: cannot pin the fresh one (%s)",
				 strerror(err));
		bpf_link__destroy(old);
		return 0;
	}
	claim_lsm(c);
	if (old) {
		bpf_link__destroy(old);	/* unpinned by the rename: this detaches the old program */
		snprintf(c->hooks[progs[i].hook].reason, sizeof(c->hooks[progs[i].hook].reason),
			 "adopted the pinned link of a previous privmemd: a fresh program took it over");
	}
	return 0;
}

static int attach_prog(struct pm_capture *c, unsigned i, char *why, size_t len)
{
	struct bpf_program *p = prog_of(c, i);
	struct bpf_link *l;

	if (!p || !live(c, progs[i].hook) || bpf_program__fd(p) < 0)
		return 0;
	if (progs[i].hook == PM_HOOK_LSM || progs[i].hook == PM_HOOK_LSM_COMPAT)
		return attach_lsm(c, i, p, why, len);
	l = bpf_program__attach(p);
	if (!l) {
		snprintf(why, len, "attach %s: %s", bpf_program__name(p), strerror(errno));
		return -errno;
	}
	c->plink[i] = l;
	return 0;
}

static void detach_all(struct pm_capture *c)
{
	for (unsigned i = 0; i < NPROGS; i++) {
		bpf_link__destroy(c->plink[i]);
		c->plink[i] = NULL;
	}
	for (unsigned i = 0; i < 4; i++) {
		bpf_link__destroy(c->standin[i]);
		c->standin[i] = NULL;
	}
}

/* Attaches every live program; on a refusal, says which hook and why. */
static int attach_all(struct pm_capture *c, int *bad, char *why, size_t len)
{
	for (unsigned i = 0; i < NPROGS; i++) {
		int err = attach_prog(c, i, why, len);

		if (err) {
			*bad = (int)i;
			return err;
		}
	}
	return 0;
}

/* The program libbpf named in its last complaint (load, relocation, attach target). */
static int failed_prog(void)
{
	char name[64] = "", *p = libbpf_log;
	int found = -1;

	while ((p = strstr(p, "prog '"))) {
		char *q = p + 6, *e = strchr(q, '\'');

		p = q;
		if (!e || (size_t)(e - q) >= sizeof(name))
			continue;
		memcpy(name, q, e - q);
		name[e - q] = '\0';
		for (unsigned i = 0; i < NPROGS; i++)
			if (strcmp(progs[i].prog, name) == 0)
				found = (int)i;
	}
	return found;
}

static bool sleepable_lsm(const struct pm_capture *c, unsigned i)
{
	return strcmp(progs[i].prog, "pm_lsm_ioctl_s") == 0 && !c->lsm_nosleep;
}

/* Program I refused: its hook goes (the sleepable LSM only gives way to the plain one). */
static void refused_prog(struct pm_capture *c, unsigned i, const char *fmt, ...)
{
	enum pm_hook h = progs[i].hook;
	va_list ap;

	if (sleepable_lsm(c, i)) {
		c->lsm_nosleep = true;
		return;
	}
	c->refused[h].on = true;
	va_start(ap, fmt);
	vsnprintf(c->refused[h].why, sizeof(c->refused[h].why), fmt, ap);
	va_end(ap);
}

/*
 * A pinned map this object cannot reuse (an upgrade changed its layout):
 * unpinned, so the next pass makes a fresh one. The running LSM keeps the
 * old map until the fresh program takes its link over.
 */
static bool drop_stale_pin(void)
{
	const char *k = "couldn't reuse pinned map at '";
	char *p = strstr(libbpf_log, k), *e, path[256];

	if (!p || !(e = strchr(p + strlen(k), '\'')) || (size_t)(e - p - strlen(k)) >= sizeof(path))
		return false;
	memcpy(path, p + strlen(k), e - p - strlen(k));
	path[e - p - strlen(k)] = '\0';
	if (unlink(path))
		return false;
	fprintf(stderr, "privmemd: %s did not match this privmem's layout: made afresh\n", path);
	return true;
}

/* ------------------------------------------------------ proof of life ---- */
#define KVM_GET_API_VERSION_NR	0xae00u
#define KVM_CREATE_VCPU_NR	0xae41u
#define KVM_GET_MP_STATE_NR	0x8004ae98u
#define VERIFY_TRIES		3	/* attaches of a trampoline that does not run */
#define SILENT_MIN		4	/* sibling calls a hook may miss before it is silent */

/* Is FUNC in ftrace's list of patched call sites? -1: cannot tell (no tracefs). */
static int ftrace_enabled(const char *func)
{
	static const char *const paths[] = { "/sys/kernel/tracing/enabled_functions",
					     "/sys/kernel/debug/tracing/enabled_functions" };
	size_t n = strlen(func);
	char line[512];
	int found = -1;

	for (unsigned i = 0; i < 2 && found < 0; i++) {
		FILE *f = fopen(paths[i], "re");

		if (!f)
			continue;
		found = 0;
		while (!found && fgets(line, sizeof(line), f))
			found = strncmp(line, func, n) == 0 && (line[n] == ' ' || line[n] == '\t');
		fclose(f);
	}
	return found;
}

/*
 * Calls every trampoline's function once, as privmemd (the programs count
 * these and do nothing else: selftest() in hookcheck.bpf.h): /dev/kvm, a
 * VM, a vCPU, a guest_memfd and a punch where the kernel gives them, then
 * the VM's end. called[h] says which hooks were exercised.
 */
static void call_kvm(bool called[PM_HOOK_MAX])
{
	struct pm_kvm_create_guest_memfd g = { .size = 2u << 20 };
	int kfd, vfd = -1, cfd = -1, gfd = -1;

	kfd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kfd < 0)
		return;
	called[PM_HOOK_DEV_IOCTL_FEXIT] = ioctl(kfd, KVM_GET_API_VERSION_NR, 0) >= 0;
	vfd = ioctl(kfd, PM_KVM_CREATE_VM, 0);
	if (vfd >= 0) {
		called[PM_HOOK_VM_IOCTL_FEXIT] = ioctl(vfd, PM_KVM_CHECK_EXTENSION, 0) >= 0;
		if (ioctl(vfd, PM_KVM_CHECK_EXTENSION, PM_KVM_CAP_GUEST_MEMFD) > 0) {
			gfd = ioctl(vfd, PM_KVM_CREATE_GUEST_MEMFD, &g);
			if (gfd < 0) {
				g.flags = PM_GUEST_MEMFD_FLAG_MMAP | PM_GUEST_MEMFD_FLAG_INIT_SHARED;
				gfd = ioctl(vfd, PM_KVM_CREATE_GUEST_MEMFD, &g);
			}
			called[PM_HOOK_GMEM_FALLOC_FEXIT] =
				gfd >= 0 && fallocate(gfd, PM_FALLOC_FL_PUNCH_HOLE | PM_FALLOC_FL_KEEP_SIZE, 0, 4096) == 0;
		}
		cfd = ioctl(vfd, KVM_CREATE_VCPU_NR, 0);
		if (cfd >= 0) {
			uint32_t mp;

			ioctl(cfd, KVM_GET_MP_STATE_NR, &mp);
			called[PM_HOOK_VCPU_IOCTL_FENTRY] = true;
		}
	}
	if (cfd >= 0)
		close(cfd);
	if (gfd >= 0) {
		close(gfd);	/* its only reference: kvm_gmem_release runs before close returns */
		called[PM_HOOK_GMEM_RELEASE_FENTRY] = true;
	}
	if (vfd >= 0) {
		close(vfd);	/* the last reference: kvm_destroy_vm runs before close returns */
		called[PM_HOOK_DESTROY_FENTRY] = true;
	}
	close(kfd);
}

static int prog_index(enum pm_hook h)
{
	for (unsigned i = 0; i < NPROGS; i++)
		if (progs[i].hook == h)
			return (int)i;
	return -1;
}

/*
 * A trampoline is live when the kernel patched its call site (ftrace's
 * enabled_functions, where tracefs shows it) and it ran for a real call.
 * One round of calls proves them all; one that fails gets a fresh link and
 * the next round, up to VERIFY_TRIES. Returns the first that never passed,
 * or -1.
 */
static int verify_trampolines(struct pm_capture *c, char *why, size_t len)
{
	const unsigned nf = sizeof(fexit_hooks) / sizeof(fexit_hooks[0]);
	bool called[PM_HOOK_MAX], failing = false;
	int ef[8] = { 0 };

	for (int try = 1; try <= VERIFY_TRIES; try++) {
		memset(called, 0, sizeof(called));
		memset(c->skel->bss->selftest_hits, 0, sizeof(c->skel->bss->selftest_hits));
		c->skel->bss->selftest_tgid = getpid();
		call_kvm(called);
		c->skel->bss->selftest_tgid = 0;
		failing = false;
		for (unsigned t = 0; t < nf; t++) {
			enum pm_hook h = fexit_hooks[t].hook;
			int i = prog_index(h);

			if (!live(c, h) || i < 0)
				continue;
			ef[t] = ftrace_enabled(fexit_hooks[t].func);
			if (c->plink[i] && ef[t] != 0 && (!called[h] || c->skel->bss->selftest_hits[h]))
				continue;
			failing = true;
			if (try == VERIFY_TRIES)
				continue;
			/* attached, yet not there: a fresh link, and prove it again */
			fprintf(stderr, "privmemd: %s attached but %s; attaching it again (%d of %d)\n",
				fexit_hooks[t].func, ef[t] == 0 ? "missing from enabled_functions" : "never ran",
				try, VERIFY_TRIES - 1);
			bpf_link__destroy(c->plink[i]);
			c->plink[i] = bpf_program__attach(prog_of(c, i));
		}
		if (!failing)
			break;
	}
	for (unsigned t = 0; t < nf; t++) {
		enum pm_hook h = fexit_hooks[t].hook;
		int i = prog_index(h);
		bool ran = c->skel->bss->selftest_hits[h] > 0;

		if (!live(c, h) || i < 0)
			continue;
		if (!c->plink[i] || ef[t] == 0 || (called[h] && !ran)) {
			snprintf(why, len, "%s attached but never ran (%s, self-test %s)", fexit_hooks[t].func,
				 ef[t] == 0 ? "missing from enabled_functions" :
				 ef[t] < 0 ? "no tracefs" : "in enabled_functions",
				 called[h] ? "0 calls seen" : "not possible");
			return (int)h;
		}
		snprintf(c->hooks[h].verified, sizeof(c->hooks[h].verified), "%s%s%s",
			 ef[t] > 0 ? "enabled_functions" : "", ef[t] > 0 && called[h] ? ", " : "",
			 called[h] ? "self-test call" : ef[t] > 0 ? "" : "unproven: no tracefs, no KVM call");
	}
	return -1;
}

/* ------------------------------------------------------ cross-checks ---- */
static uint64_t xc(struct pm_capture *c, uint32_t i)
{
	return percpu_sum(bpf_map__fd(c->skel->maps.xcheck), i, c->ncpus);
}

/*
 * The syscall ioctl tracepoints take over what a silent kvm_vm_ioctl
 * trampoline no longer books (the other trampolines keep theirs).
 */
static void stand_in(struct pm_capture *c)
{
	struct pm_hook_status *tp = &c->hooks[PM_HOOK_IOCTL_TP];

	if (c->standin[0] || !c->ioctl_standby)
		return;
	c->skel->data->tp_cmds = PM_TP_VM_IOCTL;
	c->skel->bss->vm_ioctl_stood_in = 1;
	/* exits first: an enter without its exit would leave a call in flight */
	c->standin[0] = bpf_program__attach(c->skel->progs.pm_sys_exit_ioctl);
	c->standin[1] = c->standin[0] ? bpf_program__attach(c->skel->progs.pm_sys_exit_compat) : NULL;
	c->standin[2] = c->standin[1] ? bpf_program__attach(c->skel->progs.pm_sys_enter_ioctl) : NULL;
	c->standin[3] = c->standin[2] ? bpf_program__attach(c->skel->progs.pm_sys_enter_compat) : NULL;
	if (!c->standin[3]) {
		snprintf(tp->reason, sizeof(tp->reason), "could not stand in for silent kvm_vm_ioctl: %s",
			 strerror(errno));
		for (unsigned i = 0; i < 4; i++) {
			bpf_link__destroy(c->standin[i]);
			c->standin[i] = NULL;
		}
		c->skel->bss->vm_ioctl_stood_in = 0;
		return;
	}
	tp->state = PM_HOOK_LIVE;
	snprintf(tp->reason, sizeof(tp->reason), "standing in for silent kvm_vm_ioctl (decide, gmem_create)");
	fprintf(stderr, "privmemd: kvm_vm_ioctl is silent: syscalls:ioctl stands in for it\n");
}

/*
 * HOOK missed calls while SIB (the count of the same calls seen by its
 * siblings) went on: SILENT_MIN of them since HOOK last moved make it
 * silent, its next count live again.
 */
static void check_silent(struct pm_capture *c, enum pm_hook h, uint64_t hook, uint64_t sib, const char *sibs)
{
	struct pm_hook_status *s = &c->hooks[h];

	if (s->state != PM_HOOK_LIVE && s->state != PM_HOOK_SILENT)
		return;
	if (c->baselining || hook != c->xsnap[h].hook || sib < c->xsnap[h].sib) {
		c->xsnap[h].hook = hook;
		c->xsnap[h].sib = sib;
		if (s->state == PM_HOOK_SILENT) {
			s->state = PM_HOOK_LIVE;
			s->reason[0] = '\0';
		}
		return;
	}
	if (sib - c->xsnap[h].sib < SILENT_MIN)
		return;
	s->missed = sib - c->xsnap[h].sib;
	if (s->state == PM_HOOK_SILENT)
		return;
	s->state = PM_HOOK_SILENT;
	snprintf(s->reason, sizeof(s->reason), "attached, but saw none of the last %llu calls %s saw",
		 (unsigned long long)s->missed, sibs);
	fprintf(stderr, "privmemd: %s is silent: %s\n", s->name, s->reason);
	if (h == PM_HOOK_VM_IOCTL_FEXIT)
		stand_in(c);
}

static uint64_t max3(uint64_t a, uint64_t b, uint64_t c)
{
	return a > b ? (a > c ? a : c) : (b > c ? b : c);
}

/*
 * Counters in pinned maps (hook_hits) carry what earlier loads counted:
 * the cross-check starts from what they hold now.
 */
static void cross_check(struct pm_capture *c, const uint64_t *hits);

static void cross_check_baseline(struct pm_capture *c)
{
	int fd = bpf_map__fd(c->skel->maps.hook_hits);
	uint64_t hits[PM_HOOK_MAX];

	for (uint32_t h = 0; h < PM_HOOK_MAX; h++)
		hits[h] = percpu_sum(fd, h, c->ncpus);
	c->baselining = true;
	cross_check(c, hits);
	c->baselining = false;
}

/* LSM attempts vs fexit attempts vs the kernel's own set-attribute tracepoint. */
static void cross_check(struct pm_capture *c, const uint64_t *hits)
{
	uint64_t lsm_pass = xc(c, PM_XC_LSM_SETATTR), lsm = lsm_pass + xc(c, PM_XC_LSM_DENIED);
	uint64_t fx = xc(c, PM_XC_FEXIT_SETATTR), fx_ok = xc(c, PM_XC_FEXIT_SETATTR_OK);
	uint64_t tp = xc(c, PM_XC_TP_SETATTR), kset = hits[PM_HOOK_SET_ATTR_TP];

	check_silent(c, PM_HOOK_VM_IOCTL_FEXIT, fx, max3(live(c, PM_HOOK_LSM) ? lsm_pass : 0, kset, tp),
		     "lsm/file_ioctl, kvm_vm_set_mem_attributes or syscalls:ioctl");
	check_silent(c, PM_HOOK_LSM, lsm, max3(fx, kset, tp), "kvm_vm_ioctl, kvm_vm_set_mem_attributes or syscalls:ioctl");
	check_silent(c, PM_HOOK_SET_ATTR_TP, kset, fx_ok, "kvm_vm_ioctl (successful ones)");
}

static int on_record(void *ctx, void *data, size_t len)
{
	struct pm_capture *c = ctx;

	if (len >= sizeof(struct pm_event))
		c->cb(c->ctx, data);
	return 0;
}

int pm_capture_open(struct pm_capture **out, const struct pm_capture_opts *o, char *msg, size_t len)
{
	struct pm_ksym_req ks[] = {
		{ "kvm_dev_ioctl", 0 }, { "kvm_vm_ioctl", 0 }, { "kvm_vcpu_ioctl", 0 }, { "kvm_gmem_fallocate", 0 },
	};
	struct pm_capture *c;
	int err;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->cb = o->cb;
	c->ctx = o->ctx;
	c->ncpus = libbpf_num_possible_cpus();
	c->pin = o->pin;
	snprintf(c->pin_dir, sizeof(c->pin_dir), "%s", o->pin_dir ? o->pin_dir : PM_PIN_DIR);
	if (!c->pin && o->unpin_stale)
		unpin_all(c->pin_dir);
	libbpf_set_print(log_libbpf);
	libbpf_log_len = 0;
	err = pm_ksyms_resolve(ks, 4);
	if (err) {
		snprintf(msg, len, "cannot read /proc/kallsyms: %s", strerror(-err));
		goto fail;
	}
	/*
	 * One pass per refusal: a program the kernel will not load or attach
	 * takes its own hook out (and lets that hook's fallback in), never the
	 * others. Each pass has a new hook out, so this ends.
	 */
	for (unsigned pass = 0;; pass++) {
		char why[256];
		int i;

		capture_bpf__destroy(c->skel);
		c->skel = capture_bpf__open();
		if (!c->skel) {
			err = -errno;
			snprintf(msg, len, "cannot open BPF object: %s", strerror(errno));
			goto fail;
		}
		c->skel->rodata->kvm_dev_ioctl_addr = ks[0].addr;
		c->skel->rodata->kvm_vm_ioctl_addr = ks[1].addr;
		c->skel->rodata->kvm_vcpu_ioctl_addr = ks[2].addr;
		c->skel->rodata->kvm_gmem_fallocate_addr = ks[3].addr;
		c->skel->rodata->count_exits = !o->no_exit_stats;
		c->skel->rodata->lsm_gen = lsm_generation();
		c->skel->rodata->id_key = lsm_generation();
		size_exit_slots(c->skel, c->ncpus);
		probe(c, o, ks);
		if (c->pin && live(c, PM_HOOK_LSM))
			pin_paths(c);
		libbpf_log_len = 0;
		err = capture_bpf__load(c->skel);
		if (err) {
			last_reason(why, sizeof(why));
			if (pass <= 2 * PM_HOOK_MAX && drop_stale_pin())
				continue;
			i = failed_prog();
			if (i < 0 || pass > 2 * PM_HOOK_MAX || c->refused[progs[i].hook].on) {
				snprintf(msg, len, "BPF load failed (%s): %s", strerror(-err), why);
				goto fail;
			}
			/* EPERM's log is libbpf's ulimit guess; the kernel simply refuses it */
			refused_prog(c, (unsigned)i, "%s refused by the kernel (%s%s%.80s)", progs[i].prog,
				     strerror(-err), err == -EPERM ? "" : ": ", err == -EPERM ? "" : why);
			continue;
		}
		err = attach_all(c, &i, why, sizeof(why));
		if (!err) {
			int dead = verify_trampolines(c, why, sizeof(why));

			if (dead < 0)
				break;
			i = prog_index((enum pm_hook)dead);
			err = -ENOENT;
		}
		detach_all(c);
		if (pass > 2 * PM_HOOK_MAX || (c->refused[progs[i].hook].on && !sleepable_lsm(c, i))) {
			snprintf(msg, len, "%s", why);
			goto fail;
		}
		refused_prog(c, (unsigned)i, "%s", why);
	}
	err = 0;
	cross_check_baseline(c);
	if (live(c, PM_HOOK_LSM))
		snprintf(c->hooks[PM_HOOK_LSM].verified, sizeof(c->hooks[PM_HOOK_LSM].verified), "%s",
			 c->lsm_nosleep ? "not sleepable (refused): bpf_probe_read_user" : "sleepable: bpf_copy_from_user");
	c->rb = ring_buffer__new(bpf_map__fd(c->skel->maps.events), on_record, c, NULL);
	if (!c->rb) {
		err = -errno;
		snprintf(msg, len, "ring buffer: %s", strerror(errno));
		goto fail;
	}
	kbtf_free();
	*out = c;
	return 0;
fail:
	kbtf_free();
	pm_capture_close(c);
	return err ? err : -EINVAL;
}

void pm_capture_close(struct pm_capture *c)
{
	if (!c)
		return;
	ring_buffer__free(c->rb);
	detach_all(c);
	capture_bpf__destroy(c->skel);
	free(c);
}

int pm_capture_poll(struct pm_capture *c, int timeout_ms)
{
	int n = ring_buffer__poll(c->rb, timeout_ms), m;

	if (n < 0 && n != -EINTR)
		return n;
	/* the BPF side mostly submits without a wakeup: drain what is there */
	m = ring_buffer__consume(c->rb);
	if (m < 0)
		return m;
	return (n > 0 ? n : 0) + m;
}

static uint64_t percpu_sum(int fd, uint32_t key, int ncpus)
{
	uint64_t vals[ncpus > 0 ? ncpus : 1], sum = 0;

	if (bpf_map_lookup_elem(fd, &key, vals))
		return 0;
	for (int i = 0; i < ncpus; i++)
		sum += vals[i];
	return sum;
}

uint64_t pm_capture_lost(struct pm_capture *c)
{
	return percpu_sum(bpf_map__fd(c->skel->maps.lost), 0, c->ncpus);
}

const struct pm_hook_status *pm_capture_hooks(struct pm_capture *c)
{
	int fd = bpf_map__fd(c->skel->maps.hook_hits);

	uint64_t hits[PM_HOOK_MAX];

	for (uint32_t h = 0; h < PM_HOOK_MAX; h++)
		c->hooks[h].hits = hits[h] = percpu_sum(fd, h, c->ncpus);
	cross_check(c, hits);
	return c->hooks;
}

/* One CPU's copy of a slot, if the claim is its current owner's. */
static void add_slot_exits(struct pm_vm_kstats *out, const struct pm_exit_slot *cp, uint64_t claim)
{
	if (cp->claim != claim)
		return;	/* a former owner's counts: the VM never exited on that CPU */
	for (unsigned r = 0; r < PM_EXIT_REASONS; r++)
		out->exits[r] += cp->exits[r];
	out->exit_errors += cp->exit_errors;
}

int pm_kstate_read(int kstats_fd, int slots_fd, int ncpus, uint64_t vm, struct pm_vm_kstats *out)
{
	struct pm_vm_kstate ks;
	struct pm_exit_slot *cp;
	uint32_t slot;
	int err = 0;

	if (bpf_map_lookup_elem(kstats_fd, &vm, &ks))
		return -errno;
	*out = ks.k;
	if (!ks.claim)
		return 0;	/* no slot: all its exits are in the entry */
	cp = calloc(ncpus > 0 ? ncpus : 1, sizeof(*cp));
	if (!cp)
		return -ENOMEM;
	slot = pm_claim_slot(ks.claim);
	if (bpf_map_lookup_elem(slots_fd, &slot, cp) == 0) {
		for (int i = 0; i < ncpus; i++)
			add_slot_exits(out, &cp[i], ks.claim);
	} else {
		err = -errno;
	}
	free(cp);
	return err;
}

/* One step: whoever deleted the entry, and only they, gives its slot back. */
static int kstate_take(int kstats_fd, uint64_t vm, uint64_t *claim)
{
	struct pm_vm_kstate ks;

	*claim = 0;
	if (bpf_map_lookup_and_delete_elem(kstats_fd, &vm, &ks))
		return -errno;
	*claim = ks.claim;
	return 0;
}

static int slot_give_back(int free_fd, uint64_t claim)
{
	uint32_t slot = pm_claim_slot(claim);

	if (claim && bpf_map_update_elem(free_fd, NULL, &slot, BPF_ANY))
		return -errno;
	return 0;
}

int pm_kstate_delete(int kstats_fd, int free_fd, uint64_t vm)
{
	uint64_t claim;
	int err = kstate_take(kstats_fd, vm, &claim);

	return err ? err : slot_give_back(free_fd, claim);
}

int pm_capture_kstats(struct pm_capture *c, uint64_t vm, struct pm_vm_kstats *out)
{
	return pm_kstate_read(bpf_map__fd(c->skel->maps.vm_kstats), bpf_map__fd(c->skel->maps.exit_slots),
			      c->ncpus, vm, out);
}

/*
 * The exit hook's vCPU caches (per task, per CPU) keep a VM's claim on its
 * slot while the generation stands. A VM forgotten here may still have vCPUs (its fd passed to a
 * process that lives on): they must look again, or they would count into
 * a slot given to another VM. A jump no cache can hold, not +1: the
 * kernel's own bumps are atomic adds this read-modify-write could undo.
 */
static void gen_move(struct pm_capture *c)
{
	int fd = bpf_map__fd(c->skel->maps.vm_seq);
	uint32_t one = 1;
	uint64_t g;

	if (bpf_map_lookup_elem(fd, &one, &g) == 0) {
		g += 1ull << 32;
		bpf_map_update_elem(fd, &one, &g, BPF_ANY);
	}
}

/* The chunks of PRIVATE bits a VM's conversions touched, when the kernel did not free them. */
static void forget_attr(struct pm_capture *c, uint64_t vm)
{
	struct { int64_t guest; uint64_t priv, lo, hi; uint32_t inexact, touched; } m;
	int mfd = bpf_map__fd(c->skel->maps.vm_mem), afd = bpf_map__fd(c->skel->maps.vm_attr);

	_Static_assert(sizeof(m) == 40, "the head of struct vm_mem (policy.bpf.h)");
	if (bpf_map__value_size(c->skel->maps.vm_mem) < sizeof(m))
		return;
	{
		char buf[bpf_map__value_size(c->skel->maps.vm_mem)];

		if (bpf_map_lookup_elem(mfd, &vm, buf))
			return;
		memcpy(&m, buf, sizeof(m));
	}
	for (uint64_t ch = m.lo; m.touched && ch <= m.hi; ch++) {
		struct pm_attr_key k = { .vm = vm, .chunk = ch };

		bpf_map_delete_elem(afd, &k);
		if (ch == UINT64_MAX)
			break;
	}
}

/*
 * Where kvm_destroy_vm is hooked the kernel freed the VM's state already;
 * elsewhere (the VMM found gone) it is freed here. The address -> id entry
 * goes too: a walk, as only the kernel knows the address.
 */
int pm_capture_forget_vm(struct pm_capture *c, uint64_t vm)
{
	int ifd = bpf_map__fd(c->skel->maps.vm_ids), err;
	uint64_t key, next, *prev = NULL, claim;
	struct pm_vm_ident v;

	err = kstate_take(bpf_map__fd(c->skel->maps.vm_kstats), vm, &claim);
	bpf_map_delete_elem(bpf_map__fd(c->skel->maps.dead_vms), &vm);
	bpf_map_delete_elem(bpf_map__fd(c->skel->maps.vm_rules), &vm);
	forget_attr(c, vm);
	bpf_map_delete_elem(bpf_map__fd(c->skel->maps.vm_mem), &vm);
	bpf_map_delete_elem(bpf_map__fd(c->skel->maps.vm_lsm_buckets), &vm);
	/* live VMs only: a walk of at most PM_MAX_VMS_KERNEL, usually found gone already */
	while (bpf_map_get_next_key(ifd, prev, &next) == 0) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(ifd, &key, &v) == 0 && v.id == vm) {
			bpf_map_delete_elem(ifd, &key);
			break;
		}
	}
	/* the slot last: no vCPU still counting into it once it can be another VM's */
	gen_move(c);
	slot_give_back(bpf_map__fd(c->skel->maps.slot_free), claim);
	return err;
}

/*
 * Final counts of VMs destroyed while nobody read them (privmemd down, or
 * never told): freed once older than age_ns. Returns how many.
 */
int pm_capture_sweep_dead(struct pm_capture *c, uint64_t now_ns, uint64_t age_ns)
{
	int dfd = bpf_map__fd(c->skel->maps.dead_vms), n = 0;
	uint64_t key, next, ts, *prev = NULL;

	while (bpf_map_get_next_key(dfd, prev, &next) == 0) {
		key = next;
		if (bpf_map_lookup_elem(dfd, &key, &ts) == 0 && ts + age_ns < now_ns) {
			pm_kstate_delete(bpf_map__fd(c->skel->maps.vm_kstats), bpf_map__fd(c->skel->maps.slot_free),
					 key);
			if (bpf_map_delete_elem(dfd, &key) == 0) {
				n++;
				continue;	/* from prev again: its successor is gone */
			}
		}
		prev = &key;
	}
	return n;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * LSM buckets of ids no live VM has: the kernel cannot free them (a map
 * with a spin lock is barred to its tracing programs), so VMs destroyed
 * while privmemd was down left theirs. Returns how many were freed.
 */
int pm_capture_sweep_orphans(struct pm_capture *c)
{
	int ifd = bpf_map__fd(c->skel->maps.vm_ids), bfd = bpf_map__fd(c->skel->maps.vm_lsm_buckets), n = 0;
	size_t nlive = 0, ncand = 0, cap = bpf_map__max_entries(c->skel->maps.vm_ids);
	uint64_t key, next, *prev = NULL, *live = malloc(cap * sizeof(*live)), *cand = malloc(cap * sizeof(*cand));
	struct pm_vm_ident v;

	if (!live || !cand) {
		free(live);
		free(cand);
		return -ENOMEM;
	}
	/* buckets first: one made after this walk belongs to a VM already named by then */
	while (ncand < cap && bpf_map_get_next_key(bfd, prev, &next) == 0) {
		key = next;
		prev = &key;
		cand[ncand++] = key;
	}
	prev = NULL;
	while (nlive < cap && bpf_map_get_next_key(ifd, prev, &next) == 0) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(ifd, &key, &v) == 0)
			live[nlive++] = v.id;
	}
	qsort(live, nlive, sizeof(*live), cmp_u64);
	for (size_t i = 0; i < ncand; i++)
		if (!bsearch(&cand[i], live, nlive, sizeof(*live), cmp_u64) &&
		    bpf_map_delete_elem(bfd, &cand[i]) == 0)
			n++;
	free(live);
	free(cand);
	return n;
}

void pm_capture_state_full(struct pm_capture *c, uint64_t out[PM_SF_MAX])
{
	for (uint32_t i = 0; i < PM_SF_MAX; i++)
		out[i] = percpu_sum(bpf_map__fd(c->skel->maps.state_full), i, c->ncpus);
}

/* Entries in use of the kernel's per-VM maps, for status and the churn tests. */
int pm_capture_map_counts(struct pm_capture *c, struct pm_kmap_count *out, unsigned max)
{
	struct bpf_map *m[] = {
		c->skel->maps.vm_ids, c->skel->maps.vm_kstats, c->skel->maps.vm_rules, c->skel->maps.vm_mem,
		c->skel->maps.vm_lsm_buckets, c->skel->maps.dead_vms, c->skel->maps.vm_attr,
		c->skel->maps.vmm_tgids,
	};
	unsigned n = 0;

	for (unsigned i = 0; i < sizeof(m) / sizeof(m[0]) && n < max; i++, n++) {
		int fd = bpf_map__fd(m[i]);
		size_t ks = bpf_map__key_size(m[i]);
		char key[ks], next[ks];
		void *prev = NULL;
		uint64_t cnt = 0;

		while (bpf_map_get_next_key(fd, prev, next) == 0) {
			memcpy(key, next, ks);
			prev = key;
			cnt++;
		}
		out[n].name = bpf_map__name(m[i]);
		out[n].entries = cnt;
		out[n].max = bpf_map__max_entries(m[i]);
	}
	return (int)n;
}

int pm_capture_set_rule(struct pm_capture *c, uint64_t vm, const struct pm_rule *r)
{
	uint32_t zero = 0;
	int err;

	if (vm)
		err = bpf_map_update_elem(bpf_map__fd(c->skel->maps.vm_rules), &vm, r, BPF_ANY);
	else
		err = bpf_map_update_elem(bpf_map__fd(c->skel->maps.default_rule), &zero, r, BPF_ANY);
	return err ? -errno : 0;
}

bool pm_capture_can_enforce(struct pm_capture *c)
{
	return c->hooks[PM_HOOK_LSM].state == PM_HOOK_LIVE;
}
