// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * One privmemd at a time: the instance lock refuses a second holder (in
 * another process, as a second privmemd is) with a message naming the
 * first's pid and socket, and is free again once the first is gone.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include "instance.h"

static char dir[32], path[64];

/* In a child: tries the lock; exit 0 if it got it, 1 if refused with msg naming want, 2 else. */
static int try_in_child(const char *want)
{
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		char msg[512];
		int fd = pm_instance_lock(path, "/run/other.sock", msg, sizeof(msg));

		if (fd >= 0)
			_exit(0);
		_exit(fd == -EBUSY && strstr(msg, want) && strstr(msg, "another privmemd is running") ? 1 : 2);
	}
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 3;
}

static void second_refused_then_free(void **state)
{
	char msg[512], want[128];
	struct stat st;
	int fd;

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/pm-inst.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/run/privmemd.lock", dir);
	fd = pm_instance_lock(path, "/run/privmem/privmemd.sock", msg, sizeof(msg));
	assert_true(fd >= 0);
	snprintf(want, sizeof(want), "pid %d, socket /run/privmem/privmemd.sock", (int)getpid());
	assert_int_equal(try_in_child(want), 1);
	/* its directory is made root-only, like the socket's */
	snprintf(want, sizeof(want), "%s/run", dir);
	assert_int_equal(stat(want, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	close(fd);
	assert_int_equal(try_in_child(""), 0);
	unlink(path);
	rmdir(want);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(second_refused_then_free),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
