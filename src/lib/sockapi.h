/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * privmemd's UNIX-socket API: a client sends one command line ("status",
 * "vms"), the daemon answers with one JSON document and closes.
 */
#ifndef PRIVMEM_SOCKAPI_H
#define PRIVMEM_SOCKAPI_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define PM_SOCK_MAX_REQ 256
/*
 * A client has this long in all to send its command, and to take the whole
 * reply: the daemon serves one client at a time between ring-buffer reads,
 * so a slow or silent one must cost it at most these, however it trickles.
 */
#define PM_SOCK_REQ_MS		200
#define PM_SOCK_REPLY_MS	2000
#define PM_SOCK_NO_GROUP	((gid_t)-1)

/* Who is on the other end (SO_PEERCRED, SO_PEERGROUPS: as of its connect()). */
struct pm_sock_peer {
	pid_t pid;
	uid_t uid;
	gid_t gid;
	gid_t groups[64];
	unsigned ngroups;
};

/*
 * Listening socket at path: mode 0600, root only; with a group (not
 * PM_SOCK_NO_GROUP), 0660 and that group, and the directory privmemd
 * makes for it 0750 and that group.
 */
int pm_sock_listen(const char *path, gid_t group);
/*
 * Accepts one client, gets its credentials and reads its command
 * (NUL-terminated, newline cut) within PM_SOCK_REQ_MS in all. The fd, or
 * -errno (-EAGAIN: nobody was waiting).
 */
int pm_sock_accept(int lfd, char *cmd, size_t len, struct pm_sock_peer *peer);
/* The file mode lets root and the socket group in; this says so again for the peer itself. */
bool pm_sock_peer_allowed(const struct pm_sock_peer *p, gid_t group);
/* The whole reply within PM_SOCK_REPLY_MS, or -ETIMEDOUT (the client is dropped). */
int pm_sock_reply(int cfd, const char *text);

enum pm_sock_cmd { PM_CMD_UNKNOWN, PM_CMD_STATUS, PM_CMD_VMS, PM_CMD_RELOAD };
/* The command a line names (what pm_sock_accept read); exact words only. */
enum pm_sock_cmd pm_sock_parse(const char *line);
/* Client: sends cmd, returns the malloc'ed reply in *out. 0 or -errno. */
int pm_sock_request(const char *path, const char *cmd, char **out);

#endif
