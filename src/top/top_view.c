// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * privmemtop's screens.  Every frame is drawn whole from the snapshot into
 * curses' off-screen copy; curses then sends only what changed.  Columns
 * that do not fit the terminal are dropped, least important first, so 80
 * columns still show every number that matters.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include "top_crt.h"
#include "top_view.h"

#define HEADER_ROWS	5	/* title, two totals lines, hooks/policy, alert line */
#define FIRST_ROW	(HEADER_ROWS + 1)

struct coldef {
	const char *title, *title_tot;
	int w, prio;		/* prio 0 always shown; higher ones go first */
	bool left;
};

static const struct coldef cols[TOP_COL_MAX] = {
	[TOP_COL_PID] = { "PID", "PID", 7, 0, false },
	[TOP_COL_NAME] = { "COMM", "COMM", 10, 0, true },
	[TOP_COL_GUEST] = { "GUEST", "GUEST", 6, 2, false },
	[TOP_COL_SHARED] = { "SHR%", "SHR%", 4, 2, false },
	[TOP_COL_TP_RATE] = { "PRIV/s", "PRIV", 6, 0, false },
	[TOP_COL_TP_BYTES] = { "MiB/s", "MiB", 5, 1, false },
	[TOP_COL_TS_RATE] = { "SHRD/s", "SHRD", 6, 0, false },
	[TOP_COL_TS_BYTES] = { "MiB/s", "MiB", 5, 1, false },
	[TOP_COL_FAULTS] = { "FLT/s", "FLTS", 5, 0, false },
	[TOP_COL_P50] = { "P50", "P50", 5, 3, false },
	[TOP_COL_P99] = { "P99", "P99", 5, 2, false },
	[TOP_COL_DENY] = { "DENY", "DENY", 5, 1, false },
	[TOP_COL_DROP] = { "DROP", "DROP", 4, 0, false },
};

void top_ui_init(struct top_ui *ui)
{
	memset(ui, 0, sizeof(*ui));
	ui->sort = TOP_COL_TP_RATE;
	ui->screen = TOP_SCREEN_LIST;
}

/* ---- number formats, each fitting its column ---- */

static void fmt_count(char *b, size_t n, uint64_t v, int w)
{
	static const char suf[] = "kMGTPE";
	double d = (double)v;
	int i = -1;

	snprintf(b, n, "%" PRIu64, v);
	if ((int)strlen(b) <= w)
		return;
	while (d >= 1000 && i < 5) {
		d /= 1000;
		i++;
	}
	snprintf(b, n, d < 10 ? "%.1f%c" : "%.0f%c", d, suf[i]);
}

static void fmt_rate(char *b, size_t n, double v, int w)
{
	if (v <= 0)
		snprintf(b, n, "0");
	else if (v < 10)
		snprintf(b, n, "%.1f", v);
	else if (v < 99999.5)
		snprintf(b, n, "%.0f", v);
	else
		fmt_count(b, n, (uint64_t)v, 1);
	if ((int)strlen(b) > w)
		fmt_count(b, n, (uint64_t)v, 1);
}

static void fmt_mib(char *b, size_t n, double bytes, int w)
{
	double m = bytes / (1024.0 * 1024.0);

	if (bytes <= 0)
		snprintf(b, n, "0");
	else if (m < 0.05)
		snprintf(b, n, m < 0.01 ? "<.01" : "%.2f", m);
	else
		fmt_rate(b, n, m, w);
}

static void fmt_bytes(char *b, size_t n, uint64_t v)
{
	static const char *const unit[] = { "B", "K", "M", "G", "T", "P" };
	double d = (double)v;
	int u = 0;

	while (d >= 1024 && u < 5) {
		d /= 1024;
		u++;
	}
	snprintf(b, n, u == 0 || d == (double)(uint64_t)d || d >= 10 ? "%.0f%s" : "%.1f%s", d, unit[u]);
}

static void fmt_ns(char *b, size_t n, uint64_t ns)
{
	if (!ns)
		snprintf(b, n, "-");
	else if (ns < 1000)
		snprintf(b, n, "%" PRIu64 "ns", ns);
	else if (ns < 1000000)
		snprintf(b, n, ns < 10000 ? "%.1fus" : "%.0fus", ns / 1e3);
	else if (ns < 1000000000)
		snprintf(b, n, ns < 10000000 ? "%.1fms" : "%.0fms", ns / 1e6);
	else
		snprintf(b, n, "%.1fs", ns / 1e9);
}

