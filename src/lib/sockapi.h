/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * privmemd's UNIX-socket API: a client sends one command line ("status",
 * "vms"), the daemon answers with one JSON document and closes.
 */
#ifndef PRIVMEM_SOCKAPI_H
#define PRIVMEM_SOCKAPI_H

#include <stddef.h>

#define PM_SOCK_MAX_REQ 256

/* Listening socket, mode 0600 (root only) unless mode says otherwise. */
int pm_sock_listen(const char *path, unsigned mode);
/* Accepts one client and reads its command (NUL-terminated, newline cut). */
int pm_sock_accept(int lfd, char *cmd, size_t len);
int pm_sock_reply(int cfd, const char *text);

enum pm_sock_cmd { PM_CMD_UNKNOWN, PM_CMD_STATUS, PM_CMD_VMS, PM_CMD_RELOAD };
/* The command a line names (what pm_sock_accept read); exact words only. */
enum pm_sock_cmd pm_sock_parse(const char *line);
/* Client: sends cmd, returns the malloc'ed reply in *out. 0 or -errno. */
int pm_sock_request(const char *path, const char *cmd, char **out);

#endif
