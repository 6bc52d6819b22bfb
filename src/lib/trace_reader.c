// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Trace reader (privmem-trace(5)). Every chunk is checked (magic, lengths,
 * CRC) before it is decoded; a bad one is skipped, named by its offset,
 * and reading goes on at the next valid chunk header, so one flipped byte
 * costs one chunk.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include "crcrange.h"
#include "trace_codec.h"

void pm_trace_info_free(struct pm_trace_info *info)
{
	free(info->policy);
	info->policy = NULL;
	for (unsigned i = 0; i < info->nhooks; i++) {
		free((char *)info->hooks[i].name);
		free((char *)info->hooks[i].covers);
	}
	info->nhooks = 0;
}

/* ---------------------------------------------------------------- reader */

struct pm_trace {
	const uint8_t *base;
	size_t size;
	bool mapped;
	size_t data_off;
	struct pm_trace_info info;
	struct pm_codec c;
	uint8_t *raw;
	size_t rawcap;
	z_stream zs;			/* raw inflate, reused: the chunk CRC checks the data */
	bool zs_ready;
	uint8_t unknown_seen[32];	/* record types already warned about */
	struct pm_crcrange crc;		/* bounded-time chunk CRCs while resyncing */
};

struct chunk_hdr {
	uint32_t comp_len, raw_len, nrec;
	uint64_t min_ts, max_ts;
};

enum { CH_OK, CH_TRUNC, CH_MAGIC, CH_LEN, CH_CRC };

static const char *const ch_why[] = {
	[CH_MAGIC] = "no chunk magic", [CH_LEN] = "length out of range", [CH_CRC] = "CRC mismatch",
};

static int chunk_at(struct pm_trace *t, size_t off, struct chunk_hdr *h)
{
	const uint8_t *p = t->base + off;
	size_t left = t->size - off;
	uint32_t crc;

	if (left < 4)
		return memcmp(p, "PMCK", left) ? CH_MAGIC : CH_TRUNC;
	if (get_le(p, 4) != PM_TRACE_CHUNK_MAGIC)
		return CH_MAGIC;
	if (left < PM_TRACE_CHUNK_HDR)
		return CH_TRUNC;
	h->comp_len = (uint32_t)get_le(p + 4, 4);
	h->raw_len = (uint32_t)get_le(p + 8, 4);
	h->nrec = (uint32_t)get_le(p + 12, 4);
	h->min_ts = get_le(p + 16, 8);
	h->max_ts = get_le(p + 24, 8);
	if (h->raw_len > PM_TRACE_RAW_LIMIT || h->comp_len > compressBound(PM_TRACE_RAW_LIMIT) ||
	    h->nrec > h->raw_len)
		return CH_LEN;
	if (h->comp_len > left - PM_TRACE_CHUNK_HDR)
		return CH_TRUNC;
	crc = crc32(0, p, 32);
	crc = pm_crcrange(&t->crc, crc, off + PM_TRACE_CHUNK_HDR, off + PM_TRACE_CHUNK_HDR + h->comp_len);
	if (crc != get_le(p + 32, 4))
		return CH_CRC;
	return CH_OK;
}

/* The next offset after a bad spot where a whole, valid chunk starts, else EOF. */
static size_t resync(struct pm_trace *t, size_t off)
{
	struct chunk_hdr h;

	while (off < t->size) {
		const uint8_t *m = memmem(t->base + off, t->size - off, "PMCK", 4);

		if (!m)
			return t->size;
		off = (size_t)(m - t->base);
		if (chunk_at(t, off, &h) == CH_OK)
			return off;
		off++;
	}
	return t->size;
}

