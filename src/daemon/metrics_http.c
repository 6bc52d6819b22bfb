// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * privmemd's /metrics server: libmicrohttpd on a thread of its own, which
 * renders snapshots of the books the daemon's loop copies for it on demand
 * (pm_metrics_run), never the live books; limits on what clients may hold.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#ifndef PM_NO_HTTP
#include <microhttpd.h>
#endif
#include "metrics.h"

#ifdef PM_NO_HTTP
/* Static builds (the VM test bed) have no libmicrohttpd: say so, serve nothing. */
int pm_metrics_open(struct pm_metrics **out, const char *spec, pm_metrics_view_fn fn, void *ctx,
		    char *msg, size_t len)
{
	(void)spec, (void)fn, (void)ctx;
	*out = NULL;
	snprintf(msg, len, "metrics: this privmemd was built without libmicrohttpd");
	return -EOPNOTSUPP;
}
int pm_metrics_check_spec(const char *spec, char *msg, size_t len) { (void)spec, (void)msg, (void)len; return 0; }
void pm_metrics_run(struct pm_metrics *m) { (void)m; }
const char *pm_metrics_url(const struct pm_metrics *m) { (void)m; return ""; }
uint64_t pm_metrics_scrapes(const struct pm_metrics *m) { (void)m; return 0; }
uint64_t pm_metrics_snapshots(const struct pm_metrics *m) { (void)m; return 0; }
void pm_metrics_close(struct pm_metrics *m) { (void)m; }
#else

/*
 * The server runs on libmicrohttpd's own thread and never touches the
 * daemon's books: the daemon's thread copies them into a snapshot when a
 * scrape asks for one (pm_metrics_run; at most one per PM_METRICS_MIN_GAP_MS,
 * or per 20 copy times, however many scrape), and this thread renders each
 * snapshot once per format and serves it to every scrape while it is the
 * newest. So the ring-buffer reader pays a bounded share of its time for
 * copies and never a render, and a flood of scrapes or slow scrapers costs
 * it nothing more.
 */
struct snap {
	struct pm_state st;
	struct pm_hook_status hooks[PM_HOOK_MAX];
	unsigned nhooks;
	char policy_mode[16];
	uint64_t lost;
	uint64_t keep_destroyed_s;
	unsigned max_destroyed;
	uint64_t taken_ms;
	char *text[2];			/* rendered, by enum pm_metrics_format */
	size_t len[2];
	unsigned refs;			/* the server's current one + scrapes in flight */
};

struct pm_metrics {
	struct MHD_Daemon *mhd;
	pm_metrics_view_fn fn;
	void *ctx;
	char url[96];
	pthread_mutex_t lock;		/* cur, gen, wanted, scrapes, refs */
	pthread_cond_t published;
	struct snap *cur;
	uint64_t gen;
	bool wanted;
	uint64_t gap_ms;		/* snapshots no closer than this */
	uint64_t scrapes, snapshots;
};

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void snap_free(struct snap *s)
{
	if (!s)
		return;
	pm_state_free(&s->st);
	free(s->text[0]);
	free(s->text[1]);
	free(s);
}

/* Drops a reference; the caller holds m->lock. The last one frees (after unlock). */
static struct snap *snap_unref(struct snap *s)
{
	return s && --s->refs == 0 ? s : NULL;
}

static struct snap *snap_take(const struct pm_metrics_view *v)
{
	struct snap *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	if (pm_state_copy(&s->st, v->st)) {
		snap_free(s);
		return NULL;
	}
	s->nhooks = v->nhooks < PM_HOOK_MAX ? v->nhooks : PM_HOOK_MAX;
	memcpy(s->hooks, v->hooks, s->nhooks * sizeof(s->hooks[0]));
	snprintf(s->policy_mode, sizeof(s->policy_mode), "%s", v->policy_mode ? v->policy_mode : "none");
	s->lost = v->lost;
	s->keep_destroyed_s = v->keep_destroyed_s;
	s->max_destroyed = v->max_destroyed;
	s->taken_ms = mono_ms();
	s->refs = 1;
	return s;
}

