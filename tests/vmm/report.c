// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The ground-truth JSON.  Written by hand so the test VMM needs no
 * library; key order is fixed and zero histogram buckets are omitted, so
 * two runs with one seed differ only in "pid" and the benchmark's "ns".
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmm.h"

static const struct {
	int err;
	const char *name;
} errno_names[] = {
	{ ENOTTY, "ENOTTY" }, { EINVAL, "EINVAL" }, { EPERM, "EPERM" },
	{ EFAULT, "EFAULT" }, { EAGAIN, "EAGAIN" }, { ENOMEM, "ENOMEM" },
	{ EOPNOTSUPP, "EOPNOTSUPP" }, { ENOENT, "ENOENT" }, { EBADF, "EBADF" },
	{ EEXIST, "EEXIST" }, { EINTR, "EINTR" }, { EACCES, "EACCES" },
	{ EBUSY, "EBUSY" }, { ENOSPC, "ENOSPC" }, { E2BIG, "E2BIG" },
	{ ENXIO, "ENXIO" }, { ENODEV, "ENODEV" }, { EIO, "EIO" },
};

const char *errno_name(int err, char *buf, size_t len)
{
	for (size_t i = 0; i < sizeof(errno_names) / sizeof(errno_names[0]); i++)
		if (errno_names[i].err == err)
			return errno_names[i].name;
	snprintf(buf, len, "E%d", err);
	return buf;
}

typedef unsigned long long ull;

static void put_hist(FILE *f, const char *key, const uint64_t *h)
{
	const char *sep = "";

	fprintf(f, "\"%s\":{", key);
	for (int b = 0; b < LOG2_BUCKETS; b++) {
		if (!h[b])
			continue;
		fprintf(f, "%s\"%d\":%llu", sep, b, (ull)h[b]);
		sep = ",";
	}
	fputc('}', f);
}

static void put_dir(FILE *f, const char *key, const struct dir_stats *d)
{
	fprintf(f, "\"%s\":{\"attempts\":%llu,\"attempt_bytes\":%llu,\"conversions\":%llu,\"bytes\":%llu,",
		key, (ull)d->attempts, (ull)d->attempt_bytes, (ull)d->conversions, (ull)d->bytes);
	put_hist(f, "size_log2_hist", d->size_log2_hist);
	fputc(',', f);
	put_hist(f, "attempt_size_log2_hist", d->attempt_size_log2_hist);
	fputc('}', f);
}

static void put_src(FILE *f, const char *key, const struct src_stats *s)
{
	fprintf(f, "\"%s\":{\"attempts\":%llu,\"conversions\":%llu,\"bytes\":%llu}", key,
		(ull)s->attempts, (ull)s->conversions, (ull)s->bytes);
}

/*
 * What the host offered and what of the options it allowed: a test derives
 * from these, not from its own assumptions, which checks can apply.
 */
static void put_host(FILE *f, const struct opts *o, const struct vm *vm)
{
	const struct host_caps *c = &vm->caps;

	fprintf(f, ",\"guest_memfd\":%s", vm->has_gmem ? "true" : "false");
	fprintf(f, ",\"host_caps\":{\"guest_memfd\":%d,\"guest_memfd_flags\":%d,"
		"\"memory_attributes\":%d,\"vm_types\":%d,\"user_memory2\":%d,"
		"\"memory_fault_info\":%d}",
		c->guest_memfd, c->guest_memfd_flags, c->memory_attributes, c->vm_types,
		c->user_memory2, c->memory_fault_info);
	fprintf(f, ",\"mem\":{\"size\":%llu,\"shared_view\":\"%s\"}", (ull)vm->mem_size,
		vm->mem_is_gmem ? "guest_memfd" : "anonymous");
	fprintf(f, ",\"faults_asked\":%llu", (ull)o->faults_asked);
}