static void warnf(const struct pm_trace_ops *ops, void *ctx, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void warnf(const struct pm_trace_ops *ops, void *ctx, const char *fmt, ...)
{
	char buf[256];
	va_list ap;

	if (!ops || !ops->warn)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	ops->warn(ctx, buf);
}

static int parse_header(struct pm_trace *t, char *msg, size_t len)
{
	const uint8_t *p = t->base, *q, *end;
	uint32_t blen, crc;
	struct pm_trace_info *in = &t->info;

	if (t->size == 0) {
		snprintf(msg, len, "empty file: no trace header");
		return -ENODATA;
	}
	if (t->size < 8 ? memcmp(p, PM_TRACE_MAGIC, t->size) != 0 : memcmp(p, PM_TRACE_MAGIC, 8) != 0) {
		snprintf(msg, len, "not a privmem trace (bad magic at offset 0)");
		return -EINVAL;
	}
	if (t->size < PM_TRACE_HDR_FIXED) {
		snprintf(msg, len, "truncated header (%zu bytes)", t->size);
		return -EINVAL;
	}
	in->major = (uint16_t)get_le(p + 8, 2);
	in->minor = (uint16_t)get_le(p + 10, 2);
	if (in->major != PM_TRACE_MAJOR) {
		snprintf(msg, len, "trace format version %u.%u is not supported: this privmem reads version %u.x",
			 in->major, in->minor, PM_TRACE_MAJOR);
		return -EPROTONOSUPPORT;
	}
	blen = (uint32_t)get_le(p + 12, 4);
	if (blen > t->size - PM_TRACE_HDR_FIXED) {
		snprintf(msg, len, "truncated header (%u bytes announced, %zu in the file)", blen,
			 t->size - PM_TRACE_HDR_FIXED);
		return -EINVAL;
	}
	crc = crc32(0, p, 16);
	crc = crc32(crc, p + PM_TRACE_HDR_FIXED, blen);
	if (crc != get_le(p + 16, 4)) {
		snprintf(msg, len, "corrupt header (CRC mismatch)");
		return -EINVAL;
	}
	q = p + PM_TRACE_HDR_FIXED;
	end = q + blen;
	while (end - q >= 6) {
		uint16_t tag = (uint16_t)get_le(q, 2);
		uint32_t n = (uint32_t)get_le(q + 2, 4);
		const uint8_t *v = q + 6;

		if (n > (size_t)(end - v)) {
			snprintf(msg, len, "corrupt header (field %u overruns it)", tag);
			return -EINVAL;
		}
		switch (tag) {
		case PM_TT_HOST:
			snprintf(in->host, sizeof(in->host), "%.*s", (int)n, v);
			break;
		case PM_TT_KERNEL:
			snprintf(in->kernel, sizeof(in->kernel), "%.*s", (int)n, v);
			break;
		case PM_TT_VERSION:
			snprintf(in->version, sizeof(in->version), "%.*s", (int)n, v);
			break;
		case PM_TT_WRITER:
			snprintf(in->writer, sizeof(in->writer), "%.*s", (int)n, v);
			break;
		case PM_TT_WALL_OFFSET:
			if (n == 8)
				in->wall_offset_ns = (int64_t)get_le(v, 8);
			break;
		case PM_TT_START:
			if (n == 8)
				in->start_ns = get_le(v, 8);
			break;
		case PM_TT_SEQ:
			if (n == 4)
				in->seq = (uint32_t)get_le(v, 4);
			break;
		case PM_TT_POLICY:
			free(in->policy);
			in->policy = strndup((const char *)v, n);
			break;
		case PM_TT_HOOK:
			if (n >= 2 && in->nhooks < PM_TRACE_MAX_HOOKS) {
				struct pm_hook_status *h = &in->hooks[in->nhooks];
				const char *s = (const char *)v + 2, *e = (const char *)v + n;
				size_t l1 = strnlen(s, (size_t)(e - s)), l2;

				h->state = v[0] <= PM_HOOK_LIVE ? (enum pm_hook_state)v[0] : PM_HOOK_UNAVAILABLE;
				h->taxes_all = v[1] != 0;
				h->name = strndup(s, l1);
				s += l1 < (size_t)(e - s) ? l1 + 1 : l1;
				l2 = strnlen(s, (size_t)(e - s));
				h->covers = strndup(s, l2);
				s += l2 < (size_t)(e - s) ? l2 + 1 : l2;
				snprintf(h->reason, sizeof(h->reason), "%.*s", (int)(e - s), s);
				in->nhooks++;
			}
			break;
		default:
			break;	/* a newer writer's field */
		}
		q = v + n;
	}
	t->data_off = PM_TRACE_HDR_FIXED + blen;
	return 0;
}

int pm_trace_open_mem(struct pm_trace **out, const void *buf, size_t size, char *msg, size_t len)
{
	struct pm_trace *t = calloc(1, sizeof(*t));
	int err;

	if (!t) {
		snprintf(msg, len, "out of memory");
		return -ENOMEM;
	}
	pm_codec_init(&t->c);
	t->base = buf;
	t->size = size;
	pm_crcrange_init(&t->crc, buf, size);
	err = parse_header(t, msg, len);
	if (err) {
		pm_trace_close(t);
		return err;
	}
	*out = t;
	return 0;
}

int pm_trace_open(struct pm_trace **out, const char *path, char *msg, size_t len)
{
	struct stat st;
	void *m = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC), err;

	if (fd < 0) {
		err = -errno;
		snprintf(msg, len, "%s", strerror(errno));
		return err;
	}
	if (fstat(fd, &st)) {
		err = -errno;
		snprintf(msg, len, "%s", strerror(errno));
		close(fd);
		return err;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(msg, len, "not a regular file");
		close(fd);
		return -EINVAL;
	}
	if (st.st_size > 0) {
		m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (m == MAP_FAILED) {
			err = -errno;
			snprintf(msg, len, "mmap: %s", strerror(errno));
			close(fd);
			return err;
		}
		madvise(m, (size_t)st.st_size, MADV_SEQUENTIAL);
	}
	close(fd);
	err = pm_trace_open_mem(out, m ? m : "", (size_t)st.st_size, msg, len);
	if (err) {
		if (m)
			munmap(m, (size_t)st.st_size);
		return err;
	}
	(*out)->mapped = m != NULL;
	return 0;
}

