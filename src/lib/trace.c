// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Trace writer and reader (privmem-trace(5)). Records are delta-encoded
 * against the previous record of the same type in the same chunk, so a
 * conversion costs a few bytes before zlib; chunks carry their own state,
 * so any one of them can be lost without losing the others.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#include "trace.h"
#include "util.h"

#ifndef PRIVMEM_VERSION
#define PRIVMEM_VERSION "unknown"
#endif

_Static_assert(PM_EV_TYPE_MAX <= 16, "event types must fit record types 1..15");

#define PM_TR_RAW_EVENT	21	/* a struct pm_event the compact form cannot hold */
#define NTYPES		16
#define MAX_REC		256	/* bytes: largest record the writer makes */
#define ZLEVEL		6

/* Presence bits of an event record, most frequent first (one byte for most). */
#define P_ADDR_SHIFT	0	/* 2 bits: 0 same, 1 varint, 2 varint pages, 3 previous record's */
#define P_SIZE_SHIFT	2	/* same four modes */
#define P_KIND		(1u << 4)	/* dir | source << 2 | flags << 4 */
#define P_ATTRS		(1u << 5)
#define P_RET		(1u << 6)
#define P_VM		(1u << 7)
#define P_PID		(1u << 8)
#define P_TID		(1u << 9)
#define P_VCPU		(1u << 10)
#define P_AUX		(1u << 11)
#define P_CGROUP	(1u << 12)
#define P_COMM		(1u << 13)

enum { M_SAME = 0, M_FULL = 1, M_PAGES = 2, M_LAST = 3 };

/* ---------------------------------------------------------------- bytes */

size_t pm_varint_put(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

size_t pm_varint_get(const uint8_t *p, const uint8_t *end, uint64_t *v)
{
	uint64_t r = 0;
	unsigned shift = 0;
	size_t n = 0;

	while (p + n < end) {
		uint8_t b = p[n++];

		if (shift == 63 && b > 1)
			return 0;
		r |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*v = r;
			return n;
		}
		shift += 7;
		if (shift > 63)
			return 0;
	}
	return 0;
}

