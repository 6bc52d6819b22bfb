// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#include "recorder.h"
#include "vmtab.h"
#include "util.h"

/* Sync period: with the callers' 50 ms loops a chunk is never older than 1 s. */
#define SYNC_NS (PM_TRACE_FLUSH_NS - 100000000ull)
/* After a fault (disk full, directory gone, read-only), try a new file this often. */
#define RETRY_NS 1000000000ull

struct pm_rec {
	char *dir, *path;
	uint64_t max_bytes;
	unsigned max_files;
	struct pm_trace_info info;
	int hook_idx[PM_TRACE_MAX_HOOKS];	/* header hook i = caller's hooks[hook_idx[i]] */
	struct pm_trace_writer *w;
	char cur[PATH_MAX];
	uint32_t seq;
	uint64_t last_sync;
	uint64_t last_lost;
	bool lost_written;
	uint64_t last_hits[PM_TRACE_MAX_HOOKS];
	bool hits_written;
	struct pm_vmtab kcrc;		/* VM id -> CRC of the last kstats written */
	uint64_t bytes_closed, events;
	int err;
	/* what a fault would lose: the chunk being filled, the whole current file */
	uint64_t chunk_events, chunk_first_ts, file_events, file_first_ts;
	dev_t dev;
	ino_t ino;
	/* a fault: no writer until a retry opens a file, which then starts with a gap record */
	struct pm_trace_gap gap;
	bool faulted;
	uint64_t next_retry;
	uint64_t gaps, unrecorded;
};

static uint32_t *kcrc_get(struct pm_rec *r, uint64_t vm)
{
	bool added;
	uint32_t *crc = pm_vmtab_get(&r->kcrc, vm, &added);

	if (crc && added)
		*crc = crc32(0, Z_NULL, 0);	/* never written: equals nothing real */
	return crc;
}

static bool is_ours(const char *name)
{
	size_t n = strlen(name), p = strlen(PM_REC_PREFIX), s = strlen(PM_REC_SUFFIX);

	return n > p + s && !strncmp(name, PM_REC_PREFIX, p) && !strcmp(name + n - s, PM_REC_SUFFIX);
}

static int filter(const struct dirent *d)
{
	return is_ours(d->d_name);
}

/* Oldest first (names start with the UTC time): drop all but the newest max_files. */
static void prune(struct pm_rec *r)
{
	struct dirent **list;
	int n = scandir(r->dir, &list, filter, alphasort);
	char p[PATH_MAX];

	if (n < 0)
		return;
	for (int i = 0; i < n; i++) {
		if (i < n - (int)r->max_files) {
			snprintf(p, sizeof(p), "%s/%s", r->dir, list[i]->d_name);
			if (strcmp(p, r->cur))
				unlink(p);
		}
		free(list[i]);
	}
	free(list);
}

static dev_t st_dev_ino(int fd, ino_t *ino)
{
	struct stat sb;

	if (fstat(fd, &sb))
		return *ino = 0;
	*ino = sb.st_ino;
	return sb.st_dev;
}

/* The new file's name survives a crash too. */
static void sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

static void write_vm(struct pm_rec *r, const struct pm_vm *vm)
{
	pm_tw_vminfo(r->w, vm->id, vm->pid, vm->cgroup_id, vm->first_ns, vm->comm, vm->cgroup,
		     vm->name, vm->name_src);
}