const struct pm_trace_info *pm_trace_get_info(const struct pm_trace *t)
{
	return &t->info;
}

void pm_trace_close(struct pm_trace *t)
{
	if (!t)
		return;
	if (t->mapped)
		munmap((void *)t->base, t->size);
	pm_trace_info_free(&t->info);
	if (t->zs_ready)
		inflateEnd(&t->zs);
	free(t->raw);
	pm_codec_free(&t->c);
	pm_crcrange_free(&t->crc);
	free(t);
}

/*
 * A zlib stream (RFC 1950) is a 2-byte header, deflate data and an Adler-32
 * that the chunk's CRC-32 makes redundant: inflate the deflate data raw.
 */
static bool inflate_chunk(struct pm_trace *t, const uint8_t *in, uint32_t len, uint8_t *out, uint32_t want)
{
	int r;

	if (len < 2 || (in[0] & 0x0f) != Z_DEFLATED || (in[1] & 0x20) || ((in[0] << 8) | in[1]) % 31)
		return false;
	if (!t->zs_ready) {
		memset(&t->zs, 0, sizeof(t->zs));
		if (inflateInit2(&t->zs, -15) != Z_OK)
			return false;
		t->zs_ready = true;
	} else if (inflateReset(&t->zs) != Z_OK) {
		return false;
	}
	t->zs.next_in = (Bytef *)in + 2;
	t->zs.avail_in = len - 2;
	t->zs.next_out = out;
	t->zs.avail_out = want;
	r = inflate(&t->zs, Z_FINISH);
	return r == Z_STREAM_END && t->zs.total_out == want;
}

