// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "top_source.h"
#include "replay.h"
#include "sockapi.h"
#include "util.h"
#ifndef TOP_NO_DIRECT
#include "session.h"
#include "vmjson.h"
#endif

enum { SRC_SOCKET, SRC_DIRECT, SRC_REPLAY };

struct top_source {
	int kind;
	char name[320];
	char sock[256];
	/* replay: the trace is read again up to pos at every fetch, through the
	 * same code as `privmem replay`, so the books shown are that command's */
	char path[4096];
	uint64_t first_ts, last_ts, pos;
	int64_t wall_offset;
	double speed;
#ifndef TOP_NO_DIRECT
	struct pm_session *ses;
#endif
};

int top_source_socket(struct top_source **out, const char *path)
{
	struct top_source *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->kind = SRC_SOCKET;
	snprintf(s->sock, sizeof(s->sock), "%s", path);
	snprintf(s->name, sizeof(s->name), "privmemd %s", path);
	*out = s;
	return 0;
}

static json_object *ask(const char *sock, const char *cmd, char *err, size_t len)
{
	char *reply = NULL;
	json_object *o;
	int e = pm_sock_request(sock, cmd, &reply);

	if (e) {
		snprintf(err, len, "cannot reach privmemd at %s: %s%s", sock, strerror(-e),
			 e == -ENOENT || e == -ECONNREFUSED ? " (is privmemd running? or use --direct)" : "");
		return NULL;
	}
	o = json_tokener_parse(reply);
	free(reply);
	if (!o)
		snprintf(err, len, "privmemd sent a reply that is not JSON");
	return o;
}

#ifndef TOP_NO_DIRECT
int top_source_direct(struct top_source **out, enum pm_syscall_hooks sh, char *msg, size_t len)
{
	struct top_source *s = calloc(1, sizeof(*s));
	struct pm_capture_opts co = { .syscall_hooks = sh };
	int err;

	if (!s)
		return -ENOMEM;
	s->kind = SRC_DIRECT;
	snprintf(s->name, sizeof(s->name), "direct (BPF loaded by privmemtop)");
	/* the daemon's event path, in-process: same books, same JSON */
	err = pm_session_open(&s->ses, &co, NULL, msg, len);
	if (err) {
		free(s);
		return err;
	}
	*out = s;
	return 0;
}
#else
int top_source_direct(struct top_source **out, enum pm_syscall_hooks sh, char *msg, size_t len)
{
	(void)out, (void)sh;
	snprintf(msg, len, "this privmemtop was built without --direct");
	return -EOPNOTSUPP;
}
#endif

int top_source_replay(struct top_source **out, const char *path, double speed, char *msg, size_t len)
{
	struct top_source *s = calloc(1, sizeof(*s));
	int err;

	if (!s)
		return -ENOMEM;
	s->kind = SRC_REPLAY;
	s->speed = speed;
	snprintf(s->path, sizeof(s->path), "%s", path);
	snprintf(s->name, sizeof(s->name), "replay %s", path);
	err = pm_replay_span((const char *const *)&path, 1, &s->first_ts, &s->last_ts, &s->wall_offset, msg, len);
	if (err) {
		free(s);
		return err;
	}
	s->pos = s->first_ts;
	*out = s;
	return 0;
}

static int replay_fetch(struct top_source *s, json_object **vms, json_object **status, char *err, size_t len)
{
	struct pm_replay r;
	const char *mode = "none";
	int rc;

	pm_replay_init(&r);
	r.window = true;
	r.from_ns = 0;
	r.to_ns = s->pos;
	rc = pm_replay_file(&r, s->path, err, len);
	if (rc < 0) {
		pm_replay_free(&r);
		return rc;
	}
	*vms = pm_replay_json(&r, NULL);
	json_object_object_del(*vms, "timeline");	/* per-second history: not shown here */
	if (r.info.policy && *r.info.policy)
		mode = "recorded";	/* the trace carries the policy text, not a live mode */
	*status = json_object_new_object();
	json_object_object_add(*status, "policy", json_object_new_string(mode));
	pm_replay_free(&r);
	return 0;
}

bool top_source_is_replay(const struct top_source *s)
{
	return s->kind == SRC_REPLAY;
}

void top_source_play(struct top_source *s, double wall_secs)
{
	double ns = wall_secs * s->speed * 1e9;

	if (s->kind != SRC_REPLAY || wall_secs <= 0)
		return;
	s->pos = ns >= (double)(s->last_ts - s->pos) ? s->last_ts : s->pos + (uint64_t)ns;
}

void top_source_seek(struct top_source *s, double trace_secs)
{
	double to = (double)(s->pos - s->first_ts) + trace_secs * 1e9;

	if (s->kind != SRC_REPLAY)
		return;
	if (to <= 0)
		s->pos = s->first_ts;
	else if (to >= (double)(s->last_ts - s->first_ts))
		s->pos = s->last_ts;
	else
		s->pos = s->first_ts + (uint64_t)to;
}

void top_source_seek_end(struct top_source *s, double before_secs)
{
	if (s->kind != SRC_REPLAY)
		return;
	s->pos = s->last_ts;
	top_source_seek(s, -before_secs);
}

void top_source_set_speed(struct top_source *s, double factor)
{
	double v = s->speed * factor;

	if (v >= 1.0 / 64 && v <= 100000)
		s->speed = v;
}

bool top_source_ended(const struct top_source *s)
{
	return s->kind == SRC_REPLAY && s->pos >= s->last_ts;
}

void top_source_position(const struct top_source *s, char *buf, size_t len)
{
	time_t t = (time_t)(((int64_t)s->pos + s->wall_offset) / 1000000000ll);
	struct tm tm;
	char clk[16] = "";

	if (gmtime_r(&t, &tm))
		strftime(clk, sizeof(clk), "%H:%M:%SZ", &tm);
	snprintf(buf, len, "%s%.1f/%.1fs x%g %s", top_source_ended(s) ? "END " : "",
		 (double)(s->pos - s->first_ts) / 1e9, (double)(s->last_ts - s->first_ts) / 1e9, s->speed, clk);
}

int top_source_fetch(struct top_source *s, json_object **vms, json_object **status, uint64_t *now_ns,
		     char *err, size_t len)
{
	*vms = *status = NULL;
	*now_ns = pm_now_ns();
	if (s->kind == SRC_REPLAY) {
		*now_ns = s->pos;
		return replay_fetch(s, vms, status, err, len);
	}
	if (s->kind == SRC_SOCKET) {
		*vms = ask(s->sock, "vms", err, len);
		if (!*vms)
			return -EIO;
		*now_ns = pm_now_ns();
		*status = ask(s->sock, "status", err, len);	/* optional: policy mode */
		return 0;
	}
#ifndef TOP_NO_DIRECT
	pm_session_poll(s->ses, 0);
	*vms = pm_json_vms(pm_session_refresh(s->ses), pm_capture_hooks(pm_session_capture(s->ses)), PM_HOOK_MAX);
	*now_ns = pm_now_ns();
	return 0;
#else
	snprintf(err, len, "no source");
	return -EINVAL;
#endif
}

void top_source_idle(struct top_source *s)
{
#ifndef TOP_NO_DIRECT
	if (s->kind == SRC_DIRECT)
		pm_session_poll(s->ses, 0);
#else
	(void)s;
#endif
}

const char *top_source_name(const struct top_source *s)
{
	return s->name;
}

void top_source_close(struct top_source *s)
{
	if (!s)
		return;
#ifndef TOP_NO_DIRECT
	if (s->kind == SRC_DIRECT)
		pm_session_close(s->ses);
#endif
	free(s);
}
