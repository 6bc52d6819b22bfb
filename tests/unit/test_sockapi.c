// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * privmemd's socket layer, without the daemon: the file mode and group it
 * gives the socket, the peer credentials it reads (clients forked as other
 * users), and the deadline that cuts off a client trickling its command.
 * The user switches need root; without it those cases are skipped, said so.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include "sockapi.h"

#define NOBODY 65534

static char dir[32], path[96];

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int connect_to(const char *p)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(a.sun_path, sizeof(a.sun_path), "%s", p);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)))
		return -1;
	return fd;
}

/*
 * A client as uid/gid (no supplementary groups) that sends "status" and
 * waits for the server to close. Exits 0 if it connected.
 */
static pid_t client_as(uid_t uid, gid_t gid)
{
	pid_t pid = fork();

	if (pid == 0) {
		char buf[64];
		int fd;

		if (setgroups(0, NULL) || setgid(gid) || setuid(uid))
			_exit(3);
		fd = connect_to(path);
		if (fd < 0)
			_exit(errno == EACCES ? 4 : 5);
		if (write(fd, "status\n", 7) != 7)
			_exit(6);
		while (read(fd, buf, sizeof(buf)) > 0)
			;
		_exit(0);
	}
	return pid;
}

/* The next client, waiting up to 5 s for one to connect (a forked child takes its time). */
static int accept_within(int lfd, char *cmd, size_t len, struct pm_sock_peer *peer)
{
	uint64_t end = now_ms() + 5000;
	int cfd;

	while ((cfd = pm_sock_accept(lfd, cmd, len, peer)) == -EAGAIN && now_ms() < end) {
		struct timespec ts = { 0, 10000000 };

		nanosleep(&ts, NULL);
	}
	return cfd;
}