static void cell(char *b, size_t n, const struct top_vm *v, enum top_col c, const struct top_ui *ui)
{
	const struct top_dir *tp = &v->dir[TOP_PRIV], *ts = &v->dir[TOP_SHRD];
	int w = cols[c].w;

	switch (c) {
	case TOP_COL_PID: snprintf(b, n, "%u", v->pid); break;
	case TOP_COL_NAME: snprintf(b, n, "%.*s", (int)n - 1, ui->by_unit ? v->unit : v->name); break;
	case TOP_COL_GUEST:
		if (v->guest_bytes)
			fmt_bytes(b, n, v->guest_bytes);
		else
			snprintf(b, n, "-");
		break;
	case TOP_COL_SHARED: {
		double f = v->guest_bytes ? 100.0 * (double)v->shared_bytes / (double)v->guest_bytes : -1;

		if (f < 0)
			snprintf(b, n, "-");
		else
			snprintf(b, n, f > 0 && f < 9.95 ? "%.1f%%" : "%.0f%%", f);
		break;
	}
	case TOP_COL_TP_RATE:
		ui->totals ? fmt_count(b, n, tp->conversions, w) : fmt_rate(b, n, tp->conv_rate, w);
		break;
	case TOP_COL_TP_BYTES: fmt_mib(b, n, ui->totals ? (double)tp->bytes : tp->byte_rate, w); break;
	case TOP_COL_TS_RATE:
		ui->totals ? fmt_count(b, n, ts->conversions, w) : fmt_rate(b, n, ts->conv_rate, w);
		break;
	case TOP_COL_TS_BYTES: fmt_mib(b, n, ui->totals ? (double)ts->bytes : ts->byte_rate, w); break;
	case TOP_COL_FAULTS: ui->totals ? fmt_count(b, n, v->faults, w) : fmt_rate(b, n, v->fault_rate, w); break;
	case TOP_COL_P50: fmt_ns(b, n, v->resumes ? v->p50_ns : 0); break;
	case TOP_COL_P99: fmt_ns(b, n, v->resumes ? v->p99_ns : 0); break;
	case TOP_COL_DENY: {
		char d[16], a[16];

		if (!v->denied && !v->would_deny) {
			snprintf(b, n, "0");
			break;
		}
		fmt_count(d, sizeof(d), v->denied, 2);
		fmt_count(a, sizeof(a), v->would_deny, 2);
		snprintf(b, n, "%s/%s", d, a);
		break;
	}
	case TOP_COL_DROP: fmt_count(b, n, v->lost, w); break;
	default: b[0] = '\0';
	}
}

/* Which columns fit in width; the NAME column takes what is left over. */
static int layout(int width, bool show[TOP_COL_MAX], int *name_w)
{
	int used = 0, prio;

	for (int c = 0; c < TOP_COL_MAX; c++) {
		show[c] = true;
		used += cols[c].w + (c ? 1 : 0);
	}
	for (prio = 3; prio > 0 && used > width; prio--)
		for (int c = TOP_COL_MAX - 1; c >= 0 && used > width; c--)
			if (show[c] && cols[c].prio == prio) {
				show[c] = false;
				used -= cols[c].w + 1;
			}
	*name_w = cols[TOP_COL_NAME].w + (width > used ? width - used : 0);
	if (*name_w > 24)
		*name_w = 24;
	return used - cols[TOP_COL_NAME].w + *name_w;
}

static void fmt_line(char *line, size_t len, const bool show[TOP_COL_MAX], int name_w,
		     char cells[TOP_COL_MAX][72])
{
	size_t off = 0;

	line[0] = '\0';
	for (int c = 0; c < TOP_COL_MAX && off < len; c++) {
		int w = c == TOP_COL_NAME ? name_w : cols[c].w;

		if (!show[c])
			continue;
		off += (size_t)snprintf(line + off, len - off, "%s%*.*s", off ? " " : "", cols[c].left ? -w : w, w,
					cells[c]);
	}
}

static void titles(char cells[TOP_COL_MAX][72], const struct top_ui *ui)
{
	for (int c = 0; c < TOP_COL_MAX; c++)
		snprintf(cells[c], 72, "%s", c == TOP_COL_NAME ? (ui->by_unit ? "UNIT" : "NAME")
					     : ui->totals ? cols[c].title_tot : cols[c].title);
}

int top_view_visible(const struct top_snapshot *s, const struct top_ui *ui, const struct top_vm **out, int max)
{
	int n = 0;

	for (unsigned i = 0; i < s->nvms && n < max; i++)
		if (top_vm_matches(&s->vms[i], ui->filter))
			out[n++] = &s->vms[i];
	return n;
}

