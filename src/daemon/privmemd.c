// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * privmemd: loads the capture BPF, keeps per-VM books of private/shared
 * conversions and serves them on a UNIX socket.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include "capture.h"
#include "session.h"
#include "dpolicy.h"
#include "recorder.h"
#include "instance.h"
#include "metrics.h"
#include "sockapi.h"
#include "util.h"
#include "vmjson.h"
#include "vmstate.h"

static volatile sig_atomic_t exiting, reload_requested;

struct daemon {
	struct pm_session *ses;
	struct pm_capture *cap;		/* the session's */
	struct pm_state *st;		/* the session's books */
	struct pm_capture_opts co;
	const char *sock_path;
	int lfd;
	const char *sock_group_name;	/* --socket-group: who besides root may ask */
	gid_t sock_group;
	uint64_t refused_clients;	/* connected, but neither root nor in the group */
	int lock_fd;			/* the instance lock, held while we run */
	bool verbose;
	uint64_t started_ns;
	struct pm_rec_opts rec_opts;	/* --record DIR: the flight recorder */
	const char *metrics_addr;	/* --metrics ADDR:PORT */
	struct pm_metrics *metrics;
	const char *policy_path;	/* -c FILE */
	bool require_enforce;		/* --require-enforce */
	struct pm_dpolicy pol;
	struct pm_session_keep keep;	/* --keep-destroyed, --max-destroyed */
};

static const char usage[] =
	"Usage: privmemd [-c POLICY] [-s SOCKET] [--metrics ADDR:PORT] [--syscall-hooks] [-v]\n"
	"Observe private/shared memory conversions of KVM guests.\n\n"
	"  -c, --policy FILE       rate/size policy (privmem.policy(5)); SIGHUP reloads it\n"
	"  -s, --socket PATH       API socket (default " PM_DEFAULT_SOCKET ")\n"
	"      --socket-group GROUP  members of GROUP may read status and vms (reload stays root's)\n"
	"      --metrics ADDR:PORT serve Prometheus /metrics there (e.g. 127.0.0.1:9464)\n"
	"      --syscall-hooks     where trampolines are missing, see VM creation, attempts and\n"
	"                          discards through syscall tracepoints (they tax every process)\n"
	"      --no-syscall-hooks  never attach syscall tracepoints, not even to stand in\n"
	"      --require-enforce   refuse to start unless the policy is enforced (BPF LSM live)\n"
	"      --no-exit-stats     no per-VM exit counts: the exit hook works only on request exits\n"
	"      --record DIR        flight recorder: trace files in DIR (privmem-trace(5))\n"
	"      --record-size BYTES start a new file past this size (default 64M; K/M/G)\n"
	"      --record-files N    keep the newest N files (default 8)\n"
	"      --keep-destroyed SECONDS  forget a destroyed VM this long after it went (default 600)\n"
	"      --max-destroyed N   keep at most N destroyed VMs, forgetting the oldest (default 1024)\n"
	"  -v, --verbose           log every event to stderr\n"
	"  -h, --help              this text\n";

static void on_signal(int sig)
{
	if (sig == SIGHUP) {
		reload_requested = 1;
		return;
	}
	exiting = 1;
}

static int rec_option(struct daemon *d, int c, const char *arg)
{
	char *end;
	unsigned long long v;

	if (c == 'R') {
		d->rec_opts.dir = arg;
		return 0;
	}
	errno = 0;
	v = strtoull(arg, &end, 10);
	if (c == 'Z' && end != arg && *end && !end[1] && strchr("KMG", *end))
		v <<= *end == 'K' ? 10 : *end == 'M' ? 20 : 30, end++;
	if (errno || end == arg || *end || !v || v > (1ull << 40)) {
		fprintf(stderr, "privmemd: --record-%s '%s': not a positive number\n", c == 'Z' ? "size" : "files", arg);
		return -1;
	}
	if (c == 'Z')
		d->rec_opts.max_bytes = v;
	else
		d->rec_opts.max_files = v > 100000 ? 100000 : (unsigned)v;
	return 0;
}

