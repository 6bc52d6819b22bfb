// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The flight recorder's faults, without root: its directory removed (and a
 * file put in its place), writes refused (RLIMIT_FSIZE: EFBIG, as a full disk
 * refuses them). Recording stops, the books go on, a new file starts with a
 * gap record, and replay shows the gap with exactly the events it lost.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <dirent.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include "recorder.h"
#include "replay.h"
#include "util.h"

#define VM 0x5965a285e4197cb3ull

static char top[64], dir[96];
static uint64_t seq;

static void events(struct pm_rec *r, struct pm_state *st, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct pm_event e = { .ts = pm_now_ns(), .vm = VM, .pid = 1, .tid = 1, .type = PM_EV_REQUEST,
				      .dir = PM_TO_PRIVATE, .source = PM_SRC_HYPERCALL, .addr = ++seq << 12,
				      .size = 4096 };

		pm_rec_event(r, &e);
		pm_state_apply(st, &e);
	}
}

/* Ticks every 20 ms until tick returns want (5 s deadline); msg is its message. */
static int tick_until(struct pm_rec *r, struct pm_state *st, int want, char *msg, size_t len)
{
	uint64_t end = pm_now_ns() + 5000000000ull;
	struct timespec d = { 0, 20000000 };

	while (pm_now_ns() < end) {
		int rc = pm_rec_tick(r, st, NULL, msg, len);

		if (want < 0 ? rc < 0 : rc == want)
			return rc;
		nanosleep(&d, NULL);
	}
	return 99;
}

static void wait_flushed(struct pm_rec *r, struct pm_state *st, uint64_t bytes)
{
	char msg[512];
	uint64_t end = pm_now_ns() + 5000000000ull;
	struct timespec d = { 0, 20000000 };

	while (pm_rec_bytes(r) == bytes && pm_now_ns() < end) {
		assert_int_equal(pm_rec_tick(r, st, NULL, msg, sizeof(msg)), 0);
		nanosleep(&d, NULL);
	}
	assert_true(pm_rec_bytes(r) > bytes);
}

static void replay_dir(struct pm_replay *rp)
{
	char msg[256], path[400];
	struct dirent **list;
	int n = scandir(dir, &list, NULL, alphasort);

	assert_true(n > 0);
	pm_replay_init(rp);
	for (int i = 0; i < n; i++) {
		if (list[i]->d_name[0] != '.') {
			snprintf(path, sizeof(path), "%s/%s", dir, list[i]->d_name);
			assert_int_equal(pm_replay_file(rp, path, msg, sizeof(msg)), 0);	/* no damage */
		}
		free(list[i]);
	}
	free(list);
	pm_replay_finish(rp);
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
	(void)sb, (void)flag, (void)f;
	return remove(p);
}

