/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * One live session: the capture BPF, the books it feeds, an optional flight
 * recorder, and the upkeep around them (a gone VMM's VMs retired with their
 * final in-kernel counts, fresh in-kernel stats before the books are shown).
 * privmemd, `privmem record` and `privmemtop --direct` all run this one event
 * path, so record, replay and the live views keep the same books.
 *
 * The library never calls up into a program: what a program adds (the
 * daemon's policy for a new VM, verbose logging) comes in as callbacks.
 */
#ifndef PRIVMEM_SESSION_H
#define PRIVMEM_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "capture.h"
#include "recorder.h"
#include "vmstate.h"

/*
 * Destroyed VMs stay in the books, with their final counts, this long and at
 * most this many (the oldest destroyed go first); then they are forgotten
 * (pm_state.forgotten). A host where VMs come and go by the thousand would
 * otherwise keep ~11 KiB for each, forever.
 */
#define PM_KEEP_DESTROYED_S	600
#define PM_MAX_DESTROYED	1024

struct pm_session_keep {
	uint64_t keep_destroyed_s;	/* 0: forgotten at the first upkeep after they went */
	unsigned max_destroyed;		/* 0: none kept */
};

struct pm_session_ops {
	/* first sighting of a VM, or its VM_CREATE: identity is known (cgroup path set) */
	void (*vm_seen)(void *ctx, struct pm_vm *vm);
	/* after the event was booked (vm NULL when it could not be) */
	void (*event)(void *ctx, const struct pm_event *e, const struct pm_vm *vm);
	/* a recorder fault, said once per fault */
	void (*warn)(void *ctx, const char *msg);
	void *ctx;
	/* NULL (or no ops): PM_KEEP_DESTROYED_S and PM_MAX_DESTROYED; copied at open */
	const struct pm_session_keep *keep;
};

struct pm_session;

/* Loads and attaches the capture (co's cb/ctx are the session's). 0 or -errno, msg says why. */
int pm_session_open(struct pm_session **out, const struct pm_capture_opts *co, const struct pm_session_ops *ops,
		    char *msg, size_t len);
/* Starts the flight recorder (hooks come from the capture). 0 or -errno, msg says why. */
int pm_session_record(struct pm_session *s, struct pm_rec_opts *ro, char *msg, size_t len);
/*
 * Waits up to timeout_ms for events and handles them, then does the upkeep
 * that is due: the recorder's tick, and once a second the reaping of VMMs
 * that are gone and the forgetting of destroyed VMs past the session's keep
 * limits. Records handled, or -errno from the ring buffer.
 */
int pm_session_poll(struct pm_session *s, int timeout_ms);
/* The books as of now: live VMs' in-kernel stats and the loss count refreshed. */
struct pm_state *pm_session_refresh(struct pm_session *s);
struct pm_state *pm_session_state(struct pm_session *s);
struct pm_capture *pm_session_capture(struct pm_session *s);
struct pm_rec *pm_session_recorder(struct pm_session *s);	/* NULL when not recording */
/* Drains what the kernel still holds, then closes the recorder: 0 or its -errno. */
int pm_session_stop_recording(struct pm_session *s);
void pm_session_close(struct pm_session *s);

#endif