int top_view_page(void)
{
	int rows, cols_;

	crt_size(&rows, &cols_);
	return rows - FIRST_ROW - 1 > 1 ? rows - FIRST_ROW - 1 : 1;
}

/* ---- header ---- */

/* label in the header colour, then the value; advances *x */
static void seg(int y, int *x, int width, const char *label, const char *value, enum crt_attr va)
{
	if (*x >= width)
		return;
	*x += crt_put(y, *x, CRT_HEAD, label, width - *x);
	*x += crt_put(y, *x, va, value, width - *x);
	*x += crt_put(y, *x, CRT_NORMAL, "  ", width - *x);
}

static void draw_header(const struct top_snapshot *s, const struct top_ui *ui, int width)
{
	const struct top_totals *t = &s->tot;
	char b[160], c1[32], c2[32];
	int x = 0, cw = (int)strlen(ui->clock);

	snprintf(b, sizeof(b), "privmemtop %s - %s", ui->version ? ui->version : "", ui->source ? ui->source : "");
	crt_put(0, 0, CRT_HEAD, b, width - cw - 12);
	if (ui->paused)
		crt_put(0, width - cw - 10, CRT_ALERT, "[PAUSED]", 8);
	crt_put(0, width - cw, CRT_NORMAL, ui->clock, cw);

	snprintf(b, sizeof(b), "%u", t->vms);
	seg(1, &x, width, "VMs ", b, CRT_NORMAL);
	snprintf(b, sizeof(b), "%u", t->running);
	seg(1, &x, width, "running ", b, CRT_NORMAL);
	fmt_bytes(c1, sizeof(c1), t->guest_bytes);
	seg(1, &x, width, "guest ", c1, CRT_NORMAL);
	snprintf(b, sizeof(b), "%.1f%%", t->guest_bytes ? 100.0 * (double)t->shared_bytes / (double)t->guest_bytes : 0.0);
	seg(1, &x, width, "shared ", b, CRT_NORMAL);
	fmt_rate(c1, sizeof(c1), t->fault_rate, 8);
	fmt_count(c2, sizeof(c2), t->faults, 8);
	snprintf(b, sizeof(b), "%s/s (%s)", c1, c2);
	seg(1, &x, width, "faults ", b, CRT_NORMAL);
	snprintf(b, sizeof(b), "%" PRIu64 "/%" PRIu64, t->denied, t->would_deny);
	seg(1, &x, width, "denied/would ", b, t->denied || t->would_deny ? CRT_WARN : CRT_NORMAL);

	/* conversions: rates, or totals in totals mode */
	x = 0;
	x += crt_put(2, x, CRT_HEAD, ui->totals ? "conversions " : "conv/s ", width - x);
	for (int d = 0; d < 2; d++) {
		if (ui->totals) {
			fmt_count(c1, sizeof(c1), t->conversions[d], 12);
			fmt_bytes(c2, sizeof(c2), t->bytes[d]);
			snprintf(b, sizeof(b), "%s (%s)", c1, c2);
		} else {
			fmt_rate(c1, sizeof(c1), t->conv_rate[d], 8);
			fmt_mib(c2, sizeof(c2), t->byte_rate[d], 8);
			snprintf(b, sizeof(b), "%s (%s MiB/s)", c1, c2);
		}
		seg(2, &x, width, d ? "to-shared " : "to-private ", b, CRT_NORMAL);
	}
	snprintf(b, sizeof(b), "%" PRIu64 "/%" PRIu64, t->attempts[TOP_PRIV], t->attempts[TOP_SHRD]);
	seg(2, &x, width, "tries ", b, CRT_NORMAL);

	x = 0;
	snprintf(b, sizeof(b), "%u/%u live", s->hooks_live, s->hooks);
	seg(3, &x, width, "hooks ", b, s->hooks_live ? CRT_NORMAL : CRT_ALERT);
	if (s->hooks_silent) {
		char sb[sizeof(s->silent_hooks) + 32];

		snprintf(sb, sizeof(sb), "%s (attached, sees nothing)", s->silent_hooks);
		seg(3, &x, width, "SILENT ", sb, CRT_ALERT);
	}
	/* before the rest of the row: an empty tries column must not read as "converts nothing" */
	if (s->unseen[0]) {
		char ub[sizeof(s->unseen) + 96];

		snprintf(ub, sizeof(ub), "%s (no trampolines; --syscall-hooks sees them, taxing every process)",
			 s->unseen);
		seg(3, &x, width, "NOT SEEN ", ub, CRT_WARN);
	}
	seg(3, &x, width, "policy: ", s->policy, CRT_NORMAL);
	fmt_count(c1, sizeof(c1), s->events, 12);
	seg(3, &x, width, "events ", c1, CRT_NORMAL);
	if (s->hooks_tax)
		seg(3, &x, width, "", "syscall tracepoints tax every process", CRT_WARN);

	/* row 4: losses are never quiet; then errors; then the filter */
	if (s->lost) {
		snprintf(b, sizeof(b), " !!! %" PRIu64 " EVENTS LOST - the counts shown are incomplete !!!", s->lost);
		crt_fill(4, 0, width, CRT_ALERT);
		crt_put(4, 0, CRT_ALERT, b, width);
	} else if (ui->message[0]) {
		crt_put(4, 0, ui->message_is_error ? CRT_ALERT : CRT_WARN, ui->message, width);
	} else if (ui->filter[0] && !ui->editing_filter) {
		snprintf(b, sizeof(b), "filter: %s  (/ to change, Esc in the prompt clears)", ui->filter);
		crt_put(4, 0, CRT_WARN, b, width);
	}
}

