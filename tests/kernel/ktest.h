/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* A test_progs-style harness: ASSERT_* return bool and count; main prints the tally. */
#ifndef PRIVMEM_KTEST_H
#define PRIVMEM_KTEST_H

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>

static int kt_pass, kt_fail, kt_skip;
static const char *kt_name = "";

#define ASSERT_EQ(a, b, what) ({						\
	uint64_t _a = (uint64_t)(a), _b = (uint64_t)(b);			\
	bool _ok = _a == _b;							\
	if (_ok) kt_pass++; else {						\
		kt_fail++;							\
		fprintf(stderr, "FAIL %s: %s: got %" PRIu64 " (0x%" PRIx64 ")"	\
			", want %" PRIu64 " (0x%" PRIx64 ") at %s:%d\n",	\
			kt_name, what, _a, _a, _b, _b, __FILE__, __LINE__);	\
	}									\
	_ok; })

#define ASSERT_TRUE(c, what) ASSERT_EQ(!!(c), 1, what)

/* A check this host cannot make: printed with its reason and counted, never a pass. */
#define SKIP(what, why) do {							\
	kt_skip++;								\
	printf("skip %s: %s (%s)\n", kt_name, what, why);			\
} while (0)

static inline int kt_summary(void)
{
	if (kt_skip)
		printf("%d passed, %d failed, %d skipped\n", kt_pass, kt_fail, kt_skip);
	else
		printf("%d passed, %d failed\n", kt_pass, kt_fail);
	return kt_fail ? 1 : 0;
}

#endif
