// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * convinject DAEMON_PID GROUND_TRUTH_JSON [SEED]: plays a VMM whose
 * KVM_SET_MEMORY_ATTRIBUTES calls succeed, which this host's KVM never lets
 * one do (ENOTTY), into a running privmemd (or privmem record, or
 * privmemtop --direct): it loads the capture object's test-only programs
 * (pm_inject_exit, pm_inject_decide) over the daemon's own maps, found
 * through /proc/PID/fdinfo, and runs them with BPF_PROG_TEST_RUN. Its
 * records then take the daemon's real path: ring buffer, books, socket,
 * metrics, traces. The process's exit is the VM's end (the daemon's
 * sched_process_exit program sees the tgid the injected exits noted).
 *
 * The ground truth, in testvmm's format (tests/vmm/report.c), is what was
 * injected, counted here. Needs root.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "privmem/events.h"
#include "privmem/kvm_abi.h"
#include "capture.skel.h"

#define NFAULTS		5
#define NHCALLS		7
#define NIO		11
#define NDECIDES	40

struct dir_truth {
	unsigned long long attempts, attempt_bytes, conversions, bytes;
	unsigned long long hist[64], attempt_hist[64];
};

static struct {
	struct dir_truth dir[2];	/* PM_TO_PRIVATE, PM_TO_SHARED */
	unsigned long long einval, efault, exits[256], run_errors;
	struct { unsigned long long gpa, size, flags; } faults[NFAULTS];
	struct { unsigned long long gpa, npages, attrs; } hcs[NHCALLS];
} gt;

static unsigned long long rnd(unsigned long long *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static int log2_floor(unsigned long long v)
{
	return 63 - __builtin_clzll(v);
}

/* The daemon's maps by name: map ids from its fdinfo, fds by id. */
static int reuse_daemon_maps(struct capture_bpf *s, int pid)
{
	char path[320], line[128], name[BPF_OBJ_NAME_LEN];
	struct bpf_map_info info;
	struct bpf_map *m;
	struct dirent *d;
	unsigned reused = 0, needed = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/fdinfo", pid);
	dir = opendir(path);
	if (!dir) {
		fprintf(stderr, "convinject: %s: %s\n", path, strerror(errno));
		return -errno;
	}
	while ((d = readdir(dir))) {
		unsigned id = 0;
		__u32 len = sizeof(info);
		FILE *f;
		int fd;

		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/fdinfo/%s", pid, d->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "map_id: %u", &id) == 1)
				break;
		fclose(f);
		if (!id || (fd = bpf_map_get_fd_by_id(id)) < 0)
			continue;
		memset(&info, 0, sizeof(info));
		if (bpf_obj_get_info_by_fd(fd, &info, &len)) {
			close(fd);
			continue;
		}
		bpf_object__for_each_map(m, s->obj) {
			if (bpf_map__is_internal(m))
				continue;
			snprintf(name, sizeof(name), "%s", bpf_map__name(m));
			if (strcmp(name, info.name) || bpf_map__type(m) != info.type)
				continue;
			if (bpf_map__reuse_fd(m, fd) == 0)
				reused++;
			break;
		}
		close(fd);
	}
	closedir(dir);
	/* the maps a record's path through the daemon goes by */
	bpf_object__for_each_map(m, s->obj) {
		const char *n = bpf_map__name(m);

		if (strcmp(n, "events") && strcmp(n, "vm_kstats") && strcmp(n, "vmm_tgids") &&
		    strcmp(n, "vcpu_cache") && strcmp(n, "lost") && strcmp(n, "exit_slots") &&
		    strcmp(n, "slot_free") && strcmp(n, "slot_seq"))
			continue;
		needed++;
		if (bpf_map__fd(m) < 0) {
			fprintf(stderr, "convinject: pid %d has no capture map '%s' (not privmemd?)\n", pid, n);
			return -ENOENT;
		}
	}
	return needed == 8 && reused >= needed ? 0 : -ENOENT;
}

static int run(struct bpf_program *p, unsigned long long *args, unsigned n)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .ctx_in = args, .ctx_size_in = n * sizeof(*args));
	int err = bpf_prog_test_run_opts(bpf_program__fd(p), &o);

	if (err)
		fprintf(stderr, "convinject: test_run %s: %s\n", bpf_program__name(p), strerror(-err));
	return err;
}