static void draw_keys(int y, int width, const struct top_ui *ui)
{
	static const char *const list_keys[][2] = {
		{ "h", "Help" }, { "<>", "Sort" }, { "r", "Rev" }, { "/", "Filter" }, { "t", "Totals" },
		{ "c", "Unit" }, { "p", "Pause" }, { "Enter", "Detail" }, { "q", "Quit" },
	};
	static const char *const replay_keys[][2] = {
		{ "h", "Help" }, { "<>", "Sort" }, { "/", "Filter" }, { "t", "Totals" }, { "p", "Pause" },
		{ "-+", "Seek" }, { "[]", "Speed" }, { "Enter", "Detail" }, { "q", "Quit" },
	};
	const char *const(*keys)[2] = ui->replay ? replay_keys : list_keys;
	int x = 0;

	crt_fill(y, 0, width, CRT_TITLE);
	if (ui->editing_filter) {
		char b[128];

		snprintf(b, sizeof(b), "Filter: %s_", ui->filter);
		x += crt_put(y, 0, CRT_KEY, b, width);
		crt_put(y, x, CRT_TITLE, "   Enter done  Esc clear", width - x);
		return;
	}
	if (ui->screen != TOP_SCREEN_LIST) {
		x += crt_put(y, x, CRT_KEY, "Esc", width - x);
		x += crt_put(y, x, CRT_TITLE, "Back  ", width - x);
		x += crt_put(y, x, CRT_KEY, "q", width - x);
		crt_put(y, x, CRT_TITLE, "Quit", width - x);
		return;
	}
	for (int i = 0; i < 9 && x < width; i++) {
		x += crt_put(y, x, CRT_KEY, keys[i][0], width - x);
		x += crt_put(y, x, CRT_TITLE, keys[i][1], width - x);
		x += crt_put(y, x, CRT_TITLE, " ", width - x);
	}
}

/* ---- list ---- */

