// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * decide.h in the kernel: loads decide.bpf.c (the verifier must accept it)
 * and runs long random sequences through it and through the userspace
 * build of the same header. Verdicts and bucket states must be identical
 * at every step, so enforcement and replay cannot disagree. Needs root.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include "privmem/decide.h"
#include "decide.skel.h"

#define SEQUENCES	24
#define STEPS		2000

static int pass, failed;

static void check(int ok, const char *what)
{
	if (ok) {
		pass++;
	} else {
		failed++;
		printf("FAIL %s\n", what);
	}
}

static __u64 rnd(__u64 *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static __u64 pick(__u64 *s, const __u64 *v, size_t n)
{
	return v[rnd(s) % n];
}

#define PICK(s, arr) pick(s, arr, sizeof(arr) / sizeof(arr[0]))

static void random_limits(__u64 *s, struct pm_limits *l)
{
	static const __u64 rates[] = { 0, 1, 3, 4096, 64 << 20, 999999999, 1000000000, 1000000001,
				       1ull << 30, 1ull << 63, ~0ull };
	static const __u64 sizes[] = { 0, 4096, 2 << 20, 256 << 20, 1ull << 32, ~0ull };

	l->flags = (__u32)(rnd(s) & 7);
	l->rate = rnd(s) & 1 ? PICK(s, rates) : rnd(s) >> (rnd(s) % 64);
	l->burst = rnd(s) & 1 ? PICK(s, sizes) : rnd(s) >> (rnd(s) % 64);
	l->max_request = rnd(s) & 1 ? PICK(s, sizes) : rnd(s) >> (rnd(s) % 64);
	l->max_shared_permille = (__u32)(rnd(s) % 1001);
	if (rnd(s) % 16 == 0)
		l->max_shared_permille = (__u32)rnd(s);	/* corrupt: still no overflow */
}

static int run_one(struct decide_bpf *skel, __u32 *verdict, __u32 *denies)
{
	LIBBPF_OPTS(bpf_test_run_opts, o);
	int err = bpf_prog_test_run_opts(bpf_program__fd(skel->progs.run_decide), &o);

	*verdict = skel->bss->verdict;
	*denies = skel->bss->denies;
	return err;
}

static int sequence(struct decide_bpf *skel, __u64 seed)
{
	struct pm_rule rule;
	struct pm_bucket ub;
	__u64 now = rnd(&seed) % (1ull << 40), s = seed;

	memset(&rule, 0, sizeof(rule));
	random_limits(&s, &rule.to_private);
	random_limits(&s, &rule.to_shared);
	rule.id = 1;
	rule.mode = (__u32)(rnd(&s) % 3);
	pm_bucket_init(&ub, &rule.to_shared, now);
	skel->bss->bucket = ub;
	for (int i = 0; i < STEPS; i++) {
		__u64 size, shared, guest;
		__u32 dir, kv, uv, kd, ud;

		/* mostly forward in small steps; sometimes back, sometimes years */
		switch (rnd(&s) % 16) {
		case 0: now -= rnd(&s) % (now + 1); break;
		case 1: now += rnd(&s) >> (rnd(&s) % 64); break;
		default: now += rnd(&s) % 20000000; break;
		}
		if (rnd(&s) % 64 == 0)
			random_limits(&s, rnd(&s) & 1 ? &rule.to_shared : &rule.to_private);	/* a reload */
		dir = (__u32)(rnd(&s) % 8 ? 1 + rnd(&s) % 2 : rnd(&s) % 4);
		size = rnd(&s) % 4 ? (rnd(&s) % 512) << 12 : rnd(&s) >> (rnd(&s) % 64);
		guest = rnd(&s) % 4 ? 1ull << (20 + rnd(&s) % 20) : rnd(&s) >> (rnd(&s) % 64);
		shared = rnd(&s) % (guest + 1);

		skel->bss->rule = rule;
		skel->bss->dir = dir;
		skel->bss->now_ns = now;
		skel->bss->size = size;
		skel->bss->shared_bytes = shared;
		skel->bss->guest_bytes = guest;
		if (run_one(skel, &kv, &kd)) {
			printf("test_run: %s\n", strerror(errno));
			return -1;
		}
		uv = pm_decide(&rule, dir, &ub, now, size, shared, guest);
		ud = pm_denies(&rule, uv);
		if (kv != uv || kd != ud || memcmp(&skel->bss->bucket, &ub, sizeof(ub))) {
			printf("seed %llu step %d: kernel verdict %u tokens %llu, userspace %u tokens %llu\n",
			       (unsigned long long)seed, i, kv, (unsigned long long)skel->bss->bucket.tokens, uv,
			       (unsigned long long)ub.tokens);
			return -1;
		}
	}
	return 0;
}

/* Only libbpf's warnings: a verifier rejection then shows its log. */
static int print_warnings(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return level == LIBBPF_WARN ? vfprintf(stderr, fmt, ap) : 0;
}

int main(void)
{
	struct decide_bpf *skel;
	char what[64];

	if (geteuid()) {
		printf("decide_bpf: needs root (CI has it)\n0 passed, 1 failed\n");
		return 1;
	}
	libbpf_set_print(print_warnings);
	skel = decide_bpf__open_and_load();
	check(skel != NULL, "decide.bpf.o loads: the verifier accepts decide.h");
	if (!skel)
		goto out;
	for (int i = 0; i < SEQUENCES; i++) {
		snprintf(what, sizeof(what), "sequence %d: kernel and userspace agree", i);
		check(sequence(skel, 0x9e3779b97f4a7c15ull * (__u64)(i + 1)) == 0, what);
	}
	decide_bpf__destroy(skel);
out:
	printf("decide_bpf: %d sequences of %d steps, in the kernel and in userspace\n", SEQUENCES, STEPS);
	printf("%d passed, %d failed\n", pass, failed);
	return failed ? 1 : 0;
}