void pm_metrics_run(struct pm_metrics *m)
{
	struct pm_metrics_view v = { 0 };
	struct snap *s, *old;
	uint64_t t0, took;

	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	if (!m->wanted) {
		pthread_mutex_unlock(&m->lock);
		return;
	}
	pthread_mutex_unlock(&m->lock);
	t0 = mono_ms();
	m->fn(m->ctx, &v);
	s = snap_take(&v);
	took = mono_ms() - t0;
	pthread_mutex_lock(&m->lock);
	m->gap_ms = 20 * took > PM_METRICS_MIN_GAP_MS ? 20 * took : PM_METRICS_MIN_GAP_MS;
	old = NULL;
	if (s) {
		old = snap_unref(m->cur);
		m->cur = s;
		m->gen++;
		m->snapshots++;
	}
	m->wanted = false;	/* out of memory: the scrape gets the last one, or a 503 */
	pthread_cond_broadcast(&m->published);
	pthread_mutex_unlock(&m->lock);
	if (old) {
		snap_free(old);
		/* a snapshot is megabytes of small blocks (500 VMs: 8.5 MB of text, 5 MB of books): give them back */
		malloc_trim(0);
	}
}

/* The newest snapshot, asking the daemon for a fresher one first when it is stale. Referenced. */
static struct snap *snap_get(struct pm_metrics *m)
{
	struct snap *s;

	pthread_mutex_lock(&m->lock);
	if (!m->cur || mono_ms() - m->cur->taken_ms >= m->gap_ms) {
		uint64_t gen = m->gen, deadline = mono_ms() + PM_METRICS_WAIT_MS;

		m->wanted = true;
		while (m->gen == gen && m->wanted) {
			struct timespec ts;
			uint64_t now = mono_ms();

			if (now >= deadline)
				break;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += (time_t)((deadline - now) / 1000);
			ts.tv_nsec += (long)((deadline - now) % 1000) * 1000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&m->published, &m->lock, &ts);
		}
	}
	s = m->cur;
	if (s)
		s->refs++;
	pthread_mutex_unlock(&m->lock);
	return s;
}

static void snap_put(struct pm_metrics *m, struct snap *s)
{
	pthread_mutex_lock(&m->lock);
	s = snap_unref(s);
	pthread_mutex_unlock(&m->lock);
	snap_free(s);
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned code, const char *type, const char *body, size_t len)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (code == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ret = MHD_queue_response(c, code, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
				  const char *version, const char *upload, size_t *upload_len, void **con_cls)
{
	static const char not_found[] = "privmemd serves /metrics only\n";
	static const char bad_method[] = "GET or HEAD only\n";
	static const char no_books[] = "privmemd: no snapshot of the books yet, try again\n";
	struct pm_metrics *m = cls;
	enum pm_metrics_format fmt = PM_METRICS_TEXT;
	const char *accept;
	enum MHD_Result ret;
	struct snap *s;

	(void)version, (void)upload, (void)upload_len, (void)con_cls;
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", bad_method, strlen(bad_method));
	if (strcmp(url, "/metrics"))
		return reply(c, MHD_HTTP_NOT_FOUND, "text/plain", not_found, strlen(not_found));
	accept = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
	if (accept && strstr(accept, "application/openmetrics-text"))
		fmt = PM_METRICS_OPENMETRICS;
	s = snap_get(m);
	if (!s)
		return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain", no_books, strlen(no_books));
	/* one server thread: a snapshot's text is rendered here and nowhere else */
	if (!s->text[fmt]) {
		struct pm_metrics_view v = {
			.st = &s->st, .hooks = s->hooks, .nhooks = s->nhooks,
			.policy_mode = s->policy_mode, .lost = s->lost,
			.keep_destroyed_s = s->keep_destroyed_s, .max_destroyed = s->max_destroyed,
		};

		s->text[fmt] = pm_metrics_render(&v, fmt, PM_METRICS_MAX_BYTES, &s->len[fmt]);
	}
	if (!s->text[fmt]) {
		snap_put(m, s);
		return MHD_NO;
	}
	ret = reply(c, MHD_HTTP_OK,
		    fmt == PM_METRICS_OPENMETRICS ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
						  : "text/plain; version=0.0.4; charset=utf-8",
		    s->text[fmt], s->len[fmt]);
	snap_put(m, s);
	pthread_mutex_lock(&m->lock);
	m->scrapes++;
	pthread_mutex_unlock(&m->lock);
	return ret;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	fputs("privmemd: metrics: ", stderr);
	vfprintf(stderr, fmt, ap);
}

static int parse_spec(const char *spec, struct sockaddr_storage *ss, socklen_t *sl, char *msg, size_t len)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *port, *end;
	unsigned long p;
	char *tail;

	memset(ss, 0, sizeof(*ss));
	if (spec[0] == '[') {
		end = strchr(spec, ']');
		if (!end || end[1] != ':')
			goto bad;
		snprintf(host, sizeof(host), "%.*s", (int)(end - spec - 1), spec + 1);
		port = end + 2;
	} else {
		end = strrchr(spec, ':');
		if (!end || end == spec || (size_t)(end - spec) >= sizeof(host))
			goto bad;
		snprintf(host, sizeof(host), "%.*s", (int)(end - spec), spec);
		port = end + 1;
	}
	errno = 0;
	p = strtoul(port, &tail, 10);
	if (!*port || *tail || errno || p > 65535 || *port == '-' || *port == '+')
		goto bad;
	if (spec[0] == '[') {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
			goto bad;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)p);
		*sl = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;

		if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
			goto bad;
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)p);
		*sl = sizeof(*a);
	}
	return 0;
