// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* sockjunk SOCKET: what a careless or hostile client sends privmemd. */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int conn(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		perror("connect");
		return -1;
	}
	return fd;
}

int main(int argc, char **argv)
{
	char big[8192], buf[4096];
	int fd;

	if (argc != 2)
		return 2;
	/* silent client, then one that hangs up at once */
	if ((fd = conn(argv[1])) < 0)
		return 1;
	sleep(1);
	close(fd);
	if ((fd = conn(argv[1])) < 0)
		return 1;
	close(fd);
	/* an overlong line of binary junk */
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)(i * 7 + 1);
	if ((fd = conn(argv[1])) < 0)
		return 1;
	if (write(fd, big, sizeof(big)) < 0)
		perror("write");
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	close(fd);
	/* an unknown command gets a JSON error */
	if ((fd = conn(argv[1])) < 0)
		return 1;
	if (write(fd, "frobnicate\n", 11) < 0)
		return 1;
	memset(buf, 0, sizeof(buf));
	if (read(fd, buf, sizeof(buf) - 1) <= 0 || !strstr(buf, "\"error\""))
		return 1;
	close(fd);
	return 0;
}
