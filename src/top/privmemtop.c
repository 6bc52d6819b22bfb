// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * privmemtop: a live view of the host's VMs and their private/shared memory
 * conversions, in the spirit of htop and kvm_stat.  main() and the loop
 * live here; top_model.c computes, top_view.c draws, top_crt.c talks curses.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "top_crt.h"
#include "top_model.h"
#include "top_source.h"
#include "top_view.h"
#include "jsonutil.h"
#include "util.h"

static volatile sig_atomic_t exiting;

static struct {
	const char *sock;
	const char *replay;
	double delay, speed;
	bool direct, once, json;
	enum pm_syscall_hooks syscall_hooks;	/* --direct's own: privmemd has its */
} env = { .sock = PM_DEFAULT_SOCKET, .delay = 1.0, .speed = 1.0 };

static const char usage[] =
	"Usage: privmemtop [-s SOCKET | --direct [--syscall-hooks] | --replay FILE [--speed N]]\n"
	"                  [-d SECONDS] [--once [--json]]\n"
	"Live view of the private/shared memory conversions of the host's VMs.\n\n"
	"  -s, --socket PATH       privmemd's socket (default " PM_DEFAULT_SOCKET ")\n"
	"  -d, --delay SECONDS     refresh interval (default 1; 0.1 to 3600)\n"
	"      --direct            load the capture BPF here, without privmemd (root)\n"
	"      --syscall-hooks     with --direct, where trampolines are missing: see VM creation,\n"
	"                          attempts and discards through syscall tracepoints (they tax\n"
	"                          every process)\n"
	"      --no-syscall-hooks  with --direct: never attach syscall tracepoints, not even to stand in\n"
	"      --replay FILE       play a trace (privmem record, privmemd --record)\n"
	"      --speed N           with --replay: N times real time (default 1)\n"
	"      --once              print one snapshot (rates over one interval) and exit\n"
	"  -j, --json              with --once: the snapshot as JSON\n"
	"  -h, --help              this text\n"
	"Keys: h help, q quit, Enter detail, < > sort, r reverse, / filter, t totals,\n"
	"c cgroup unit, p pause; replay: - + seek 10 s, [ ] speed.\n"
	"Exit status: 0 ok, 1 runtime error, 2 usage.\n";

static void on_signal(int sig)
{
	(void)sig;
	exiting = 1;
}

static void p_err(const char *msg)
{
	pm_json_err(env.json, "privmemtop", msg);
}

/* One fetch into the model; on failure the old snapshot stays and err says why. */
static int collect(struct top_source *src, struct top_model *m, char *err, size_t len)
{
	json_object *vms, *status;
	uint64_t now;
	int rc = top_source_fetch(src, &vms, &status, &now, err, len);

	if (rc == 0)
		rc = top_model_update(m, vms, status, now, err, len);
	json_object_put(vms);
	json_object_put(status);
	return rc;
}

static void sleep_working(struct top_source *src, double secs)
{
	uint64_t end = pm_now_ns() + (uint64_t)(secs * 1e9);

	while (!exiting && pm_now_ns() < end) {
		struct timespec ts = { 0, 20 * 1000000 };

		top_source_idle(src);
		nanosleep(&ts, NULL);
	}
}

static int run_once(struct top_source *src, struct top_model *m)
{
	struct top_ui ui;
	char err[512];

	top_ui_init(&ui);
	/* a trace: its last interval, so the rates are the end's */
	top_source_seek_end(src, env.delay * env.speed);
	if (collect(src, m, err, sizeof(err))) {
		p_err(err);
		return 1;
	}
	if (top_source_is_replay(src))
		top_source_seek_end(src, 0);
	else
		sleep_working(src, env.delay);
	if (collect(src, m, err, sizeof(err))) {
		p_err(err);
		return 1;
	}
	top_snapshot_sort(&m->cur, TOP_COL_PID, true, false, false);
	if (env.json) {
		json_object *o = top_snapshot_json(&m->cur, top_source_name(src));

		puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
	} else {
		top_view_print(stdout, &m->cur, &ui);
	}
	return 0;
}

/* Moves the selection by delta rows (clamped) and remembers the VM it lands on. */
static void select_move(const struct top_snapshot *s, struct top_ui *ui, int delta)
{
	static const struct top_vm *vis[8192];
	int n = top_view_visible(s, ui, vis, 8192), i = ui->sel + delta;

	if (!n)
		return;
	i = i < 0 ? 0 : i >= n ? n - 1 : i;
	ui->sel = i;
	snprintf(ui->sel_id, sizeof(ui->sel_id), "%s", vis[i]->id);
}