static void draw_list(const struct top_snapshot *s, struct top_ui *ui, int rows, int width)
{
	static const struct top_vm *vis[8192];
	char cells[TOP_COL_MAX][72], line[512];
	bool show[TOP_COL_MAX];
	int name_w, n, page = rows - FIRST_ROW - 1, x = 0;

	layout(width, show, &name_w);
	titles(cells, ui);
	crt_fill(HEADER_ROWS, 0, width, CRT_TITLE);
	for (int c = 0; c < TOP_COL_MAX; c++) {
		int w = c == TOP_COL_NAME ? name_w : cols[c].w;
		char t[64];

		if (!show[c])
			continue;
		snprintf(t, sizeof(t), "%*.*s", cols[c].left ? -w : w, w, cells[c]);
		crt_put(HEADER_ROWS, x, c == (int)ui->sort ? CRT_SORTED : CRT_TITLE, t, width - x);
		x += w + 1;
	}

	n = top_view_visible(s, ui, vis, 8192);
	/* keep the selection on the same VM across re-sorts and refreshes */
	if (ui->sel_id[0])
		for (int i = 0; i < n; i++)
			if (!strcmp(vis[i]->id, ui->sel_id))
				ui->sel = i;
	if (ui->sel >= n)
		ui->sel = n - 1;
	if (ui->sel < 0)
		ui->sel = 0;
	if (page < 1)
		page = 1;
	if (ui->sel < ui->scroll)
		ui->scroll = ui->sel;
	if (ui->sel >= ui->scroll + page)
		ui->scroll = ui->sel - page + 1;
	if (ui->scroll > (n > page ? n - page : 0))
		ui->scroll = n > page ? n - page : 0;
	if (n)
		snprintf(ui->sel_id, sizeof(ui->sel_id), "%s", vis[ui->sel]->id);

	for (int i = ui->scroll, y = FIRST_ROW; i < n && y < rows - 1; i++, y++) {
		const struct top_vm *v = vis[i];
		bool sel = i == ui->sel;
		enum crt_attr a = sel ? CRT_SELECTED : v->running ? CRT_NORMAL : CRT_DIM;

		for (int c = 0; c < TOP_COL_MAX; c++)
			cell(cells[c], sizeof(cells[c]), v, c, ui);
		fmt_line(line, sizeof(line), show, name_w, cells);
		if (sel)
			crt_fill(y, 0, width, CRT_SELECTED);
		crt_put(y, 0, a, line, width);
		if (v->lost && !sel) {	/* a VM's drops stand out */
			int dx = 0;

			for (int c = 0; c < TOP_COL_DROP; c++)
				if (show[c])
					dx += (c == TOP_COL_NAME ? name_w : cols[c].w) + 1;
			crt_put(y, dx, CRT_ALERT, cells[TOP_COL_DROP] + 0, cols[TOP_COL_DROP].w);
		}
	}
	if (!n) {
		const char *why = s->nvms ? "no VM matches the filter" : "no VMs yet: privmem lists a VM from its first event";

		crt_put(FIRST_ROW + 1, 2, CRT_DIM, why, width - 2);
	}
}

/* ---- detail ---- */

static const char *spark_glyph(float v, float max, bool utf8)
{
	static const char *const bars[] = { "\u2581", "\u2582", "\u2583", "\u2584", "\u2585", "\u2586", "\u2587", "\u2588" };
	static const char *const ascii[] = { "_", ".", "-", ":", "=", "+", "*", "#" };
	int lvl = max > 0 && v > 0 ? 1 + (int)(v / max * 6.999f) : 0;

	if (lvl > 7)
		lvl = 7;
	return utf8 ? bars[lvl] : ascii[lvl];
}

static void bar(int y, int x, int w, uint64_t v, uint64_t max)
{
	char b[256];
	int n = max ? (int)((double)v / (double)max * w + 0.5) : 0;

	if (v && !n)
		n = 1;
	if (n > w)
		n = w;
	if (n <= 0)
		return;
	if (crt_utf8()) {
		b[0] = '\0';
		for (int i = 0; i < n && strlen(b) + 4 < sizeof(b); i++)
			strcat(b, "\u2588");
	} else {
		memset(b, '#', (size_t)n);
		b[n] = '\0';
	}
	crt_put(y, x, CRT_BAR, b, w);
}

/* Who the VM is, its memory, requests, discards and drops. Returns the next row. */
static int detail_identity(const struct top_vm *v, int y, int width)
{
	char b[512], c1[32], c2[32];
	int x = 0;

	snprintf(b, sizeof(b), " VM %s %s  pid %u  %s  %s", v->id, v->name, v->pid, v->comm, v->running ? "running" : "destroyed");
	crt_fill(y, 0, width, CRT_TITLE);
	crt_put(y++, 0, CRT_TITLE, b, width);
	snprintf(b, sizeof(b), "%s", v->cgroup[0] ? v->cgroup : "?");
	seg(y, &x, width, "cgroup ", b, CRT_NORMAL);
	y++;
	x = 0;
	fmt_bytes(c1, sizeof(c1), v->guest_bytes);
	fmt_bytes(c2, sizeof(c2), v->shared_bytes);
	snprintf(b, sizeof(b), "%s shared %s (%.1f%%)", c1, c2,
		 v->guest_bytes ? 100.0 * (double)v->shared_bytes / (double)v->guest_bytes : 0.0);
	seg(y, &x, width, "guest ", b, CRT_NORMAL);
	y++;
	x = 0;
	snprintf(b, sizeof(b), "%" PRIu64 " hypercall, %" PRIu64 " memory-fault", v->hypercalls, v->faults);
	seg(y, &x, width, "requests ", b, CRT_NORMAL);
	fmt_bytes(c1, sizeof(c1), v->discard_bytes);
	snprintf(b, sizeof(b), "%" PRIu64 " (%s)", v->discards, c1);
	seg(y, &x, width, "discards ", b, CRT_NORMAL);
	snprintf(b, sizeof(b), "%" PRIu64, v->lost);
	seg(y, &x, width, "drops ", b, v->lost ? CRT_ALERT : CRT_NORMAL);
	return y + 1;
}