static int wait_rc(pid_t pid)
{
	int st;

	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/pm-sockapi.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/sub/s.sock", dir);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void root_only_by_default(void **state)
{
	struct pm_sock_peer peer;
	struct stat st;
	char cmd[PM_SOCK_MAX_REQ];
	int lfd, cfd, fd;

	(void)state;
	lfd = pm_sock_listen(path, PM_SOCK_NO_GROUP);
	assert_true(lfd >= 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	fd = connect_to(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "vms\n", 4), 4);
	cfd = pm_sock_accept(lfd, cmd, sizeof(cmd), &peer);
	assert_true(cfd >= 0);
	assert_string_equal(cmd, "vms");
	assert_int_equal(peer.uid, geteuid());
	assert_int_equal(peer.pid, getpid());
	assert_true(pm_sock_peer_allowed(&peer, PM_SOCK_NO_GROUP));
	close(cfd);
	close(fd);
	if (geteuid() == 0) {
		/* nobody is kept out by the mode: connect() fails with EACCES */
		assert_int_equal(wait_rc(client_as(NOBODY, NOBODY)), 4);
	} else {
		print_message("SKIP root_only_by_default/nobody: needs root to switch users\n");
	}
	close(lfd);
	unlink(path);
}

static void group_members_only(void **state)
{
	struct pm_sock_peer peer;
	struct stat st;
	char cmd[PM_SOCK_MAX_REQ];
	int lfd, cfd;
	pid_t c;

	(void)state;
	if (geteuid() != 0) {
		print_message("SKIP group_members_only: needs root to switch users\n");
		skip();
	}
	lfd = pm_sock_listen(path, NOBODY);
	assert_true(lfd >= 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0660);
	assert_int_equal(st.st_gid, NOBODY);
	/* the directory privmemd made is opened to the group, and only to it */
	{
		char d[128];

		snprintf(d, sizeof(d), "%s/sub", dir);
		assert_int_equal(stat(d, &st), 0);
		assert_int_equal(st.st_mode & 0777, 0750);
		assert_int_equal(st.st_gid, NOBODY);
		chmod(dir, 0755);	/* mkdtemp's own is 0700 */
	}
	/* a member (its primary group) gets in and is allowed */
	c = client_as(NOBODY, NOBODY);
	cfd = accept_within(lfd, cmd, sizeof(cmd), &peer);
	assert_true(cfd >= 0);
	assert_string_equal(cmd, "status");
	assert_int_equal(peer.uid, NOBODY);
	assert_int_equal(peer.pid, c);
	assert_true(pm_sock_peer_allowed(&peer, NOBODY));
	close(cfd);
	assert_int_equal(wait_rc(c), 0);
	/* a non-member: the mode keeps it out; opened up, the credentials still say no */
	assert_int_equal(wait_rc(client_as(NOBODY, 1)), 4);
	{
		char d[128];

		snprintf(d, sizeof(d), "%s/sub", dir);
		chmod(d, 0755);
		chmod(path, 0666);
	}
	c = client_as(NOBODY, 1);
	cfd = accept_within(lfd, cmd, sizeof(cmd), &peer);
	assert_true(cfd >= 0);
	assert_int_equal(peer.uid, NOBODY);
	assert_int_equal(peer.gid, 1);
	assert_int_equal(peer.ngroups, 0);
	assert_false(pm_sock_peer_allowed(&peer, NOBODY));
	assert_false(pm_sock_peer_allowed(&peer, PM_SOCK_NO_GROUP));
	close(cfd);
	assert_int_equal(wait_rc(c), 0);
	close(lfd);
	unlink(path);
}

/* One byte every 50 ms, never a newline: pm_sock_accept returns at the deadline. */
static void trickler_cut_off(void **state)
{
	struct pm_sock_peer peer;
	char cmd[PM_SOCK_MAX_REQ];
	uint64_t t0, dt;
	pid_t c;
	int lfd, cfd;

	(void)state;
	lfd = pm_sock_listen(path, PM_SOCK_NO_GROUP);
	assert_true(lfd >= 0);
	c = fork();
	if (c == 0) {
		int fd = connect_to(path);

		for (int i = 0; fd >= 0 && i < 200; i++) {
			struct timespec ts = { 0, 50000000 };

			if (send(fd, "x", 1, MSG_NOSIGNAL) != 1)
				_exit(0);
			nanosleep(&ts, NULL);
		}
		_exit(1);
	}
	for (;;) {
		struct timespec ts = { 0, 5000000 };

		t0 = now_ms();
		cfd = pm_sock_accept(lfd, cmd, sizeof(cmd), &peer);
		if (cfd != -EAGAIN)
			break;
		nanosleep(&ts, NULL);
	}
	dt = now_ms() - t0;
	assert_true(cfd >= 0);
	close(cfd);
	print_message("trickler held accept %llu ms, got '%s'\n", (unsigned long long)dt, cmd);
	assert_true(dt < PM_SOCK_REQ_MS + 100);
	assert_true(strlen(cmd) <= PM_SOCK_REQ_MS / 50 + 1);
	kill(c, SIGKILL);
	wait_rc(c);
	close(lfd);
	unlink(path);
}

/* --socket-group never opens up a shared parent (it once made /tmp 0750) */
static void shared_parent_left_alone(void **state)
{
	char sock[128];
	struct stat st;
	int lfd;

	(void)state;
	if (geteuid() != 0) {
		print_message("skipped: needs root to hand the socket to a group\n");
		skip();
	}
	assert_int_equal(chmod(dir, 01777), 0);	/* as /tmp is */
	snprintf(sock, sizeof(sock), "%s/s.sock", dir);
	lfd = pm_sock_listen(sock, NOBODY);
	assert_true(lfd >= 0);
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 07777, 01777);
	assert_int_equal(st.st_gid, 0);
	assert_int_equal(stat(sock, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0660);
	close(lfd);
	unlink(sock);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(root_only_by_default),
		cmocka_unit_test(group_members_only),
		cmocka_unit_test(trickler_cut_off),
		cmocka_unit_test(shared_parent_left_alone),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
