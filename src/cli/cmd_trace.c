// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * privmem record: capture without the daemon (same BPF, same books) into a
 * trace file, optionally for one command's lifetime.
 * privmem replay / export: read traces back, on any machine, without root.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>
#include "cli.h"
#include "session.h"
#include "export.h"
#include "recorder.h"
#include "replay.h"
#include "whatif.h"
#include "policy.h"
#include "util.h"
#include "vmjson.h"
#include "vmstate.h"
#include "vmname.h"

#define MAX_FILES 4096

/* Warnings always go to stderr, one line each, so JSON on stdout stays valid. */
static void t_warn(void *ctx, const char *file, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "privmem: warning: %s: %s\n", file, msg);
}

/* getopt over a command's own arguments (argv[-1] is the command name). */
static void getopt_reset(void)
{
	optind = 0;
	opterr = 1;
}

/* ---------------------------------------------------------------- times */

static int parse_dur(const char *s, uint64_t *ns)
{
	static const struct {
		const char *u;
		double mult;
	} units[] = { { "ns", 1 }, { "us", 1e3 }, { "ms", 1e6 }, { "s", 1e9 }, { "m", 60e9 }, { "h", 3600e9 }, { "", 1e9 } };
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || !(v >= 0) || !isfinite(v))
		return -EINVAL;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].u) == 0) {
			double r = v * units[i].mult;

			if (r >= 1.8e19)
				return -ERANGE;
			*ns = (uint64_t)r;
			return 0;
		}
	}
	return -EINVAL;
}

/*
 * T: "30" or "+30s" from the trace's first record, "-60s" before its last,
 * or UTC wall-clock time "2026-11-25T10:15:00[.5][Z]".
 */
static int parse_when(const char *s, uint64_t lo, uint64_t hi, int64_t wall_off, uint64_t *out)
{
	struct tm tm;
	uint64_t d;
	const char *rest;

	if (strchr(s, 'T') && strchr(s, '-') && s[0] != '-') {
		int64_t wall;
		double frac = 0;

		memset(&tm, 0, sizeof(tm));
		rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
		if (!rest)
			return -EINVAL;
		if (*rest == '.') {
			char *e;

			frac = strtod(rest, &e);
			rest = e;
		}
		if (*rest == 'Z')
			rest++;
		if (*rest)
			return -EINVAL;
		wall = (int64_t)timegm(&tm) * 1000000000ll + (int64_t)(frac * 1e9);
		*out = wall - wall_off > 0 ? (uint64_t)(wall - wall_off) : 0;
		return 0;
	}
	if (s[0] == '-') {
		if (parse_dur(s + 1, &d))
			return -EINVAL;
		*out = d < hi ? hi - d : 0;
		return 0;
	}
	if (parse_dur(s[0] == '+' ? s + 1 : s, &d))
		return -EINVAL;
	*out = lo + d;
	return 0;
}

/* ---------------------------------------------------------------- files */

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* FILE stays FILE; DIR becomes its privmem-*.pmtrace files, oldest first. */
static int expand(char **args, int nargs, char ***out, unsigned *n)
{
	char **v = calloc(MAX_FILES, sizeof(*v));
	unsigned k = 0;

	if (!v)
		return -ENOMEM;
	for (int i = 0; i < nargs; i++) {
		struct stat st;
		DIR *d;
		struct dirent *de;
		unsigned first = k;

		if (stat(args[i], &st) || !S_ISDIR(st.st_mode)) {
			if (k < MAX_FILES)
				v[k++] = strdup(args[i]);
			continue;
		}
		d = opendir(args[i]);
		if (!d)
			continue;
		while ((de = readdir(d)) && k < MAX_FILES) {
			size_t l = strlen(de->d_name), sl = strlen(PM_REC_SUFFIX);
			char p[PATH_MAX];

			if (l <= sl || strcmp(de->d_name + l - sl, PM_REC_SUFFIX))
				continue;
			snprintf(p, sizeof(p), "%s/%s", args[i], de->d_name);
			v[k++] = strdup(p);
		}
		closedir(d);
		qsort(v + first, k - first, sizeof(*v), by_name);
		if (k == first) {
			pm_cli_err("%s: no *" PM_REC_SUFFIX " files in this directory", args[i]);
			for (unsigned j = 0; j < k; j++)
				free(v[j]);
			free(v);
			return -ENOENT;
		}
	}
	*out = v;
	*n = k;
	return 0;
}

