/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Result lines for static guest test programs (tests/vmtest/guest/NAME.c), in
 * the protocol tests/vmtest/init and run.sh read:
 *   VMTEST: PASS name | VMTEST: FAIL name: reason | VMTEST: SKIP name: reason
 * Names have no spaces. Return vt_exit() from main: 1 if anything failed.
 */
#ifndef PRIVMEM_VMTEST_H
#define PRIVMEM_VMTEST_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

static int vt_failures;

static inline void vt_pass(const char *name)
{
	printf("VMTEST: PASS %s\n", name);
	fflush(stdout);
}

static inline void vt_line(const char *kind, const char *name, const char *fmt, va_list ap)
{
	char buf[512];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	for (char *p = buf; *p; p++)
		if (*p == '\n')
			*p = ' ';
	if (name)
		printf("VMTEST: %s %s: %s\n", kind, name, buf);
	else
		printf("VMTEST: %s %s\n", kind, buf);
	fflush(stdout);
}

__attribute__((format(printf, 2, 3)))
static inline void vt_fail(const char *name, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vt_line("FAIL", name, fmt, ap);
	va_end(ap);
	vt_failures++;
}

__attribute__((format(printf, 2, 3)))
static inline void vt_skip(const char *name, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vt_line("SKIP", name, fmt, ap);
	va_end(ap);
}

__attribute__((format(printf, 1, 2)))
static inline void vt_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vt_line("INFO", NULL, fmt, ap);
	va_end(ap);
}

/* 1 if the running kernel is at least major.minor. */
static inline int vt_kernel_ge(int major, int minor)
{
	struct utsname u;
	int ma = 0, mi = 0;

	if (uname(&u) || sscanf(u.release, "%d.%d", &ma, &mi) != 2)
		return 0;
	return ma > major || (ma == major && mi >= minor);
}

static inline int vt_exit(void)
{
	return vt_failures ? 1 : 0;
}

#endif
