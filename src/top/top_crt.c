// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <langinfo.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <wchar.h>
#include <curses.h>
#include "top_crt.h"

static int attrs[CRT_ATTR_MAX];
static bool utf8;
static bool active;

int crt_init(void)
{
	if (!isatty(STDOUT_FILENO) || !isatty(STDIN_FILENO))
		return -1;
	setlocale(LC_ALL, "");
	utf8 = !strcmp(nl_langinfo(CODESET), "UTF-8");
	if (!initscr())
		return -1;
	active = true;
	cbreak();
	noecho();
	nonl();
	intrflush(stdscr, FALSE);
	keypad(stdscr, TRUE);
	set_escdelay(25);
	curs_set(0);
	attrs[CRT_NORMAL] = A_NORMAL;
	attrs[CRT_TITLE] = A_REVERSE;
	attrs[CRT_SORTED] = A_REVERSE | A_BOLD;
	attrs[CRT_SELECTED] = A_REVERSE;
	attrs[CRT_ALERT] = A_REVERSE | A_BOLD;
	attrs[CRT_WARN] = A_BOLD;
	attrs[CRT_DIM] = A_DIM;
	attrs[CRT_GOOD] = A_NORMAL;
	attrs[CRT_BAR] = A_NORMAL;
	attrs[CRT_KEY] = A_BOLD;
	attrs[CRT_HEAD] = A_BOLD;
	if (has_colors()) {
		start_color();
		use_default_colors();
		init_pair(1, COLOR_BLACK, COLOR_CYAN);		/* titles */
		init_pair(2, COLOR_BLACK, COLOR_GREEN);		/* sorted title */
		init_pair(3, COLOR_WHITE, COLOR_RED);		/* alert */
		init_pair(4, COLOR_YELLOW, -1);			/* warn */
		init_pair(5, COLOR_GREEN, -1);			/* good */
		init_pair(6, COLOR_CYAN, -1);			/* bars */
		init_pair(7, COLOR_BLACK, COLOR_CYAN);		/* selected */
		init_pair(8, COLOR_CYAN, -1);			/* header labels */
		attrs[CRT_TITLE] = COLOR_PAIR(1);
		attrs[CRT_SORTED] = COLOR_PAIR(2) | A_BOLD;
		attrs[CRT_ALERT] = COLOR_PAIR(3) | A_BOLD;
		attrs[CRT_WARN] = COLOR_PAIR(4) | A_BOLD;
		attrs[CRT_GOOD] = COLOR_PAIR(5);
		attrs[CRT_BAR] = COLOR_PAIR(6);
		attrs[CRT_SELECTED] = COLOR_PAIR(7);
		attrs[CRT_HEAD] = COLOR_PAIR(8) | A_BOLD;
	}
	return 0;
}

void crt_done(void)
{
	if (!active)
		return;
	curs_set(1);
	endwin();
	active = false;
}

int crt_read_key(int timeout_ms)
{
	int c;

	timeout(timeout_ms);
	c = getch();
	switch (c) {
	case ERR: return CRT_KEY_NONE;
	case KEY_UP: return CRT_KEY_UP;
	case KEY_DOWN: return CRT_KEY_DOWN;
	case KEY_LEFT: return CRT_KEY_LEFT;
	case KEY_RIGHT: return CRT_KEY_RIGHT;
	case KEY_PPAGE: return CRT_KEY_PGUP;
	case KEY_NPAGE: return CRT_KEY_PGDN;
	case KEY_HOME: return CRT_KEY_HOME;
	case KEY_END: return CRT_KEY_END;
	case KEY_ENTER: case '\r': case '\n': return CRT_KEY_ENTER;
	case 27: return CRT_KEY_ESC;
	case KEY_BACKSPACE: case 127: case 8: return CRT_KEY_BACKSPACE;
	case KEY_RESIZE: return CRT_KEY_RESIZE;
	case KEY_F(1): return CRT_KEY_F1;
	case KEY_F(6): return CRT_KEY_F6;
	case KEY_F(10): return CRT_KEY_F10;
	case 12: return CRT_KEY_REDRAW;	/* Ctrl-L */
	default: return c >= 0 && c < 256 ? c : CRT_KEY_NONE;
	}
}

void crt_size(int *rows, int *cols)
{
	getmaxyx(stdscr, *rows, *cols);
}

bool crt_utf8(void)
{
	return utf8;
}

void crt_begin(void)
{
	erase();
}

int crt_put(int y, int x, enum crt_attr a, const char *s, int maxw)
{
	int rows, cols, w = 0;
	mbstate_t st;

	getmaxyx(stdscr, rows, cols);
	if (y < 0 || y >= rows || x >= cols || maxw <= 0)
		return 0;
	if (maxw > cols - x)
		maxw = cols - x;
	attrset(attrs[a]);
	memset(&st, 0, sizeof(st));
	move(y, x);
	while (*s && w < maxw) {
		wchar_t wc;
		size_t n = utf8 ? mbrtowc(&wc, s, MB_CUR_MAX, &st) : 1;
		int cw;

		if (n == (size_t)-1 || n == (size_t)-2 || n == 0) {
			memset(&st, 0, sizeof(st));
			n = 1;
			wc = '?';
		} else if (!utf8) {
			wc = (unsigned char)*s < 0x80 ? (unsigned char)*s : '?';
		}
		cw = utf8 ? wcwidth(wc) : 1;
		if (cw < 0)
			cw = 1, wc = '?';
		if (w + cw > maxw)
			break;
		if (utf8) {
			cchar_t cc;
			wchar_t ws[2] = { wc, 0 };

			setcchar(&cc, ws, 0, 0, NULL);	/* attrset() above applies */
			add_wch(&cc);
		} else {
			addch((chtype)wc | attrs[a]);
		}
		w += cw;
		s += n;
	}
	attrset(A_NORMAL);
	return w;
}

void crt_fill(int y, int x, int w, enum crt_attr a)
{
	int rows, cols;

	getmaxyx(stdscr, rows, cols);
	if (y < 0 || y >= rows || x >= cols)
		return;
	if (w > cols - x)
		w = cols - x;
	attrset(attrs[a]);
	mvhline(y, x, ' ' | (chtype)attrs[a], w);
	attrset(A_NORMAL);
}

void crt_end(void)
{
	refresh();
}

void crt_force_redraw(void)
{
	clearok(curscr, TRUE);
}
