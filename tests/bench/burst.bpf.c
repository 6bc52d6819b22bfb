// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * make bench's event producer: one BPF_PROG_TEST_RUN emits a whole burst of
 * records (bpf_loop) into a running privmemd's own ring buffer, so the
 * daemon's whole path is measured (ring buffer, books, recorder, /metrics)
 * without a syscall per record bounding the feed. The loader reuses the
 * daemon's `events` and `lost` maps; a failed reserve is counted in `lost`
 * exactly as the capture programs count theirs.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "privmem/events.h"

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} lost SEC(".maps");

/* The burst, as passed in ctx_in. */
struct burst_args {
	__u64 n;	/* records to emit */
	__u64 nvms;	/* spread over this many VMs */
	__u64 vm_base;	/* VM ids vm_base + 0 .. nvms - 1 */
	__u64 seq;	/* running record number, for gpa and VM choice */
	__u32 pid;
	__u32 pad;
};

const volatile __u64 wake_bytes = 64 * 1024;

/* Per VM and step: a guest request, the VMM's successful attempt, the resume. */
static long emit_one(__u64 i, void *ctx)
{
	struct burst_args *a = ctx;
	__u64 k = a->seq + i, step = k % 3, vm = a->vm_base + (k / 3) % a->nvms;
	struct pm_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	__u64 flags = BPF_RB_NO_WAKEUP;
	__u32 zero = 0;

	if (!e) {
		__u64 *n = bpf_map_lookup_elem(&lost, &zero);

		if (n)
			*n += 1;
		return 0;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->ts = bpf_ktime_get_ns();
	e->vm = vm;
	e->pid = a->pid;
	e->tid = a->pid;
	e->vcpu = 0;
	e->dir = PM_TO_PRIVATE;
	e->addr = (k / 3 % 4096) << 12;
	e->size = 4096;
	__builtin_memcpy(e->comm, "pm-burst", 9);
	if (step == 0) {
		e->type = PM_EV_REQUEST;
		e->source = PM_SRC_FAULT;
		e->aux = 39;	/* KVM_EXIT_MEMORY_FAULT */
	} else if (step == 1) {
		e->type = PM_EV_DECIDE;
		e->attrs = 1ull << 3;	/* KVM_MEMORY_ATTRIBUTE_PRIVATE */
	} else {
		e->type = PM_EV_RESUME;
		e->dir = PM_DIR_NONE;
	}
	if (bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wake_bytes)
		flags = BPF_RB_FORCE_WAKEUP;
	bpf_ringbuf_submit(e, flags);
	return 0;
}

SEC("syscall")
int pm_burst(struct burst_args *a)
{
	struct burst_args s = *a;	/* bpf_loop's context lives on the stack */

	if (!s.nvms || s.n > (1u << 23))
		return -1;
	bpf_loop(s.n, emit_one, &s, 0);
	return 0;
}
