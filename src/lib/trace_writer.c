// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Trace writer (privmem-trace(5)): records gather in a chunk that is
 * compressed and written with one write(2) once it is full or a second
 * old, so a crash leaves whole chunks (or a short last one) and loses at
 * most the second being gathered.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#include "trace_codec.h"
#include "util.h"

#ifndef PRIVMEM_VERSION
#define PRIVMEM_VERSION "unknown"
#endif

#define ZLEVEL		6

void pm_trace_info_local(struct pm_trace_info *info, const char *writer)
{
	struct utsname u;
	struct timespec rt, mono;

	memset(info, 0, sizeof(*info));
	info->major = PM_TRACE_MAJOR;
	info->minor = PM_TRACE_MINOR;
	if (gethostname(info->host, sizeof(info->host) - 1))
		snprintf(info->host, sizeof(info->host), "unknown");
	if (uname(&u) == 0)
		snprintf(info->kernel, sizeof(info->kernel), "%s", u.release);
	snprintf(info->version, sizeof(info->version), "%s", PRIVMEM_VERSION);
	snprintf(info->writer, sizeof(info->writer), "%s", writer);
	clock_gettime(CLOCK_REALTIME, &rt);
	clock_gettime(CLOCK_MONOTONIC, &mono);
	info->start_ns = (uint64_t)mono.tv_sec * 1000000000ull + mono.tv_nsec;
	info->wall_offset_ns = ((int64_t)rt.tv_sec * 1000000000ll + rt.tv_nsec) - (int64_t)info->start_ns;
}

struct pm_trace_writer {
	int fd;
	int err;
	uint8_t *raw;
	size_t rawlen, rawcap;
	uint8_t *out;		/* chunk header + compressed payload */
	size_t outcap;
	uint32_t nrec;
	uint64_t min_ts, max_ts;
	uint64_t chunk_born_ns;	/* CLOCK_MONOTONIC at the chunk's first record */
	struct pm_codec c;
	uint64_t bytes, records, events;
};

static int write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void tlv(uint8_t **p, uint16_t tag, const void *v, uint32_t len)
{
	put_le(*p, tag, 2);
	put_le(*p + 2, len, 4);
	memcpy(*p + 6, v, len);
	*p += 6 + len;
}

static void tlv_str(uint8_t **p, uint16_t tag, const char *s)
{
	tlv(p, tag, s ? s : "", s ? (uint32_t)strlen(s) : 0);
}

static int write_header(int fd, const struct pm_trace_info *info, uint64_t *bytes)
{
	size_t cap = 4096 + (info->policy ? strlen(info->policy) : 0);
	uint8_t *buf, *p, num[8];
	uint32_t crc;
	int err;

	for (unsigned i = 0; i < info->nhooks; i++)
		cap += 16 + strlen(info->hooks[i].name ? info->hooks[i].name : "") +
		       strlen(info->hooks[i].covers ? info->hooks[i].covers : "") + strlen(info->hooks[i].reason);
	buf = calloc(1, cap);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, PM_TRACE_MAGIC, 8);
	put_le(buf + 8, PM_TRACE_MAJOR, 2);
	put_le(buf + 10, PM_TRACE_MINOR, 2);
	p = buf + PM_TRACE_HDR_FIXED;
	tlv_str(&p, PM_TT_HOST, info->host);
	tlv_str(&p, PM_TT_KERNEL, info->kernel);
	tlv_str(&p, PM_TT_VERSION, info->version);
	tlv_str(&p, PM_TT_WRITER, info->writer);
	put_le(num, (uint64_t)info->wall_offset_ns, 8);
	tlv(&p, PM_TT_WALL_OFFSET, num, 8);
	put_le(num, info->start_ns, 8);
	tlv(&p, PM_TT_START, num, 8);
	put_le(num, info->seq, 4);
	tlv(&p, PM_TT_SEQ, num, 4);
	tlv_str(&p, PM_TT_POLICY, info->policy);
	for (unsigned i = 0; i < info->nhooks; i++) {
		const struct pm_hook_status *h = &info->hooks[i];
		uint8_t *v = p + 6, *q = v;
		size_t n;

		*q++ = (uint8_t)h->state;
		*q++ = h->taxes_all;
		n = strlen(h->name ? h->name : "") + 1;
		memcpy(q, h->name ? h->name : "", n);
		q += n;
		n = strlen(h->covers ? h->covers : "") + 1;
		memcpy(q, h->covers ? h->covers : "", n);
		q += n;
		n = strnlen(h->reason, sizeof(h->reason) - 1);
		memcpy(q, h->reason, n);
		q += n;
		put_le(p, PM_TT_HOOK, 2);
		put_le(p + 2, (uint32_t)(q - v), 4);
		p = q;
	}
	put_le(buf + 12, (uint32_t)(p - buf - PM_TRACE_HDR_FIXED), 4);
	crc = crc32(0, buf, 16);
	crc = crc32(crc, buf + PM_TRACE_HDR_FIXED, (uInt)(p - buf - PM_TRACE_HDR_FIXED));
	put_le(buf + 16, crc, 4);
	err = write_all(fd, buf, (size_t)(p - buf));
	if (!err)
		*bytes += (uint64_t)(p - buf);
	free(buf);
	return err;
}

