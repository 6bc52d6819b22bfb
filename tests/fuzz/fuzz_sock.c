// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * libFuzzer: what a client sends on privmemd's UNIX socket, through a real
 * socket: pm_sock_accept's read (cut at the first newline or the size
 * limit), the dispatch (pm_sock_parse) and a reply, as the daemon serves it.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <json-c/json.h>
#include "sockapi.h"
#include "vmjson.h"
#include "vmstate.h"

static int lfd = -1;
static char path[108];
static struct pm_state st;

static void cleanup(void)
{
	unlink(path);
}

static void setup(void)
{
	struct pm_event e = { .ts = 1, .vm = 0x5965a285e4197cb3ull, .pid = 1, .type = PM_EV_VM_CREATE };

	snprintf(path, sizeof(path), "/tmp/privmem-fuzz-sock.%d", getpid());
	lfd = pm_sock_listen(path, 0600);
	if (lfd < 0) {
		fprintf(stderr, "fuzz_sock: listen %s: %s\n", path, strerror(-lfd));
		abort();
	}
	atexit(cleanup);
	pm_state_init(&st);
	pm_state_apply(&st, &e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	char cmd[PM_SOCK_MAX_REQ], reply[4096];
	struct pm_sock_peer peer;
	json_object *o;
	int fd, cfd;

	if (lfd < 0)
		setup();
	if (size > 4096)
		return 0;	/* the daemon reads at most PM_SOCK_MAX_REQ; more only fills the buffer */
	memcpy(a.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)))
		abort();
	if (size && write(fd, data, size) != (ssize_t)size)
		abort();
	shutdown(fd, SHUT_WR);	/* a client that is done: the read ends at EOF, not at the deadline */
	cfd = pm_sock_accept(lfd, cmd, sizeof(cmd), &peer);
	if (cfd < 0 || peer.uid != geteuid())
		abort();
	if (strlen(cmd) >= sizeof(cmd) || strpbrk(cmd, "\r\n"))
		abort();
	switch (pm_sock_parse(cmd)) {
	case PM_CMD_VMS:
		o = pm_json_vms(&st, NULL, 0);
		break;
	case PM_CMD_STATUS:
	case PM_CMD_RELOAD:
		o = json_object_new_object();
		json_object_object_add(o, "events", json_object_new_uint64(st.events));
		break;
	default:
		o = json_object_new_object();
		json_object_object_add(o, "error", json_object_new_string("unknown command"));
		break;
	}
	if (pm_sock_reply(cfd, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN)))
		abort();
	json_object_put(o);
	close(cfd);
	while (read(fd, reply, sizeof(reply)) > 0)
		;
	close(fd);
	return 0;
}
