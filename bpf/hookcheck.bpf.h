/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * A hook reported live must be live (capture.c verifies and cross-checks):
 * - self-test: while privmemd proves its trampolines (it makes a VM, a
 *   vCPU, a guest_memfd and their calls), each trampoline counts the call
 *   and does nothing else, so the proof leaves no trace in the books;
 * - cross-check counters of sibling hooks that see the same calls;
 * - a stand-in: the syscall-tracepoint programs, loaded but unattached,
 *   take over the commands of a trampoline found silent (tp_cmds).
 * Included by capture.bpf.c.
 */
#ifndef PRIVMEM_HOOKCHECK_BPF_H
#define PRIVMEM_HOOKCHECK_BPF_H

#include "privmem/hookcheck.h"

__u32 selftest_tgid;			/* privmemd, while it proves the trampolines */
__u64 selftest_hits[PM_HOOK_MAX];
__u32 tp_cmds = PM_TP_ALL;		/* commands the syscall tracepoints handle */
__u32 vm_ioctl_stood_in;		/* the tracepoint took kvm_vm_ioctl's commands over */

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PM_XC_MAX);
	__type(key, __u32);
	__type(value, __u64);
} xcheck SEC(".maps");

/* True for privmemd's own proving calls: counted, and nothing else done. */
static __always_inline bool selftest(__u32 hook)
{
	if (!selftest_tgid || (bpf_get_current_pid_tgid() >> 32) != selftest_tgid)
		return false;
	if (hook < PM_HOOK_MAX)
		__sync_fetch_and_add(&selftest_hits[hook], 1);
	return true;
}

static __always_inline void xc_count(__u32 i)
{
	__u64 *n = bpf_map_lookup_elem(&xcheck, &i);

	if (n)
		*n += 1;
}

static __always_inline bool tp_takes(__u32 cmd)
{
	__u32 bit = cmd == PM_KVM_CREATE_VM ? PM_TP_CREATE_VM :
		    cmd == PM_KVM_SET_MEMORY_ATTRIBUTES ? PM_TP_SET_ATTR :
		    cmd == PM_KVM_CREATE_GUEST_MEMFD ? PM_TP_GMEM_CREATE : PM_TP_RUN;

	return tp_cmds & bit;
}

#endif