int pm_tw_open(struct pm_trace_writer **out, int fd, const struct pm_trace_info *info)
{
	struct pm_trace_writer *w = calloc(1, sizeof(*w));
	int err;

	if (!w)
		return -ENOMEM;
	w->fd = fd;
	/* room for the largest record (kstats, ~1.5 KiB) past the flush threshold */
	w->rawcap = PM_TRACE_CHUNK_RAW + PM_TRACE_POLICY_MAX + 8192;
	w->raw = malloc(w->rawcap);
	w->outcap = PM_TRACE_CHUNK_HDR + compressBound(w->rawcap);
	w->out = malloc(w->outcap);
	pm_codec_init(&w->c);
	if (!w->raw || !w->out) {
		err = -ENOMEM;
		goto fail;
	}
	err = write_header(fd, info, &w->bytes);
	if (err)
		goto fail;
	*out = w;
	return 0;
fail:
	free(w->raw);
	free(w->out);
	free(w);
	return err;
}

/* Appends one framed record; flushes first when the chunk is full. */
static void append(struct pm_trace_writer *w, unsigned type, const uint8_t *body, size_t len, bool has_ts,
		   uint64_t ts)
{
	uint8_t *p;

	if (w->rawlen + len + 16 > w->rawcap)
		return;	/* cannot happen: records are < MAX_REC and we flush below */
	if (!w->nrec) {
		w->chunk_born_ns = pm_now_ns();
		w->min_ts = UINT64_MAX;
		w->max_ts = 0;
	}
	if (has_ts) {
		if (ts < w->min_ts)
			w->min_ts = ts;
		if (ts > w->max_ts)
			w->max_ts = ts;
	}
	p = w->raw + w->rawlen;
	p += pm_varint_put(p, type);
	p += pm_varint_put(p, len);
	memcpy(p, body, len);
	w->rawlen = (size_t)(p + len - w->raw);
	w->nrec++;
	w->records++;
	if (w->rawlen >= PM_TRACE_CHUNK_RAW)
		pm_tw_flush(w);
}

static void norm_comm(struct pm_event *e)
{
	size_t n = strnlen(e->comm, PM_COMM_LEN);

	memset(e->comm + n, 0, PM_COMM_LEN - n);
}

void pm_tw_event(struct pm_trace_writer *w, const struct pm_event *in)
{
	struct pm_event e = *in;
	uint8_t body[MAX_REC];
	size_t len;
	int type;

	/* what follows a comm's NUL is noise: it would defeat the delta against the last comm */
	norm_comm(&e);
	w->events++;
	type = pm_codec_put_event(&w->c, &e, body, &len);
	if (type < 0) {
		if (!w->err)
			w->err = type;
		return;
	}
	append(w, (unsigned)type, body, len, true, e.ts);
}

