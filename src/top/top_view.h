/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* privmemtop's screens, drawn from a snapshot and the UI state only. */
#ifndef PRIVMEM_TOP_VIEW_H
#define PRIVMEM_TOP_VIEW_H

#include <stdbool.h>
#include <stdio.h>
#include "top_model.h"

enum top_screen { TOP_SCREEN_LIST, TOP_SCREEN_DETAIL, TOP_SCREEN_HELP };

struct top_ui {
	enum top_col sort;
	bool ascending;
	bool totals;		/* rate columns show totals since the VM appeared */
	bool by_unit;		/* NAME is the cgroup unit, not the comm */
	bool paused;
	bool editing_filter;
	char filter[64];
	enum top_screen screen;
	char sel_id[20];	/* the selected VM, kept across re-sorts */
	int sel, scroll;
	const char *source;	/* "privmemd /run/privmem/privmemd.sock", ... */
	const char *version;
	char message[512];	/* one line: an error from the source, or a hint */
	bool message_is_error;
	char clock[64];		/* right of the title: wall time, or the replay position */
	bool replay;		/* replay keys in the key bar */
};

void top_ui_init(struct top_ui *ui);
/* The VMs shown, in order (filter applied); returns how many (<= max). */
int top_view_visible(const struct top_snapshot *s, const struct top_ui *ui, const struct top_vm **out, int max);
/* VM rows a page holds on the current terminal. */
int top_view_page(void);
void top_view_draw(const struct top_snapshot *s, struct top_ui *ui);
/* The list screen as text, every column, for `--once` without curses. */
void top_view_print(FILE *f, const struct top_snapshot *s, const struct top_ui *ui);

#endif
