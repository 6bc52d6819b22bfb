/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Prometheus /metrics for privmemd.  The renderer (metrics_render.c) is
 * pure, state in and text out, so unit tests check it; the server
 * (metrics_http.c) is libmicrohttpd on a thread of its own, rendering
 * snapshots of the books that the daemon's thread copies for it
 * (metrics_http.c says how), never the live books.
 */
#ifndef PRIVMEM_METRICS_H
#define PRIVMEM_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "hooks.h"
#include "vmstate.h"

#define PM_METRICS_MAX_BYTES	(16u << 20)	/* a response never exceeds this */
#define PM_METRICS_DEFAULT_PORT	9464
/* Hostile or slow scrapers: what all of them together, and each, may hold. */
#define PM_METRICS_MAX_CONNS		32
#define PM_METRICS_MAX_CONNS_PER_IP	8
#define PM_METRICS_TIMEOUT_S		10	/* an idle connection is dropped */
#define PM_METRICS_REQ_MEMORY		(32u << 10)	/* a request's headers */
/*
 * A scrape asks the daemon for a fresh snapshot of the books unless the
 * newest is younger than this, or than 20 times what the last copy took
 * (so copies cost the event loop 5% at most) ...
 */
#define PM_METRICS_MIN_GAP_MS		100
/* ... and waits at most this long for it (then it gets the newest there is). */
#define PM_METRICS_WAIT_MS		1000

/* Everything one scrape shows; filled by the daemon right before rendering. */
struct pm_metrics_view {
	const struct pm_state *st;
	const struct pm_hook_status *hooks;
	unsigned nhooks;
	const char *policy_mode;	/* "none" until a policy is loaded */
	uint64_t lost;			/* ring-buffer drops, host total */
	uint64_t keep_destroyed_s;	/* how long, and how many, destroyed VMs are kept */
	unsigned max_destroyed;
};

enum pm_metrics_format {
	PM_METRICS_TEXT,		/* text/plain; version=0.0.4 */
	PM_METRICS_OPENMETRICS,		/* application/openmetrics-text; version=1.0.0 */
};

/*
 * Renders the exposition text into a malloc'ed, NUL-terminated buffer of at
 * most max bytes (VMs that do not fit are left out and counted in
 * privmem_metrics_vms_omitted).  Returns NULL only when out of memory.
 */
char *pm_metrics_render(const struct pm_metrics_view *v, enum pm_metrics_format fmt, size_t max, size_t *len);
/* Exposition-format escaping of a label value (\\, \", \n; bad UTF-8 -> '?'). */
size_t pm_metrics_escape(char *dst, size_t cap, const char *src);

struct pm_metrics;
typedef void (*pm_metrics_view_fn)(void *ctx, struct pm_metrics_view *v);

/*
 * Listens on spec, "ADDR:PORT" or "[ADDR6]:PORT" with a numeric address
 * (port 0 picks a free one).  0 or -errno; msg says why on error.
 */
int pm_metrics_open(struct pm_metrics **out, const char *spec, pm_metrics_view_fn fn, void *ctx,
		    char *msg, size_t len);
/* Whether spec is one pm_metrics_open would take (a usage error otherwise): 0 or -EINVAL, msg says why. */
int pm_metrics_check_spec(const char *spec, char *msg, size_t len);
/*
 * From the daemon's loop, the only thread that may read the books: when a
 * scrape has asked for a fresh snapshot, fills a view (fn) and publishes a
 * copy of it to the server. Otherwise returns at once.
 */
void pm_metrics_run(struct pm_metrics *m);
/* "http://127.0.0.1:9464/metrics", with the port actually bound. */
const char *pm_metrics_url(const struct pm_metrics *m);
uint64_t pm_metrics_scrapes(const struct pm_metrics *m);
/* Snapshots the daemon's thread took for them (at most one per PM_METRICS_MIN_GAP_MS). */
uint64_t pm_metrics_snapshots(const struct pm_metrics *m);
void pm_metrics_close(struct pm_metrics *m);

#endif
