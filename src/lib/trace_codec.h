/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Inside the trace format (privmem-trace(5)), shared by its writer and
 * reader only: byte order, the record cursor, and the per-chunk codec.
 * An event record is delta-encoded against the previous record of the
 * same type in the same chunk, so a conversion costs a few bytes before
 * zlib; the codec starts afresh at every chunk, so a chunk can be lost
 * without losing the others.
 */
#ifndef PRIVMEM_TRACE_CODEC_H
#define PRIVMEM_TRACE_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "trace.h"
#include "vmtab.h"

#define PM_TR_RAW_EVENT	21	/* a struct pm_event the compact form cannot hold */
#define PM_TR_RAW_LEN	88
#define NTYPES		16
#define MAX_REC		256	/* bytes: largest record the writer makes */

static inline uint64_t zz(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static inline int64_t unzz(uint64_t v)
{
	return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

static inline void put_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint64_t get_le(const uint8_t *p, int n)
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

uint64_t pm_cur_var_slow(struct cur *c);

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
	return pm_cur_var_slow(c);
}

static inline uint64_t cur_le(struct cur *c, int n)
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

static inline void cur_bytes(struct cur *c, void *dst, size_t n, size_t cap)
{
	if ((size_t)(c->end - c->p) < n) {
		c->bad = true;
		c->p = c->end;
		return;
	}
	memcpy(dst, c->p, n < cap ? n : cap);
	c->p += n;
}

/* What both sides remember within one chunk. */
struct pm_codec {
	uint64_t prev_ts;
	struct pm_event last;
	struct pm_event by_type[NTYPES];
	uint16_t seen;
	uint64_t *vms;		/* the chunk's VM table, in first-use order */
	unsigned nvms;
	size_t cap_vms;
	struct pm_vmtab index;	/* writer: VM id -> uint32_t position + 1 in vms */
};

void pm_codec_init(struct pm_codec *c);
/* At every chunk: the state goes, the memory stays. */
void pm_codec_reset(struct pm_codec *c);
void pm_codec_free(struct pm_codec *c);
int pm_codec_add_vm(struct pm_codec *c, uint64_t vm);

/*
 * Encodes e (comm NUL-padded) into body (MAX_REC bytes): the record type
 * (e->type, or PM_TR_RAW_EVENT for what the compact form cannot hold) and
 * *len, or -ENOMEM when the VM table cannot grow.
 */
int pm_codec_put_event(struct pm_codec *c, const struct pm_event *e, uint8_t *body, size_t *len);
/* Decodes in place, into the type's slot of the codec: *out points there. 0, -EINVAL or -ENOMEM. */
int pm_codec_get_event(struct pm_codec *c, unsigned type, struct cur *cu, const struct pm_event **out);
/* A PM_TR_RAW_EVENT body (PM_TR_RAW_LEN bytes). */
void pm_codec_get_raw(const uint8_t *b, struct pm_event *e);

#endif