/* The next KVM_RUN after a request: the daemon's ioctl hook sees the command at entry. */
static void resume(void)
{
	ioctl(-1, PM_KVM_RUN, 0);
}

static int inject(struct capture_bpf *s, unsigned long long vm, unsigned long long seed)
{
	unsigned long long r = seed * 0x9e3779b97f4a7c15ull | 1;
	int vcpu = 0;

	/* I/O exits: counted, no request */
	for (int i = 0; i < NIO; i++) {
		unsigned long long a[11] = { vm, vcpu, PM_KVM_EXIT_IO, 0 };

		if (run(s->progs.pm_inject_exit, a, 11))
			return -1;
		gt.exits[PM_KVM_EXIT_IO]++;
	}
	/* memory faults (KVM_RUN's EFAULT), each resumed */
	for (int i = 0; i < NFAULTS; i++) {
		unsigned long long gpa = 0x100000 + (rnd(&r) % 4096) * 4096, flags =
			(rnd(&r) & 1) ? PM_KVM_MEMORY_EXIT_FLAG_PRIVATE : 0;
		unsigned long long a[11] = { vm, vcpu, PM_KVM_EXIT_MEMORY_FAULT, (unsigned long long)-EFAULT,
					     0, 0, 0, 0, flags, gpa, 4096 };

		if (run(s->progs.pm_inject_exit, a, 11))
			return -1;
		resume();
		gt.exits[PM_KVM_EXIT_MEMORY_FAULT]++;
		gt.run_errors++;
		gt.faults[i].gpa = gpa;
		gt.faults[i].size = 4096;
		gt.faults[i].flags = flags;
	}
	/* MAP_GPA_RANGE hypercalls, each resumed */
	for (int i = 0; i < NHCALLS; i++) {
		unsigned long long gpa = 0x200000 + (rnd(&r) % 1024) * 4096, npages = 1 + rnd(&r) % 64,
			attrs = (rnd(&r) & 1) ? PM_KVM_MAP_GPA_RANGE_ENCRYPTED : 0;
		unsigned long long a[11] = { vm, vcpu, PM_KVM_EXIT_HYPERCALL, 0, PM_KVM_HC_MAP_GPA_RANGE,
					     gpa, npages, attrs };

		if (run(s->progs.pm_inject_exit, a, 11))
			return -1;
		resume();
		gt.exits[PM_KVM_EXIT_HYPERCALL]++;
		gt.hcs[i].gpa = gpa;
		gt.hcs[i].npages = npages;
		gt.hcs[i].attrs = attrs;
	}
	/* the VMM's decisions: sizes 4 KiB..2 MiB, mostly successful */
	for (int i = 0; i < NDECIDES; i++) {
		unsigned long long x = rnd(&r), size = (x & 1) ? 1ull << (12 + (x >> 1) % 10)
							       : (1 + (x >> 1) % 512) * 4096ull;
		int to_private = (x >> 40) & 1;
		long long ret = (x >> 41) % 8 == 0 ? -EINVAL : (x >> 41) % 8 == 1 ? -EFAULT : 0;
		unsigned long long a[6] = { vm, (x >> 20) % 1024 * 4096, size,
					    to_private ? PM_KVM_MEMORY_ATTRIBUTE_PRIVATE : 0,
					    (unsigned long long)ret, PM_F_SYSCALL_TP };
		struct dir_truth *d = &gt.dir[to_private ? 0 : 1];

		if (run(s->progs.pm_inject_decide, a, 6))
			return -1;
		d->attempts++;
		d->attempt_bytes += size;
		d->attempt_hist[log2_floor(size)]++;
		if (ret == 0) {
			d->conversions++;
			d->bytes += size;
			d->hist[log2_floor(size)]++;
		} else if (ret == -EINVAL) {
			gt.einval++;
		} else {
			gt.efault++;
		}
	}
	return 0;
}

static void put_hist(FILE *f, const char *key, const unsigned long long *h)
{
	const char *sep = "";

	fprintf(f, "\"%s\":{", key);
	for (int b = 0; b < 64; b++)
		if (h[b]) {
			fprintf(f, "%s\"%d\":%llu", sep, b, h[b]);
			sep = ",";
		}
	fputc('}', f);
}