/* SW_PROTECTED_VM mode's keys, after the host-mode ones (README.md). */
static void put_swprot(FILE *f, const struct opts *o, const struct vm *vm,
		       const struct swprot_truth *sw)
{
	static const char *const deny[] = { "fail", "retry", "stop" };
	static const char *const outcome[] = { "completed", "stopped", "killed" };
	char eb[16];

	fprintf(f, ",\"on_deny\":\"%s\",\"outcome\":\"%s\",\"handled_requests\":%llu",
		deny[o->on_deny], outcome[sw->outcome], (ull)sw->handled_requests);
	fprintf(f, ",\"setup_attr_calls\":%llu,\"setup_attr_bytes\":%llu,",
		(ull)sw->setup_attr_calls, (ull)sw->setup_attr_bytes);
	put_hist(f, "setup_attr_size_log2_hist", sw->setup_attr_size_log2_hist);
	fprintf(f, ",\"hypercall_dirs\":{\"to_private\":%llu,\"to_shared\":%llu}",
		(ull)sw->hc_to_private, (ull)sw->hc_to_shared);
	fputs(",\"hypercalls\":[", f);
	for (size_t i = 0; i < sw->nhcs; i++)
		fprintf(f, "%s{\"gpa\":%llu,\"npages\":%llu,\"attrs\":%llu,\"ret\":%lld}",
			i ? "," : "", (ull)sw->hcs[i].gpa, (ull)sw->hcs[i].npages,
			(ull)sw->hcs[i].attrs, (long long)sw->hcs[i].ret);
	fprintf(f, "],\"hypercalls_listed\":%llu", (ull)sw->nhcs);
	fputs(",\"by_source\":{", f);
	put_src(f, "hypercall", &sw->by_hypercall);
	fputc(',', f);
	put_src(f, "memory_fault", &sw->by_fault);
	fputc('}', f);
	fprintf(f, ",\"shared_discards\":%llu,\"shared_discard_bytes\":%llu,\"shared_discard_errors\":%llu",
		(ull)sw->shared_discards, (ull)sw->shared_discard_bytes,
		(ull)sw->shared_discard_errors);
	fprintf(f, ",\"attr_retries\":%llu,\"guest_failed_requests\":%llu,\"guest_seen_failures\":%llu",
		(ull)sw->attr_retries, (ull)sw->guest_failed_requests, (ull)sw->guest_seen_failures);
	fprintf(f, ",\"slots_plugged\":%llu,\"run_ns\":%llu", (ull)vm->slots_plugged,
		(ull)sw->run_ns);
	if (sw->outcome == OUT_STOPPED)
		fprintf(f, ",\"stop\":{\"source\":\"%s\",\"gpa\":%llu,\"size\":%llu,"
			"\"to_private\":%s,\"errno\":\"%s\"}",
			sw->stop_hypercall ? "hypercall" : "memory_fault", (ull)sw->stop_gpa,
			(ull)sw->stop_size, sw->stop_to_private ? "true" : "false",
			errno_name(sw->stop_errno, eb, sizeof(eb)));
}

static void put_truth(FILE *f, const struct opts *o, const struct vm *vm,
		      const struct truth *t)
{
	const char *sep;
	char eb[16];

	fprintf(f, "{\"pid\":%d,\"seed\":%llu,\"vm_type\":%llu,", (int)getpid(), (ull)o->seed,
		(ull)o->vm_type);
	fprintf(f, "\"gmem\":{\"size\":%llu,\"flags\":%llu,\"created\":%llu,\"created_bytes\":%llu},",
		(ull)(vm->has_gmem ? vm->mem_size : 0), (ull)vm->gmem_flags, (ull)vm->gmem_created, (ull)vm->gmem_created_bytes);
	fprintf(f, "\"requests\":{\"mailbox\":%llu,\"hypercall\":%llu,\"memory_fault\":%llu},",
		(ull)t->mailbox, (ull)(t->sw ? t->sw->hypercall : 0), (ull)t->memory_fault);
	put_dir(f, "to_private", &t->to_private);
	fputc(',', f);
	put_dir(f, "to_shared", &t->to_shared);

	fputs(",\"attr_errors\":{", f);
	sep = "";
	for (int e = 0; e < ERRNO_SLOTS; e++) {
		if (!t->attr_errors[e])
			continue;
		fprintf(f, "%s\"%s\":%llu", sep, errno_name(e, eb, sizeof(eb)), (ull)t->attr_errors[e]);
		sep = ",";
	}
	fputc('}', f);

	fprintf(f, ",\"discards\":%llu,\"discard_bytes\":%llu,\"discard_errors\":%llu",
		(ull)t->discards, (ull)t->discard_bytes, (ull)t->discard_errors);

	fputs(",\"memory_faults\":[", f);
	for (size_t i = 0; i < t->nfaults; i++)
		fprintf(f, "%s{\"gpa\":%llu,\"size\":%llu,\"flags\":%llu}", i ? "," : "",
			(ull)t->faults[i].gpa, (ull)t->faults[i].size, (ull)t->faults[i].flags);
	fputc(']', f);

	fputs(",\"exits\":{", f);
	sep = "";
	for (int r = 0; r < EXIT_SLOTS; r++) {
		if (!t->exits[r])
			continue;
		fprintf(f, "%s\"%d\":%llu", sep, r, (ull)t->exits[r]);
		sep = ",";
	}
	fputc('}', f);

	fprintf(f, ",\"kvm_run_errors\":%llu", (ull)t->kvm_run_errors);
	fprintf(f, ",\"exit_loop\":{\"exits\":%llu,\"ns\":%llu}", (ull)t->loop_exits,
		(ull)t->loop_ns);
	put_host(f, o, vm);
	if (vm->swprot && t->sw)
		put_swprot(f, o, vm, t->sw);
	fputs("}\n", f);
}