static int decode_other(struct pm_trace *t, unsigned type, struct cur *cu, const struct pm_trace_ops *ops,
			void *ctx)
{
	switch (type) {
	case PM_TR_KSTATS: {
		struct pm_vm_kstats k;
		uint64_t v[sizeof(k) / 8] = { 0 }, vm = cur_le(cu, 8), ts = cur_var(cu), i = 0;

		while (cu->p < cu->end && !cu->bad) {
			uint64_t gap = cur_var(cu), val = cur_var(cu);

			if (gap > sizeof(v) / 8 || i + gap >= sizeof(v) / 8) {
				i = sizeof(v) / 8;	/* a newer, larger struct: keep what we know */
				continue;
			}
			i += gap;
			v[i++] = val;
		}
		if (cu->bad)
			return -EINVAL;
		memcpy(&k, v, sizeof(k));
		if (ops->kstats)
			ops->kstats(ctx, vm, ts, &k);
		return 0;
	}
	case PM_TR_LOST: {
		uint64_t ts = cur_var(cu), n = cur_var(cu);

		if (cu->bad)
			return -EINVAL;
		if (ops->lost)
			ops->lost(ctx, ts, n);
		return 0;
	}
	case PM_TR_VMINFO: {
		struct pm_trace_vminfo vi;
		uint64_t n;

		memset(&vi, 0, sizeof(vi));
		vi.vm = cur_le(cu, 8);
		vi.pid = (uint32_t)cur_var(cu);
		vi.cgroup_id = cur_var(cu);
		vi.first_ns = cur_var(cu);
		n = cur_le(cu, 1);
		cur_bytes(cu, vi.comm, n, PM_COMM_LEN - 1);
		n = cur_var(cu);
		cur_bytes(cu, vi.cgroup, n, sizeof(vi.cgroup) - 1);
		if (cu->p < cu->end) {	/* 1.2 and later; later fields are skipped */
			n = cur_var(cu);
			cur_bytes(cu, vi.name, n, sizeof(vi.name) - 1);
			vi.name_src = (uint8_t)cur_le(cu, 1);
		}
		if (cu->bad)
			return -EINVAL;
		if (ops->vminfo)
			ops->vminfo(ctx, &vi);
		return 0;
	}
	case PM_TR_VM_GONE: {
		uint64_t vm = cur_le(cu, 8), ts = cur_var(cu);

		if (cu->bad)
			return -EINVAL;
		if (ops->vm_gone)
			ops->vm_gone(ctx, vm, ts);
		return 0;
	}
	case PM_TR_HOOK_HITS: {
		uint64_t hits[PM_TRACE_MAX_HOOKS] = { 0 }, n = cur_var(cu);

		for (uint64_t i = 0; i < n && !cu->bad; i++) {
			uint64_t v = cur_var(cu);

			if (i < PM_TRACE_MAX_HOOKS)
				hits[i] = v;
		}
		if (cu->bad)
			return -EINVAL;
		if (ops->hook_hits)
			ops->hook_hits(ctx, hits, n < PM_TRACE_MAX_HOOKS ? (unsigned)n : PM_TRACE_MAX_HOOKS);
		return 0;
	}
	case PM_TR_GAP: {
		struct pm_trace_gap g = { .from_ns = cur_var(cu), .to_ns = cur_var(cu), .events = cur_var(cu) };
		uint64_t n = cur_var(cu);

		for (uint64_t i = 0; i < n && !cu->bad; i++) {
			uint64_t e = cur_var(cu);

			if (g.nerrs < PM_TRACE_GAP_ERRS)
				g.errs[g.nerrs++] = e < 4096 ? (int)e : 0;
		}
		if (cu->bad)
			return -EINVAL;
		if (ops->gap)
			ops->gap(ctx, &g);
		return 0;
	}
	case PM_TR_POLICY: {
		uint64_t ts = cur_var(cu);

		if (cu->bad)
			return -EINVAL;
		if (ops->policy)
			ops->policy(ctx, ts, (const char *)cu->p, (size_t)(cu->end - cu->p));
		return 0;
	}
	default:
		(void)t;
		return 1;	/* unknown */
	}
}

/* 0, or -EINVAL at the first undecodable record (rest of the chunk dropped). */
static int decode_chunk(struct pm_trace *t, size_t chunk_off, const uint8_t *p, const uint8_t *end,
			const struct pm_trace_ops *ops, void *ctx, struct pm_trace_stats *st)
{
	const uint8_t *start = p;
	struct pm_event e;

	pm_codec_reset(&t->c);
	while (p < end) {
		uint64_t type, len;
		size_t n = pm_varint_get(p, end, &type), m;
		struct cur cu;
		int r;

		if (!n)
			goto bad;
		m = pm_varint_get(p + n, end, &len);
		if (!m || len > (uint64_t)(end - p - n - m))
			goto bad;
		cu.p = p + n + m;
		cu.end = cu.p + len;
		cu.bad = false;
		st->records++;
		if (type >= 1 && type < NTYPES) {
			const struct pm_event *pe;

			if (pm_codec_get_event(&t->c, (unsigned)type, &cu, &pe))
				goto bad;
			st->events++;
			if (ops->event)
				ops->event(ctx, pe);
		} else if (type == PM_TR_RAW_EVENT) {
			if (len < PM_TR_RAW_LEN)
				goto bad;
			pm_codec_get_raw(cu.p, &e);
			st->events++;
			if (ops->event)
				ops->event(ctx, &e);
		} else {
			r = decode_other(t, (unsigned)type, &cu, ops, ctx);
			if (r < 0)
				goto bad;
			if (r > 0) {
				st->unknown_records++;
				if (type < 256 && !(t->unknown_seen[type / 8] & (1u << (type % 8)))) {
					t->unknown_seen[type / 8] |= (uint8_t)(1u << (type % 8));
					warnf(ops, ctx, "offset %zu: record type %llu unknown to this reader, skipped "
					      "(written by a newer privmem?)", chunk_off, (unsigned long long)type);
				}
			}
		}
		p = cu.end;
	}
	return 0;
bad:
	warnf(ops, ctx, "offset %zu: chunk has an undecodable record at byte %zu of %zu; rest of the chunk skipped",
	      chunk_off, (size_t)(p - start), (size_t)(end - start));
	return -EINVAL;
}

