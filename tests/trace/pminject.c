// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * pminject PID VM: drives privmemd's own capture program (the pm_inject_exit
 * raw_tp it loaded, found through /proc/PID/fdinfo) with BPF_PROG_TEST_RUN,
 * so that every injected MAP_GPA_RANGE exit is one request event in that
 * daemon's ring buffer: a workload of exactly known size on a host where no
 * guest can make one (no guest_memfd here). Reads a count per line on
 * stdin, injects that many (random gpa, so chunks do not compress away) and
 * answers "ok N FIRST_NS LAST_NS" (CLOCK_MONOTONIC around them); exits at
 * EOF. Root only.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "privmem/kvm_abi.h"

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

/* The daemon's pm_inject_exit, by the prog ids its fds hold. */
static int find_prog(int pid)
{
	char path[320], line[128];
	struct dirent *d;
	DIR *dir;
	int fd = -1;

	snprintf(path, sizeof(path), "/proc/%d/fdinfo", pid);
	dir = opendir(path);
	if (!dir)
		return -errno;
	while (fd < 0 && (d = readdir(dir))) {
		unsigned id = 0;
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%d/fdinfo/%s", pid, d->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "prog_id: %u", &id) == 1)
				break;
		fclose(f);
		if (id) {
			struct bpf_prog_info info = { 0 };
			__u32 len = sizeof(info);
			int p = bpf_prog_get_fd_by_id(id);

			if (p >= 0 && !bpf_obj_get_info_by_fd(p, &info, &len) && !strcmp(info.name, "pm_inject_exit"))
				fd = p;
			else if (p >= 0)
				close(p);
		}
	}
	closedir(dir);
	return fd >= 0 ? fd : -ENOENT;
}

int main(int argc, char **argv)
{
	uint64_t vm, a[11] = { 0 }, seed = 88172645463325252ull;
	char line[64];
	int prog;

	if (argc != 3) {
		fprintf(stderr, "usage: pminject PRIVMEMD_PID VM_ID\n");
		return 2;
	}
	vm = strtoull(argv[2], NULL, 0);
	prog = find_prog(atoi(argv[1]));
	if (prog < 0) {
		fprintf(stderr, "pminject: no pm_inject_exit program in process %s: %s\n", argv[1], strerror(-prog));
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	while (fgets(line, sizeof(line), stdin)) {
		unsigned long n = strtoul(line, NULL, 10), i;
		uint64_t first = now_ns();

		for (i = 0; i < n; i++) {
			LIBBPF_OPTS(bpf_test_run_opts, o, .ctx_in = a, .ctx_size_in = sizeof(a));

			seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
			a[0] = vm;
			a[1] = 0;
			a[2] = PM_KVM_EXIT_HYPERCALL;
			a[4] = PM_KVM_HC_MAP_GPA_RANGE;
			a[5] = (seed & 0xffffffffull) << 12;	/* gpa */
			a[6] = 1 + (seed >> 40) % 512;		/* pages */
			a[7] = (seed >> 60) & 1 ? PM_KVM_MAP_GPA_RANGE_ENCRYPTED : 0;
			if (bpf_prog_test_run_opts(prog, &o) || o.retval) {
				fprintf(stderr, "pminject: test run %lu: %s\n", i, strerror(errno));
				return 1;
			}
		}
		printf("ok %lu %llu %llu\n", n, (unsigned long long)first, (unsigned long long)now_ns());
	}
	return 0;
}
