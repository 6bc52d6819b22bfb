// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The ground-truth JSON.  Written by hand so the test VMM needs no
 * library; key order is fixed and zero histogram buckets are omitted, so
 * two runs with one seed differ only in "pid" and the benchmark's "ns".
 */
#include <errno.h>
#include <stdio.h>
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

static void put_truth(FILE *f, const struct opts *o, const struct vm *vm,
		      const struct truth *t)
{
	const char *sep;
	char eb[16];

	fprintf(f, "{\"pid\":%d,\"seed\":%llu,\"vm_type\":%llu,", (int)getpid(), (ull)o->seed,
		(ull)o->vm_type);
	fprintf(f, "\"gmem\":{\"size\":%llu,\"flags\":%llu,\"created\":%llu,\"created_bytes\":%llu},",
		(ull)vm->mem_size, (ull)vm->gmem_flags, (ull)vm->gmem_created, (ull)vm->gmem_created_bytes);
	fprintf(f, "\"requests\":{\"mailbox\":%llu,\"hypercall\":0,\"memory_fault\":%llu},",
		(ull)t->mailbox, (ull)t->memory_fault);
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
	fprintf(f, ",\"exit_loop\":{\"exits\":%llu,\"ns\":%llu}}\n", (ull)t->loop_exits,
		(ull)t->loop_ns);
}

/*
 * A file is written beside its name and renamed into place, so a test
 * that polls for it during --hold-ms never reads half an object.
 */
int report_write(const struct opts *o, const struct vm *vm, const struct truth *t)
{
	char tmp[4096];
	FILE *f;

	if (!o->json || !strcmp(o->json, "-")) {
		put_truth(stdout, o, vm, t);
		if (fflush(stdout)) {
			fprintf(stderr, "testvmm: writing JSON: %s\n", strerror(errno));
			return -1;
		}
		return 0;
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
	if (fclose(f) || rename(tmp, o->json)) {
		fprintf(stderr, "testvmm: writing %s: %s\n", o->json, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}
