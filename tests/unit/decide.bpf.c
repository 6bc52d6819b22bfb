// SPDX-License-Identifier: GPL-2.0
/*
 * decide.h compiled for BPF, unchanged: proves it builds with clang -target
 * bpf, passes the verifier, and (decide_bpf.c) decides as userspace does.
 * Operands live in global data, as the LSM's rule and bucket will live in
 * map values.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "privmem/decide.h"

char LICENSE[] SEC("license") = "GPL";

struct pm_rule rule;
struct pm_bucket bucket;
__u64 now_ns, size, shared_bytes, guest_bytes;
__u32 dir, verdict, denies;

SEC("syscall")
int run_decide(void *ctx)
{
	verdict = pm_decide(&rule, dir, &bucket, now_ns, size, shared_bytes, guest_bytes);
	denies = pm_denies(&rule, verdict);
	return 0;
}
