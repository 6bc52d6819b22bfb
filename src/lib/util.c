// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include "util.h"
#include "privmem/events.h"
#include "privmem/decide.h"

static const struct {
	int err;
	const char *name;
} errnames[] = {
	{ EPERM, "EPERM" }, { ENOENT, "ENOENT" }, { EINTR, "EINTR" }, { EIO, "EIO" },
	{ EBADF, "EBADF" }, { EAGAIN, "EAGAIN" }, { ENOMEM, "ENOMEM" }, { EACCES, "EACCES" },
	{ EFAULT, "EFAULT" }, { EBUSY, "EBUSY" }, { EEXIST, "EEXIST" }, { EINVAL, "EINVAL" },
	{ ENOSPC, "ENOSPC" }, { ENOTTY, "ENOTTY" }, { ENOSYS, "ENOSYS" }, { ERANGE, "ERANGE" },
	{ EOPNOTSUPP, "EOPNOTSUPP" }, { E2BIG, "E2BIG" }, { ENXIO, "ENXIO" }, { ENODEV, "ENODEV" },
	{ EHWPOISON, "EHWPOISON" },
	/* what stops a recorder (gap records) */
	{ EROFS, "EROFS" }, { ENOTDIR, "ENOTDIR" }, { EFBIG, "EFBIG" }, { EMFILE, "EMFILE" },
	{ ENFILE, "ENFILE" }, { EDQUOT, "EDQUOT" },
};

const char *pm_errno_name(int err, char *buf, size_t len)
{
	if (err < 0)
		err = -err;
	for (size_t i = 0; i < sizeof(errnames) / sizeof(errnames[0]); i++)
		if (errnames[i].err == err)
			return errnames[i].name;
	snprintf(buf, len, "E%d", err);
	return buf;
}

uint64_t pm_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

void *pm_grow(void *arr, size_t n, size_t *cap, size_t size, size_t first)
{
	size_t ncap = *cap ? *cap * 2 : first;
	void *p;

	if (n < *cap)
		return arr;
	p = realloc(arr, ncap * size);
	if (p)
		*cap = ncap;
	return p;
}

const char *pm_dir_name(int dir)
{
	return dir == PM_TO_PRIVATE ? "to_private" : dir == PM_TO_SHARED ? "to_shared" : "none";
}

const char *pm_deny_reason(unsigned verdict)
{
	static const char *const reason[PM_VERDICTS] = { "allow", "rate", "max_request", "shared_ceiling",
							  "unreadable", "no_state" };

	return verdict < PM_VERDICTS ? reason[verdict] : "unknown";
}

const char *pm_exit_reason_name(unsigned reason)
{
	static const char *const names[] = {
		[0] = "UNKNOWN", [1] = "EXCEPTION", [2] = "IO", [3] = "HYPERCALL",
		[4] = "DEBUG", [5] = "HLT", [6] = "MMIO", [7] = "IRQ_WINDOW_OPEN",
		[8] = "SHUTDOWN", [9] = "FAIL_ENTRY", [10] = "INTR", [17] = "INTERNAL_ERROR",
		[24] = "SYSTEM_EVENT", [29] = "X86_RDMSR", [30] = "X86_WRMSR",
		[35] = "X86_BUS_LOCK", [39] = "MEMORY_FAULT",
	};

	if (reason < sizeof(names) / sizeof(names[0]) && names[reason])
		return names[reason];
	return "OTHER";
}

void pm_fmt_bytes(char *buf, size_t len, uint64_t b)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)b;
	int u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, u ? "%.1f%s" : "%.0f%s", v, unit[u]);
}
