/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * One privmemd per host: every instance would load its programs against the
 * same pinned maps (/sys/fs/bpf/privmem) and bind the same socket, so a
 * second one is refused while the first holds an flock on this file.
 */
#ifndef PRIVMEM_INSTANCE_H
#define PRIVMEM_INSTANCE_H

#include <stddef.h>

#define PM_INSTANCE_LOCK "/run/privmem/privmemd.lock"

/*
 * Takes the lock at path (its directory made 0700 if missing) and writes
 * "PID SOCKET" into it. The fd to keep open for the process's life, or
 * -errno: -EBUSY when another instance holds it, msg naming that one.
 */
int pm_instance_lock(const char *path, const char *sock_path, char *msg, size_t len);

#endif