/* Both directions side by side, then errors, verdicts and resume latency. */
static int detail_dirs(const struct top_vm *v, int y, int width)
{
	char b[512], c1[32], c2[32];
	int x = 0;

	snprintf(b, sizeof(b), "%-11s %9s %9s %11s %10s %8s %8s", "", "requests", "attempts", "conversions", "bytes",
		 "conv/s", "MiB/s");
	crt_put(y++, 0, CRT_HEAD, b, width);
	for (int d = 0; d < 2; d++) {
		const struct top_dir *t = &v->dir[d];

		fmt_bytes(c1, sizeof(c1), t->bytes);
		fmt_mib(c2, sizeof(c2), t->byte_rate, 8);
		snprintf(b, sizeof(b), "%-11s %9" PRIu64 " %9" PRIu64 " %11" PRIu64 " %10s %8.1f %8s",
			 d ? "to-shared" : "to-private", t->requests, t->attempts, t->conversions, c1, t->conv_rate, c2);
		crt_put(y++, 0, CRT_NORMAL, b, width);
	}
	seg(y, &x, width, "attempt errors ", v->errnames[0] ? v->errnames : "none", CRT_NORMAL);
	snprintf(b, sizeof(b), "%" PRIu64 "/%" PRIu64, v->denied, v->would_deny);
	seg(y, &x, width, "denied/would-deny ", b, v->denied || v->would_deny ? CRT_WARN : CRT_NORMAL);
	fmt_ns(c1, sizeof(c1), v->resumes ? v->p50_ns : 0);
	fmt_ns(c2, sizeof(c2), v->resumes ? v->p99_ns : 0);
	snprintf(b, sizeof(b), "p50 %s p99 %s (%" PRIu64 ")", c1, c2, v->resumes);
	seg(y, &x, width, "resume ", b, CRT_NORMAL);
	return y + 1;
}

/* Attempts per second, newest on the right. */
static int detail_spark(const struct top_vm *v, int y, int width)
{
	char b[64];
	int x = crt_put(y, 0, CRT_HEAD, "attempts/s ", width), w = width - x - 16;
	unsigned from = v->nspark > (unsigned)(w > 0 ? w : 0) ? v->nspark - (unsigned)w : 0;
	float pk = 0;

	for (unsigned i = from; i < v->nspark; i++)
		if (v->spark[i] > pk)
			pk = v->spark[i];
	for (unsigned i = from; i < v->nspark && w > 0; i++)
		x += crt_put(y, x, CRT_BAR, spark_glyph(v->spark[i], pk, crt_utf8()), 1);
	snprintf(b, sizeof(b), " peak %.1f/s", pk);
	crt_put(y, x, CRT_DIM, b, width - x);
	return y + 1;
}

/* The non-empty bucket range of one or two log2 histograms, and their peak. */
struct hist_span {
	int lo, hi;
	uint64_t max;
};

static struct hist_span span_of(const uint64_t *a, const uint64_t *b)
{
	struct hist_span h = { .lo = PM_HIST_SLOTS, .hi = -1 };

	for (int i = 0; i < PM_HIST_SLOTS; i++) {
		uint64_t m = b && b[i] > a[i] ? b[i] : a[i];

		if (!m)
			continue;
		h.lo = i < h.lo ? i : h.lo;
		h.hi = i;
		h.max = m > h.max ? m : h.max;
	}
	return h;
}

static void size_row(int y, int r, int avail, int half, const uint64_t *sz[2], struct hist_span h)
{
	int i = h.lo + r, bw = (half - 1 - 6 - 2 * 6) / 2;
	char b[64], c1[32];

	if (h.hi < 0) {
		if (r == 0)
			crt_put(y, 0, CRT_DIM, "  (none)", half - 1);
		return;
	}
	if (i > h.hi)
		return;
	if (r == avail - 1 && i < h.hi) {
		snprintf(b, sizeof(b), "  ... %d larger", h.hi - i + 1);
		crt_put(y, 0, CRT_DIM, b, half - 1);
		return;
	}
	fmt_bytes(c1, sizeof(c1), 1ull << i);
	snprintf(b, sizeof(b), "%5s %5" PRIu64, c1, sz[0][i]);
	crt_put(y, 0, CRT_NORMAL, b, half - 1);
	bar(y, 12, bw, sz[0][i], h.max);
	snprintf(b, sizeof(b), "%5" PRIu64, sz[1][i]);
	crt_put(y, 12 + bw + 1, CRT_NORMAL, b, 5);
	bar(y, 12 + bw + 7, bw, sz[1][i], h.max);
}

