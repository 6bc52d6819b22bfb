// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * privmemd's /metrics server: libmicrohttpd without threads of its own,
 * run from the daemon's loop (pm_metrics_run), so a scrape renders the
 * books while nothing else touches them.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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
void pm_metrics_run(struct pm_metrics *m) { (void)m; }
const char *pm_metrics_url(const struct pm_metrics *m) { (void)m; return ""; }
uint64_t pm_metrics_scrapes(const struct pm_metrics *m) { (void)m; return 0; }
void pm_metrics_close(struct pm_metrics *m) { (void)m; }
#else

struct pm_metrics {
	struct MHD_Daemon *mhd;
	int epfd;
	pm_metrics_view_fn fn;
	void *ctx;
	char url[96];
	uint64_t scrapes;
};

static enum MHD_Result reply(struct MHD_Connection *c, unsigned code, const char *type, char *body, size_t len,
			     bool must_free)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(len, body, must_free ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	if (!resp) {
		if (must_free)
			free(body);
		return MHD_NO;
	}
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
	static char not_found[] = "privmemd serves /metrics only\n";
	static char bad_method[] = "GET or HEAD only\n";
	struct pm_metrics *m = cls;
	struct pm_metrics_view v = { 0 };
	enum pm_metrics_format fmt = PM_METRICS_TEXT;
	const char *accept;
	size_t len = 0;
	char *body;

	(void)version, (void)upload, (void)upload_len, (void)con_cls;
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", bad_method, strlen(bad_method), false);
	if (strcmp(url, "/metrics"))
		return reply(c, MHD_HTTP_NOT_FOUND, "text/plain", not_found, strlen(not_found), false);
	accept = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
	if (accept && strstr(accept, "application/openmetrics-text"))
		fmt = PM_METRICS_OPENMETRICS;
	m->fn(m->ctx, &v);
	body = pm_metrics_render(&v, fmt, PM_METRICS_MAX_BYTES, &len);
	if (!body)
		return MHD_NO;
	m->scrapes++;
	return reply(c, MHD_HTTP_OK,
		     fmt == PM_METRICS_OPENMETRICS ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
						   : "text/plain; version=0.0.4; charset=utf-8",
		     body, len, true);
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

int pm_metrics_open(struct pm_metrics **out, const char *spec, pm_metrics_view_fn fn, void *ctx,
		    char *msg, size_t len)
{
	struct sockaddr_storage ss;
	const union MHD_DaemonInfo *info;
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
	m->epfd = -1;
	/* no MHD_USE_ERROR_LOG: every port scan would be logged; failures are reported below */
	m->mhd = MHD_start_daemon(MHD_USE_EPOLL | (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
				  0, NULL, NULL, on_request, m,
				  MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
				  MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				  MHD_OPTION_CONNECTION_LIMIT, (unsigned)32,
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
				  MHD_OPTION_END);
	if (!m->mhd) {
		err = errno ? -errno : -EADDRINUSE;
		snprintf(msg, len, "metrics: cannot listen on %s: %s", spec, strerror(-err));
		free(m);
		return err;
	}
	info = MHD_get_daemon_info(m->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	m->epfd = info ? info->epoll_fd : -1;
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

void pm_metrics_run(struct pm_metrics *m)
{
	struct pollfd p;

	if (!m)
		return;
	p.fd = m->epfd;
	p.events = POLLIN;
	/* accept, read and answer in one pass when the client is quick (it is on loopback) */
	for (int i = 0; i < 16; i++) {
		MHD_run(m->mhd);
		if (m->epfd < 0 || poll(&p, 1, 0) <= 0)
			break;
	}
}

const char *pm_metrics_url(const struct pm_metrics *m)
{
	return m ? m->url : "";
}

uint64_t pm_metrics_scrapes(const struct pm_metrics *m)
{
	return m ? m->scrapes : 0;
}

void pm_metrics_close(struct pm_metrics *m)
{
	if (!m)
		return;
	MHD_stop_daemon(m->mhd);
	free(m);
}
#endif /* PM_NO_HTTP */
