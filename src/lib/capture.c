// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include "capture.h"
#include "ksyms.h"
#include "capture.skel.h"

struct pm_capture {
	struct capture_bpf *skel;
	struct ring_buffer *rb;
	struct pm_hook_status hooks[PM_HOOK_MAX];
	struct bpf_link *links[16];
	unsigned nlinks;
	pm_event_fn cb;
	void *ctx;
	int ncpus;
	char pin_dir[128];
	bool pin;
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
	char *line, *save = NULL, *best = NULL, *prev = NULL;

	for (line = strtok_r(libbpf_log, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
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
};

static bool live(const struct pm_capture *c, enum pm_hook h)
{
	return c->hooks[h].state == PM_HOOK_LIVE;
}

static void probe_fexit(struct pm_capture *c, const char *refused)
{
	for (unsigned i = 0; i < sizeof(fexit_hooks) / sizeof(fexit_hooks[0]); i++) {
		enum pm_hook h = fexit_hooks[i].hook;

		set_hook(c, h, fexit_hooks[i].func, fexit_hooks[i].covers, false);
		if (!btf_has_func(fexit_hooks[i].func))
			hook_reason(c, h, PM_HOOK_UNAVAILABLE, "%s not in kernel BTF", fexit_hooks[i].func);
		else if (refused)
			hook_reason(c, h, PM_HOOK_FAILED, "%s", refused);
		else
			c->hooks[h].state = PM_HOOK_LIVE;
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

static void probe_syscall_tp(struct pm_capture *c, enum pm_hook h, const char *sc, bool have_sym,
			     const char *sym, bool superseded, bool refuse)
{
	char enter[64], exit_[64];

	snprintf(enter, sizeof(enter), "sys_enter_%s", sc);
	snprintf(exit_, sizeof(exit_), "sys_exit_%s", sc);
	if (superseded)
		hook_reason(c, h, PM_HOOK_SUPERSEDED, "fentry/fexit hooks cover it at no cost to other processes");
	else if (refuse)
		hook_reason(c, h, PM_HOOK_DISABLED, "--no-syscall-hooks");
	else if (!syscall_tp_exists(enter) || !syscall_tp_exists(exit_))
		hook_reason(c, h, PM_HOOK_UNAVAILABLE, "no syscall tracepoints (tracefs unmounted?)");
	else if (!have_sym)
		hook_reason(c, h, PM_HOOK_UNAVAILABLE, "%s not in /proc/kallsyms", sym);
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

static void probe_lsm(struct pm_capture *c, const struct pm_ksym_req *ks, const char *refused)
{
	set_hook(c, PM_HOOK_LSM, "lsm/file_ioctl", "policy enforcement (deny), audit", false);
	if (access("/sys/kernel/security/lsm", R_OK) != 0)
		hook_reason(c, PM_HOOK_LSM, PM_HOOK_UNAVAILABLE, "securityfs not mounted: cannot tell whether bpf is an active LSM");
	else if (!bpf_lsm_active())
		hook_reason(c, PM_HOOK_LSM, PM_HOOK_UNAVAILABLE, "bpf is not an active LSM (boot with lsm=...,bpf)");
	else if (!ks[1].addr)
		hook_reason(c, PM_HOOK_LSM, PM_HOOK_UNAVAILABLE, "kvm_vm_ioctl not in /proc/kallsyms");
	else if (refused)
		hook_reason(c, PM_HOOK_LSM, PM_HOOK_FAILED, "%s", refused);
	else
		c->hooks[PM_HOOK_LSM].state = PM_HOOK_LIVE;
}

static void probe(struct pm_capture *c, const struct pm_capture_opts *o, const struct pm_ksym_req *ks,
		  const char *fexit_refused)
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
	probe_fexit(c, fexit_refused);
	probe_lsm(c, ks, fexit_refused);
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
	probe_syscall_tp(c, PM_HOOK_IOCTL_TP, "ioctl", ks[1].addr, "kvm_vm_ioctl", ioctl_fexit, o->no_syscall_hooks);
	probe_syscall_tp(c, PM_HOOK_FALLOCATE_TP, "fallocate", ks[3].addr, "kvm_gmem_fallocate", falloc_fexit,
			 o->no_syscall_hooks);
	c->hooks[PM_HOOK_PROC_EXIT].state = tp_nparams("sched_process_exit") > 0 ? PM_HOOK_LIVE : PM_HOOK_UNAVAILABLE;
	probe_tp(c, PM_HOOK_RMP_FAULT, "kvm_rmp_fault", 7, "unknown prototype");
	probe_tp(c, PM_HOOK_PAGE_FAULT, "kvm_page_fault", 4, "lacks the vCPU argument");
	probe_tp(c, PM_HOOK_SET_ATTR_TP, "kvm_vm_set_mem_attributes", 4, "unknown prototype");
	if (live(c, PM_HOOK_SET_ATTR_TP) && !ks[1].addr)
		hook_reason(c, PM_HOOK_SET_ATTR_TP, PM_HOOK_UNAVAILABLE, "kvm_vm_ioctl not in /proc/kallsyms");

	bpf_program__set_autoload(s->progs.pm_inject_exit, false);
	bpf_program__set_autoload(s->progs.pm_inject_decide, false);
	bpf_program__set_autoload(s->progs.pm_exit, live(c, PM_HOOK_EXIT));
	bpf_program__set_autoload(s->progs.pm_sys_enter_ioctl, live(c, PM_HOOK_IOCTL_TP));
	bpf_program__set_autoload(s->progs.pm_sys_exit_ioctl, live(c, PM_HOOK_IOCTL_TP));
	bpf_program__set_autoload(s->progs.pm_sys_enter_fallocate, live(c, PM_HOOK_FALLOCATE_TP));
	bpf_program__set_autoload(s->progs.pm_sys_exit_fallocate, live(c, PM_HOOK_FALLOCATE_TP));
	bpf_program__set_autoload(s->progs.pm_proc_exit, live(c, PM_HOOK_PROC_EXIT));
	bpf_program__set_autoload(s->progs.pm_rmp_fault, live(c, PM_HOOK_RMP_FAULT));
	bpf_program__set_autoload(s->progs.pm_page_fault, live(c, PM_HOOK_PAGE_FAULT));
	bpf_program__set_autoload(s->progs.pm_set_attr, live(c, PM_HOOK_SET_ATTR_TP));
	bpf_program__set_autoload(s->progs.pm_vm_ioctl_exit, live(c, PM_HOOK_VM_IOCTL_FEXIT));
	bpf_program__set_autoload(s->progs.pm_dev_ioctl_exit, live(c, PM_HOOK_DEV_IOCTL_FEXIT));
	bpf_program__set_autoload(s->progs.pm_vcpu_ioctl_entry, live(c, PM_HOOK_VCPU_IOCTL_FENTRY));
	bpf_program__set_autoload(s->progs.pm_gmem_fallocate_exit, live(c, PM_HOOK_GMEM_FALLOC_FEXIT));
	bpf_program__set_autoload(s->progs.pm_destroy_vm, live(c, PM_HOOK_DESTROY_FENTRY));
	bpf_program__set_autoload(s->progs.pm_lsm_ioctl, live(c, PM_HOOK_LSM));
}

static bool any_fexit_live(const struct pm_capture *c)
{
	for (unsigned i = 0; i < sizeof(fexit_hooks) / sizeof(fexit_hooks[0]); i++)
		if (live(c, fexit_hooks[i].hook))
			return true;
	return live(c, PM_HOOK_LSM);
}


/*
 * Everything the LSM program touches: pinned, a restarted privmemd loads its
 * programs against the very maps the running LSM program decides with.
 */
static struct bpf_map *pinned_maps(struct capture_bpf *s, unsigned i)
{
	struct bpf_map *m[] = {
		s->maps.events, s->maps.lost, s->maps.vm_kstats, s->maps.hook_hits, s->maps.vmm_tgids,
		s->maps.vm_rules, s->maps.default_rule, s->maps.vm_mem, s->maps.vm_lsm_buckets,
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

/* The LSM link: adopted when pinned (no gap, no second decision), else attached and pinned. */
static void attach_lsm(struct pm_capture *c)
{
	char path[256];
	struct bpf_link *l;

	if (c->hooks[PM_HOOK_LSM].state != PM_HOOK_LIVE)
		return;
	snprintf(path, sizeof(path), "%s/link_lsm", c->pin_dir);
	if (c->pin && (l = bpf_link__open(path))) {
		c->links[c->nlinks++] = l;
		snprintf(c->hooks[PM_HOOK_LSM].reason, sizeof(c->hooks[PM_HOOK_LSM].reason),
			 "adopted the pinned link of a previous privmemd");
		return;
	}
	l = bpf_program__attach(c->skel->progs.pm_lsm_ioctl);
	if (!l) {
		hook_reason(c, PM_HOOK_LSM, PM_HOOK_FAILED, "attach: %s", strerror(errno));
		return;
	}
	c->links[c->nlinks++] = l;
	if (c->pin && bpf_link__pin(l, path))
		fprintf(stderr, "privmemd: cannot pin %s: %s (enforcement ends with this process)\n", path,
			strerror(errno));
}

static void attach(struct pm_capture *c, enum pm_hook h, struct bpf_program *p)
{
	struct bpf_link *l;

	if (c->hooks[h].state != PM_HOOK_LIVE)
		return;
	l = bpf_program__attach(p);
	if (!l) {
		hook_reason(c, h, PM_HOOK_FAILED, "attach %s: %s", bpf_program__name(p), strerror(errno));
		return;
	}
	c->links[c->nlinks++] = l;
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
	char refused[160] = "";
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
	 * Try with trampolines first; a kernel that refuses them (EPERM, no
	 * BPF trampoline support) fails the whole load, so retry without.
	 */
	for (int pass = 0; pass < 2; pass++) {
		char why[256];

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
		probe(c, o, ks, pass ? refused : NULL);
		if (c->pin && live(c, PM_HOOK_LSM))
			pin_paths(c);
		libbpf_log_len = 0;
		err = capture_bpf__load(c->skel);
		if (!err)
			break;
		last_reason(why, sizeof(why));
		if (pass == 0 && any_fexit_live(c)) {
			/* EPERM's log is libbpf's ulimit guess; the kernel simply refuses them */
			snprintf(refused, sizeof(refused), "fentry/fexit/lsm programs refused by the kernel (%s%s%.80s)",
				 strerror(-err), err == -EPERM ? "" : ": ", err == -EPERM ? "" : why);
			continue;
		}
		snprintf(msg, len, "BPF load failed (%s): %s", strerror(-err), why);
		goto fail;
	}
	attach(c, PM_HOOK_EXIT, c->skel->progs.pm_exit);
	attach(c, PM_HOOK_IOCTL_TP, c->skel->progs.pm_sys_enter_ioctl);
	attach(c, PM_HOOK_IOCTL_TP, c->skel->progs.pm_sys_exit_ioctl);
	attach(c, PM_HOOK_FALLOCATE_TP, c->skel->progs.pm_sys_enter_fallocate);
	attach(c, PM_HOOK_FALLOCATE_TP, c->skel->progs.pm_sys_exit_fallocate);
	attach(c, PM_HOOK_PROC_EXIT, c->skel->progs.pm_proc_exit);
	attach(c, PM_HOOK_RMP_FAULT, c->skel->progs.pm_rmp_fault);
	attach(c, PM_HOOK_PAGE_FAULT, c->skel->progs.pm_page_fault);
	attach(c, PM_HOOK_SET_ATTR_TP, c->skel->progs.pm_set_attr);
	attach(c, PM_HOOK_VM_IOCTL_FEXIT, c->skel->progs.pm_vm_ioctl_exit);
	attach(c, PM_HOOK_DEV_IOCTL_FEXIT, c->skel->progs.pm_dev_ioctl_exit);
	attach(c, PM_HOOK_VCPU_IOCTL_FENTRY, c->skel->progs.pm_vcpu_ioctl_entry);
	attach(c, PM_HOOK_GMEM_FALLOC_FEXIT, c->skel->progs.pm_gmem_fallocate_exit);
	attach(c, PM_HOOK_DESTROY_FENTRY, c->skel->progs.pm_destroy_vm);
	attach_lsm(c);
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
	for (unsigned i = 0; i < c->nlinks; i++)
		bpf_link__destroy(c->links[i]);
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

	for (uint32_t h = 0; h < PM_HOOK_MAX; h++)
		c->hooks[h].hits = percpu_sum(fd, h, c->ncpus);
	return c->hooks;
}

int pm_capture_kstats(struct pm_capture *c, uint64_t vm, struct pm_vm_kstats *out)
{
	if (bpf_map_lookup_elem(bpf_map__fd(c->skel->maps.vm_kstats), &vm, out))
		return -errno;
	return 0;
}

int pm_capture_forget_vm(struct pm_capture *c, uint64_t vm)
{
	int err = 0;

	if (bpf_map_delete_elem(bpf_map__fd(c->skel->maps.vm_kstats), &vm))
		err = -errno;
	bpf_map_delete_elem(bpf_map__fd(c->skel->maps.vm_rules), &vm);
	bpf_map_delete_elem(bpf_map__fd(c->skel->maps.vm_mem), &vm);
	bpf_map_delete_elem(bpf_map__fd(c->skel->maps.vm_lsm_buckets), &vm);
	return err;
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