static int setup(void **state)
{
	(void)state;
	snprintf(top, sizeof(top), "/tmp/privmem-test-recorder.XXXXXX");
	assert_non_null(mkdtemp(top));
	snprintf(dir, sizeof(dir), "%s/rec", top);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	nftw(top, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

static struct pm_rec *open_rec(void)
{
	struct pm_rec_opts o = { .dir = dir, .writer = "test" };
	struct pm_rec *r;
	char msg[256];

	assert_int_equal(pm_rec_open(&r, &o, msg, sizeof(msg)), 0);
	return r;
}

static void dir_removed(void **state)
{
	struct pm_state st;
	struct pm_replay rp;
	struct pm_rec *r;
	char msg[512];
	uint64_t t0 = pm_now_ns();

	(void)state;
	pm_state_init(&st);
	r = open_rec();
	events(r, &st, 100);
	wait_flushed(r, &st, pm_rec_bytes(r));
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	fclose(fopen(dir, "w"));	/* a file where the directory was: retries fail */
	events(r, &st, 50);
	assert_true(tick_until(r, &st, -1, msg, sizeof(msg)) < 0);
	assert_non_null(strstr(msg, "file removed"));
	assert_non_null(strstr(msg, "150 events lost so far"));
	assert_false(pm_rec_recording(r));
	events(r, &st, 30);
	assert_true(tick_until(r, &st, -1, msg, sizeof(msg)) < 0);	/* the retry's own error, once */
	assert_non_null(strstr(msg, "still not recording (180 events lost so far)"));
	unlink(dir);
	assert_int_equal(tick_until(r, &st, 1, msg, sizeof(msg)), 1);
	assert_non_null(strstr(msg, "180 events in the gap were not recorded"));
	events(r, &st, 20);
	assert_int_equal(st.events, 200);	/* the books never stopped */
	assert_int_equal(pm_rec_gaps(r), 1);
	assert_int_equal(pm_rec_unrecorded(r), 180);
	assert_int_equal(pm_rec_close(r, &st, NULL), 0);
	replay_dir(&rp);
	assert_int_equal(rp.st.events, 20);
	assert_int_equal(rp.ngaps, 1);
	assert_int_equal(rp.gaps[0].events, 180);
	assert_int_equal(rp.gap_events, 180);
	assert_true(rp.gaps[0].from_ns >= t0 && rp.gaps[0].from_ns < rp.gaps[0].to_ns);
	assert_int_equal(rp.gaps[0].errs[0], ENOENT);
	assert_true(rp.gaps[0].nerrs >= 2);	/* then what the retries met */
	pm_replay_free(&rp);
	pm_state_free(&st);
}

static void write_refused(void **state)
{
	struct pm_state st;
	struct pm_replay rp;
	struct pm_rec *r;
	struct rlimit old, lim;
	struct stat sb;
	char msg[512];

	(void)state;
	signal(SIGXFSZ, SIG_IGN);
	pm_state_init(&st);
	r = open_rec();
	events(r, &st, 100);
	wait_flushed(r, &st, pm_rec_bytes(r));
	assert_int_equal(stat(pm_rec_path(r), &sb), 0);
	getrlimit(RLIMIT_FSIZE, &old);
	lim = old;
	lim.rlim_cur = (rlim_t)sb.st_size + 64;	/* the next chunk is cut short, then refused */
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	events(r, &st, 400);
	assert_true(tick_until(r, &st, -1, msg, sizeof(msg)) < 0);
	assert_non_null(strstr(msg, "File too large"));
	assert_non_null(strstr(msg, "400 events lost so far"));
	events(r, &st, 10);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	assert_int_equal(tick_until(r, &st, 1, msg, sizeof(msg)), 1);
	events(r, &st, 5);
	assert_int_equal(pm_rec_close(r, &st, NULL), 0);
	replay_dir(&rp);	/* no torn chunk left behind: every file reads clean */
	assert_int_equal(rp.st.events, 105);
	assert_int_equal(rp.ngaps, 1);
	assert_int_equal(rp.gaps[0].events, 410);
	assert_int_equal(rp.gaps[0].errs[0], EFBIG);
	assert_int_equal(rp.stats.bad_chunks + rp.stats.truncated, 0);
	pm_replay_free(&rp);
	pm_state_free(&st);
}

/* No file descriptor for the next file at rotation (EMFILE): the full file is kept, the hole starts then. */
static void no_fd_at_rotation(void **state)
{
	struct pm_rec_opts o = { .dir = dir, .writer = "test", .max_bytes = 1, .max_files = 100 };
	struct pm_state st;
	struct pm_replay rp;
	struct pm_rec *r;
	struct rlimit old, lim;
	char msg[512];

	(void)state;
	pm_state_init(&st);
	assert_int_equal(pm_rec_open(&r, &o, msg, sizeof(msg)), 0);
	events(r, &st, 100);
	getrlimit(RLIMIT_NOFILE, &old);
	lim = old;
	lim.rlim_cur = 3;	/* stdin, stdout, stderr: the next open fails */
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &lim), 0);
	assert_true(tick_until(r, &st, -1, msg, sizeof(msg)) < 0);	/* the rotation */
	assert_non_null(strstr(msg, "next file: Too many open files"));
	events(r, &st, 70);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	assert_int_equal(tick_until(r, &st, 1, msg, sizeof(msg)), 1);
	assert_non_null(strstr(msg, "70 events in the gap"));
	events(r, &st, 5);
	assert_int_equal(pm_rec_close(r, &st, NULL), 0);
	replay_dir(&rp);
	assert_int_equal(rp.st.events, 105);	/* the file before the fault is whole */
	assert_int_equal(rp.ngaps, 1);
	assert_int_equal(rp.gaps[0].events, 70);
	assert_int_equal(rp.gaps[0].errs[0], EMFILE);
	pm_replay_free(&rp);
	pm_state_free(&st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(dir_removed, setup, teardown),
		cmocka_unit_test_setup_teardown(write_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(no_fd_at_rotation, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