/*
 * A file is written beside its name and renamed into place, so a test
 * that polls for it during --hold-ms never reads half an object.  With
 * durable, the file and then its directory are fsync'ed too (before a
 * SIGKILL or a stop, whoever reads the file next must find it whole).
 */
static int write_json(const struct opts *o, const struct vm *vm, const struct truth *t,
		      bool durable)
{
	char tmp[4096];
	struct stat st;
	FILE *f;

	if (!o->json || !strcmp(o->json, "-")) {
		put_truth(stdout, o, vm, t);
		if (fflush(stdout)) {
			fprintf(stderr, "testvmm: writing JSON: %s\n", strerror(errno));
			return -1;
		}
		return 0;
	}
	/* a device or fifo (--json /dev/null) is written, never renamed over */
	if (stat(o->json, &st) == 0 && !S_ISREG(st.st_mode)) {
		f = fopen(o->json, "w");
		if (!f) {
			fprintf(stderr, "testvmm: %s: %s\n", o->json, strerror(errno));
			return -1;
		}
		put_truth(f, o, vm, t);
		return fclose(f) ? -1 : 0;
	}
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%d", o->json, (int)getpid()) >= sizeof(tmp)) {
		fprintf(stderr, "testvmm: %s: name too long\n", o->json);
		return -1;
	}
	f = fopen(tmp, "w");
	if (!f) {
		fprintf(stderr, "testvmm: %s: %s\n", tmp, strerror(errno));
		return -1;
	}
	put_truth(f, o, vm, t);
	if ((durable && (fflush(f) || fsync(fileno(f)))) || fclose(f) || rename(tmp, o->json)) {
		fprintf(stderr, "testvmm: writing %s: %s\n", o->json, strerror(errno));
		unlink(tmp);
		return -1;
	}
	if (durable) {
		char dir[4096];
		int fd;

		snprintf(dir, sizeof(dir), "%s", o->json);
		fd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0 || fsync(fd)) {
			fprintf(stderr, "testvmm: fsync of %s's directory: %s\n", o->json, strerror(errno));
			if (fd >= 0)
				close(fd);
			return -1;
		}
		close(fd);
	}
	return 0;
}

int report_write(const struct opts *o, const struct vm *vm, const struct truth *t)
{
	return write_json(o, vm, t, false);
}

int report_write_durable(const struct opts *o, const struct vm *vm, const struct truth *t)
{
	return write_json(o, vm, t, true);
}

/* --kill-after-requests: the truth so far, durably, then SIGKILL (no cleanup at all). */
void report_and_kill(const struct opts *o, const struct vm *vm, const struct truth *t)
{
	report_write_durable(o, vm, t);
	fprintf(stderr, "testvmm: --kill-after-requests %llu reached: SIGKILL\n",
		(unsigned long long)o->kill_after);
	kill(getpid(), SIGKILL);
	abort();
}
