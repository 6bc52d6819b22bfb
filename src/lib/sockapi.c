// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include "sockapi.h"

/* A client gets this long to send its command: a silent one must not stall capture. */
#define PM_SOCK_CLIENT_MS 200

static int fill_addr(struct sockaddr_un *a, const char *path)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(a->sun_path))
		return -ENAMETOOLONG;
	strcpy(a->sun_path, path);
	return 0;
}

static void make_parent(const char *path)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		mkdir(dir, 0700);
	}
}

int pm_sock_listen(const char *path, unsigned mode)
{
	struct sockaddr_un a;
	int fd, err = fill_addr(&a, path);

	if (err)
		return err;
	make_parent(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	unlink(path);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || chmod(path, mode) || listen(fd, 64)) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

int pm_sock_accept(int lfd, char *cmd, size_t len)
{
	struct pollfd p;
	size_t got = 0;
	int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (cfd < 0)
		return -errno;
	p.fd = cfd;
	p.events = POLLIN;
	while (got < len - 1) {
		ssize_t n;

		if (poll(&p, 1, PM_SOCK_CLIENT_MS) <= 0)
			break;
		n = read(cfd, cmd + got, len - 1 - got);
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

	while (off < len) {
		ssize_t n = write(cfd, text + off, len - off);

		if (n < 0 && errno == EAGAIN) {
			if (poll(&p, 1, 1000) <= 0)
				return -ETIMEDOUT;
			continue;
		}
		if (n <= 0)
			return -errno;
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