static void free_files(char **v, unsigned n)
{
	for (unsigned i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

/* Shared by replay and export: files, --vm, --from, --to. */
struct read_args {
	char **files;
	unsigned nfiles;
	const char *vm;
	const char *from, *to;
	const char *policy;		/* replay --policy: what-if */
	bool window;
	uint64_t from_ns, to_ns;
};

static int resolve_window(struct read_args *a)
{
	char msg[256];
	uint64_t lo = 0, hi = 0;
	int64_t off = 0;
	int err;

	a->from_ns = 0;
	a->to_ns = UINT64_MAX;
	if (!a->from && !a->to)
		return 0;
	a->window = true;
	err = pm_replay_span((const char *const *)a->files, a->nfiles, &lo, &hi, &off, msg, sizeof(msg));
	if (err && err != -ENODATA) {
		pm_cli_err("%s", msg);
		return 1;
	}
	if (a->from && parse_when(a->from, lo, hi, off, &a->from_ns)) {
		pm_cli_err("--from '%s': not a time (N[ns|us|ms|s|m|h] from the start, -N before the end, or "
		      "YYYY-MM-DDTHH:MM:SS[.frac]Z)", a->from);
		return 2;
	}
	if (a->to && parse_when(a->to, lo, hi, off, &a->to_ns)) {
		pm_cli_err("--to '%s': not a time (N[ns|us|ms|s|m|h] from the start, -N before the end, or "
		      "YYYY-MM-DDTHH:MM:SS[.frac]Z)", a->to);
		return 2;
	}
	if (a->from_ns > a->to_ns) {
		pm_cli_err("--from is after --to");
		return 2;
	}
	return 0;
}

/* ---------------------------------------------------------------- replay */

/* The row `privmem vms` prints for a live VM. */
static void print_vm_line(const struct pm_vm *vm)
{
	json_object *o = pm_json_vm(vm);

	pm_cli_vms_row(o);
	json_object_put(o);
}

/* Buckets merged so a VM's timeline takes at most ~60 lines. */
static void print_timeline(struct pm_replay *r, const struct pm_vm *vm)
{
	static const uint64_t widths[] = { 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 86400 };
	const struct pm_tl *t = pm_replay_timeline(r, vm->id);
	uint64_t w = widths[0], span;
	char wall[40], a[16], b[16], c[16];

	if (!t || !t->n)
		return;
	span = t->b[t->n - 1].sec - t->b[0].sec + 1;
	for (size_t i = 0; i < sizeof(widths) / sizeof(widths[0]); i++) {
		w = widths[i];
		if (span / w < 60)
			break;
	}
	printf("\nTimeline of VM %016" PRIx64 " (%s pid %u), %" PRIu64 " s buckets, UTC:\n", vm->id, vm->comm, vm->pid, w);
	printf("%-24s %8s %8s %8s %8s %10s %10s %8s %10s %6s\n", "TIME", "EVENTS", "REQUESTS", "ATTEMPTS", "ERRORS",
	       "TO_PRIV", "TO_SHRD", "DISCARDS", "DISC_BYTES", "DENIED");
	for (size_t i = 0; i < t->n;) {
		struct pm_tl_bucket s = { .sec = t->b[i].sec / w * w };

		for (; i < t->n && t->b[i].sec / w * w == s.sec; i++) {
			s.events += t->b[i].events;
			s.requests += t->b[i].requests;
			s.attempts += t->b[i].attempts;
			s.errors += t->b[i].errors;
			s.to_private_bytes += t->b[i].to_private_bytes;
			s.to_shared_bytes += t->b[i].to_shared_bytes;
			s.discards += t->b[i].discards;
			s.discard_bytes += t->b[i].discard_bytes;
			s.denied += t->b[i].denied;
		}
		pm_replay_wall(r, s.sec * 1000000000ull - (uint64_t)r->info.wall_offset_ns, wall, sizeof(wall));
		strcpy(wall + 19, "Z");	/* whole seconds */
		pm_fmt_bytes(a, sizeof(a), s.to_private_bytes);
		pm_fmt_bytes(b, sizeof(b), s.to_shared_bytes);
		pm_fmt_bytes(c, sizeof(c), s.discard_bytes);
		printf("%-24s %8" PRIu64 " %8" PRIu64 " %8" PRIu64 " %8" PRIu64 " %10s %10s %8" PRIu64 " %10s %6" PRIu64 "\n",
		       wall, s.events, s.requests, s.attempts, s.errors, a, b, s.discards, c, s.denied);
	}
}

/* Holes the recorder left: when, how long, how many events, why. */
static void print_gaps(const struct pm_replay *r)
{
	char w1[40], w2[40], e[40];

	for (size_t i = 0; i < r->ngaps; i++) {
		const struct pm_trace_gap *g = &r->gaps[i];

		pm_replay_wall(r, g->from_ns, w1, sizeof(w1));
		pm_replay_wall(r, g->to_ns, w2, sizeof(w2));
		printf("gap:   %s .. %s (%.3f s): %" PRIu64 " events not recorded (", w1, w2,
		       g->to_ns > g->from_ns ? (g->to_ns - g->from_ns) / 1e9 : 0.0, g->events);
		for (unsigned k = 0; k < g->nerrs; k++)
			printf("%s%s", k ? ", then " : "", pm_errno_name(g->errs[k], e, sizeof(e)));
		printf(")\n");
	}
}

static void print_replay_plain(struct pm_replay *r, const struct read_args *a)
{
	struct pm_vms all = pm_state_vms(&r->st);
	struct pm_vm *vm;
	char w1[40], w2[40];

	pm_replay_wall(r, r->first_ts, w1, sizeof(w1));
	pm_replay_wall(r, r->last_ts, w2, sizeof(w2));
	printf("trace: %u file%s from %s (kernel %s), written by %s %s\n", a->nfiles, a->nfiles == 1 ? "" : "s",
	       r->info.host, r->info.kernel, r->info.writer, r->info.version);
	if (r->first_ts)
		printf("span:  %s .. %s (%.3f s)%s\n", w1, w2, (r->last_ts - r->first_ts) / 1e9,
		       r->window ? " (window)" : "");
	printf("policy: %s\n", r->info.policy && *r->info.policy ? r->info.policy : "none");
	print_gaps(r);
	printf("events %" PRIu64 "  lost %" PRIu64 "%s  bad %" PRIu64 "  chunks %" PRIu64 "%s\n\n", r->st.events,
	       r->st.lost, r->st.lost ? " (EVENTS WERE LOST)" : "", r->st.bad_events, r->stats.chunks,
	       r->skipped ? "  (SOME OF THE TRACE COULD NOT BE READ)" : "");
	pm_cli_vms_header();
	pm_vms_each(&all, vm)
		if (pm_replay_vm_match(vm, a->vm) && !(r->window && vm->destroyed && vm->destroyed_ns < r->from_ns))
			print_vm_line(vm);
	pm_vms_each(&all, vm)
		if (pm_replay_vm_match(vm, a->vm) && !(r->window && vm->destroyed && vm->destroyed_ns < r->from_ns))
			print_timeline(r, vm);
	pm_vms_free(&all);
}

static const char replay_usage[] =
	"Usage: privmem replay FILE|DIR... [--vm NAME|ID] [--from T] [--to T] [--policy FILE] [--json]\n"
	"--policy: what would this policy have denied? (every attempt re-decided, as in audit mode)\n"
	"T: N[ns|us|ms|s|m|h] after the first record, -N before the last, or YYYY-MM-DDTHH:MM:SS[.frac]Z\n";

static int parse_read_args(int argc, char **argv, struct read_args *a, const char **format, const char **out,
			   const char *usage)
{
	static const struct option opts[] = {
		{ "vm", required_argument, NULL, 'v' },
		{ "from", required_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 't' },
		{ "format", required_argument, NULL, 'F' },
		{ "output", required_argument, NULL, 'o' },
		{ "policy", required_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c, err;

	getopt_reset();
	while ((c = getopt_long(argc + 1, argv - 1, format ? "v:f:t:F:o:h" : "v:f:t:h", opts, NULL)) != -1) {
		switch (c) {
		case 'v': a->vm = optarg; break;
		case 'f': a->from = optarg; break;
		case 't': a->to = optarg; break;
		case 'F':
			if (!format)
				goto bad;
			*format = optarg;
			break;
		case 'o':
			if (!out)
				goto bad;
			*out = optarg;
			break;
		case 'P':
			if (format)	/* export has no what-if */
				goto bad;
			a->policy = optarg;
			break;
		case 'h': fputs(usage, stdout); return -1;
		default: goto bad;
		}
	}
	if (optind >= argc + 1) {
		pm_cli_err("a trace file is required");
		fputs(usage, stderr);
		return 2;
	}
	if (a->vm && !*a->vm) {
		pm_cli_err("--vm '': give a VM name (a glob will do) or an id prefix");
		return 2;
	}
	err = expand(argv - 1 + optind, argc + 1 - optind, &a->files, &a->nfiles);
	if (err)
		return 1;
	return 0;
bad:
	fputs(usage, stderr);
	return 2;
}

int pm_cmd_replay(int argc, char **argv)
{
	struct read_args a = { 0 };
	struct pm_replay r;
	struct pm_policy *pol = NULL;
	struct pm_whatif wi = { 0 };
	char msg[512];
	int rc, readable = 0;
	bool any_vm = false;

	rc = parse_read_args(argc, argv, &a, NULL, NULL, replay_usage);
	if (rc)
		return rc < 0 ? 0 : rc;
	rc = resolve_window(&a);
	if (rc)
		goto out;
	if (a.policy && pm_policy_load(a.policy, &pol, msg, sizeof(msg))) {
		pm_cli_err("%s", msg);
		rc = 2;
		goto out;
	}
	pm_replay_init(&r);
	r.window = a.window;
	r.from_ns = a.from_ns;
	r.to_ns = a.to_ns;
	r.warn = t_warn;
	if (pol) {
		pm_whatif_init(&wi, pol, a.policy);
		wi.from_ns = a.from_ns;
		r.pre_event = pm_whatif_event;
		r.pre_ctx = &wi;
	}
	for (unsigned i = 0; i < a.nfiles; i++) {
		int err = pm_replay_file(&r, a.files[i], msg, sizeof(msg));

		if (err < 0) {
			if (a.nfiles == 1) {
				pm_cli_err("%s: %s", a.files[i], msg);
				rc = 1;
				goto done;
			}
			fprintf(stderr, "privmem: warning: %s: %s; file skipped\n", a.files[i], msg);
			r.skipped = true;
			continue;
		}
		readable++;
	}
	if (!readable) {
		pm_cli_err("no readable trace among the %u files", a.nfiles);
		rc = 1;
		goto done;
	}
	pm_replay_finish(&r);
	if (r.st.over_cap) {
		fprintf(stderr, "privmem: warning: the trace names more than %u VMs: %" PRIu64
			" events and declarations of further VMs were not booked\n", r.st.max_vms, r.st.over_cap);
		r.skipped = true;
	}
	if (a.vm) {
		struct pm_vms all = pm_state_vms(&r.st);
		struct pm_vm *vm;

		pm_vms_each(&all, vm)
			any_vm |= pm_replay_vm_match(vm, a.vm);
		pm_vms_free(&all);
		if (!any_vm) {
			pm_cli_err("no VM in the trace matches --vm %s", a.vm);
			rc = 1;
			goto done;
		}
	}
	if (pm_cli.json) {
		json_object *o = pm_replay_json(&r, a.vm);

		if (pol)
			json_object_object_add(o, "what_if", pm_whatif_json(&wi, &r, a.vm));

		pm_cli_print_json(o);
		json_object_put(o);
	} else {
		print_replay_plain(&r, &a);
		if (pol)
			pm_whatif_print(&wi, &r, a.vm);
	}
	rc = r.skipped ? PM_EXIT_PARTIAL : 0;
done:
	pm_replay_free(&r);
	pm_whatif_free(&wi);
out:
	pm_policy_free(pol);
	free_files(a.files, a.nfiles);
	return rc;
}

/* ---------------------------------------------------------------- export */

static const char export_usage[] =
	"Usage: privmem export FILE|DIR... --format chrome [-o OUT] [--vm NAME|ID] [--from T] [--to T]\n"
	"Writes Chrome/Perfetto trace-event JSON (ui.perfetto.dev) to OUT or standard output.\n";

/*
 * --vm NAME for export: names arrive in a trace after a VM's first events,
 * so a replay pass finds the ids first. 0, or an exit status.
 */
static int select_vms(const struct read_args *a, uint64_t **ids, unsigned *n)
{
	struct pm_replay r;
	struct pm_vm **vms;
	unsigned nv;
	char msg[512];

	*ids = NULL;
	*n = 0;
	pm_replay_init(&r);	/* no warn: the export pass reports damage once */
	for (unsigned i = 0; i < a->nfiles; i++)
		pm_replay_file(&r, a->files[i], msg, sizeof(msg));	/* export itself reports the files */
	pm_replay_finish(&r);
	vms = calloc(r.st.nvms ? r.st.nvms : 1, sizeof(*vms));
	*ids = calloc(r.st.nvms ? r.st.nvms : 1, sizeof(**ids));
	nv = vms && *ids ? pm_state_list(&r.st, vms, r.st.nvms) : 0;
	for (unsigned i = 0; i < nv; i++)
		if (pm_vm_selected(vms[i], a->vm))
			(*ids)[(*n)++] = vms[i]->id;
	free(vms);
	pm_replay_free(&r);
	if (!*n) {
		pm_cli_err("no VM in the trace matches --vm %s", a->vm);
		return 1;
	}
	return 0;
}

int pm_cmd_export(int argc, char **argv)
{
	uint64_t *ids = NULL;
	struct read_args a = { 0 };
	struct pm_export_opts o = { .warn = t_warn };
	const char *format = NULL, *outp = NULL;
	FILE *out = stdout;
	char msg[512];
	int rc;

	rc = parse_read_args(argc, argv, &a, &format, &outp, export_usage);
	if (rc)
		return rc < 0 ? 0 : rc;
	if (!format || strcmp(format, "chrome")) {
		pm_cli_err(format ? "--format %s: unknown (known: chrome)" : "--format chrome is required%s", format ? format : "");
		rc = 2;
		goto out;
	}
	rc = resolve_window(&a);
	if (rc)
		goto out;
	if (a.vm) {
		rc = select_vms(&a, &ids, &o.n_vm_ids);
		if (rc)
			goto out;
		o.vm_ids = ids;
	}
	o.from_ns = a.from_ns;
	o.to_ns = a.to_ns;
	if (outp && strcmp(outp, "-")) {
		out = fopen(outp, "w");
		if (!out) {
			pm_cli_err("%s: %s", outp, strerror(errno));
			rc = 1;
			goto out;
		}
	}
	rc = pm_export_chrome(out, (const char *const *)a.files, a.nfiles, &o, msg, sizeof(msg));
	if ((out == stdout ? fflush(out) : fclose(out)) && rc >= 0) {
		snprintf(msg, sizeof(msg), "%s: %s", outp ? outp : "standard output", strerror(errno));
		rc = -EIO;
	}
	if (rc < 0) {
		if (msg[0])
			pm_cli_err("%s%s%s", a.nfiles == 1 ? a.files[0] : "", a.nfiles == 1 ? ": " : "", msg);
		rc = 1;
	} else if (rc > 0) {
		rc = PM_EXIT_PARTIAL;
	}
out:
	free(ids);
	free_files(a.files, a.nfiles);
	return rc;
}

/* ---------------------------------------------------------------- record */

static volatile sig_atomic_t rec_stop;

static void rec_signal(int sig)
{
	(void)sig;
	rec_stop = 1;
}

static void rec_warn(void *ctx, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "privmem: %s\n", msg);
}

static const char record_usage[] =
	"Usage: privmem record -o FILE [-d SECONDS] [--syscall-hooks] [-- CMD [ARGS...]]\n"
	"Records conversions into FILE until SECONDS pass, CMD exits, or SIGINT/SIGTERM.\n"
	"  --syscall-hooks     where trampolines are missing, record VM creation, attempts and\n"
	"                      discards through syscall tracepoints (they tax every process)\n"
	"  --no-syscall-hooks  never attach syscall tracepoints, not even to stand in\n";

struct record_args {
	struct pm_capture_opts co;
	struct pm_rec_opts ro;
	uint64_t dur;
	char **cmd;
};

/* 0 to go on, else the exit code (-1: --help, exit 0). */
static int record_args(struct record_args *a, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "duration", required_argument, NULL, 'd' },
		{ "syscall-hooks", no_argument, NULL, 'Y' },
		{ "no-syscall-hooks", no_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;

	getopt_reset();
	while ((c = getopt_long(argc + 1, argv - 1, "+o:d:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o': a->ro.path = optarg; break;
		case 'd':
			if (parse_dur(optarg, &a->dur) || !a->dur) {
				pm_cli_err("-d '%s': not a duration (seconds, or N[ms|s|m|h])", optarg);
				return 2;
			}
			break;
		case 'Y': case 'S':
			if (pm_syscall_hooks_opt(&a->co.syscall_hooks, c == 'Y' ? PM_SYSCALL_HOOKS_ON : PM_SYSCALL_HOOKS_OFF)) {
				pm_cli_err("record: %s", PM_SYSCALL_HOOKS_CONFLICT);
				return 2;
			}
			break;
		case 'h': fputs(record_usage, stdout); return -1;
		default: fputs(record_usage, stderr); return 2;
		}
	}
	if (!a->ro.path) {
		pm_cli_err("record needs -o FILE");
		fputs(record_usage, stderr);
		return 2;
	}
	if (optind < argc + 1)
		a->cmd = argv - 1 + optind;
	if (geteuid() != 0) {
		pm_cli_err("record must run as root (it loads BPF programs); replay and export need no privileges");
		return 1;
	}
	return 0;
}

/* The command to record, started once capture is live. Its pid, or -1. */
static pid_t spawn(char **cmd)
{
	pid_t child;

	fflush(NULL);
	child = fork();
	if (child < 0) {
		pm_cli_err("fork: %s", strerror(errno));
		return -1;
	}
	if (child == 0) {
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGPIPE, SIG_DFL);
		execvp(cmd[0], cmd);
		fprintf(stderr, "privmem: %s: %s\n", cmd[0], strerror(errno));
		_exit(127);
	}
	return child;
}

/* Until the duration passes, the command exits, or a signal: 0, or 1 on a ring-buffer error. */
static int record_loop(struct pm_session *s, pid_t child, uint64_t dur, int *status, bool *child_done)
{
	uint64_t t0 = pm_now_ns();

	while (!*child_done) {
		int err = pm_session_poll(s, 50);

		if (err < 0) {
			pm_cli_err("ring buffer: %s", strerror(-err));
			return 1;
		}
		if (child > 0 && waitpid(child, status, WNOHANG) == child)
			*child_done = true;
		if (dur && pm_now_ns() - t0 >= dur)
			break;
		if (rec_stop) {
			if (child <= 0)
				break;
			/* pass it on and record the command's way out */
			kill(child, SIGTERM);
			rec_stop = 0;
		}
	}
	return 0;
}

/* Closes the trace and says what it holds; rc stays, or becomes 1 on a write error. */
static int record_finish(struct pm_session *s, const char *path, int rc)
{
	struct pm_rec *rec = pm_session_recorder(s);
	uint64_t ev = rec ? pm_rec_events(rec) : 0;
	int err;
	struct stat st;

	if (!rec)
		return rc;
	err = pm_session_stop_recording(s);
	if (err) {
		pm_cli_err("%s: %s", path, strerror(-err));
		return 1;
	}
	if (rc == 0)
		fprintf(stderr, "privmem: recorded %" PRIu64 " events (%" PRIu64 " lost) to %s, %lld bytes\n", ev,
			pm_capture_lost(pm_session_capture(s)), path,
			stat(path, &st) == 0 ? (long long)st.st_size : -1ll);
	return rc;
}

int pm_cmd_record(int argc, char **argv)
{
	struct record_args a = { .ro = { .writer = "privmem record" } };
	struct pm_session_ops ops = { .warn = rec_warn };
	struct pm_session *s = NULL;
	char msg[512];
	pid_t child = -1;
	int rc = record_args(&a, argc, argv), status = 0;
	bool child_done = false;

	if (rc)
		return rc < 0 ? 0 : rc;
	rc = 1;
	if (pm_session_open(&s, &a.co, &ops, msg, sizeof(msg)) ||
	    pm_session_record(s, &a.ro, msg, sizeof(msg))) {
		pm_cli_err("%s", msg);
		goto out;
	}
	fprintf(stderr, "privmem: recording to %s\n", pm_rec_path(pm_session_recorder(s)));
	{
		/* a trace without attempts must not read as a VM that converted nothing */
		json_object *hooks = pm_json_hooks(pm_capture_hooks(pm_session_capture(s)), PM_HOOK_MAX);

		pm_cli_print_unseen(stderr, hooks, "privmem record", "privmem: ");
		json_object_put(hooks);
	}
	signal(SIGINT, rec_signal);
	signal(SIGTERM, rec_signal);
	signal(SIGPIPE, SIG_IGN);
	if (a.cmd && (child = spawn(a.cmd)) < 0)
		goto out;
	rc = record_loop(s, child, a.dur, &status, &child_done);
out:
	if (s)
		rc = record_finish(s, a.ro.path, rc);
	pm_session_close(s);
	if (rc == 0 && child_done) {
		if (WIFEXITED(status) && WEXITSTATUS(status))
			rc = WEXITSTATUS(status);
		else if (WIFSIGNALED(status))
			rc = 128 + WTERMSIG(status);
	}
	return rc;
}
