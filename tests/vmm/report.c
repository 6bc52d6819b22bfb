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
void report_put_host(FILE *f, const struct vm *vm)
{
	const struct host_caps *c = &vm->caps;

	fprintf(f, ",\"guest_memfd\":%s", vm->has_gmem ? "true" : "false");
	fprintf(f, ",\"host_caps\":{\"guest_memfd\":%d,\"guest_memfd_flags\":%d,"
		"\"memory_attributes\":%d,\"vm_types\":%d,\"user_memory2\":%d,"
		"\"memory_fault_info\":%d,\"vm_guest_memfd\":%d}",
		c->guest_memfd, c->guest_memfd_flags, c->memory_attributes, c->vm_types,
		c->user_memory2, c->memory_fault_info, c->vm_guest_memfd);
}

static void put_host(FILE *f, const struct opts *o, const struct vm *vm)
{
	report_put_host(f, vm);
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
	if (sw->shared_before) {
		fputs(",\"to_shared_attempts\":[", f);
		for (size_t i = 0; i < sw->nshared_before; i++)
			fprintf(f, "%s{\"shared_before\":%llu,\"size\":%llu}", i ? "," : "",
				(ull)sw->shared_before[i].shared_before, (ull)sw->shared_before[i].size);
		fprintf(f, "],\"private_bytes\":%llu", (ull)sw->private_bytes);
	}
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

/* One VM's keys, or the sums of a run's (--vms), without the braces. */
static void put_body(FILE *f, const struct opts *o, const struct vm *vm,
		     const struct truth *t)
{
	const char *sep;
	char eb[16];

	fprintf(f, "\"pid\":%d,\"seed\":%llu,\"vm_type\":%llu,", (int)getpid(), (ull)o->seed,
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
}


static void sum_hist(uint64_t *d, const uint64_t *s)
{
	for (int b = 0; b < LOG2_BUCKETS; b++)
		d[b] += s[b];
}

static void sum_dir(struct dir_stats *d, const struct dir_stats *s)
{
	d->attempts += s->attempts;
	d->attempt_bytes += s->attempt_bytes;
	d->conversions += s->conversions;
	d->bytes += s->bytes;
	sum_hist(d->size_log2_hist, s->size_log2_hist);
	sum_hist(d->attempt_size_log2_hist, s->attempt_size_log2_hist);
}

static void sum_src(struct src_stats *d, const struct src_stats *s)
{
	d->attempts += s->attempts;
	d->conversions += s->conversions;
	d->bytes += s->bytes;
}

/* d->hcs has room for HC_LIST_MAX: the run's first ones, as for one VM. */
static void sum_swprot(struct swprot_truth *d, const struct swprot_truth *s)
{
	struct hc_rec *hcs = d->hcs;
	size_t nhcs = d->nhcs;

	d->hypercall += s->hypercall;
	d->hc_to_private += s->hc_to_private;
	d->hc_to_shared += s->hc_to_shared;
	for (size_t i = 0; i < s->nhcs && nhcs < HC_LIST_MAX; i++)
		hcs[nhcs++] = s->hcs[i];
	d->setup_attr_calls += s->setup_attr_calls;
	d->setup_attr_bytes += s->setup_attr_bytes;
	sum_hist(d->setup_attr_size_log2_hist, s->setup_attr_size_log2_hist);
	sum_src(&d->by_hypercall, &s->by_hypercall);
	sum_src(&d->by_fault, &s->by_fault);
	d->shared_discards += s->shared_discards;
	d->shared_discard_bytes += s->shared_discard_bytes;
	d->shared_discard_errors += s->shared_discard_errors;
	d->attr_retries += s->attr_retries;
	d->guest_failed_requests += s->guest_failed_requests;
	d->guest_seen_failures += s->guest_seen_failures;
	d->handled_requests += s->handled_requests;
	d->run_ns += s->run_ns;
	/* how the run ended is how its last VM ended: a stop or a kill ends the run */
	d->outcome = s->outcome;
	d->stop_hypercall = s->stop_hypercall;
	d->stop_gpa = s->stop_gpa;
	d->stop_size = s->stop_size;
	d->stop_to_private = s->stop_to_private;
	d->stop_errno = s->stop_errno;
	d->hcs = hcs;
	d->nhcs = nhcs;
}

/* d->faults has room for every VM's faults: listed in creation order. */
static void sum_truth(struct truth *d, const struct truth *s)
{
	d->mailbox += s->mailbox;
	d->memory_fault += s->memory_fault;
	sum_dir(&d->to_private, &s->to_private);
	sum_dir(&d->to_shared, &s->to_shared);
	for (int e = 0; e < ERRNO_SLOTS; e++)
		d->attr_errors[e] += s->attr_errors[e];
	d->discards += s->discards;
	d->discard_bytes += s->discard_bytes;
	d->discard_errors += s->discard_errors;
	for (size_t i = 0; i < s->nfaults; i++)
		d->faults[d->nfaults++] = s->faults[i];
	for (int r = 0; r < EXIT_SLOTS; r++)
		d->exits[r] += s->exits[r];
	d->kvm_run_errors += s->kvm_run_errors;
	d->loop_exits += s->loop_exits;
	d->loop_ns += s->loop_ns;
	if (d->sw && s->sw)
		sum_swprot(d->sw, s->sw);
}

/*
 * --vms: the top level of a run, its counts summed over the VMs made so
 * far (README.md says which keys are sums); what every VM shares (host,
 * sizes, flags) is the first VM's.
 */
struct sums {
	struct vm vm;
	struct truth t;
	struct swprot_truth sw;
};

static struct sums *sum_session(const struct session *s)
{
	struct sums *u = calloc(1, sizeof(*u));
	size_t nfaults = 0;

	if (!u)
		return NULL;
	for (size_t i = 0; i < s->started; i++)
		nfaults += s->recs[i].t.nfaults;
	u->vm = s->recs[0].vm;
	u->vm.gmem_created = u->vm.gmem_created_bytes = u->vm.slots_plugged = 0;
	u->t.faults = calloc(nfaults ? nfaults : 1, sizeof(*u->t.faults));
	u->sw.hcs = calloc(HC_LIST_MAX, sizeof(*u->sw.hcs));
	if (!u->t.faults || !u->sw.hcs) {
		free(u->t.faults);
		free(u->sw.hcs);
		free(u);
		return NULL;
	}
	if (s->recs[0].t.sw)
		u->t.sw = &u->sw;
	for (size_t i = 0; i < s->started; i++) {
		const struct vm_rec *r = &s->recs[i];

		u->vm.gmem_created += r->vm.gmem_created;
		u->vm.gmem_created_bytes += r->vm.gmem_created_bytes;
		u->vm.slots_plugged += r->vm.slots_plugged;
		sum_truth(&u->t, &r->t);
	}
	return u;
}

static void free_sums(struct sums *u)
{
	free(u->t.faults);
	free(u->sw.hcs);
	free(u);
}

/*
 * The report: one VM's object as it has always been, or (--vms N > 1) the
 * sums with every VM's own object in "vms", in creation order.
 */
static int put_session(FILE *f, const struct session *s)
{
	struct sums *u;

	if (s->o->vms <= 1) {
		const struct vm_rec *r = &s->recs[0];

		fputc('{', f);
		put_body(f, &r->o, &r->vm, &r->t);
		fputs("}\n", f);
		return 0;
	}
	u = sum_session(s);
	if (!u) {
		fprintf(stderr, "testvmm: writing JSON: %s\n", strerror(ENOMEM));
		return -1;
	}
	fputc('{', f);
	put_body(f, s->o, &u->vm, &u->t);
	fputs(",\"vms\":[", f);
	for (size_t i = 0; i < s->started; i++) {
		const struct vm_rec *r = &s->recs[i];

		fprintf(f, "%s{\"vm_index\":%zu,", i ? "," : "", i);
		put_body(f, &r->o, &r->vm, &r->t);
		fputc('}', f);
	}
	fputs("]}\n", f);
	free_sums(u);
	return 0;
}

/*
 * A file is written beside its name and renamed into place, so a test
 * that polls for it during --hold-ms never reads half an object.  With
 * durable, the file and then its directory are fsync'ed too (before a
 * SIGKILL or a stop, whoever reads the file next must find it whole).
 */
static int write_json(const char *path, bool durable, report_put_fn put, const void *ctx)
{
	char tmp[4096];
	struct stat st;
	FILE *f;

	if (!path || !strcmp(path, "-")) {
		if (put(stdout, ctx) < 0)
			return -1;
		if (fflush(stdout)) {
			fprintf(stderr, "testvmm: writing JSON: %s\n", strerror(errno));
			return -1;
		}
		return 0;
	}
	/* a device or fifo (--json /dev/null) is written, never renamed over */
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		int rc;

		f = fopen(path, "w");
		if (!f) {
			fprintf(stderr, "testvmm: %s: %s\n", path, strerror(errno));
			return -1;
		}
		rc = put(f, ctx);
		return fclose(f) || rc < 0 ? -1 : 0;
	}
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= sizeof(tmp)) {
		fprintf(stderr, "testvmm: %s: name too long\n", path);
		return -1;
	}
	f = fopen(tmp, "w");
	if (!f) {
		fprintf(stderr, "testvmm: %s: %s\n", tmp, strerror(errno));
		return -1;
	}
	if (put(f, ctx) < 0) {
		fclose(f);
		unlink(tmp);
		return -1;
	}
	if ((durable && (fflush(f) || fsync(fileno(f)))) || fclose(f) || rename(tmp, path)) {
		fprintf(stderr, "testvmm: writing %s: %s\n", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	if (durable) {
		char dir[4096];
		int fd;

		snprintf(dir, sizeof(dir), "%s", path);
		fd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0 || fsync(fd)) {
			fprintf(stderr, "testvmm: fsync of %s's directory: %s\n", path, strerror(errno));
			if (fd >= 0)
				close(fd);
			return -1;
		}
		close(fd);
	}
	return 0;
}

/* Any JSON testvmm writes (--json, or stdout), the same careful way. */
int report_put_json(const char *path, report_put_fn put, const void *ctx)
{
	return write_json(path, false, put, ctx);
}

static int put_session_cb(FILE *f, const void *ctx)
{
	return put_session(f, ctx);
}

int report_write(const struct session *s)
{
	return write_json(s->o->json, false, put_session_cb, s);
}

int report_write_durable(const struct session *s)
{
	return write_json(s->o->json, true, put_session_cb, s);
}

/* --kill-after-requests: the truth so far, durably, then SIGKILL (no cleanup at all). */
void report_and_kill(const struct session *s)
{
	report_write_durable(s);
	fprintf(stderr, "testvmm: --kill-after-requests %llu reached: SIGKILL\n",
		(unsigned long long)s->o->kill_after);
	kill(getpid(), SIGKILL);
	abort();
}