static void set_sort(struct top_ui *ui, int col)
{
	col = (col + TOP_COL_MAX) % TOP_COL_MAX;
	ui->sort = (enum top_col)col;
	ui->ascending = col == TOP_COL_NAME || col == TOP_COL_PID;
}

/* Replay keys: true when the position moved and the model must start over. */
static bool replay_key(int k, struct top_source *src, bool *refetch)
{
	switch (k) {
	case '-': top_source_seek(src, -10); *refetch = true; return true;
	case '+': case '=': top_source_seek(src, 10); *refetch = true; return false;
	case '[': top_source_set_speed(src, 0.5); return false;
	case ']': top_source_set_speed(src, 2); return false;
	default: return false;
	}
}

/* false: quit */
static bool on_key(int k, const struct top_snapshot *s, struct top_ui *ui)
{
	if (ui->editing_filter) {
		size_t len = strlen(ui->filter);

		if (k == CRT_KEY_ENTER) {
			ui->editing_filter = false;
		} else if (k == CRT_KEY_ESC) {
			ui->filter[0] = '\0';
			ui->editing_filter = false;
		} else if (k == CRT_KEY_BACKSPACE) {
			if (len)
				ui->filter[len - 1] = '\0';
		} else if (k >= 0x20 && k < 0x7f && len + 1 < sizeof(ui->filter)) {
			ui->filter[len] = (char)k;
			ui->filter[len + 1] = '\0';
		}
		ui->sel = 0;
		ui->sel_id[0] = '\0';
		return true;
	}
	if (k == 'q' || k == 'Q' || k == CRT_KEY_F10)
		return false;
	if (ui->screen == TOP_SCREEN_HELP) {
		ui->screen = TOP_SCREEN_LIST;
		return true;
	}
	switch (k) {
	case 'h': case '?': case CRT_KEY_F1: ui->screen = TOP_SCREEN_HELP; break;
	case CRT_KEY_UP: case 'k': select_move(s, ui, -1); break;
	case CRT_KEY_DOWN: case 'j': select_move(s, ui, 1); break;
	case CRT_KEY_PGUP: select_move(s, ui, -top_view_page()); break;
	case CRT_KEY_PGDN: select_move(s, ui, top_view_page()); break;
	case CRT_KEY_HOME: select_move(s, ui, -(1 << 30)); break;
	case CRT_KEY_END: select_move(s, ui, 1 << 30); break;
	case CRT_KEY_ENTER:
		if (ui->screen == TOP_SCREEN_DETAIL)
			ui->screen = TOP_SCREEN_LIST;
		else if (top_snapshot_find(s, ui->sel_id))
			ui->screen = TOP_SCREEN_DETAIL;
		break;
	case CRT_KEY_ESC: case CRT_KEY_BACKSPACE: case CRT_KEY_LEFT:
		ui->screen = TOP_SCREEN_LIST;
		break;
	case '<': case ',': set_sort(ui, (int)ui->sort - 1); break;
	case '>': case '.': case CRT_KEY_F6: set_sort(ui, (int)ui->sort + 1); break;
	case 'r': case 'I': ui->ascending = !ui->ascending; break;
	case 't': ui->totals = !ui->totals; break;
	case 'c': ui->by_unit = !ui->by_unit; break;
	case 'p': case ' ': ui->paused = !ui->paused; break;
	case '/': case '\\': ui->editing_filter = true; ui->screen = TOP_SCREEN_LIST; break;
	case CRT_KEY_REDRAW: crt_force_redraw(); break;
	default: break;
	}
	return true;
}