void pm_tw_kstats(struct pm_trace_writer *w, uint64_t vm, uint64_t ts, const struct pm_vm_kstats *k)
{
	uint64_t v[sizeof(*k) / 8];
	uint8_t body[sizeof(v) * 2 + 32], *b = body;
	unsigned next = 0;

	memcpy(v, k, sizeof(v));
	put_le(b, vm, 8);
	b += 8;
	b += pm_varint_put(b, ts);
	for (unsigned i = 0; i < sizeof(v) / 8; i++) {
		if (!v[i])
			continue;
		b += pm_varint_put(b, i - next);
		b += pm_varint_put(b, v[i]);
		next = i + 1;
	}
	append(w, PM_TR_KSTATS, body, (size_t)(b - body), true, ts);
}

void pm_tw_lost(struct pm_trace_writer *w, uint64_t ts, uint64_t lost)
{
	uint8_t body[32], *b = body;

	b += pm_varint_put(b, ts);
	b += pm_varint_put(b, lost);
	append(w, PM_TR_LOST, body, (size_t)(b - body), true, ts);
}

void pm_tw_vminfo(struct pm_trace_writer *w, uint64_t vm, uint32_t pid, uint64_t cgroup_id,
		  uint64_t first_ns, const char *comm, const char *cgroup, const char *name, unsigned name_src)
{
	uint8_t body[8 + 40 + 1 + PM_COMM_LEN + 2 + 256 + 2 + PM_TRACE_NAME_LEN + 1], *b = body;
	size_t n = strnlen(comm, PM_COMM_LEN), m = strnlen(cgroup, 255);
	size_t k = strnlen(name, PM_TRACE_NAME_LEN - 1);

	put_le(b, vm, 8);
	b += 8;
	b += pm_varint_put(b, pid);
	b += pm_varint_put(b, cgroup_id);
	b += pm_varint_put(b, first_ns);
	*b++ = (uint8_t)n;
	memcpy(b, comm, n);
	b += n;
	b += pm_varint_put(b, m);
	memcpy(b, cgroup, m);
	b += m;
	/* version 1.2: the name and where it came from (older readers stop at the cgroup) */
	b += pm_varint_put(b, k);
	memcpy(b, name, k);
	b += k;
	*b++ = (uint8_t)name_src;
	append(w, PM_TR_VMINFO, body, (size_t)(b - body), false, 0);
}

void pm_tw_vm_gone(struct pm_trace_writer *w, uint64_t vm, uint64_t ts)
{
	uint8_t body[24], *b = body;

	put_le(b, vm, 8);
	b += 8;
	b += pm_varint_put(b, ts);
	append(w, PM_TR_VM_GONE, body, (size_t)(b - body), true, ts);
}

void pm_tw_hook_hits(struct pm_trace_writer *w, const uint64_t *hits, unsigned n)
{
	uint8_t body[10 * (PM_TRACE_MAX_HOOKS + 1)], *b = body;

	if (n > PM_TRACE_MAX_HOOKS)
		n = PM_TRACE_MAX_HOOKS;
	b += pm_varint_put(b, n);
	for (unsigned i = 0; i < n; i++)
		b += pm_varint_put(b, hits[i]);
	append(w, PM_TR_HOOK_HITS, body, (size_t)(b - body), false, 0);
}

void pm_tw_policy(struct pm_trace_writer *w, uint64_t ts, const char *text)
{
	size_t n = text ? strnlen(text, PM_TRACE_POLICY_MAX) : 0;
	uint8_t *body = malloc(n + 10);
	size_t h;

	if (!body) {
		if (!w->err)
			w->err = -ENOMEM;
		return;
	}
	h = pm_varint_put(body, ts);
	if (n)
		memcpy(body + h, text, n);
	/* a large text gets a chunk to itself rather than overrunning one */
	if (w->rawlen + h + n + 16 > w->rawcap)
		pm_tw_flush(w);
	append(w, PM_TR_POLICY, body, h + n, true, ts);
	free(body);
}