int pm_trace_read(struct pm_trace *t, const struct pm_trace_ops *ops, void *ctx, struct pm_trace_stats *st)
{
	struct pm_trace_stats dummy;
	size_t off = t->data_off;
	int skipped = 0;

	if (!st)
		st = &dummy;
	st->file_bytes += t->size;
	while (off < t->size) {
		struct chunk_hdr h;
		int r = chunk_at(t, off, &h);
		uLongf rlen;

		/* a chunk running past EOF is a torn tail only if no valid chunk follows */
		if (r == CH_TRUNC && resync(t, off + 1) == t->size) {
			warnf(ops, ctx, "offset %zu: truncated chunk at end of file, %zu bytes skipped", off,
			      t->size - off);
			st->truncated = 1;
			st->skipped_bytes += t->size - off;
			skipped = 1;
			break;
		}
		if (r != CH_OK) {
			size_t next = resync(t, off + 1);

			warnf(ops, ctx, "offset %zu: bad chunk (%s), %zu bytes skipped", off,
			      r == CH_TRUNC ? "length out of range" : ch_why[r], next - off);
			st->bad_chunks++;
			st->skipped_bytes += next - off;
			skipped = 1;
			off = next;
			continue;
		}
		if (ops->want_chunk && !ops->want_chunk(ctx, h.min_ts, h.max_ts)) {
			off += PM_TRACE_CHUNK_HDR + h.comp_len;
			continue;
		}
		if (h.raw_len > t->rawcap) {
			uint8_t *n = realloc(t->raw, h.raw_len);

			if (!n)
				return -ENOMEM;
			t->raw = n;
			t->rawcap = h.raw_len;
		}
		rlen = h.raw_len;
		if (!inflate_chunk(t, t->base + off + PM_TRACE_CHUNK_HDR, h.comp_len, t->raw, h.raw_len)) {
			warnf(ops, ctx, "offset %zu: bad chunk (does not decompress), %zu bytes skipped", off,
			      (size_t)PM_TRACE_CHUNK_HDR + h.comp_len);
			st->bad_chunks++;
			st->skipped_bytes += PM_TRACE_CHUNK_HDR + h.comp_len;
			skipped = 1;
			off += PM_TRACE_CHUNK_HDR + h.comp_len;
			continue;
		}
		st->chunks++;
		st->raw_bytes += rlen;
		if (decode_chunk(t, off, t->raw, t->raw + rlen, ops, ctx, st)) {
			st->bad_chunks++;
			skipped = 1;
		}
		off += PM_TRACE_CHUNK_HDR + h.comp_len;
	}
	return skipped;
}

int pm_trace_span(struct pm_trace *t, uint64_t *min_ts, uint64_t *max_ts)
{
	size_t off = t->data_off;
	bool any = false;

	while (off < t->size) {
		struct chunk_hdr h;
		int r = chunk_at(t, off, &h);

		if (r == CH_TRUNC)
			break;
		if (r != CH_OK) {
			off = resync(t, off + 1);
			continue;
		}
		if (h.min_ts || h.max_ts) {
			if (!any || h.min_ts < *min_ts)
				*min_ts = h.min_ts;
			if (!any || h.max_ts > *max_ts)
				*max_ts = h.max_ts;
			any = true;
		}
		off += PM_TRACE_CHUNK_HDR + h.comp_len;
	}
	return any ? 0 : -ENODATA;
}