/* --keep-destroyed SECONDS, --max-destroyed N: 0 is a value here (keep none), a sign is not. */
static int keep_option(struct daemon *d, int c, const char *arg)
{
	const char *what = c == 'K' ? "keep-destroyed" : "max-destroyed";
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(arg, &end, 10);
	if (!isdigit((unsigned char)arg[0]) || errno || *end || v > UINT_MAX) {
		fprintf(stderr, "privmemd: --%s '%s': not a %s from 0 to %u\n", what, arg,
			c == 'K' ? "number of seconds" : "count", UINT_MAX);
		return -1;
	}
	if (c == 'K')
		d->keep.keep_destroyed_s = v;
	else
		d->keep.max_destroyed = (unsigned)v;
	return 0;
}

/* The session calls these: policy for a VM it sees first, logging, recorder faults. */
static void on_vm_seen(void *ctx, struct pm_vm *vm)
{
	struct daemon *d = ctx;

	pm_dpolicy_apply_vm(&d->pol, d->cap, vm);
}

static void on_event(void *ctx, const struct pm_event *e, const struct pm_vm *vm)
{
	struct daemon *d = ctx;

	(void)vm;
	if (d->verbose)
		fprintf(stderr, "privmemd: vm %016llx pid %u type %u dir %s addr 0x%llx size %llu ret %d\n",
			(unsigned long long)e->vm, e->pid, e->type, pm_dir_name(e->dir),
			(unsigned long long)e->addr, (unsigned long long)e->size, e->ret);
}

static void on_warn(void *ctx, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "privmemd: %s\n", msg);
}

static int rec_start(struct daemon *d, char *msg, size_t len)
{
	d->rec_opts.writer = "privmemd";
	d->rec_opts.policy = d->pol.text;
	if (pm_session_record(d->ses, &d->rec_opts, msg, len))
		return -1;
	fprintf(stderr, "privmemd: recording to %s\n", pm_rec_path(pm_session_recorder(d->ses)));
	return 0;
}

static void rec_stop(struct daemon *d)
{
	int err;

	if (!d->ses)
		return;
	err = pm_session_stop_recording(d->ses);
	if (err)
		fprintf(stderr, "privmemd: trace: %s\n", strerror(-err));
}

/* --record: where, whether it is writing now, and what its faults cost. */
static json_object *recorder_json(const struct pm_rec *r)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "file", json_object_new_string(pm_rec_path(r)));
	json_object_object_add(o, "recording", json_object_new_boolean(pm_rec_recording(r)));
	json_object_object_add(o, "events", json_object_new_uint64(pm_rec_events(r)));
	json_object_object_add(o, "bytes", json_object_new_uint64(pm_rec_bytes(r)));
	json_object_object_add(o, "gaps", json_object_new_uint64(pm_rec_gaps(r)));
	json_object_object_add(o, "unrecorded_events", json_object_new_uint64(pm_rec_unrecorded(r)));
	return o;
}

/* The kernel's per-VM maps: entries in use and what could not be had. */
static json_object *kernel_state_json(struct pm_capture *c)
{
	static const char *const full_names[PM_SF_MAX] = { "ids", "kstats", "mem", "lsm_buckets", "attr", "dead" };
	json_object *o = json_object_new_object(), *maps = json_object_new_object(), *full = json_object_new_object();
	struct pm_kmap_count mc[16];
	uint64_t sf[PM_SF_MAX];
	int n = pm_capture_map_counts(c, mc, 16);

	for (int i = 0; i < n; i++) {
		json_object *m = json_object_new_object();

		json_object_object_add(m, "entries", json_object_new_uint64(mc[i].entries));
		json_object_object_add(m, "max", json_object_new_uint64(mc[i].max));
		json_object_object_add(maps, mc[i].name, m);
	}
	pm_capture_state_full(c, sf);
	for (int i = 0; i < PM_SF_MAX; i++)
		json_object_object_add(full, full_names[i], json_object_new_uint64(sf[i]));
	json_object_object_add(o, "maps", maps);
	json_object_object_add(o, "full", full);
	return o;
}

