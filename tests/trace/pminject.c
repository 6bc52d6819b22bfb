// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * pminject PID VM: loads the capture object's pm_inject_exit over privmemd's
 * own maps (found through /proc/PID/fdinfo) and drives it with
 * BPF_PROG_TEST_RUN, so that every injected MAP_GPA_RANGE exit is one request
 * event in that daemon's ring buffer: a workload of exactly known size on a host where no
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
#include <bpf/libbpf.h>
#include "capture.skel.h"
#include "privmem/kvm_abi.h"

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

/* A map of process pid by name (the kernel keeps 15 characters), or -ENOENT. */
static int find_map(int pid, const char *name)
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
			if (sscanf(line, "map_id: %u", &id) == 1)
				break;
		fclose(f);
		if (id) {
			struct bpf_map_info info = { 0 };
			__u32 len = sizeof(info);
			int m = bpf_map_get_fd_by_id(id);

			if (m >= 0 && !bpf_obj_get_info_by_fd(m, &info, &len) && !strncmp(info.name, name, 15))
				fd = m;
			else if (m >= 0)
				close(m);
		}
	}
	closedir(dir);
	return fd >= 0 ? fd : -ENOENT;
}

/*
 * privmemd does not load pm_inject_exit: load it here over the daemon's own
 * maps (ring buffer, aggregates, the task cache of open requests), so what it emits is what
 * the live exit hook would have emitted into that daemon.
 */
static int load_inject(int pid, struct capture_bpf **out)
{
	struct capture_bpf *s = capture_bpf__open();
	struct bpf_program *p;
	struct bpf_map *m;
	int err;

	if (!s)
		return -errno;
	bpf_object__for_each_program(p, s->obj)
		bpf_program__set_autoload(p, p == s->progs.pm_inject_exit);
	bpf_object__for_each_map(m, s->obj) {
		int fd;

		if (strchr(bpf_map__name(m), '.'))
			continue;	/* .rodata, .bss: the program's own */
		fd = find_map(pid, bpf_map__name(m));
		if (fd < 0)
			continue;	/* a map privmemd did not create: ours */
		err = bpf_map__reuse_fd(m, fd);
		close(fd);
		if (err)
			goto fail;
	}
	err = capture_bpf__load(s);
	if (err)
		goto fail;
	*out = s;
	return 0;
fail:
	capture_bpf__destroy(s);
	return err;
}

int main(int argc, char **argv)
{
	uint64_t vm, a[11] = { 0 }, seed = 88172645463325252ull;
	struct capture_bpf *skel = NULL;
	char line[64];
	int prog;

	if (argc != 3) {
		fprintf(stderr, "usage: pminject PRIVMEMD_PID VM_ID\n");
		return 2;
	}
	vm = strtoull(argv[2], NULL, 0);
	prog = find_map(atoi(argv[1]), "events");
	if (prog < 0) {
		fprintf(stderr, "pminject: process %s holds no 'events' ring buffer: not privmemd?\n", argv[1]);
		return 1;
	}
	close(prog);
	prog = load_inject(atoi(argv[1]), &skel);
	if (prog) {
		fprintf(stderr, "pminject: loading pm_inject_exit over privmemd's maps: %s\n", strerror(-prog));
		return 1;
	}
	prog = bpf_program__fd(skel->progs.pm_inject_exit);
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
	capture_bpf__destroy(skel);
	return 0;
}