bad:
	snprintf(msg, len, "--metrics '%s': expected ADDR:PORT with a numeric address, e.g. 127.0.0.1:%u or [::1]:%u",
		 spec, PM_METRICS_DEFAULT_PORT, PM_METRICS_DEFAULT_PORT);
	return -EINVAL;
}

int pm_metrics_check_spec(const char *spec, char *msg, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl;

	return parse_spec(spec, &ss, &sl, msg, len);
}

int pm_metrics_open(struct pm_metrics **out, const char *spec, pm_metrics_view_fn fn, void *ctx,
		    char *msg, size_t len)
{
	struct sockaddr_storage ss;
	const union MHD_DaemonInfo *info;
	sigset_t all, old;
	struct pm_metrics *m;
	char host[INET6_ADDRSTRLEN];
	socklen_t sl;
	unsigned port;
	int err;

	*out = NULL;
	err = parse_spec(spec, &ss, &sl, msg, len);
	if (err)
		return err;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->fn = fn;
	m->ctx = ctx;
	m->gap_ms = PM_METRICS_MIN_GAP_MS;
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->published, NULL);
	/* the server's thread takes no signals: they are the daemon's loop's to see */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	/*
	 * no MHD_USE_ERROR_LOG: every port scan would be logged; failures are
	 * reported below. Limits: a client gets at most PER_IP connections and
	 * the memory for one request's headers; an idle one is dropped after
	 * the timeout; the total caps what all of them together can hold.
	 */
	m->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
				  (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
				  0, NULL, NULL, on_request, m,
				  MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
				  MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				  MHD_OPTION_CONNECTION_LIMIT, (unsigned)PM_METRICS_MAX_CONNS,
				  MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)PM_METRICS_MAX_CONNS_PER_IP,
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)PM_METRICS_TIMEOUT_S,
				  MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)PM_METRICS_REQ_MEMORY,
				  MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)16,
				  MHD_OPTION_END);
	err = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!m->mhd) {
		err = err ? -err : -EADDRINUSE;
		snprintf(msg, len, "metrics: cannot listen on %s: %s", spec, strerror(-err));
		pthread_cond_destroy(&m->published);
		pthread_mutex_destroy(&m->lock);
		free(m);
		return err;
	}
	info = MHD_get_daemon_info(m->mhd, MHD_DAEMON_INFO_BIND_PORT);
	port = info ? info->port : ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6) {
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host, sizeof(host));
		snprintf(m->url, sizeof(m->url), "http://[%s]:%u/metrics", host, port);
	} else {
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof(host));
		snprintf(m->url, sizeof(m->url), "http://%s:%u/metrics", host, port);
	}
	*out = m;
	return 0;
}

const char *pm_metrics_url(const struct pm_metrics *m)
{
	return m ? m->url : "";
}

uint64_t pm_metrics_scrapes(const struct pm_metrics *m)
{
	struct pm_metrics *w = (struct pm_metrics *)m;	/* the lock, not the value, changes */
	uint64_t n;

	if (!m)
		return 0;
	pthread_mutex_lock(&w->lock);
	n = w->scrapes;
	pthread_mutex_unlock(&w->lock);
	return n;
}

uint64_t pm_metrics_snapshots(const struct pm_metrics *m)
{
	struct pm_metrics *w = (struct pm_metrics *)m;
	uint64_t n;

	if (!m)
		return 0;
	pthread_mutex_lock(&w->lock);
	n = w->snapshots;
	pthread_mutex_unlock(&w->lock);
	return n;
}

void pm_metrics_close(struct pm_metrics *m)
{
	if (!m)
		return;
	MHD_stop_daemon(m->mhd);	/* joins the server's thread: no scrape in flight after this */
	snap_free(m->cur);
	pthread_cond_destroy(&m->published);
	pthread_mutex_destroy(&m->lock);
	free(m);
}
#endif /* PM_NO_HTTP */
