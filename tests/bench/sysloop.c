// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* sysloop N: ns per getppid() and per ioctl(FIONREAD) on a pipe, for a process that is no VMM. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 2000000;
	int p[2], avail;
	double t0, t1, t2;

	if (n <= 0 || pipe(p))
		return 2;
	t0 = now();
	for (long i = 0; i < n; i++)
		getppid();
	t1 = now();
	for (long i = 0; i < n; i++)
		ioctl(p[0], FIONREAD, &avail);
	t2 = now();
	printf("{\"getppid_ns\":%.1f,\"ioctl_ns\":%.1f}\n", (t1 - t0) / n, (t2 - t1) / n);
	return 0;
}
