// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * privmemd's /metrics server on loopback, threads and all: a "daemon"
 * thread changes the books and calls pm_metrics_run as privmemd's loop does,
 * while clients scrape in parallel. Every scrape is answered with the
 * books of a snapshot; the daemon's thread was asked for at most one
 * snapshot per PM_METRICS_MIN_GAP_MS, whatever the number of scrapes; the
 * per-address connection limit holds.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include "metrics.h"
#include "hooks.h"

#define CLIENTS 6
#define SCRAPES 40

static struct pm_state books;
static struct pm_hook_status hooks[PM_HOOK_MAX];
static atomic_uint views;		/* how often the daemon's thread filled a view */
static atomic_bool stop;
static uint16_t port;
static struct pm_metrics *m;

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void convert(uint64_t vm)
{
	struct pm_event e;

	memset(&e, 0, sizeof(e));
	e.vm = vm;
	e.pid = 1000 + (uint32_t)vm;
	e.type = PM_EV_DECIDE;
	e.dir = PM_TO_SHARED;
	e.size = 4096;
	snprintf(e.comm, sizeof(e.comm), "vmm%u", (unsigned)vm);
	pm_state_apply(&books, &e);
}

/* Called on the daemon's thread only, as privmemd's metrics_view. */
static void view(void *ctx, struct pm_metrics_view *v)
{
	(void)ctx;
	atomic_fetch_add(&views, 1);
	v->st = &books;
	v->hooks = hooks;
	v->nhooks = PM_HOOK_MAX;
	v->policy_mode = "none";
	v->lost = 0;
}

/* privmemd's loop: events change the books, then the metrics upkeep. */
static void *daemon_loop(void *arg)
{
	uint64_t n = 0;

	(void)arg;
	while (!atomic_load(&stop)) {
		convert(1 + n++ % 50);
		pm_metrics_run(m);
		usleep(2000);
	}
	return NULL;
}

static int conn(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* One GET; the whole response in buf (NUL-terminated), its length, or -1. */
static ssize_t get(char *buf, size_t cap)
{
	static const char req[] = "GET /metrics HTTP/1.0\r\nHost: test\r\n\r\n";
	size_t got = 0;
	ssize_t n;
	int fd = conn();

	if (fd < 0)
		return -1;
	if (write(fd, req, sizeof(req) - 1) != (ssize_t)sizeof(req) - 1) {
		close(fd);
		return -1;
	}
	while (got < cap - 1 && (n = read(fd, buf + got, cap - 1 - got)) > 0)
		got += (size_t)n;
	buf[got] = '\0';
	close(fd);
	return (ssize_t)got;
}

static void *client(void *arg)
{
	size_t cap = PM_METRICS_MAX_BYTES + 4096;
	char *buf = malloc(cap);
	intptr_t ok = 0;

	(void)arg;
	for (int i = 0; buf && i < SCRAPES; i++) {
		ssize_t n = get(buf, cap);

		if (n > 0 && !strncmp(buf + 8, " 200", 4) &&
		    strstr(buf, "privmem_attempts_total{") && strstr(buf, "privmem_vms{"))
			ok++;
	}
	free(buf);
	return (void *)ok;
}

static int setup(void **state)
{
	char msg[256];

	(void)state;
	pm_state_init(&books);
	for (uint64_t vm = 1; vm <= 50; vm++)
		convert(vm);
	assert_int_equal(pm_metrics_open(&m, "127.0.0.1:0", view, NULL, msg, sizeof(msg)), 0);
	port = (uint16_t)strtoul(strrchr(pm_metrics_url(m), ':') + 1, NULL, 10);
	assert_true(port > 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	pm_metrics_close(m);
	pm_state_free(&books);
	return 0;
}

static void scrapes_share_snapshots(void **state)
{
	pthread_t d, c[CLIENTS];
	uint64_t t0 = now_ms(), dt;
	intptr_t ok = 0, r;

	(void)state;
	atomic_store(&stop, false);
	assert_int_equal(pthread_create(&d, NULL, daemon_loop, NULL), 0);
	for (int i = 0; i < CLIENTS; i++)
		assert_int_equal(pthread_create(&c[i], NULL, client, NULL), 0);
	for (int i = 0; i < CLIENTS; i++) {
		pthread_join(c[i], (void **)&r);
		ok += r;
	}
	dt = now_ms() - t0;
	atomic_store(&stop, true);
	pthread_join(d, NULL);
	print_message("%ld scrapes in %llu ms from %u views of the books, %llu snapshots\n", (long)ok,
		      (unsigned long long)dt, atomic_load(&views), (unsigned long long)pm_metrics_snapshots(m));
	assert_int_equal(ok, CLIENTS * SCRAPES);
	assert_int_equal(pm_metrics_scrapes(m), CLIENTS * SCRAPES);
	assert_true(atomic_load(&views) >= 1);
	assert_true(atomic_load(&views) <= dt / PM_METRICS_MIN_GAP_MS + 2);
	assert_int_equal(pm_metrics_snapshots(m), atomic_load(&views));
}

static void per_address_limit(void **state)
{
	int held[PM_METRICS_MAX_CONNS_PER_IP], extra;
	char buf[64];
	pthread_t d;
	ssize_t n;

	(void)state;
	atomic_store(&stop, false);
	assert_int_equal(pthread_create(&d, NULL, daemon_loop, NULL), 0);
	for (int i = 0; i < PM_METRICS_MAX_CONNS_PER_IP; i++)
		assert_true((held[i] = conn()) >= 0);
	usleep(200000);
	/* the server accepts and closes at once: EOF, no response */
	extra = conn();
	assert_true(extra >= 0);
	if (write(extra, "GET /metrics HTTP/1.0\r\n\r\n", 25) < 0)
		assert_int_equal(errno, EPIPE);
	n = read(extra, buf, sizeof(buf));
	assert_true(n <= 0);
	close(extra);
	for (int i = 0; i < PM_METRICS_MAX_CONNS_PER_IP; i++)
		close(held[i]);
	usleep(200000);
	{
		char *big = malloc(PM_METRICS_MAX_BYTES + 4096);

		assert_true(get(big, PM_METRICS_MAX_BYTES + 4096) > 0 && !strncmp(big + 8, " 200", 4));
		free(big);
	}
	atomic_store(&stop, true);
	pthread_join(d, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(scrapes_share_snapshots),
		cmocka_unit_test(per_address_limit),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, setup, teardown);
}
