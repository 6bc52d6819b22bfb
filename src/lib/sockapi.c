// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include "sockapi.h"

static int fill_addr(struct sockaddr_un *a, const char *path)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(a->sun_path))
		return -ENAMETOOLONG;
	strcpy(a->sun_path, path);
	return 0;
}

static void make_parent(const char *path, gid_t group)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct stat st;
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return;
	*slash = '\0';
	mkdir(dir, 0700);
	/*
	 * The group must be able to reach the socket, but only a directory of
	 * privmemd's own is opened up: ours, private to us so far (a 0700 or
	 * 0750 one we made, now or on an earlier start), never a shared one
	 * such as /tmp (root's too, but sticky and world-writable).
	 */
	if (group != PM_SOCK_NO_GROUP && stat(dir, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid() &&
	    !(st.st_mode & (S_ISVTX | S_IWGRP | 0007)) && chown(dir, (uid_t)-1, group) == 0)
		chmod(dir, 0750);
}

int pm_sock_listen(const char *path, gid_t group)
{
	struct sockaddr_un a;
	int fd, err = fill_addr(&a, path);

	if (err)
		return err;
	make_parent(path, group);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	unlink(path);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) ||
	    (group != PM_SOCK_NO_GROUP && chown(path, (uid_t)-1, group)) ||
	    chmod(path, group != PM_SOCK_NO_GROUP ? 0660 : 0600) || listen(fd, 64)) {
		err = -errno;
		close(fd);
		unlink(path);
		return err;
	}
	return fd;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Milliseconds left until deadline, 0 when past it. */
static int left_ms(uint64_t deadline)
{
	uint64_t now = mono_ms();

	return now >= deadline ? 0 : (int)(deadline - now);
}

static int peer_creds(int cfd, struct pm_sock_peer *peer)
{
	struct ucred uc;
	socklen_t sl = sizeof(uc);

	memset(peer, 0, sizeof(*peer));
	if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &uc, &sl))
		return -errno;
	peer->pid = uc.pid;
	peer->uid = uc.uid;
	peer->gid = uc.gid;
	sl = sizeof(peer->groups);
	/* ERANGE: more groups than we keep; the primary one and the first 64 still count */
	if (getsockopt(cfd, SOL_SOCKET, SO_PEERGROUPS, peer->groups, &sl) == 0 || errno == ERANGE)
		peer->ngroups = sl / sizeof(gid_t) < 64 ? sl / sizeof(gid_t) : 64;
	return 0;
}

int pm_sock_accept(int lfd, char *cmd, size_t len, struct pm_sock_peer *peer)
{
	struct pollfd p;
	size_t got = 0;
	uint64_t deadline;
	int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK), err;

	if (cfd < 0)
		return -errno;
	err = peer_creds(cfd, peer);
	if (err) {
		close(cfd);
		return err;
	}
	deadline = mono_ms() + PM_SOCK_REQ_MS;
	p.fd = cfd;
	p.events = POLLIN;
	while (got < len - 1) {
		ssize_t n;
		int ms = left_ms(deadline);

		if (!ms || poll(&p, 1, ms) <= 0)
			break;
		n = read(cfd, cmd + got, len - 1 - got);
		if (n < 0 && errno == EAGAIN)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
		if (memchr(cmd, '\n', got))
			break;
	}
	cmd[got] = '\0';
	cmd[strcspn(cmd, "\r\n")] = '\0';
	return cfd;
}

bool pm_sock_peer_allowed(const struct pm_sock_peer *p, gid_t group)
{
	if (p->uid == 0 || p->uid == geteuid())
		return true;
	if (group == PM_SOCK_NO_GROUP)
		return false;
	if (p->gid == group)
		return true;
	for (unsigned i = 0; i < p->ngroups; i++)
		if (p->groups[i] == group)
			return true;
	return false;
}

enum pm_sock_cmd pm_sock_parse(const char *line)
{
	static const struct { const char *word; enum pm_sock_cmd cmd; } words[] = {
		{ "status", PM_CMD_STATUS }, { "vms", PM_CMD_VMS }, { "reload", PM_CMD_RELOAD },
	};

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strcmp(line, words[i].word) == 0)
			return words[i].cmd;
	return PM_CMD_UNKNOWN;
}

int pm_sock_reply(int cfd, const char *text)
{
	size_t len = strlen(text), off = 0;
	struct pollfd p = { .fd = cfd, .events = POLLOUT };
	uint64_t deadline = mono_ms() + PM_SOCK_REPLY_MS;

	while (off < len) {
		ssize_t n = write(cfd, text + off, len - off);

		if (n < 0 && errno == EAGAIN) {
			int ms = left_ms(deadline);

			if (!ms || poll(&p, 1, ms) <= 0)
				return -ETIMEDOUT;
			continue;
		}
		if (n <= 0)
			return n < 0 ? -errno : -EPIPE;
		off += (size_t)n;
	}
	return 0;
}

int pm_sock_request(const char *path, const char *cmd, char **out)
{
	struct sockaddr_un a;
	size_t cap = 65536, len = 0;
	char *buf;
	int fd, err = fill_addr(&a, path);

	if (err)
		return err;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) ||
	    write(fd, cmd, strlen(cmd)) < 0 || write(fd, "\n", 1) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	buf = malloc(cap);
	while (buf) {
		ssize_t n;

		if (len + 1 >= cap) {
			char *nb = realloc(buf, cap *= 2);

			if (!nb) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (!buf)
		return -ENOMEM;
	buf[len] = '\0';
	*out = buf;
	return 0;
}