static void put_dir(FILE *f, const char *key, const struct dir_truth *d)
{
	fprintf(f, "\"%s\":{\"attempts\":%llu,\"attempt_bytes\":%llu,\"conversions\":%llu,\"bytes\":%llu,",
		key, d->attempts, d->attempt_bytes, d->conversions, d->bytes);
	put_hist(f, "size_log2_hist", d->hist);
	fputc(',', f);
	put_hist(f, "attempt_size_log2_hist", d->attempt_hist);
	fputc('}', f);
}

static int write_truth(const char *path, const char *comm)
{
	FILE *f = fopen(path, "w");
	const char *sep = "";

	if (!f) {
		fprintf(stderr, "convinject: %s: %s\n", path, strerror(errno));
		return -1;
	}
	fprintf(f, "{\"pid\":%d,\"comm\":\"%s\",\"outcome\":\"completed\",", (int)getpid(), comm);
	fprintf(f, "\"gmem\":{\"created\":0,\"created_bytes\":0},");
	fprintf(f, "\"requests\":{\"hypercall\":%d,\"memory_fault\":%d},", NHCALLS, NFAULTS);
	put_dir(f, "to_private", &gt.dir[0]);
	fputc(',', f);
	put_dir(f, "to_shared", &gt.dir[1]);
	fputs(",\"attr_errors\":{", f);
	if (gt.einval) {
		fprintf(f, "\"EINVAL\":%llu", gt.einval);
		sep = ",";
	}
	if (gt.efault)
		fprintf(f, "%s\"EFAULT\":%llu", sep, gt.efault);
	fputs("},\"discards\":0,\"discard_bytes\":0,\"discard_errors\":0,\"memory_faults\":[", f);
	for (int i = 0; i < NFAULTS; i++)
		fprintf(f, "%s{\"gpa\":%llu,\"size\":%llu,\"flags\":%llu}", i ? "," : "", gt.faults[i].gpa,
			gt.faults[i].size, gt.faults[i].flags);
	fputs("],\"hypercalls\":[", f);
	for (int i = 0; i < NHCALLS; i++)
		fprintf(f, "%s{\"gpa\":%llu,\"npages\":%llu,\"attrs\":%llu}", i ? "," : "", gt.hcs[i].gpa,
			gt.hcs[i].npages, gt.hcs[i].attrs);
	fputs("],\"exits\":{", f);
	sep = "";
	for (int r = 0; r < 256; r++)
		if (gt.exits[r]) {
			fprintf(f, "%s\"%d\":%llu", sep, r, gt.exits[r]);
			sep = ",";
		}
	fprintf(f, "},\"kvm_run_errors\":%llu}\n", gt.run_errors);
	return fclose(f) ? -1 : 0;
}

int main(int argc, char **argv)
{
	struct capture_bpf *s;
	struct bpf_program *p;
	unsigned long long seed, vm;
	int pid, err;

	if (argc < 3 || argc > 4 || (pid = atoi(argv[1])) <= 0) {
		fprintf(stderr, "usage: convinject DAEMON_PID GROUND_TRUTH_JSON [SEED]\n");
		return 2;
	}
	seed = argc > 3 ? strtoull(argv[3], NULL, 0) : 1;
	/* the VMM's name in the books: convinject, whatever the binary is called */
	prctl(PR_SET_NAME, "convinject");
	s = capture_bpf__open();
	if (!s) {
		fprintf(stderr, "convinject: open: %s\n", strerror(errno));
		return 1;
	}
	bpf_object__for_each_program(p, s->obj)
		bpf_program__set_autoload(p, false);
	bpf_program__set_autoload(s->progs.pm_inject_exit, true);
	bpf_program__set_autoload(s->progs.pm_inject_decide, true);
	err = reuse_daemon_maps(s, pid);
	if (!err)
		err = capture_bpf__load(s);
	if (err) {
		fprintf(stderr, "convinject: loading over pid %d's maps: %s\n", pid, strerror(-err));
		capture_bpf__destroy(s);
		return 1;
	}
	/* one VM per process and seed; never 0, which books nothing */
	vm = 0x1d1ec70000000000ull | ((unsigned long long)getpid() << 16) | (seed & 0xffff);
	err = inject(s, vm, seed);
	capture_bpf__destroy(s);
	if (err)
		return 1;
	return write_truth(argv[2], "convinject") ? 1 : 0;
}
