/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Every curses call privmemtop makes lives in top_crt.c (htop's CRT.c).
 * Drawing goes to curses' off-screen copy; crt_end() sends the terminal
 * only the cells that changed, so the screen never flickers.
 */
#ifndef PRIVMEM_TOP_CRT_H
#define PRIVMEM_TOP_CRT_H

#include <stdbool.h>

enum crt_attr {
	CRT_NORMAL,
	CRT_TITLE,	/* column titles, key bar labels: reverse */
	CRT_SORTED,	/* the sort column's title */
	CRT_SELECTED,	/* the selected row */
	CRT_ALERT,	/* events lost, errors: bold red reverse */
	CRT_WARN,	/* a taxing hook, denials */
	CRT_DIM,	/* destroyed VMs */
	CRT_GOOD,
	CRT_BAR,	/* histogram bars, sparkline */
	CRT_KEY,	/* key names in the key bar */
	CRT_HEAD,	/* header labels */
	CRT_ATTR_MAX,
};

enum crt_key {
	CRT_KEY_NONE = -1,
	CRT_KEY_UP = 0x1000, CRT_KEY_DOWN, CRT_KEY_LEFT, CRT_KEY_RIGHT,
	CRT_KEY_PGUP, CRT_KEY_PGDN, CRT_KEY_HOME, CRT_KEY_END,
	CRT_KEY_ENTER, CRT_KEY_ESC, CRT_KEY_BACKSPACE, CRT_KEY_RESIZE,
	CRT_KEY_F1, CRT_KEY_F6, CRT_KEY_F10, CRT_KEY_REDRAW,
};

/* 0, or -1 when standard output is not a terminal curses can drive. */
int crt_init(void);
void crt_done(void);
/* A key within timeout_ms, or CRT_KEY_NONE. */
int crt_read_key(int timeout_ms);
void crt_size(int *rows, int *cols);
bool crt_utf8(void);
void crt_begin(void);		/* start a frame: erase the off-screen copy */
/* At most maxw columns of s at (y, x); UTF-8 aware. Returns columns written. */
int crt_put(int y, int x, enum crt_attr a, const char *s, int maxw);
void crt_fill(int y, int x, int w, enum crt_attr a);
void crt_end(void);		/* send what changed */
void crt_force_redraw(void);	/* Ctrl-L: repaint everything next frame */

#endif