static uint64_t zz(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static int64_t unzz(uint64_t v)
{
	return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

static void put_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* A cursor over a record body; any overrun sets bad and reads zeros. */
struct cur {
	const uint8_t *p, *end;
	bool bad;
};

static uint64_t cur_var_slow(struct cur *c)
{
	uint64_t v = 0;
	size_t n = pm_varint_get(c->p, c->end, &v);

	if (!n) {
		c->bad = true;
		c->p = c->end;
		return 0;
	}
	c->p += n;
	return v;
}

/* Most fields fit one byte: keep that path inline (replay is decode-bound). */
static inline uint64_t cur_var(struct cur *c)
{
	const uint8_t *p = c->p;
	ptrdiff_t left = c->end - p;

	if (left >= 1 && p[0] < 0x80) {
		c->p += 1;
		return p[0];
	}
	if (left >= 2 && p[1] < 0x80) {
		c->p += 2;
		return (p[0] & 0x7fu) | (uint64_t)p[1] << 7;
	}
	if (left >= 3 && p[2] < 0x80) {
		c->p += 3;
		return (p[0] & 0x7fu) | (uint64_t)(p[1] & 0x7f) << 7 | (uint64_t)p[2] << 14;
	}
	return cur_var_slow(c);
}

static uint64_t cur_le(struct cur *c, int n)
{
	uint64_t v;

	if (c->end - c->p < n) {
		c->bad = true;
		c->p = c->end;
		return 0;
	}
	v = get_le(c->p, n);
	c->p += n;
	return v;
}

static void cur_bytes(struct cur *c, void *dst, size_t n, size_t cap)
{
	if ((size_t)(c->end - c->p) < n) {
		c->bad = true;
		c->p = c->end;
		return;
	}
	memcpy(dst, c->p, n < cap ? n : cap);
	c->p += n;
}

/* ---------------------------------------------------------------- codec state */

/* What both sides remember within one chunk; reset at every chunk. */
struct codec {
	uint64_t prev_ts;
	struct pm_event last;
	struct pm_event by_type[NTYPES];
	uint16_t seen;
	uint64_t *vms;		/* the chunk's VM table, in first-use order */
	unsigned nvms, cap_vms;
};

static void codec_reset(struct codec *c)
{
	uint64_t *vms = c->vms;
	unsigned cap = c->cap_vms;

	memset(c, 0, sizeof(*c));
	c->vms = vms;
	c->cap_vms = cap;
}

static int codec_add_vm(struct codec *c, uint64_t vm)
{
	if (c->nvms == c->cap_vms) {
		unsigned cap = c->cap_vms ? c->cap_vms * 2 : 64;
		uint64_t *n = realloc(c->vms, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		c->vms = n;
		c->cap_vms = cap;
	}
	c->vms[c->nvms++] = vm;
	return 0;
}

static bool compact_ok(const struct pm_event *e)
{
	return e->type >= 1 && e->type < NTYPES && e->dir <= 3 && e->source <= 3;
}

/* ---------------------------------------------------------------- info */

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

/* ---------------------------------------------------------------- writer */

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
	struct codec c;
	/* id -> index + 1 in the chunk's VM table: open addressing */
	uint64_t *hkey;
	uint32_t *hval;
	unsigned hcap;
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
	w->hcap = 1024;
	w->hkey = calloc(w->hcap, sizeof(*w->hkey));
	w->hval = calloc(w->hcap, sizeof(*w->hval));
	if (!w->raw || !w->out || !w->hkey || !w->hval) {
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
	free(w->hkey);
	free(w->hval);
	free(w);
	return err;
}

static unsigned hslot(const struct pm_trace_writer *w, uint64_t vm)
{
	unsigned i = (unsigned)((vm * 0x9e3779b97f4a7c15ull) >> 40) & (w->hcap - 1);

	while (w->hval[i] && w->hkey[i] != vm)
		i = (i + 1) & (w->hcap - 1);
	return i;
}

static int hgrow(struct pm_trace_writer *w)
{
	uint64_t *ok = w->hkey;
	uint32_t *ov = w->hval;
	unsigned ocap = w->hcap;

	w->hcap *= 2;
	w->hkey = calloc(w->hcap, sizeof(*w->hkey));
	w->hval = calloc(w->hcap, sizeof(*w->hval));
	if (!w->hkey || !w->hval) {
		free(w->hkey);
		free(w->hval);
		w->hkey = ok;
		w->hval = ov;
		w->hcap = ocap;
		return -ENOMEM;
	}
	for (unsigned i = 0; i < ocap; i++) {
		if (ov[i]) {
			unsigned s = hslot(w, ok[i]);

			w->hkey[s] = ok[i];
			w->hval[s] = ov[i];
		}
	}
	free(ok);
	free(ov);
	return 0;
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

static uint8_t *put_mode(uint8_t *q, unsigned *pres, unsigned shift, uint64_t v, uint64_t same, uint64_t last)
{
	if (v == same)
		return q;
	if (v == last) {
		*pres |= (unsigned)M_LAST << shift;
		return q;
	}
	if (!(v & 0xfff)) {
		*pres |= (unsigned)M_PAGES << shift;
		return q + pm_varint_put(q, v >> 12);
	}
	*pres |= (unsigned)M_FULL << shift;
	return q + pm_varint_put(q, v);
}

static void put_raw_event(uint8_t *b, const struct pm_event *e)
{
	put_le(b + 0, e->ts, 8);
	put_le(b + 8, e->vm, 8);
	put_le(b + 16, e->pid, 4);
	put_le(b + 20, e->tid, 4);
	b[24] = e->type;
	b[25] = e->dir;
	b[26] = e->source;
	b[27] = e->flags;
	put_le(b + 28, (uint32_t)e->vcpu, 4);
	put_le(b + 32, e->addr, 8);
	put_le(b + 40, e->size, 8);
	put_le(b + 48, e->attrs, 8);
	put_le(b + 56, (uint32_t)e->ret, 4);
	put_le(b + 60, e->aux, 4);
	put_le(b + 64, e->cgroup, 8);
	memcpy(b + 72, e->comm, PM_COMM_LEN);
}

#define RAW_EVENT_LEN 88

void pm_tw_event(struct pm_trace_writer *w, const struct pm_event *in)
{
	struct codec *c = &w->c;
	struct pm_event e = *in;
	const struct pm_event *x;
	uint8_t fields[MAX_REC], body[MAX_REC], *q = fields, *b = body;
	unsigned pres = 0;
	uint64_t kind, xkind;

	norm_comm(&e);
	w->events++;
	if (!compact_ok(&e)) {
		put_raw_event(body, &e);
		append(w, PM_TR_RAW_EVENT, body, RAW_EVENT_LEN, true, e.ts);
		return;
	}
	x = (c->seen & (1u << e.type)) ? &c->by_type[e.type] : &c->last;
	q = put_mode(q, &pres, P_ADDR_SHIFT, e.addr, x->addr, c->last.addr);
	q = put_mode(q, &pres, P_SIZE_SHIFT, e.size, x->size, c->last.size);
	kind = e.dir | (uint64_t)e.source << 2 | (uint64_t)e.flags << 4;
	xkind = x->dir | (uint64_t)x->source << 2 | (uint64_t)x->flags << 4;
	if (kind != xkind) {
		pres |= P_KIND;
		q += pm_varint_put(q, kind);
	}
	if (e.attrs != x->attrs) {
		pres |= P_ATTRS;
		q += pm_varint_put(q, e.attrs);
	}
	if (e.ret != x->ret) {
		pres |= P_RET;
		q += pm_varint_put(q, zz(e.ret));
	}
	if (e.vm != x->vm) {
		unsigned s = hslot(w, e.vm);

		pres |= P_VM;
		if (w->hval[s]) {
			q += pm_varint_put(q, w->hval[s]);
		} else {
			/* both sides must agree on the table: out of memory, drop the record */
			if (codec_add_vm(c, e.vm) || (c->nvms * 2 > w->hcap && hgrow(w))) {
				if (!w->err)
					w->err = -ENOMEM;
				return;
			}
			s = hslot(w, e.vm);
			w->hkey[s] = e.vm;
			w->hval[s] = c->nvms;
			*q++ = 0;
			put_le(q, e.vm, 8);
			q += 8;
		}
	}
	if (e.pid != x->pid) {
		pres |= P_PID;
		q += pm_varint_put(q, e.pid);
	}
	if (e.tid != x->tid) {
		pres |= P_TID;
		q += pm_varint_put(q, zz((int64_t)e.tid - (int64_t)e.pid));
	}
	if (e.vcpu != x->vcpu) {
		pres |= P_VCPU;
		q += pm_varint_put(q, zz(e.vcpu));
	}
	if (e.aux != x->aux) {
		pres |= P_AUX;
		q += pm_varint_put(q, e.aux);
	}
	if (e.cgroup != x->cgroup) {
		pres |= P_CGROUP;
		q += pm_varint_put(q, e.cgroup);
	}
	if (memcmp(e.comm, x->comm, PM_COMM_LEN)) {
		size_t n = strnlen(e.comm, PM_COMM_LEN);

		pres |= P_COMM;
		*q++ = (uint8_t)n;
		memcpy(q, e.comm, n);
		q += n;
	}
	b += pm_varint_put(b, pres);
	b += pm_varint_put(b, zz((int64_t)(e.ts - c->prev_ts)));
	memcpy(b, fields, (size_t)(q - fields));
	b += q - fields;
	c->prev_ts = e.ts;
	c->by_type[e.type] = e;
	c->seen |= 1u << e.type;
	c->last = e;
	append(w, e.type, body, (size_t)(b - body), true, e.ts);
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
		  uint64_t first_ns, const char *comm, const char *cgroup)
{
	uint8_t body[8 + 40 + 1 + PM_COMM_LEN + 2 + 256], *b = body;
	size_t n = strnlen(comm, PM_COMM_LEN), m = strnlen(cgroup, 255);

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
out:
	if (err && !w->err)
		w->err = err;
	w->rawlen = 0;
	w->nrec = 0;
	codec_reset(&w->c);
	memset(w->hval, 0, w->hcap * sizeof(*w->hval));
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
	free(w->hkey);
	free(w->hval);
	free(w->c.vms);
	free(w);
	return err;
}

/* ---------------------------------------------------------------- reader */

struct pm_trace {
	const uint8_t *base;
	size_t size;
	bool mapped;
	size_t data_off;
	struct pm_trace_info info;
	struct codec c;
	uint8_t *raw;
	size_t rawcap;
	z_stream zs;			/* raw inflate, reused: the chunk CRC checks the data */
	bool zs_ready;
	uint8_t unknown_seen[32];	/* record types already warned about */
};

struct chunk_hdr {
	uint32_t comp_len, raw_len, nrec;
	uint64_t min_ts, max_ts;
};

enum { CH_OK, CH_TRUNC, CH_MAGIC, CH_LEN, CH_CRC };

static const char *const ch_why[] = {
	[CH_MAGIC] = "no chunk magic", [CH_LEN] = "length out of range", [CH_CRC] = "CRC mismatch",
};

static int chunk_at(const struct pm_trace *t, size_t off, struct chunk_hdr *h)
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
	crc = crc32(crc, p + PM_TRACE_CHUNK_HDR, h->comp_len);
	if (crc != get_le(p + 32, 4))
		return CH_CRC;
	return CH_OK;
}

/* The next offset after a bad spot where a whole, valid chunk starts, else EOF. */
static size_t resync(const struct pm_trace *t, size_t off)
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
	t->base = buf;
	t->size = size;
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
	free(t->c.vms);
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

static uint64_t get_mode(struct cur *c, unsigned mode, uint64_t same, uint64_t last)
{
	switch (mode) {
	case M_FULL:
		return cur_var(c);
	case M_PAGES:
		return cur_var(c) << 12;
	case M_LAST:
		return last;
	default:
		return same;
	}
}

/* Decodes in place, into the type's slot of the codec: *out points there. */
static int decode_event(struct codec *c, unsigned type, struct cur *cu, const struct pm_event **out)
{
	struct pm_event *e = &c->by_type[type];
	const struct pm_event *x = e;
	uint64_t pres, v;

	if (!(c->seen & (1u << type)))
		*e = c->last;
	e->type = (uint8_t)type;
	pres = cur_var(cu);
	e->ts = c->prev_ts + (uint64_t)unzz(cur_var(cu));
	e->addr = get_mode(cu, (pres >> P_ADDR_SHIFT) & 3, x->addr, c->last.addr);
	e->size = get_mode(cu, (pres >> P_SIZE_SHIFT) & 3, x->size, c->last.size);
	if (pres & P_KIND) {
		v = cur_var(cu);
		e->dir = v & 3;
		e->source = (v >> 2) & 3;
		e->flags = (uint8_t)(v >> 4);
	}
	if (pres & P_ATTRS)
		e->attrs = cur_var(cu);
	if (pres & P_RET)
		e->ret = (int32_t)unzz(cur_var(cu));
	if (pres & P_VM) {
		v = cur_var(cu);
		if (v == 0) {
			e->vm = cur_le(cu, 8);
			if (codec_add_vm(c, e->vm))
				return -ENOMEM;
		} else if (v <= c->nvms) {
			e->vm = c->vms[v - 1];
		} else {
			return -EINVAL;
		}
	}
	if (pres & P_PID)
		e->pid = (uint32_t)cur_var(cu);
	if (pres & P_TID)
		e->tid = (uint32_t)((int64_t)e->pid + unzz(cur_var(cu)));
	if (pres & P_VCPU)
		e->vcpu = (int32_t)unzz(cur_var(cu));
	if (pres & P_AUX)
		e->aux = (uint32_t)cur_var(cu);
	if (pres & P_CGROUP)
		e->cgroup = cur_var(cu);
	if (pres & P_COMM) {
		uint8_t n = (uint8_t)cur_le(cu, 1);

		memset(e->comm, 0, PM_COMM_LEN);
		cur_bytes(cu, e->comm, n, PM_COMM_LEN);
	}
	if (cu->bad)
		return -EINVAL;
	/* pres bits a newer writer may add are not understood: refuse rather than misread */
	if (pres >> 14)
		return -EINVAL;
	c->prev_ts = e->ts;
	c->seen |= 1u << type;
	c->last = *e;
	*out = e;
	return 0;
}

static void get_raw_event(const uint8_t *b, struct pm_event *e)
{
	memset(e, 0, sizeof(*e));
	e->ts = get_le(b + 0, 8);
	e->vm = get_le(b + 8, 8);
	e->pid = (uint32_t)get_le(b + 16, 4);
	e->tid = (uint32_t)get_le(b + 20, 4);
	e->type = b[24];
	e->dir = b[25];
	e->source = b[26];
	e->flags = b[27];
	e->vcpu = (int32_t)get_le(b + 28, 4);
	e->addr = get_le(b + 32, 8);
	e->size = get_le(b + 40, 8);
	e->attrs = get_le(b + 48, 8);
	e->ret = (int32_t)get_le(b + 56, 4);
	e->aux = (uint32_t)get_le(b + 60, 4);
	e->cgroup = get_le(b + 64, 8);
	memcpy(e->comm, b + 72, PM_COMM_LEN);
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

	codec_reset(&t->c);
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

			if (decode_event(&t->c, (unsigned)type, &cu, &pe))
				goto bad;
			st->events++;
			if (ops->event)
				ops->event(ctx, pe);
		} else if (type == PM_TR_RAW_EVENT) {
			if (len < RAW_EVENT_LEN)
				goto bad;
			get_raw_event(cu.p, &e);
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