static void latency_row(int y, int r, int avail, int half, int width, const uint64_t *lat, struct hist_span h)
{
	int j = h.lo + r, lw = width - half - 6 - 7;
	char b[64], c1[32];

	if (h.hi < 0) {
		if (r == 0)
			crt_put(y, half, CRT_DIM, "  (none)", width - half);
		return;
	}
	if (j > h.hi)
		return;
	if (r == avail - 1 && j < h.hi) {
		snprintf(b, sizeof(b), "  ... %d slower", h.hi - j + 1);
		crt_put(y, half, CRT_DIM, b, width - half);
		return;
	}
	fmt_ns(c1, sizeof(c1), (2ull << j) - 1);
	snprintf(b, sizeof(b), "<%-5s %6" PRIu64, c1, lat[j]);
	crt_put(y, half, CRT_NORMAL, b, width - half);
	bar(y, half + 14, lw > 1 ? lw : 1, lat[j], h.max);
}

/* Sizes on the left (what was tried when nothing converted), latency on the right. */
static int detail_hists(const struct top_vm *v, int y, int rows, int width)
{
	const uint64_t *sz[2] = { v->dir[0].size_hist, v->dir[1].size_hist };
	bool attempts_hist = false;
	int half = width / 2, avail;
	struct hist_span hs, hl;

	if (!v->dir[0].conversions && !v->dir[1].conversions && (v->dir[0].attempts || v->dir[1].attempts)) {
		sz[0] = v->dir[0].attempt_size_hist;
		sz[1] = v->dir[1].attempt_size_hist;
		attempts_hist = true;
	}
	hs = span_of(sz[0], sz[1]);
	hl = span_of(v->lat_hist, NULL);
	crt_put(y, 0, CRT_HEAD, attempts_hist ? "ATTEMPT SIZES  to-private  to-shared" : "CONVERSION SIZES  to-priv  to-shrd",
		half - 1);
	crt_put(y++, half, CRT_HEAD, "RESUME LATENCY (request -> KVM_RUN)", width - half);
	avail = rows - 1 - y - 2;	/* the denials' title and one line below */
	if (avail < 1)
		avail = 1;
	for (int r = 0; r < avail; r++) {
		size_row(y + r, r, avail, half, sz, hs);
		latency_row(y + r, r, avail, half, width, v->lat_hist, hl);
	}
	return y + avail;
}

/* Recent denials: only what the source reports, never made up. */
static void detail_denials(const struct top_snapshot *s, const struct top_vm *v, int y, int rows, int width)
{
	char b[512], c1[32];

	/* with a list, the counts by reason and rule share the title line */
	if (v->has_denial_log && v->deny_detail[0]) {
		snprintf(b, sizeof(b), "RECENT DENIALS  %s", v->deny_detail);
		crt_put(y++, 0, CRT_HEAD, b, width);
	} else {
		crt_put(y++, 0, CRT_HEAD, "RECENT DENIALS", width);
	}
	if (!v->has_denial_log) {
		/* the daemon counts them (by reason and rule) but lists none */
		if (v->deny_detail[0])
			snprintf(b, sizeof(b), "  %s (counts only: no list of single denials)", v->deny_detail);
		else
			snprintf(b, sizeof(b), "  none counted (policy: %s); the source keeps no list of single denials",
				 s->policy);
		crt_put(y, 0, v->deny_detail[0] ? CRT_WARN : CRT_DIM, b, width);
		return;
	}
	if (!v->ndenials) {
		crt_put(y, 0, CRT_DIM, "  none", width);
		return;
	}
	for (unsigned i = v->ndenials > 2 ? v->ndenials - 2 : 0; i < v->ndenials && y < rows - 1; i++) {
		const struct top_denial *d = &v->denials[i];

		fmt_bytes(c1, sizeof(c1), d->size);
		snprintf(b, sizeof(b), "  %s %s gpa 0x%" PRIx64 " %s rule %s", d->would ? "would-deny" : "denied", d->dir,
			 d->gpa, c1, d->rule[0] ? d->rule : "?");
		crt_put(y++, 0, CRT_WARN, b, width);
	}
}