static int run_live(struct top_source *src, struct top_model *m)
{
	struct top_ui ui;
	uint64_t next = 0;
	bool dirty = true, refetch = false;
	char err[400];

	top_ui_init(&ui);
	ui.source = top_source_name(src);
	ui.version = PRIVMEM_VERSION;
	ui.replay = top_source_is_replay(src);
	if (crt_init()) {
		p_err("standard input and output must be a terminal (use --once for scripts)");
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	while (!exiting) {
		uint64_t now = pm_now_ns();
		int k, wait_ms;

		if (refetch || (!ui.paused && now >= next)) {
			if (!ui.paused && !refetch && next)
				top_source_play(src, env.delay);
			refetch = false;
			if (collect(src, m, err, sizeof(err))) {
				snprintf(ui.message, sizeof(ui.message), "%s", err);
				ui.message_is_error = true;
			} else {
				ui.message[0] = '\0';
			}
			next = now + (uint64_t)(env.delay * 1e9);
			dirty = true;
		}
		{
			time_t t = time(NULL);
			char clk[64];

			if (ui.replay)
				top_source_position(src, clk, sizeof(clk));
			else
				strftime(clk, sizeof(clk), "%H:%M:%S", localtime(&t));
			if (strcmp(clk, ui.clock)) {
				snprintf(ui.clock, sizeof(ui.clock), "%s", clk);
				dirty = true;
			}
		}
		if (dirty) {
			top_snapshot_sort(&m->cur, ui.sort, ui.ascending, ui.by_unit, ui.totals);
			top_view_draw(&m->cur, &ui);
			dirty = false;
		}
		wait_ms = ui.paused ? 100 : (int)((next > now ? next - now : 0) / 1000000);
		k = crt_read_key(wait_ms > 50 ? 50 : wait_ms);
		top_source_idle(src);
		if (k == CRT_KEY_NONE)
			continue;
		dirty = true;
		if (ui.replay && !ui.editing_filter && replay_key(k, src, &refetch)) {
			top_model_free(m);	/* back in time: rates start over */
			top_model_init(m);
		}
		if (!on_key(k, &m->cur, &ui))
			break;
	}
	crt_done();
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "delay", required_argument, NULL, 'd' },
		{ "direct", no_argument, NULL, 'D' },
		{ "syscall-hooks", no_argument, NULL, 'Y' },
		{ "no-syscall-hooks", no_argument, NULL, 'S' },
		{ "once", no_argument, NULL, 'o' },
		{ "json", no_argument, NULL, 'j' },
		{ "replay", required_argument, NULL, 'R' },
		{ "speed", required_argument, NULL, 'x' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct top_source *src = NULL;
	struct top_model m;
	char msg[512], *end;
	int c, rc;

	while ((c = getopt_long(argc, argv, "s:d:jh", opts, NULL)) != -1) {
		switch (c) {
		case 's': env.sock = optarg; break;
		case 'd':
			errno = 0;
			env.delay = strtod(optarg, &end);
			if (errno || end == optarg || *end || !isfinite(env.delay) || env.delay < 0.1 || env.delay > 3600) {
				fprintf(stderr, "privmemtop: --delay '%s': expected seconds between 0.1 and 3600\n", optarg);
				return 2;
			}
			break;
		case 'D': env.direct = true; break;
		case 'R': env.replay = optarg; break;
		case 'x':
			errno = 0;
			env.speed = strtod(optarg, &end);
			if (errno || end == optarg || *end || !isfinite(env.speed) || env.speed < 1.0 / 64 ||
			    env.speed > 100000) {
				fprintf(stderr, "privmemtop: --speed '%s': expected a factor between 1/64 and 100000\n",
					optarg);
				return 2;
			}
			break;
		case 'Y': case 'S':
			if (pm_syscall_hooks_opt(&env.syscall_hooks, c == 'Y' ? PM_SYSCALL_HOOKS_ON : PM_SYSCALL_HOOKS_OFF)) {
				fprintf(stderr, "privmemtop: %s\n", PM_SYSCALL_HOOKS_CONFLICT);
				return 2;
			}
			break;
		case 'o': env.once = true; break;
		case 'j': env.json = true; break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "privmemtop: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (env.json && !env.once) {
		fprintf(stderr, "privmemtop: --json needs --once\n");
		return 2;
	}
	if (env.syscall_hooks != PM_SYSCALL_HOOKS_DEFAULT && !env.direct) {
		fprintf(stderr, "privmemtop: --%ssyscall-hooks needs --direct (privmemd has its own)\n",
			env.syscall_hooks == PM_SYSCALL_HOOKS_OFF ? "no-" : "");
		return 2;
	}
	if (env.replay && env.direct) {
		fprintf(stderr, "privmemtop: --replay and --direct exclude each other\n");
		return 2;
	}
	if (env.speed != 1.0 && !env.replay) {
		fprintf(stderr, "privmemtop: --speed needs --replay\n");
		return 2;
	}
	if (env.replay) {
		rc = top_source_replay(&src, env.replay, env.speed, msg, sizeof(msg));
	} else if (env.direct) {
		if (geteuid() != 0) {
			p_err("--direct loads BPF programs: run as root");
			return 1;
		}
		rc = top_source_direct(&src, env.syscall_hooks, msg, sizeof(msg));
	} else {
		rc = top_source_socket(&src, env.sock);
		snprintf(msg, sizeof(msg), "%s", strerror(-rc));
	}
	if (rc) {
		p_err(msg);
		return 1;
	}
	top_model_init(&m);
	rc = env.once ? run_once(src, &m) : run_live(src, &m);
	top_model_free(&m);
	top_source_close(src);
	return rc;
}