static json_object *status_json(struct daemon *d)
{
	json_object *o = json_object_new_object();
	const struct pm_hook_status *h = pm_capture_hooks(d->cap);
	struct utsname u;

	uname(&u);
	json_object_object_add(o, "version", json_object_new_string(PRIVMEM_VERSION));
	json_object_object_add(o, "pid", json_object_new_int(getpid()));
	json_object_object_add(o, "kernel", json_object_new_string(u.release));
	json_object_object_add(o, "uptime_ns", json_object_new_uint64(pm_now_ns() - d->started_ns));
	json_object_object_add(o, "vms", json_object_new_uint64(d->st->nvms));
	json_object_object_add(o, "events", json_object_new_uint64(d->st->events));
	json_object_object_add(o, "bad_events", json_object_new_uint64(d->st->bad_events));
	json_object_object_add(o, "lost", json_object_new_uint64(d->st->lost));
	json_object_object_add(o, "refused_clients", json_object_new_uint64(d->refused_clients));
	/* destroyed VMs dropped from the books, and the limits that dropped them */
	json_object_object_add(o, "forgotten", json_object_new_uint64(d->st->forgotten));
	json_object_object_add(o, "keep_destroyed_s", json_object_new_uint64(d->keep.keep_destroyed_s));
	json_object_object_add(o, "max_destroyed", json_object_new_uint64(d->keep.max_destroyed));
	if (d->metrics) {
		json_object *m = json_object_new_object();

		json_object_object_add(m, "url", json_object_new_string(pm_metrics_url(d->metrics)));
		json_object_object_add(m, "scrapes", json_object_new_uint64(pm_metrics_scrapes(d->metrics)));
		json_object_object_add(m, "snapshots", json_object_new_uint64(pm_metrics_snapshots(d->metrics)));
		json_object_object_add(o, "metrics", m);
	}
	json_object_object_add(o, "hooks", pm_json_hooks(h, PM_HOOK_MAX));
	json_object_object_add(o, "kernel_state", kernel_state_json(d->cap));
	json_object_object_add(o, "policy", pm_dpolicy_status(&d->pol, d->cap));
	if (pm_session_recorder(d->ses))
		json_object_object_add(o, "recorder", recorder_json(pm_session_recorder(d->ses)));
	return o;
}

/* A bad file keeps the running policy: say why, once, where the operator looks. */
static json_object *reload_policy(struct daemon *d)
{
	json_object *o = json_object_new_object();
	struct pm_rec *rec = pm_session_recorder(d->ses);
	char err[512];

	if (pm_dpolicy_reload(&d->pol, d->cap, d->st, err, sizeof(err))) {
		fprintf(stderr, "privmemd: policy reload failed, keeping the running policy: %s\n", err);
		json_object_object_add(o, "error", json_object_new_string(err));
	} else {
		fprintf(stderr, "privmemd: policy reloaded from %s (mode %s)\n", d->pol.path,
			pm_mode_name(d->pol.policy->mode));
		json_object_object_add(o, "policy", pm_dpolicy_status(&d->pol, d->cap));
		if (rec)
			pm_rec_policy(rec, d->pol.text);	/* the trace says from when */
	}
	return o;
}