void pm_tw_gap(struct pm_trace_writer *w, const struct pm_trace_gap *g)
{
	uint8_t body[10 * (4 + PM_TRACE_GAP_ERRS)], *b = body;
	unsigned n = g->nerrs < PM_TRACE_GAP_ERRS ? g->nerrs : PM_TRACE_GAP_ERRS;

	b += pm_varint_put(b, g->from_ns);
	b += pm_varint_put(b, g->to_ns);
	b += pm_varint_put(b, g->events);
	b += pm_varint_put(b, n);
	for (unsigned i = 0; i < n; i++)
		b += pm_varint_put(b, (uint64_t)(g->errs[i] < 0 ? -g->errs[i] : g->errs[i]));
	append(w, PM_TR_GAP, body, (size_t)(b - body), true, g->to_ns);
}

int pm_tw_error(const struct pm_trace_writer *w)
{
	return w->err;
}

int pm_tw_sync(struct pm_trace_writer *w)
{
	int err = pm_tw_flush(w);

	if (!err && fsync(w->fd) && errno != EINVAL && errno != EROFS)
		err = -errno;	/* EINVAL: a pipe or terminal, nothing to sync */
	if (err && !w->err)
		w->err = err;
	return err;
}

int pm_tw_flush(struct pm_trace_writer *w)
{
	uLongf clen;
	uint8_t *h = w->out;
	uint32_t crc;
	int err;

	if (!w->nrec)
		return w->err;
	clen = (uLongf)(w->outcap - PM_TRACE_CHUNK_HDR);
	if (compress2(w->out + PM_TRACE_CHUNK_HDR, &clen, w->raw, (uLong)w->rawlen, ZLEVEL) != Z_OK) {
		err = -ENOMEM;
		goto out;
	}
	if (w->min_ts > w->max_ts)
		w->min_ts = w->max_ts = 0;
	put_le(h + 0, PM_TRACE_CHUNK_MAGIC, 4);
	put_le(h + 4, clen, 4);
	put_le(h + 8, w->rawlen, 4);
	put_le(h + 12, w->nrec, 4);
	put_le(h + 16, w->min_ts, 8);
	put_le(h + 24, w->max_ts, 8);
	crc = crc32(0, h, 32);
	crc = crc32(crc, h + PM_TRACE_CHUNK_HDR, (uInt)clen);
	put_le(h + 32, crc, 4);
	/* one write: a crash leaves whole chunks, or a short last one */
	err = write_all(w->fd, h, PM_TRACE_CHUNK_HDR + clen);
	if (!err)
		w->bytes += PM_TRACE_CHUNK_HDR + clen;
	else if (ftruncate(w->fd, (off_t)w->bytes) == 0)
		lseek(w->fd, (off_t)w->bytes, SEEK_SET);	/* a short write (ENOSPC) leaves no torn chunk */
out:
	if (err && !w->err)
		w->err = err;
	w->rawlen = 0;
	w->nrec = 0;
	pm_codec_reset(&w->c);
	return err;
}

int pm_tw_tick(struct pm_trace_writer *w, uint64_t now_ns)
{
	if (w->nrec && now_ns - w->chunk_born_ns >= PM_TRACE_FLUSH_NS)
		return pm_tw_flush(w);
	return 0;
}

uint64_t pm_tw_bytes(const struct pm_trace_writer *w)
{
	return w->bytes;
}

uint64_t pm_tw_records(const struct pm_trace_writer *w)
{
	return w->records;
}

uint64_t pm_tw_events(const struct pm_trace_writer *w)
{
	return w->events;
}

int pm_tw_close(struct pm_trace_writer *w)
{
	int err;

	if (!w)
		return 0;
	pm_tw_flush(w);
	err = w->err;
	if (close(w->fd) && !err)
		err = -errno;
	free(w->raw);
	free(w->out);
	pm_codec_free(&w->c);
	free(w);
	return err;
}