static int open_file(struct pm_rec *r, const struct pm_state *st, char *msg, size_t len)
{
	struct pm_trace_info fresh;
	int fd, err;

	if (r->dir) {
		time_t now = time(NULL);
		struct tm tm;
		char stamp[32];

		gmtime_r(&now, &tm);
		strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
		for (;;) {
			r->seq++;
			snprintf(r->cur, sizeof(r->cur), "%s/" PM_REC_PREFIX "%s-%06u" PM_REC_SUFFIX, r->dir, stamp,
				 r->seq);
			fd = open(r->cur, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
			if (fd >= 0 || errno != EEXIST)
				break;
		}
	} else if (strcmp(r->path, "-") == 0) {
		snprintf(r->cur, sizeof(r->cur), "(stdout)");
		fd = dup(STDOUT_FILENO);
	} else {
		snprintf(r->cur, sizeof(r->cur), "%s", r->path);
		fd = open(r->cur, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	}
	if (fd < 0) {
		err = -errno;
		snprintf(msg, len, "%s: %s", r->cur, strerror(errno));
		return err;
	}
	r->info.seq = r->seq;
	pm_trace_info_local(&fresh, "");	/* fresh clocks per file */
	r->info.start_ns = fresh.start_ns;
	r->info.wall_offset_ns = fresh.wall_offset_ns;
	err = pm_tw_open(&r->w, fd, &r->info);
	if (err) {
		snprintf(msg, len, "%s: %s", r->cur, strerror(-err));
		close(fd);
		if (r->dir)
			unlink(r->cur);	/* a header cut short (ENOSPC) is not a trace */
		return err;
	}
	r->dev = st_dev_ino(fd, &r->ino);
	r->chunk_events = r->file_events = 0;
	r->file_first_ts = 0;
	if (r->dir)
		sync_dir(r->dir);
	if (r->dir)
		prune(r);
	/* a file must stand alone: who the live VMs are, then (next sync) their aggregates */
	pm_vmtab_clear(&r->kcrc);
	r->lost_written = r->hits_written = false;
	if (st) {
		struct pm_vms all = pm_state_vms(st);
		struct pm_vm *vm;

		pm_vms_each(&all, vm)
			if (!vm->destroyed)
				write_vm(r, vm);
		pm_vms_free(&all);
	}
	return 0;
}

int pm_rec_open(struct pm_rec **out, const struct pm_rec_opts *o, char *msg, size_t len)
{
	struct pm_rec *r = calloc(1, sizeof(*r));
	char writer[sizeof(r->info.writer)];
	int err;

	if (!r) {
		snprintf(msg, len, "out of memory");
		return -ENOMEM;
	}
	pm_vmtab_init(&r->kcrc, sizeof(uint32_t));
	r->dir = o->dir ? strdup(o->dir) : NULL;
	r->path = o->path ? strdup(o->path) : NULL;
	r->max_bytes = o->max_bytes ? o->max_bytes : PM_REC_DEFAULT_BYTES;
	r->max_files = o->max_files ? o->max_files : PM_REC_DEFAULT_FILES;
	snprintf(writer, sizeof(writer), "%s", o->writer ? o->writer : "privmem");
	pm_trace_info_local(&r->info, writer);
	r->info.policy = o->policy ? strdup(o->policy) : NULL;
	for (unsigned i = 0; i < o->nhooks && r->info.nhooks < PM_TRACE_MAX_HOOKS; i++) {
		struct pm_hook_status *h = &r->info.hooks[r->info.nhooks];

		if (!o->hooks[i].name)
			continue;
		*h = o->hooks[i];
		h->name = strdup(o->hooks[i].name);
		h->covers = strdup(o->hooks[i].covers ? o->hooks[i].covers : "");
		r->hook_idx[r->info.nhooks++] = (int)i;
	}
	if (r->dir && mkdir(r->dir, 0750) && errno != EEXIST) {
		err = -errno;
		snprintf(msg, len, "%s: %s", r->dir, strerror(errno));
		goto fail;
	}
	if (!r->dir && !r->path) {
		err = -EINVAL;
		snprintf(msg, len, "no trace file or directory");
		goto fail;
	}
	err = open_file(r, NULL, msg, len);
	if (err)
		goto fail;
	r->last_sync = pm_now_ns();
	*out = r;
	return 0;
fail:
	pm_trace_info_free(&r->info);
	free(r->dir);
	free(r->path);
	free(r);
	return err;
}

/* ---------------------------------------------------------------- faults */

static void gap_err(struct pm_trace_gap *g, int err)
{
	if (err < 0)
		err = -err;
	for (unsigned i = 0; i < g->nerrs; i++)
		if (g->errs[i] == err)
			return;
	if (g->nerrs < PM_TRACE_GAP_ERRS)
		g->errs[g->nerrs++] = err;
}

/*
 * Recording stops; the live books do not. What the file was to hold from
 * `from` on is lost (`lost` events of it): the gap record a later file starts
 * with says so, with every event that arrives until then.
 */
static int fault(struct pm_rec *r, int err, const char *what, uint64_t from, uint64_t lost, char *msg,
		 size_t len)
{
	uint64_t now = pm_now_ns();

	if (r->w) {
		r->bytes_closed += pm_tw_bytes(r->w);
		pm_tw_close(r->w);	/* its error is the one we report */
		r->w = NULL;
	}
	r->faulted = true;
	memset(&r->gap, 0, sizeof(r->gap));
	r->gap.from_ns = from && from < now ? from : now;
	r->gap.events = lost;
	gap_err(&r->gap, err);
	r->next_retry = now + RETRY_NS;
	r->err = err;
	snprintf(msg, len, "trace %s: %s%s: recording stopped (%llu events lost so far), live books go on; "
		 "retrying every %llu s", r->cur, what, strerror(-err), (unsigned long long)lost,
		 (unsigned long long)(RETRY_NS / 1000000000ull));
	return err;
}

/* A failed chunk write costs the events the chunk held. */
static int write_fault(struct pm_rec *r, int err, char *msg, size_t len)
{
	return fault(r, err, "", r->chunk_events ? r->chunk_first_ts : 0, r->chunk_events, msg, len);
}

/* The file was removed (or its directory): everything written to it is gone. */
static bool file_gone(const struct pm_rec *r)
{
	struct stat sb;

	if (!r->dir && (!r->path || !strcmp(r->path, "-")))
		return false;
	return stat(r->cur, &sb) || sb.st_ino != r->ino || sb.st_dev != r->dev;
}

/* Opens a new file after a fault; it starts with the gap. 1 on success (msg says so). */
static int retry(struct pm_rec *r, struct pm_state *st, uint64_t now, char *msg, size_t len)
{
	char why[256];
	int err;

	r->next_retry = now + RETRY_NS;
	if (r->dir && mkdir(r->dir, 0750) && errno != EEXIST)
		err = -errno;
	else
		err = open_file(r, st, why, sizeof(why));
	if (err) {
		unsigned n = r->gap.nerrs;

		gap_err(&r->gap, err);
		if (r->gap.nerrs == n)
			return 0;	/* said already */
		snprintf(msg, len, "trace: still not recording (%llu events lost so far): %s%s%s",
			 (unsigned long long)r->gap.events, r->dir && err != -EEXIST ? r->dir : "",
			 r->dir ? ": " : "", strerror(-err));
		return err;
	}
	r->gap.to_ns = now;
	pm_tw_gap(r->w, &r->gap);
	err = pm_tw_flush(r->w);
	if (err) {
		/* not on disk: the same gap goes on */
		pm_tw_close(r->w);
		r->w = NULL;
		if (r->dir)
			unlink(r->cur);
		gap_err(&r->gap, err);
		return 0;
	}
	r->gaps++;
	r->unrecorded += r->gap.events;
	r->faulted = false;
	r->err = 0;
	snprintf(msg, len, "trace: recording again to %s after %.3f s; %llu events in the gap were not recorded "
		 "(a gap record says so)", r->cur, (double)(now - r->gap.from_ns) / 1e9,
		 (unsigned long long)r->gap.events);
	return 1;
}

/* ---------------------------------------------------------------- records */

void pm_rec_event(struct pm_rec *r, const struct pm_event *e)
{
	uint64_t before;

	r->events++;
	if (!r->w) {
		r->gap.events++;
		return;
	}
	if (!r->chunk_events++)
		r->chunk_first_ts = e->ts;
	if (!r->file_events++)
		r->file_first_ts = e->ts;
	before = pm_tw_bytes(r->w);
	pm_tw_event(r->w, e);
	/* a full chunk may have been written from here; a failure is told at the next tick */
	if (!pm_tw_error(r->w) && pm_tw_bytes(r->w) != before)
		r->chunk_events = 0;
}

void pm_rec_vm_seen(struct pm_rec *r, const struct pm_vm *vm)
{
	if (r->w)
		write_vm(r, vm);
}

void pm_rec_policy(struct pm_rec *r, const char *text)
{
	free(r->info.policy);
	r->info.policy = text ? strdup(text) : NULL;
	if (r->w)
		pm_tw_policy(r->w, pm_now_ns(), text ? text : "");
}

static void put_kstats(struct pm_rec *r, const struct pm_vm *vm, uint64_t now, bool force)
{
	uint32_t crc = crc32(0, (const void *)&vm->k, sizeof(vm->k));
	uint32_t *k;
	static const struct pm_vm_kstats zero;

	if (!r->w)
		return;
	k = kcrc_get(r, vm->id);
	if (k && *k == crc && !force)
		return;
	if (!force && (!k || *k == crc32(0, Z_NULL, 0)) && !memcmp(&vm->k, &zero, sizeof(zero)))
		return;	/* nothing yet: replay starts from zeros too */
	pm_tw_kstats(r->w, vm->id, now, &vm->k);
	if (k)
		*k = crc;
}

void pm_rec_vm_kstats(struct pm_rec *r, const struct pm_vm *vm)
{
	put_kstats(r, vm, pm_now_ns(), true);
}

void pm_rec_vm_gone(struct pm_rec *r, const struct pm_vm *vm)
{
	if (!r->w)
		return;
	pm_tw_vm_gone(r->w, vm->id, vm->destroyed_ns);
	put_kstats(r, vm, pm_now_ns(), true);
}

static int sync_now(struct pm_rec *r, struct pm_state *st, const struct pm_rec_src *src, uint64_t now)
{
	struct pm_vms all;
	struct pm_vm *vm;

	if (!r->w)
		return 0;
	all = pm_state_vms(st);
	pm_vms_each(&all, vm) {
		if (!vm->destroyed && src && src->kstats)
			src->kstats(src->ctx, vm->id, &vm->k);
		put_kstats(r, vm, now, false);
	}
	pm_vms_free(&all);
	if (src && src->lost) {
		uint64_t lost = src->lost(src->ctx);

		if (lost != r->last_lost || (!r->lost_written && lost)) {
			pm_tw_lost(r->w, now, lost);
			r->last_lost = lost;
			r->lost_written = true;
		}
	}
	if (src && src->hooks && r->info.nhooks) {
		const struct pm_hook_status *h = src->hooks(src->ctx);
		uint64_t hits[PM_TRACE_MAX_HOOKS];
		bool changed = !r->hits_written;

		for (unsigned i = 0; i < r->info.nhooks; i++) {
			hits[i] = (unsigned)r->hook_idx[i] < src->nhooks ? h[r->hook_idx[i]].hits : 0;
			changed |= hits[i] != r->last_hits[i];
		}
		if (changed) {
			pm_tw_hook_hits(r->w, hits, r->info.nhooks);
			memcpy(r->last_hits, hits, sizeof(hits));
			r->hits_written = true;
		}
	}
	r->last_sync = now;
	return pm_tw_flush(r->w);
}

/* Rotation: the full file is made durable before the next one starts. */
static int rotate(struct pm_rec *r, struct pm_state *st, const struct pm_rec_src *src, uint64_t now, char *msg,
		  size_t len)
{
	int err = pm_tw_sync(r->w);
	char why[256];

	if (err)
		return write_fault(r, err, msg, len);
	r->bytes_closed += pm_tw_bytes(r->w);
	err = pm_tw_close(r->w);
	r->w = NULL;
	if (err)
		return fault(r, err, "close: ", 0, 0, msg, len);
	err = open_file(r, st, why, sizeof(why));
	if (err)
		return fault(r, err, "next file: ", 0, 0, msg, len);
	err = sync_now(r, st, src, now);
	return err ? write_fault(r, err, msg, len) : 0;
}

int pm_rec_tick(struct pm_rec *r, struct pm_state *st, const struct pm_rec_src *src, char *msg, size_t len)
{
	uint64_t now = pm_now_ns();
	int err;

	if (r->faulted) {
		if (now < r->next_retry)
			return 0;
		err = retry(r, st, now, msg, len);
		if (err <= 0)
			return err;
		err = sync_now(r, st, src, now);
		return err ? write_fault(r, err, msg, len) : 1;
	}
	if (r->w && pm_tw_error(r->w))
		return write_fault(r, pm_tw_error(r->w), msg, len);	/* a full chunk failed */
	if (now - r->last_sync < SYNC_NS)
		return 0;
	if (file_gone(r))
		return fault(r, -ENOENT, "file removed: ", r->file_first_ts, r->file_events, msg, len);
	err = sync_now(r, st, src, now);
	if (err)
		return write_fault(r, err, msg, len);
	r->chunk_events = 0;
	if (r->dir && pm_tw_bytes(r->w) >= r->max_bytes)
		return rotate(r, st, src, now, msg, len);
	return 0;
}

int pm_rec_close(struct pm_rec *r, struct pm_state *st, const struct pm_rec_src *src)
{
	int err = 0, e2;
	char msg[512];

	if (!r)
		return 0;
	if (r->faulted && retry(r, st, pm_now_ns(), msg, sizeof(msg)) <= 0)
		err = r->err ? r->err : -EIO;	/* the gap has nowhere to go */
	if (r->w) {
		err = sync_now(r, st, src, pm_now_ns());
		e2 = pm_tw_close(r->w);
		err = err ? err : e2;
	}
	pm_trace_info_free(&r->info);
	pm_vmtab_free(&r->kcrc);
	free(r->dir);
	free(r->path);
	free(r);
	return err;
}

uint64_t pm_rec_gaps(const struct pm_rec *r)
{
	return r->gaps;
}

uint64_t pm_rec_unrecorded(const struct pm_rec *r)
{
	return r->unrecorded + (r->faulted ? r->gap.events : 0);
}

bool pm_rec_recording(const struct pm_rec *r)
{
	return r->w != NULL;
}

const char *pm_rec_path(const struct pm_rec *r)
{
	return r->cur;
}

uint64_t pm_rec_bytes(const struct pm_rec *r)
{
	return r->bytes_closed + (r->w ? pm_tw_bytes(r->w) : 0);
}

uint64_t pm_rec_events(const struct pm_rec *r)
{
	return r->events;
}