static json_object *error_json(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static json_object *error_json(const char *fmt, ...)
{
	json_object *o = json_object_new_object();
	char buf[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	json_object_object_add(o, "error", json_object_new_string(buf));
	return o;
}

/*
 * The socket's mode and group already keep others out at connect(); the
 * peer's own credentials say it again (a socket file chmod'ed open, or a
 * descriptor passed on), and changing the policy stays root's.
 */
static json_object *refuse(struct daemon *d, const struct pm_sock_peer *peer, const char *cmd)
{
	if (!pm_sock_peer_allowed(peer, d->sock_group)) {
		d->refused_clients++;
		return error_json("permission denied: uid %u is not root%s%s", (unsigned)peer->uid,
				  d->sock_group_name ? " nor in group " : "",
				  d->sock_group_name ? d->sock_group_name : "");
	}
	if (pm_sock_parse(cmd) == PM_CMD_RELOAD && peer->uid != 0 && peer->uid != geteuid()) {
		d->refused_clients++;
		return error_json("permission denied: reload is root's (uid %u)", (unsigned)peer->uid);
	}
	return NULL;
}

static json_object *answer(struct daemon *d, const char *cmd)
{
	d->st->lost = pm_capture_lost(d->cap);
	switch (pm_sock_parse(cmd)) {
	case PM_CMD_STATUS:
		return status_json(d);
	case PM_CMD_RELOAD:
		return reload_policy(d);
	case PM_CMD_VMS:
		return pm_json_vms(pm_session_refresh(d->ses), pm_capture_hooks(d->cap), PM_HOOK_MAX);
	case PM_CMD_UNKNOWN:
		break;
	}
	return error_json("unknown command");
}

static void serve(struct daemon *d)
{
	char cmd[PM_SOCK_MAX_REQ];
	struct pm_sock_peer peer;
	json_object *o;
	int cfd = pm_sock_accept(d->lfd, cmd, sizeof(cmd), &peer);

	if (cfd < 0)
		return;
	o = refuse(d, &peer, cmd);
	if (!o)
		o = answer(d, cmd);
	pm_sock_reply(cfd, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	close(cfd);
}

/* What a /metrics scrape shows: the books as of now, read from this thread. */
static void metrics_view(void *ctx, struct pm_metrics_view *v)
{
	struct daemon *d = ctx;

	v->st = pm_session_refresh(d->ses);
	v->hooks = pm_capture_hooks(d->cap);
	v->nhooks = PM_HOOK_MAX;
	v->policy_mode = d->pol.policy ? pm_mode_name(d->pol.policy->mode) : "none";
	v->lost = d->st->lost;
	v->keep_destroyed_s = d->keep.keep_destroyed_s;
	v->max_destroyed = d->keep.max_destroyed;
}

/* Refuses to start on a bad policy, and never claims enforcement the kernel cannot give. */
static int start_policy(struct daemon *d)
{
	char err[512];

	if (pm_dpolicy_load(&d->pol, d->cap, d->st, d->policy_path, err, sizeof(err))) {
		fprintf(stderr, "privmemd: %s\n", err);
		return -1;
	}
	fprintf(stderr, "privmemd: policy %s: mode %s, %u rules\n", d->policy_path,
		pm_mode_name(d->pol.policy->mode), d->pol.policy->nrules);
	if (d->pol.policy->mode == PM_MODE_ENFORCE && !pm_capture_can_enforce(d->cap))
		fprintf(stderr, "privmemd: enforcement unavailable (%s): denials are only reported as would_deny\n",
			pm_capture_hooks(d->cap)[PM_HOOK_LSM].reason);
	return 0;
}

/* --require-enforce: a policy in enforce mode and an LSM hook that is attached and verified. */
static int refuse_unenforced(struct daemon *d)
{
	const struct pm_hook_status *lsm = &pm_capture_hooks(d->cap)[PM_HOOK_LSM];

	if (!d->pol.policy || d->pol.policy->mode != PM_MODE_ENFORCE) {
		fprintf(stderr, "privmemd: --require-enforce: %s\n",
			d->pol.policy ? "the policy's mode is not enforce" : "needs a policy (-c FILE)");
		return -1;
	}
	if (!pm_capture_can_enforce(d->cap)) {
		fprintf(stderr, "privmemd: --require-enforce: enforcement is not live: %s %s%s%s\n", lsm->name,
			pm_hook_state_name(lsm->state), lsm->reason[0] ? ": " : "", lsm->reason);
		return -1;
	}
	return 0;
}

static int preflight(char *msg, size_t len)
{
	if (geteuid() != 0) {
		snprintf(msg, len, "must run as root (loads BPF programs)");
		return -EPERM;
	}
	if (access("/sys/kernel/btf/vmlinux", R_OK) != 0) {
		snprintf(msg, len, "kernel has no BTF (/sys/kernel/btf/vmlinux): CONFIG_DEBUG_INFO_BTF is required");
		return -ENOENT;
	}
	return 0;
}

static void log_hooks(struct daemon *d)
{
	const struct pm_hook_status *h = pm_capture_hooks(d->cap);

	for (int i = 0; i < PM_HOOK_MAX; i++) {
		if (!h[i].name)
			continue;
		fprintf(stderr, "privmemd: hook %-26s %-11s %s%s\n", h[i].name, pm_hook_state_name(h[i].state),
			h[i].reason,
			h[i].state == PM_HOOK_LIVE && h[i].taxes_all ? "taxes every syscall of every process" : "");
	}
}

/*
 * A group name from /etc/group, or a number (for groups only a directory
 * service knows: no NSS here, the static bed build has none).
 */
static int parse_group(const char *name, gid_t *out)
{
	FILE *f = fopen("/etc/group", "re");
	struct group *g;
	char *end;
	unsigned long v;

	while (f && (g = fgetgrent(f)))
		if (strcmp(g->gr_name, name) == 0) {
			*out = g->gr_gid;
			fclose(f);
			return 0;
		}
	if (f)
		fclose(f);
	errno = 0;
	v = strtoul(name, &end, 10);
	if (errno || end == name || *end || v >= PM_SOCK_NO_GROUP)
		return -ENOENT;
	*out = (gid_t)v;
	return 0;
}

/* 0 to run, 1 to exit 0 (--help), 2 on a usage error. */
static int parse_args(struct daemon *d, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "policy", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, 's' },
		{ "socket-group", required_argument, NULL, 'G' },
		{ "syscall-hooks", no_argument, NULL, 'Y' },
		{ "no-syscall-hooks", no_argument, NULL, 'S' },
		{ "no-exit-stats", no_argument, NULL, 'E' },
		{ "require-enforce", no_argument, NULL, 'F' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "record", required_argument, NULL, 'R' },
		{ "record-size", required_argument, NULL, 'Z' },
		{ "record-files", required_argument, NULL, 'N' },
		{ "metrics", required_argument, NULL, 'M' },
		{ "keep-destroyed", required_argument, NULL, 'K' },
		{ "max-destroyed", required_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "c:s:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'c': d->policy_path = optarg; break;
		case 's': d->sock_path = optarg; break;
		case 'G': d->sock_group_name = optarg; break;
		case 'Y': case 'S':
			if (pm_syscall_hooks_opt(&d->co.syscall_hooks, c == 'Y' ? PM_SYSCALL_HOOKS_ON : PM_SYSCALL_HOOKS_OFF)) {
				fprintf(stderr, "privmemd: %s\n", PM_SYSCALL_HOOKS_CONFLICT);
				return 2;
			}
			break;
		case 'E': d->co.no_exit_stats = true; break;
		case 'F': d->require_enforce = true; break;
		case 'v': d->verbose = true; break;
		case 'R': case 'Z': case 'N': if (rec_option(d, c, optarg)) return 2; break;
		case 'M': d->metrics_addr = optarg; break;
		case 'K': case 'D': if (keep_option(d, c, optarg)) return 2; break;
		case 'h': fputs(usage, stdout); return 1;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "privmemd: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (d->metrics_addr) {
		char msg[256];

		/* a bad address is a usage error, whatever else runs (before the instance lock) */
		if (pm_metrics_check_spec(d->metrics_addr, msg, sizeof(msg))) {
			fprintf(stderr, "privmemd: %s\n", msg);
			return 2;
		}
	}
	if (d->sock_group_name && parse_group(d->sock_group_name, &d->sock_group)) {
		fprintf(stderr, "privmemd: --socket-group '%s': no such group\n", d->sock_group_name);
		return 2;
	}
	return 0;
}

/* The start-up ladder; each step says why it failed. 0, or the exit code. */
static int start(struct daemon *d)
{
	struct pm_session_ops ops = { .vm_seen = on_vm_seen, .event = on_event, .warn = on_warn, .ctx = d,
				      .keep = &d->keep };
	char msg[512];
	int err;

	if (preflight(msg, sizeof(msg))) {
		fprintf(stderr, "privmemd: %s\n", msg);
		return 1;
	}
	/* before anything touches the pinned maps or the socket a running one uses */
	d->lock_fd = pm_instance_lock(PM_INSTANCE_LOCK, d->sock_path, msg, sizeof(msg));
	if (d->lock_fd < 0) {
		fprintf(stderr, "privmemd: %s\n", msg);
		return 1;
	}
	d->started_ns = pm_now_ns();
	/* with a policy, enforcement outlives this process; without, none is left behind */
	d->co.pin = d->policy_path != NULL;
	d->co.unpin_stale = !d->co.pin;
	if (pm_session_open(&d->ses, &d->co, &ops, msg, sizeof(msg))) {
		fprintf(stderr, "privmemd: %s\n", msg);
		return 1;
	}
	d->cap = pm_session_capture(d->ses);
	d->st = pm_session_state(d->ses);
	if (d->policy_path && start_policy(d))
		return 2;
	if (d->require_enforce && refuse_unenforced(d))
		return 1;
	d->lfd = pm_sock_listen(d->sock_path, d->sock_group);
	if (d->lfd < 0) {
		fprintf(stderr, "privmemd: socket %s: %s\n", d->sock_path, strerror(-d->lfd));
		return 1;
	}
	if (d->metrics_addr) {
		err = pm_metrics_open(&d->metrics, d->metrics_addr, metrics_view, d, msg, sizeof(msg));
		if (err) {
			fprintf(stderr, "privmemd: %s\n", msg);
			return err == -EINVAL ? 2 : 1;
		}
		fprintf(stderr, "privmemd: metrics on %s\n", pm_metrics_url(d->metrics));
	}
	if (d->rec_opts.dir && rec_start(d, msg, sizeof(msg))) {
		fprintf(stderr, "privmemd: %s\n", msg);
		return 1;
	}
	return 0;
}

/* Events first; then clients, a pending reload, scrapes; the session does its upkeep. */
static int run(struct daemon *d)
{
	while (!exiting) {
		struct pollfd p = { .fd = d->lfd, .events = POLLIN };
		int err = pm_session_poll(d->ses, 50);

		if (err < 0) {
			fprintf(stderr, "privmemd: ring buffer: %s\n", strerror(-err));
			return 1;
		}
		while (poll(&p, 1, 0) > 0 && !exiting)
			serve(d);
		if (reload_requested) {
			reload_requested = 0;
			json_object_put(reload_policy(d));
		}
		pm_metrics_run(d->metrics);
	}
	pm_session_poll(d->ses, 0);
	rec_stop(d);
	fprintf(stderr, "privmemd: exiting: %llu events, %llu lost\n", (unsigned long long)d->st->events,
		(unsigned long long)pm_capture_lost(d->cap));
	return 0;
}

static void stop(struct daemon *d)
{
	rec_stop(d);
	pm_metrics_close(d->metrics);
	if (d->lfd >= 0) {
		close(d->lfd);
		unlink(d->sock_path);
	}
	pm_session_close(d->ses);
	pm_dpolicy_free(&d->pol);
	if (d->lock_fd >= 0)
		close(d->lock_fd);	/* the lock goes with it; the file stays, as flock(1)'s do */
}

int main(int argc, char **argv)
{
	struct daemon d = { .sock_path = PM_DEFAULT_SOCKET, .lfd = -1, .lock_fd = -1, .sock_group = PM_SOCK_NO_GROUP,
			    .keep = { PM_KEEP_DESTROYED_S, PM_MAX_DESTROYED } };
	int rc = parse_args(&d, argc, argv);

	if (rc)
		return rc == 1 ? 0 : rc;
	/*
	 * A fixed mmap threshold: glibc's moves up to 32 MiB after the first
	 * large free, and a /metrics text of many VMs then stays in the heap.
	 */
	mallopt(M_MMAP_THRESHOLD, 1 << 20);
	rc = start(&d);
	if (rc == 0) {
		signal(SIGINT, on_signal);
		signal(SIGTERM, on_signal);
		signal(SIGHUP, on_signal);
		signal(SIGPIPE, SIG_IGN);
		log_hooks(&d);
		fprintf(stderr, "privmemd: ready, socket %s\n", d.sock_path);
		rc = run(&d);
	}
	stop(&d);
	return rc;
}
