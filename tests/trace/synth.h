/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * A synthetic event stream shaped like tests/vmm's: per guest request a
 * REQUEST (hypercall or memory fault), the VMM's DECIDE, a DISCARD for
 * to_shared, then the vCPU's RESUME; µs-scale gaps. For the trace tests
 * and the replay bench, which need millions of realistic records.
 */
#ifndef PRIVMEM_SYNTH_H
#define PRIVMEM_SYNTH_H

#include <stdint.h>
#include <string.h>
#include "privmem/events.h"
#include "privmem/kvm_abi.h"

struct synth {
	uint64_t rng, ts;
	unsigned nvms;
	uint64_t vm[64];
	uint32_t pid[64];
	unsigned step;		/* position within the current request's records */
	unsigned cur;		/* VM of the current request */
	struct pm_event req;
	int ret;		/* what the VMM's attempts return: 0 or -ENOTTY */
	uint64_t n;		/* records made */
};

static inline uint64_t synth_rand(struct synth *s)
{
	s->rng ^= s->rng << 13;
	s->rng ^= s->rng >> 7;
	s->rng ^= s->rng << 17;
	return s->rng;
}

static inline void synth_init(struct synth *s, uint64_t seed, unsigned nvms, int ret)
{
	memset(s, 0, sizeof(*s));
	s->rng = seed * 0x9e3779b97f4a7c15ull + 1;
	s->ts = 1000000000000ull + (seed << 20);
	s->nvms = nvms ? (nvms > 64 ? 64 : nvms) : 1;
	s->ret = ret;
	for (unsigned i = 0; i < s->nvms; i++) {
		s->vm[i] = synth_rand(s) | 1;
		s->pid[i] = 4000 + i * 17;
	}
	s->step = 0;
}

static inline struct pm_event synth_base(struct synth *s, unsigned vm, uint8_t type)
{
	struct pm_event e;

	memset(&e, 0, sizeof(e));
	e.ts = s->ts;
	e.vm = s->vm[vm];
	e.pid = s->pid[vm];
	e.tid = s->pid[vm] + 1;
	e.type = type;
	e.vcpu = -1;
	e.cgroup = 0x1234 + vm;
	strcpy(e.comm, "testvmm");
	return e;
}

/* The VMs' creations come first (VM_CREATE, GMEM_CREATE each), then requests forever. */
static inline struct pm_event synth_next(struct synth *s)
{
	struct pm_event e;
	uint64_t r;

	s->ts += 2000 + synth_rand(s) % 30000;
	s->n++;
	if (s->n <= 2 * (uint64_t)s->nvms) {
		unsigned v = (unsigned)((s->n - 1) / 2);

		if ((s->n - 1) % 2 == 0)
			return synth_base(s, v, PM_EV_VM_CREATE);
		e = synth_base(s, v, PM_EV_GMEM_CREATE);
		e.addr = 5;
		e.size = 64ull << 20;
		e.attrs = 3;
		e.flags = PM_F_SYSCALL_TP;
		return e;
	}
	switch (s->step) {
	case 0:
		s->cur = (unsigned)(synth_rand(s) % s->nvms);
		r = synth_rand(s);
		e = synth_base(s, s->cur, PM_EV_REQUEST);
		e.vcpu = 0;
		e.source = (r & 7) ? PM_SRC_HYPERCALL : PM_SRC_FAULT;
		e.dir = (r >> 63) ? PM_TO_PRIVATE : PM_TO_SHARED;
		e.addr = (2ull << 20) + ((r >> 8) % 15000) * 4096;
		e.size = (r & 8) ? 4096ull << ((r >> 4) % 10) : (1 + (r >> 20) % 512) * 4096;
		if (e.source == PM_SRC_HYPERCALL) {
			e.aux = 3;
			e.attrs = e.dir == PM_TO_PRIVATE ? PM_KVM_MAP_GPA_RANGE_ENCRYPTED : 0;
		} else {
			e.aux = 39;
			e.size = 4096;
			e.attrs = e.dir == PM_TO_PRIVATE ? PM_KVM_MEMORY_EXIT_FLAG_PRIVATE : 0;
		}
		s->req = e;
		s->step = 1;
		return e;
	case 1:
		e = synth_base(s, s->cur, PM_EV_DECIDE);
		e.addr = s->req.addr;
		e.size = s->req.size;
		e.dir = s->req.dir;
		e.attrs = e.dir == PM_TO_PRIVATE ? PM_KVM_MEMORY_ATTRIBUTE_PRIVATE : 0;
		e.ret = s->ret;
		e.flags = PM_F_SYSCALL_TP;
		s->step = s->req.dir == PM_TO_SHARED ? 2 : 3;
		return e;
	case 2:
		e = synth_base(s, s->cur, PM_EV_DISCARD);
		e.addr = s->req.addr;
		e.size = s->req.size;
		e.attrs = 3;	/* PUNCH_HOLE | KEEP_SIZE */
		e.flags = PM_F_SYSCALL_TP;
		s->step = 3;
		return e;
	default:
		e = synth_base(s, s->cur, PM_EV_RESUME);
		e.vcpu = 0;
		s->step = 0;
		return e;
	}
}

#endif
