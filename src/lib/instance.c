// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include "instance.h"

static void make_dir_of(const char *path)
{
	char dir[256];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		mkdir(dir, 0700);
	}
}

/* What the holder wrote: "PID SOCKET", for the refusal message. */
static void holder(int fd, char *out, size_t len)
{
	char buf[320] = "";
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	unsigned pid = 0;
	char sock[300] = "?";

	if (n > 0)
		buf[n] = '\0';
	if (sscanf(buf, "%u %299s", &pid, sock) >= 1)
		snprintf(out, len, "pid %u, socket %s", pid, sock);
	else
		snprintf(out, len, "pid unknown");
}

int pm_instance_lock(const char *path, const char *sock_path, char *msg, size_t len)
{
	char who[360], line[320];
	int fd, n;

	make_dir_of(path);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		snprintf(msg, len, "cannot open the instance lock %s: %s", path, strerror(errno));
		return -errno;
	}
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		int err = errno;

		holder(fd, who, sizeof(who));
		close(fd);
		if (err == EWOULDBLOCK) {
			snprintf(msg, len, "another privmemd is running (%s; lock %s): one at a time, "
				 "as they would share the pinned maps and the socket", who, path);
			return -EBUSY;
		}
		snprintf(msg, len, "cannot lock %s: %s", path, strerror(err));
		return -err;
	}
	n = snprintf(line, sizeof(line), "%d %s\n", (int)getpid(), sock_path);
	if (ftruncate(fd, 0) || pwrite(fd, line, (size_t)n, 0) != n) {
		int err = errno ? errno : EIO;

		snprintf(msg, len, "cannot write %s: %s", path, strerror(err));
		close(fd);
		return -err;
	}
	return fd;
}
