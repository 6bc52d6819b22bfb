/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Where privmemtop's numbers come from: the daemon's socket, the capture
 * BPF loaded in-process (--direct), or a recorded trace (--replay).  Both hand the model the same JSON
 * documents privmemd serves, so one parser serves every source.
 */
#ifndef PRIVMEM_TOP_SOURCE_H
#define PRIVMEM_TOP_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>
#include "capture.h"

struct top_source;

int top_source_socket(struct top_source **out, const char *path);
/* Loads and attaches the capture BPF here (root). 0 or -errno, msg says why. */
int top_source_direct(struct top_source **out, enum pm_syscall_hooks sh, char *msg, size_t len);
/*
 * A trace (privmem-trace(5)) played back from its first record at speed
 * times real time; the clock the model sees is the trace's.
 */
int top_source_replay(struct top_source **out, const char *path, double speed, char *msg, size_t len);
bool top_source_is_replay(const struct top_source *s);
void top_source_play(struct top_source *s, double wall_secs);	/* advance by wall_secs x speed */
void top_source_seek(struct top_source *s, double trace_secs);	/* relative, clamped to the trace */
void top_source_seek_end(struct top_source *s, double before_secs);
void top_source_set_speed(struct top_source *s, double factor);
bool top_source_ended(const struct top_source *s);
/* "END 12.3/45.6s x2 10:15:03Z": position, length, speed, wall time */
void top_source_position(const struct top_source *s, char *buf, size_t len);
/*
 * The current `vms` document (required) and `status` (NULL when the source
 * has none), and the source's clock.  0, or -errno with err set.
 */
int top_source_fetch(struct top_source *s, json_object **vms, json_object **status, uint64_t *now_ns,
		     char *err, size_t len);
/* Lets the source work between fetches (--direct drains the ring buffer). */
void top_source_idle(struct top_source *s);
const char *top_source_name(const struct top_source *s);
void top_source_close(struct top_source *s);

#endif
