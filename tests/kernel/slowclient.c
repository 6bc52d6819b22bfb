// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * slowclient SOCKET trickle|silent: a client that holds privmemd's socket
 * as long as the daemon lets it. trickle sends one byte every 100 ms and
 * never a newline; silent sends nothing. Either way it prints how many
 * milliseconds passed until the daemon hung up (or answered), and exits 0,
 * or 1 if it was still connected after 60 s.
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* True once the daemon hung up or said something. */
static int daemon_done(int fd, int wait_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char buf[4096];

	if (poll(&p, 1, wait_ms) <= 0)
		return 0;
	return read(fd, buf, sizeof(buf)) >= 0 || errno != EAGAIN;
}

int main(int argc, char **argv)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd, trickle;
	uint64_t t0;

	if (argc != 3 || (strcmp(argv[2], "trickle") && strcmp(argv[2], "silent"))) {
		fprintf(stderr, "usage: slowclient SOCKET trickle|silent\n");
		return 2;
	}
	trickle = !strcmp(argv[2], "trickle");
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", argv[1]);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		fprintf(stderr, "slowclient: connect %s: %s\n", argv[1], strerror(errno));
		return 2;
	}
	t0 = now_ms();
	while (now_ms() - t0 < 60000) {
		if (trickle && send(fd, "s", 1, MSG_NOSIGNAL) != 1) {
			printf("%llu\n", (unsigned long long)(now_ms() - t0));
			return 0;
		}
		if (daemon_done(fd, 100)) {
			printf("%llu\n", (unsigned long long)(now_ms() - t0));
			return 0;
		}
	}
	printf("60000+\n");
	return 1;
}