static void draw_detail(const struct top_snapshot *s, const struct top_ui *ui, int rows, int width)
{
	const struct top_vm *v = top_snapshot_find(s, ui->sel_id);
	int y = HEADER_ROWS;

	if (!v) {
		crt_put(y + 1, 2, CRT_DIM, "that VM is gone from the books (Esc: back)", width - 2);
		return;
	}
	y = detail_identity(v, y, width);
	y = detail_dirs(v, y, width);
	y = detail_spark(v, y, width);
	y = detail_hists(v, y, rows, width);
	detail_denials(s, v, y, rows, width);
}

static void draw_help(int rows, int width)
{
	static const char *const lines[] = {
		"privmemtop: private/shared memory conversions of the host's confidential VMs",
		"",
		"  Up/Down PgUp/PgDn Home/End   select a VM",
		"  Enter                        detail: sizes, latency, attempts/s sparkline, denials",
		"  < >  (F6: next)              sort by the column left / right of the current one",
		"  r                            reverse the sort order",
		"  /                            filter by name, comm, cgroup, pid or id (Esc clears)",
		"  t                            totals since the VM appeared instead of rates",
		"  c                            name VMs by cgroup unit instead of their name",
		"  p or Space                   pause (keys still work; nothing is fetched)",
		"  - + (replay)                 seek 10 s back / forward;  [ ] speed down / up",
		"  Ctrl-L                       redraw the whole screen",
		"  h ? F1                       this help;   q F10: quit",
		"",
		"Columns: PID of the VMM; NAME of the VM (libvirt domain, QEMU -name, sandbox id",
		"or comm; c: its cgroup UNIT); GUEST guest memory; SHR% the shared fraction;",
		"PRIV/s SHRD/s conversions to private / to shared per second and their",
		"MiB/s; FLT/s memory-fault exits per second; P50 P99 request->resume latency;",
		"DENY denied/would-deny attempts; DROP events of the VM the ring buffer dropped.",
		"Narrow terminals drop P50, then GUEST, SHR% and P99, then MiB/s and DENY.",
		"",
		"Press any key to go back.",
	};
	int y = HEADER_ROWS;

	for (unsigned i = 0; i < sizeof(lines) / sizeof(lines[0]) && y < rows - 1; i++, y++)
		crt_put(y, 0, i == 0 ? CRT_HEAD : CRT_NORMAL, lines[i], width);
}

void top_view_draw(const struct top_snapshot *s, struct top_ui *ui)
{
	int rows, width;

	crt_size(&rows, &width);
	crt_begin();
	draw_header(s, ui, width);
	if (ui->screen == TOP_SCREEN_HELP)
		draw_help(rows, width);
	else if (ui->screen == TOP_SCREEN_DETAIL)
		draw_detail(s, ui, rows, width);
	else
		draw_list(s, ui, rows, width);
	draw_keys(rows - 1, width, ui);
	crt_end();
}

void top_view_print(FILE *f, const struct top_snapshot *s, const struct top_ui *ui)
{
	static const struct top_vm *vis[8192];
	char cells[TOP_COL_MAX][72], line[512], c1[32];
	bool show[TOP_COL_MAX];
	int name_w, n;

	layout(1000, show, &name_w);
	name_w = cols[TOP_COL_NAME].w;
	for (unsigned i = 0; i < s->nvms; i++) {
		int l = (int)strlen(ui->by_unit ? s->vms[i].unit : s->vms[i].name);

		name_w = l > name_w ? (l > 40 ? 40 : l) : name_w;
	}
	fmt_bytes(c1, sizeof(c1), s->tot.guest_bytes);
	fprintf(f, "VMs %u running %u guest %s  policy: %s  hooks %u/%u live  events %" PRIu64 "  lost %" PRIu64 "%s\n",
		s->tot.vms, s->tot.running, c1, s->policy, s->hooks_live, s->hooks, s->events, s->lost,
		s->lost ? "  !!! EVENTS LOST: counts are incomplete" : "");
	titles(cells, ui);
	fmt_line(line, sizeof(line), show, name_w, cells);
	fprintf(f, "%s\n", line);
	n = top_view_visible(s, ui, vis, 8192);
	for (int i = 0; i < n; i++) {
		for (int c = 0; c < TOP_COL_MAX; c++)
			cell(cells[c], sizeof(cells[c]), vis[i], c, ui);
		fmt_line(line, sizeof(line), show, name_w, cells);
		fprintf(f, "%s\n", line);
	}
}
