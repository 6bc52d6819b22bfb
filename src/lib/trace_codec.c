// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The trace's byte-level codec: varints, and event records as deltas (trace_codec.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "trace_codec.h"
#include "util.h"

_Static_assert(PM_EV_TYPE_MAX <= 16, "event types must fit record types 1..15");

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

uint64_t pm_cur_var_slow(struct cur *c)
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

void pm_codec_init(struct pm_codec *c)
{
	memset(c, 0, sizeof(*c));
	pm_vmtab_init(&c->index, sizeof(uint32_t));
}

void pm_codec_reset(struct pm_codec *c)
{
	uint64_t *vms = c->vms;
	size_t cap = c->cap_vms;
	struct pm_vmtab index = c->index;

	memset(c, 0, sizeof(*c));
	c->vms = vms;
	c->cap_vms = cap;
	c->index = index;
	pm_vmtab_clear(&c->index);
}

void pm_codec_free(struct pm_codec *c)
{
	free(c->vms);
	pm_vmtab_free(&c->index);
	c->vms = NULL;
	c->nvms = c->cap_vms = 0;
}

int pm_codec_add_vm(struct pm_codec *c, uint64_t vm)
{
	uint64_t *n = pm_grow(c->vms, c->nvms, &c->cap_vms, sizeof(*n), 64);

	if (!n)
		return -ENOMEM;
	c->vms = n;
	c->vms[c->nvms++] = vm;
	return 0;
}

static bool compact_ok(const struct pm_event *e)
{
	return e->type >= 1 && e->type < NTYPES && e->dir <= 3 && e->source <= 3;
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

int pm_codec_put_event(struct pm_codec *c, const struct pm_event *ep, uint8_t *body, size_t *len)
{
	const struct pm_event e = *ep, *x;
	uint8_t fields[MAX_REC], *q = fields, *b = body;
	unsigned pres = 0;
	uint64_t kind, xkind;

	if (!compact_ok(&e)) {
		put_raw_event(body, &e);
		*len = PM_TR_RAW_LEN;
		return PM_TR_RAW_EVENT;
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
		uint32_t *idx = pm_vmtab_find(&c->index, e.vm);

		pres |= P_VM;
		if (idx) {
			q += pm_varint_put(q, *idx);
		} else {
			/* both sides must agree on the table: out of memory, drop the record */
			if (pm_codec_add_vm(c, e.vm) || !(idx = pm_vmtab_get(&c->index, e.vm, NULL)))
				return -ENOMEM;
			*idx = c->nvms;
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
	*len = (size_t)(b - body);
	return e.type;
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

int pm_codec_get_event(struct pm_codec *c, unsigned type, struct cur *cu, const struct pm_event **out)
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
			if (pm_codec_add_vm(c, e->vm))
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
		e->tid = (uint32_t)(e->pid + (uint64_t)unzz(cur_var(cu)));	/* wraps: any input */
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

void pm_codec_get_raw(const uint8_t *b, struct pm_event *e)
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
