// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Policy files: libyaml's document API gives every node its line and
 * column, so each error names its place. The first error stops the parse:
 * a policy is loaded whole or not at all.
 */
#include <errno.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>
#include "policy.h"

#define PAGE_BYTES	4096

/* A limit as one block wrote it, before inheriting from the defaults. */
enum { F_UNSET = 0, F_UNLIMITED, F_VALUE };

struct dir_spec {
	int rate, burst, max_request, max_shared;	/* F_* */
	bool rate_bare;					/* rate written without a unit */
	uint64_t rate_v, burst_v, max_request_v;
	uint32_t permille;
	yaml_node_t *node, *rate_n, *burst_n;
};

struct parse {
	const char *name;
	const char *text;
	size_t len;
	yaml_document_t *doc;
	char *err;
	size_t errlen;
	struct pm_policy *p;
	struct dir_spec def_private, def_shared;
};

static unsigned line_of(const yaml_node_t *n)
{
	return (unsigned)n->start_mark.line + 1;
}

static unsigned col_of(const yaml_node_t *n)
{
	return (unsigned)n->start_mark.column + 1;
}

static int fail(struct parse *ps, const yaml_node_t *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(struct parse *ps, const yaml_node_t *n, const char *fmt, ...)
{
	char msg[384];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(ps->err, ps->errlen, "%s:%u:%u: %s", ps->name, line_of(n), col_of(n), msg);
	return -EINVAL;
}

static void warn(struct parse *ps, const yaml_node_t *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void warn(struct parse *ps, const yaml_node_t *n, const char *fmt, ...)
{
	struct pm_policy *p = ps->p;
	char msg[384], **w;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	w = realloc(p->warnings, (p->nwarnings + 1) * sizeof(*w));
	if (!w)
		return;
	p->warnings = w;
	if (asprintf(&w[p->nwarnings], "%s:%u:%u: warning: %s", ps->name, line_of(n), col_of(n), msg) >= 0)
		p->nwarnings++;
}

static const char *kind(const yaml_node_t *n)
{
	return n->type == YAML_MAPPING_NODE ? "a mapping" : n->type == YAML_SEQUENCE_NODE ? "a list" : "a value";
}

/* Scalars only, without NULs (a C string must be all of it). */
static int scalar(struct parse *ps, yaml_node_t *n, const char *what, const char **out)
{
	if (n->type != YAML_SCALAR_NODE)
		return fail(ps, n, "%s: expected a value, found %s", what, kind(n));
	if (strlen((const char *)n->data.scalar.value) != n->data.scalar.length)
		return fail(ps, n, "%s: NUL character in value", what);
	*out = (const char *)n->data.scalar.value;
	return 0;
}

/*
 * Collects the values of a mapping whose keys must come from keys[] (NULL
 * ends it) into val[] (and their key nodes into key[]), in table order.
 */
static int get_keys(struct parse *ps, yaml_node_t *map, const char *where, const char *const *keys,
		    const char *hint, yaml_node_t **key, yaml_node_t **val)
{
	char expected[160] = "";
	unsigned nkeys = 0;

	while (keys[nkeys])
		nkeys++;
	for (unsigned i = 0; i < nkeys; i++) {
		key[i] = val[i] = NULL;
		snprintf(expected + strlen(expected), sizeof(expected) - strlen(expected), "%s%s",
			 i == 0 ? "" : i + 1 == nkeys ? " or " : ", ", keys[i]);
	}
	if (map->type != YAML_MAPPING_NODE)
		return fail(ps, map, "%s: expected a mapping (of %s), found %s", where, expected, kind(map));
	for (yaml_node_pair_t *pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top; pr++) {
		yaml_node_t *k = yaml_document_get_node(ps->doc, pr->key);
		yaml_node_t *v = yaml_document_get_node(ps->doc, pr->value);
		const char *name;
		unsigned i;
		int err = scalar(ps, k, where, &name);

		if (err)
			return err;
		for (i = 0; i < nkeys && strcmp(keys[i], name); i++)
			;
		if (i == nkeys)
			return fail(ps, k, "unknown key '%s' in %s (expected %s)%s", name, where, expected,
				    hint ? hint : "");
		if (key[i])
			return fail(ps, k, "duplicate key '%s' in %s (first at %u:%u)", name, where,
				    line_of(key[i]), col_of(key[i]));
		key[i] = k;
		val[i] = v;
	}
	return 0;
}

/* ---- units ------------------------------------------------------------ */

static const struct {
	const char *name;
	uint64_t mult;
} units[] = {
	/* printing prefers the earliest exact one, so largest binary first */
	{ "TiB", 1ull << 40 }, { "GiB", 1ull << 30 }, { "MiB", 1ull << 20 }, { "KiB", 1ull << 10 },
	{ "TB", 1000000000000ull }, { "GB", 1000000000ull }, { "MB", 1000000ull }, { "KB", 1000ull },
	{ "B", 1 },
};

int pm_policy_parse_size(const char *s, bool rate, uint64_t *out, const char **why)
{
	const char *p = s, *u;
	uint64_t v = 0, mult = 0;
	size_t ulen;

	if (*p == '-') {
		*why = "negative";
		return -EINVAL;
	}
	if (*p < '0' || *p > '9') {
		*why = rate ? "expected a number, a unit and /s, as in 64MiB/s"
			    : "expected a number and a unit, as in 2MiB";
		return -EINVAL;
	}
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10) {
			*why = "too large (the limit is 2^64-1 bytes)";
			return -EINVAL;
		}
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (*p == '.' || *p == ',') {
		*why = "whole numbers only (write 1536MiB, not 1.5GiB)";
		return -EINVAL;
	}
	while (*p == ' ')
		p++;
	u = p;
	while (*p && *p != '/')
		p++;
	ulen = (size_t)(p - u);
	if (*p == '/' && strcmp(p, "/s")) {
		*why = "a rate is per second: end it with /s";
		return -EINVAL;
	}
	if (rate && *p != '/' && ulen) {
		*why = "a rate needs /s, as in 64MiB/s";
		return -EINVAL;
	}
	if (!rate && *p == '/') {
		*why = "a size takes no /s";
		return -EINVAL;
	}
	if (!ulen) {
		mult = 1;	/* bare number: bytes (per second) */
	} else {
		for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
			if (strlen(units[i].name) == ulen && !strncmp(units[i].name, u, ulen))
				mult = units[i].mult;
	}
	if (!mult) {
		*why = "unknown unit (use B, KiB, MiB, GiB, TiB, KB, MB, GB or TB)";
		return -EINVAL;
	}
	if (v > UINT64_MAX / mult) {
		*why = "too large (the limit is 2^64-1 bytes)";
		return -EINVAL;
	}
	*out = v * mult;
	return 0;
}

const char *pm_policy_format_size(uint64_t v, bool rate, char *buf, size_t len)
{
	size_t i = 0;

	if (v)
		while (v % units[i].mult)
			i++;
	else
		i = sizeof(units) / sizeof(units[0]) - 1;
	snprintf(buf, len, "%llu%s%s", (unsigned long long)(v / units[i].mult), units[i].name,
		 rate ? "/s" : "");
	return buf;
}

int pm_policy_parse_percent(const char *s, uint32_t *permille, const char **why)
{
	uint32_t v = 0;
	int digits = 0;

	for (; *s >= '0' && *s <= '9' && digits < 4; s++, digits++)
		v = v * 10 + (uint32_t)(*s - '0');
	if (!digits || (*s >= '0' && *s <= '9')) {
		*why = "expected a percentage from 0% to 100%, as in 25% or 12.5%";
		return -EINVAL;
	}
	v *= 10;
	if (*s == '.') {
		if (s[1] < '0' || s[1] > '9' || (s[2] >= '0' && s[2] <= '9')) {
			*why = "one decimal at most, as in 12.5%";
			return -EINVAL;
		}
		v += (uint32_t)(s[1] - '0');
		s += 2;
	}
	if (strcmp(s, "%")) {
		*why = "a percentage needs %, as in 25%";
		return -EINVAL;
	}
	if (v > 1000) {
		*why = "above 100%";
		return -EINVAL;
	}
	*permille = v;
	return 0;
}

static const char *format_percent(uint32_t permille, char *buf, size_t len)
{
	if (permille % 10)
		snprintf(buf, len, "%u.%u%%", permille / 10, permille % 10);
	else
		snprintf(buf, len, "%u%%", permille / 10);
	return buf;
}

const char *pm_mode_name(uint32_t mode)
{
	return mode == PM_MODE_ENFORCE ? "enforce" : mode == PM_MODE_AUDIT ? "audit" : "off";
}

/* ---- parsing ---------------------------------------------------------- */

static int parse_mode(struct parse *ps, yaml_node_t *n, uint32_t *mode)
{
	const char *s;
	int err = scalar(ps, n, "mode", &s);

	if (err)
		return err;
	if (!strcmp(s, "enforce"))
		*mode = PM_MODE_ENFORCE;
	else if (!strcmp(s, "audit"))
		*mode = PM_MODE_AUDIT;
	else if (!strcmp(s, "off"))
		*mode = PM_MODE_OFF;
	else
		return fail(ps, n, "bad mode '%s' (expected enforce, audit or off)", s);
	return 0;
}

static int parse_limit(struct parse *ps, yaml_node_t *n, const char *key, bool rate, int *state, uint64_t *v)
{
	const char *s, *why;
	int err = scalar(ps, n, key, &s);

	if (err)
		return err;
	if (!strcmp(s, "unlimited")) {
		*state = F_UNLIMITED;
		return 0;
	}
	if (pm_policy_parse_size(s, rate, v, &why))
		return fail(ps, n, "bad %s '%s': %s", key, s, why);
	*state = F_VALUE;
	return 0;
}

static int parse_dir(struct parse *ps, yaml_node_t *n, const char *where, bool shared, struct dir_spec *d)
{
	static const char *const keys_shared[] = { "rate", "burst", "max_request", "max_shared", NULL };
	static const char *const keys_private[] = { "rate", "burst", "max_request", NULL };
	yaml_node_t *key[4], *val[4];
	const char *s, *why;
	int err;

	memset(d, 0, sizeof(*d));
	d->node = n;
	if (n->type == YAML_SCALAR_NODE && !strcmp((const char *)n->data.scalar.value, "unlimited")) {
		d->rate = d->max_request = F_UNLIMITED;
		d->max_shared = shared ? F_UNLIMITED : F_UNSET;
		return 0;
	}
	if (n->type == YAML_SCALAR_NODE)
		return fail(ps, n, "%s: expected a mapping of limits or 'unlimited', found '%s'", where,
			    (const char *)n->data.scalar.value);
	err = get_keys(ps, n, where, shared ? keys_shared : keys_private,
		       shared ? NULL : "; max_shared applies to to_shared only", key, val);
	if (err)
		return err;
	if (val[0] && (err = parse_limit(ps, val[0], "rate", true, &d->rate, &d->rate_v)))
		return err;
	d->rate_n = val[0];
	d->rate_bare = val[0] && strspn((const char *)val[0]->data.scalar.value, "0123456789") ==
				 val[0]->data.scalar.length;
	if (val[1]) {
		if ((err = parse_limit(ps, val[1], "burst", false, &d->burst, &d->burst_v)))
			return err;
		if (d->burst == F_UNLIMITED)
			return fail(ps, val[1], "burst cannot be unlimited (to lift the rate limit, write rate: unlimited)");
		d->burst_n = val[1];
	}
	if (val[2] && (err = parse_limit(ps, val[2], "max_request", false, &d->max_request, &d->max_request_v)))
		return err;
	if (shared && val[3]) {
		if ((err = scalar(ps, val[3], "max_shared", &s)))
			return err;
		if (!strcmp(s, "unlimited"))
			d->max_shared = F_UNLIMITED;
		else if (pm_policy_parse_percent(s, &d->permille, &why))
			return fail(ps, val[3], "bad max_shared '%s': %s", s, why);
		else
			d->max_shared = F_VALUE;
	}
	return 0;
}

/*
 * Limits of one direction: what the block says, else what the defaults say.
 * rate and burst are one limit: a block that sets rate without burst gets
 * one second's worth, not the defaults' burst, which was sized for their rate.
 */
static int resolve_dir(struct parse *ps, const struct dir_spec *d, const struct dir_spec *def,
		       const char *where, struct pm_limits *l)
{
	static const struct dir_spec none;
	char a[32], b[32];

	if (!def)
		def = &none;
	memset(l, 0, sizeof(*l));
	if (d->rate == F_VALUE) {
		l->rate = d->rate_v;
		l->burst = d->burst == F_VALUE ? d->burst_v : d->rate_v;
		l->flags |= PM_LIM_RATE;
	} else if (d->rate == F_UNSET && def->rate == F_VALUE) {
		l->rate = def->rate_v;
		l->burst = d->burst == F_VALUE ? d->burst_v : def->burst == F_VALUE ? def->burst_v : def->rate_v;
		l->flags |= PM_LIM_RATE;
	} else if (d->burst == F_VALUE) {
		return fail(ps, d->burst_n, "burst without a rate in %s", where);
	}
	if (d->max_request == F_VALUE || (d->max_request == F_UNSET && def->max_request == F_VALUE)) {
		l->max_request = d->max_request == F_VALUE ? d->max_request_v : def->max_request_v;
		l->flags |= PM_LIM_MAX_REQUEST;
	}
	if (d->max_shared == F_VALUE || (d->max_shared == F_UNSET && def->max_shared == F_VALUE)) {
		l->max_shared_permille = d->max_shared == F_VALUE ? d->permille : def->permille;
		l->flags |= PM_LIM_SHARED;
	}

	/* Likely mistakes, reported where they are written, not per inheritor. */
	if (d->rate == F_VALUE && d->rate_v && d->rate_v < PAGE_BYTES) {
		if (d->rate_bare)
			snprintf(b, sizeof(b), "%lluMiB/s", (unsigned long long)d->rate_v);
		warn(ps, d->rate_n, "rate %s is less than a page per second%s%s%s",
		     pm_policy_format_size(d->rate_v, true, a, sizeof(a)),
		     d->rate_bare ? " (a bare number is bytes per second: did you mean " : "",
		     d->rate_bare ? b : "", d->rate_bare ? "?)" : "");
	}
	if ((d->rate == F_VALUE || d->burst == F_VALUE) && !l->burst)
		warn(ps, d->burst_n ? d->burst_n : d->rate_n, "%s: burst 0B: every attempt but an empty one is denied", where);
	else if (d->rate == F_VALUE && !d->rate_v)
		warn(ps, d->rate_n, "%s: rate 0B/s: the bucket never refills once its burst is spent", where);
	if ((l->flags & PM_LIM_RATE) && (l->flags & PM_LIM_MAX_REQUEST) && l->burst < l->max_request && l->burst &&
	    (d->rate || d->burst || d->max_request))
		warn(ps, d->node, "%s: burst %s is below max_request %s: attempts larger than the burst are always denied",
		     where, pm_policy_format_size(l->burst, false, a, sizeof(a)),
		     pm_policy_format_size(l->max_request, false, b, sizeof(b)));
	return 0;
}

static int parse_defaults(struct parse *ps, yaml_node_t *n)
{
	static const char *const keys[] = { "to_shared", "to_private", NULL };
	yaml_node_t *key[2], *val[2];
	int err = get_keys(ps, n, "defaults", keys, NULL, key, val);

	if (!err && val[0])
		err = parse_dir(ps, val[0], "defaults to_shared", true, &ps->def_shared);
	if (!err && val[1])
		err = parse_dir(ps, val[1], "defaults to_private", false, &ps->def_private);
	return err;
}

/*
 * What YAML itself refuses in a document (C0 and C1 controls, DEL, U+FFFE and
 * U+FFFF), so that a policy that loads always prints to text that loads back.
 */
static bool has_ctrl(const char *s)
{
	const unsigned char *u = (const unsigned char *)s;

	for (; *u; u++) {
		if (*u < 0x20 || *u == 0x7f)
			return true;
		if (u[0] == 0xc2 && u[1] >= 0x80 && u[1] <= 0x9f)
			return true;
		if (u[0] == 0xef && u[1] == 0xbf && (u[2] == 0xbe || u[2] == 0xbf))
			return true;
	}
	return false;
}

static int pattern(struct parse *ps, yaml_node_t *n, const char *key, char *out, size_t outlen)
{
	const char *s;
	int err = scalar(ps, n, key, &s);

	if (err)
		return err;
	if (!*s)
		return fail(ps, n, "empty %s pattern", key);
	if (strlen(s) >= outlen)
		return fail(ps, n, "%s pattern longer than %zu characters", key, outlen - 1);
	if (has_ctrl(s))
		return fail(ps, n, "control character in %s pattern", key);
	strcpy(out, s);
	return 0;
}

static int parse_match(struct parse *ps, yaml_node_t *n, struct pm_policy_rule *r)
{
	static const char *const keys[] = { "cgroup", "comm", "pid", NULL };
	yaml_node_t *key[3], *val[3];
	const char *s;
	char *end;
	unsigned long pid;
	int err = get_keys(ps, n, "match", keys, NULL, key, val);

	if (err)
		return err;
	if (!val[0] && !val[1] && !val[2])
		return fail(ps, n, "empty match (expected cgroup, comm or pid)");
	if (val[0]) {
		if ((err = pattern(ps, val[0], "cgroup", r->cgroup, sizeof(r->cgroup))))
			return err;
		if (r->cgroup[0] != '/' && r->cgroup[0] != '*')
			return fail(ps, val[0], "cgroup pattern '%s' must start with / (a cgroup v2 path, as in /proc/PID/cgroup)",
				    r->cgroup);
		r->match |= PM_MATCH_CGROUP;
	}
	if (val[1]) {
		if ((err = pattern(ps, val[1], "comm", r->comm, sizeof(r->comm))))
			return err;
		/* the kernel keeps TASK_COMM_LEN - 1 characters of a name */
		if (strlen(r->comm) >= PM_COMM_LEN && !strpbrk(r->comm, "*?["))
			return fail(ps, val[1], "comm '%s' never matches: the kernel keeps %d characters ('%.*s')",
				    r->comm, PM_COMM_LEN - 1, PM_COMM_LEN - 1, r->comm);
		r->match |= PM_MATCH_COMM;
	}
	if (val[2]) {
		if ((err = scalar(ps, val[2], "pid", &s)))
			return err;
		errno = 0;
		pid = strtoul(s, &end, 10);
		if (*s < '1' || *s > '9' || *end || errno || pid > 4194304)
			return fail(ps, val[2], "bad pid '%s' (expected 1 to 4194304)", s);
		r->pid = (uint32_t)pid;
		r->match |= PM_MATCH_PID;
	}
	return 0;
}

static int parse_rule(struct parse *ps, yaml_node_t *n, struct pm_policy_rule *r, unsigned idx)
{
	static const char *const keys[] = { "name", "match", "mode", "to_shared", "to_private", NULL };
	yaml_node_t *key[5], *val[5];
	struct dir_spec sh = { 0 }, pr = { 0 };
	const char *s;
	char where[48];
	int err;

	memset(r, 0, sizeof(*r));
	r->rule.id = idx + 1;
	r->rule.mode = ps->p->mode;
	r->line = line_of(n);
	r->col = col_of(n);
	if ((err = get_keys(ps, n, "vms entry", keys, NULL, key, val)))
		return err;
	if (val[0]) {
		if ((err = scalar(ps, val[0], "name", &s)))
			return err;
		if (!*s || strlen(s) >= sizeof(r->name) || has_ctrl(s))
			return fail(ps, val[0], "bad name (1 to %zu printable characters)", sizeof(r->name) - 1);
		for (unsigned i = 0; i < idx; i++)
			if (!strcmp(ps->p->rules[i].name, s))
				return fail(ps, val[0], "duplicate name '%s' (also rule %u at %u:%u)", s, i + 1,
					    ps->p->rules[i].line, ps->p->rules[i].col);
		strcpy(r->name, s);
	}
	if (!val[1])
		return fail(ps, n, "vms entry without match (expected match: {cgroup: ..., comm: ..., pid: ...})");
	if ((err = parse_match(ps, val[1], r)))
		return err;
	if (val[2] && (err = parse_mode(ps, val[2], &r->rule.mode)))
		return err;
	snprintf(where, sizeof(where), "rule %u to_shared", idx + 1);
	if (val[3] && (err = parse_dir(ps, val[3], where, true, &sh)))
		return err;
	sh.node = val[3] ? val[3] : n;
	if ((err = resolve_dir(ps, &sh, &ps->def_shared, where, &r->rule.to_shared)))
		return err;
	snprintf(where, sizeof(where), "rule %u to_private", idx + 1);
	if (val[4] && (err = parse_dir(ps, val[4], where, false, &pr)))
		return err;
	pr.node = val[4] ? val[4] : n;
	return resolve_dir(ps, &pr, &ps->def_private, where, &r->rule.to_private);
}

/* ---- matching --------------------------------------------------------- */

/* The pattern matches the path or one of its ancestors: a cgroup and its subtree. */
static bool cgroup_match(const char *pat, const char *path)
{
	char buf[4096];
	size_t n = path ? strlen(path) : 0;
	char *slash;

	if (!n || n >= sizeof(buf))
		return false;
	memcpy(buf, path, n + 1);
	for (;;) {
		if (!fnmatch(pat, buf, 0))
			return true;
		slash = strrchr(buf, '/');
		if (!slash || (slash == buf && !buf[1]))
			return false;
		slash[slash == buf] = '\0';	/* "/a" -> "/" */
	}
}

bool pm_policy_rule_matches(const struct pm_policy_rule *r, uint32_t pid, const char *comm, const char *cgroup)
{
	if ((r->match & PM_MATCH_PID) && r->pid != pid)
		return false;
	if ((r->match & PM_MATCH_COMM) && fnmatch(r->comm, comm ? comm : "", 0))
		return false;
	if ((r->match & PM_MATCH_CGROUP) && !cgroup_match(r->cgroup, cgroup))
		return false;
	return r->match != 0;
}

const struct pm_rule *pm_policy_resolve(const struct pm_policy *p, uint32_t pid, const char *comm,
					const char *cgroup)
{
	for (unsigned i = 0; i < p->nrules; i++)
		if (pm_policy_rule_matches(&p->rules[i], pid, comm, cgroup))
			return &p->rules[i].rule;
	return &p->defaults;
}

const char *pm_policy_rule_name(const struct pm_policy *p, uint32_t id, char *buf, size_t len)
{
	if (!id)
		return "defaults";
	if (id <= p->nrules && p->rules[id - 1].name[0])
		return p->rules[id - 1].name;
	snprintf(buf, len, "rule %u", id);
	return buf;
}

/* No glob metacharacter in the first n characters. */
static bool literal(const char *s, size_t n)
{
	for (size_t i = 0; i < n && s[i]; i++)
		if (strchr("*?[\\", s[i]))
			return false;
	return true;
}

/*
 * Whether pattern a matches everything pattern b matches. Sound but not
 * complete: equal patterns, a literal b that a matches, or a = "X*" with X
 * literal and b starting with X. Anything cleverer is left undetected.
 */
static bool covers(const char *a, const char *b, bool cgroup)
{
	size_t n = strlen(a);

	if (!strcmp(a, b))
		return true;
	if (literal(b, strlen(b)))
		return cgroup ? cgroup_match(a, b) : !fnmatch(a, b, 0);
	return n && a[n - 1] == '*' && literal(a, n - 1) && !strncmp(a, b, n - 1);
}

static bool shadows(const struct pm_policy_rule *e, const struct pm_policy_rule *l)
{
	if (e->match & ~l->match)
		return false;
	if ((e->match & PM_MATCH_PID) && e->pid != l->pid)
		return false;
	if ((e->match & PM_MATCH_COMM) && !covers(e->comm, l->comm, false))
		return false;
	if ((e->match & PM_MATCH_CGROUP) && !covers(e->cgroup, l->cgroup, true))
		return false;
	return true;
}

static int parse_doc(struct parse *ps, yaml_node_t *root)
{
	static const char *const keys[] = { "mode", "defaults", "vms", NULL };
	struct pm_policy *p = ps->p;
	yaml_node_t *key[3], *val[3], *item;
	unsigned n;
	int err;

	if (root->type != YAML_MAPPING_NODE)
		return fail(ps, root, "a policy is a mapping (of mode, defaults and vms), found %s", kind(root));
	if ((err = get_keys(ps, root, "policy", keys, NULL, key, val)))
		return err;
	p->mode = PM_MODE_AUDIT;
	if (val[0] && (err = parse_mode(ps, val[0], &p->mode)))
		return err;
	if (val[1] && (err = parse_defaults(ps, val[1])))
		return err;
	p->defaults.id = 0;
	p->defaults.mode = p->mode;
	/* where a warning about a block the file does not have points */
	if (!ps->def_shared.node)
		ps->def_shared.node = val[1] ? val[1] : root;
	if (!ps->def_private.node)
		ps->def_private.node = val[1] ? val[1] : root;
	if ((err = resolve_dir(ps, &ps->def_shared, NULL, "defaults to_shared", &p->defaults.to_shared)) ||
	    (err = resolve_dir(ps, &ps->def_private, NULL, "defaults to_private", &p->defaults.to_private)))
		return err;
	if (!val[2])
		return 0;
	if (val[2]->type != YAML_SEQUENCE_NODE)
		return fail(ps, val[2], "vms: expected a list of rules, found %s", kind(val[2]));
	n = (unsigned)(val[2]->data.sequence.items.top - val[2]->data.sequence.items.start);
	if (n > PM_POLICY_MAX_RULES) {
		item = yaml_document_get_node(ps->doc, val[2]->data.sequence.items.start[PM_POLICY_MAX_RULES]);
		return fail(ps, item, "more than %d rules", PM_POLICY_MAX_RULES);
	}
	p->rules = calloc(n ? n : 1, sizeof(*p->rules));
	if (!p->rules)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		item = yaml_document_get_node(ps->doc, val[2]->data.sequence.items.start[i]);
		if ((err = parse_rule(ps, item, &p->rules[i], i)))
			return err;
		p->nrules = i + 1;
		for (unsigned e = 0; e < i; e++) {
			if (!shadows(&p->rules[e], &p->rules[i]))
				continue;
			warn(ps, item, "rule %u never applies: rule %u (%u:%u) matches all it matches, and the first match wins",
			     i + 1, e + 1, p->rules[e].line, p->rules[e].col);
			break;
		}
	}
	return 0;
}

/* libyaml's reader errors carry a byte offset, not a mark. */
static void offset_to_mark(const char *text, size_t len, size_t off, unsigned *line, unsigned *col)
{
	*line = *col = 1;
	for (size_t i = 0; i < off && i < len; i++) {
		if (text[i] == '\n') {
			(*line)++;
			*col = 1;
		} else {
			(*col)++;
		}
	}
}

static int syntax_error(struct parse *ps, yaml_parser_t *y)
{
	unsigned line = (unsigned)y->problem_mark.line + 1, col = (unsigned)y->problem_mark.column + 1;

	if (y->error == YAML_MEMORY_ERROR) {
		snprintf(ps->err, ps->errlen, "%s: out of memory", ps->name);
		return -ENOMEM;
	}
	/* at the end of a file without a final newline, libyaml counts one more line */
	if (y->error != YAML_READER_ERROR && y->problem_mark.index >= ps->len && ps->len &&
	    ps->text[ps->len - 1] != '\n')
		offset_to_mark(ps->text, ps->len, ps->len, &line, &col);
	if (y->error == YAML_READER_ERROR) {
		offset_to_mark(ps->text, ps->len, y->problem_offset, &line, &col);
		snprintf(ps->err, ps->errlen, "%s:%u:%u: %s", ps->name, line, col,
			 y->problem ? y->problem : "unreadable input");
	} else if (y->context) {
		snprintf(ps->err, ps->errlen, "%s:%u:%u: %s (%s at %u:%u)", ps->name, line, col,
			 y->problem ? y->problem : "syntax error", y->context,
			 (unsigned)y->context_mark.line + 1, (unsigned)y->context_mark.column + 1);
	} else {
		snprintf(ps->err, ps->errlen, "%s:%u:%u: %s", ps->name, line, col,
			 y->problem ? y->problem : "syntax error");
	}
	return -EINVAL;
}

int pm_policy_parse(const char *name, const char *text, size_t len, struct pm_policy **out,
		    char *err, size_t errlen)
{
	struct parse ps = { .name = name, .text = text, .len = len, .err = err, .errlen = errlen };
	yaml_parser_t y;
	yaml_document_t doc, next;
	yaml_node_t *root, *extra;
	int rc;

	*out = NULL;
	ps.p = calloc(1, sizeof(*ps.p));
	if (!ps.p || !yaml_parser_initialize(&y)) {
		free(ps.p);
		snprintf(err, errlen, "%s: out of memory", name);
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&y, (const unsigned char *)text, len);
	if (!yaml_parser_load(&y, &doc)) {
		rc = syntax_error(&ps, &y);
		goto out_parser;
	}
	ps.doc = &doc;
	root = yaml_document_get_root_node(&doc);
	if (!root) {
		snprintf(err, errlen, "%s:1:1: empty policy (write at least: mode: off)", name);
		rc = -EINVAL;
		goto out_doc;
	}
	rc = parse_doc(&ps, root);
	if (rc)
		goto out_doc;
	/* one document per file: a second one would be silently ignored */
	if (!yaml_parser_load(&y, &next)) {
		rc = syntax_error(&ps, &y);
		goto out_doc;
	}
	extra = yaml_document_get_root_node(&next);
	if (extra) {
		ps.doc = &next;
		rc = fail(&ps, extra, "a second YAML document; a policy is one document");
	}
	yaml_document_delete(&next);
out_doc:
	yaml_document_delete(&doc);
out_parser:
	yaml_parser_delete(&y);
	if (rc == -ENOMEM && !*err)
		snprintf(err, errlen, "%s: out of memory", name);
	if (rc) {
		pm_policy_free(ps.p);
		return rc;
	}
	*out = ps.p;
	return 0;
}

int pm_policy_load(const char *path, struct pm_policy **out, char *err, size_t errlen)
{
	bool std = !strcmp(path, "-");
	const char *name = std ? "<stdin>" : path;
	FILE *f = std ? stdin : fopen(path, "r");
	char *buf;
	size_t n;
	int rc;

	*out = NULL;
	if (!f) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", name, strerror(-rc));
		return rc;
	}
	buf = malloc(PM_POLICY_MAX_BYTES + 1);
	if (!buf) {
		rc = -ENOMEM;
		snprintf(err, errlen, "%s: out of memory", name);
		goto out;
	}
	n = fread(buf, 1, PM_POLICY_MAX_BYTES + 1, f);
	if (ferror(f)) {
		rc = errno ? -errno : -EIO;
		snprintf(err, errlen, "%s: %s", name, strerror(-rc));
	} else if (n > PM_POLICY_MAX_BYTES) {
		rc = -EFBIG;
		snprintf(err, errlen, "%s: larger than %d bytes", name, PM_POLICY_MAX_BYTES);
	} else {
		rc = pm_policy_parse(name, buf, n, out, err, errlen);
	}
	free(buf);
out:
	if (!std)
		fclose(f);
	return rc;
}

void pm_policy_free(struct pm_policy *p)
{
	if (!p)
		return;
	for (unsigned i = 0; i < p->nwarnings; i++)
		free(p->warnings[i]);
	free(p->warnings);
	free(p->rules);
	free(p);
}

/* ---- printing --------------------------------------------------------- */

/* Patterns and names hold no control characters (parse refuses them). */
static void yaml_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static void print_limits_yaml(FILE *f, const char *key, const struct pm_limits *l, bool shared)
{
	char a[32];

	if (!(l->flags & (PM_LIM_RATE | PM_LIM_MAX_REQUEST | PM_LIM_SHARED))) {
		fprintf(f, "%s: unlimited\n", key);
		return;
	}
	if (l->flags & PM_LIM_RATE) {
		fprintf(f, "%s: {rate: %s", key, pm_policy_format_size(l->rate, true, a, sizeof(a)));
		fprintf(f, ", burst: %s", pm_policy_format_size(l->burst, false, a, sizeof(a)));
	} else {
		fprintf(f, "%s: {rate: unlimited", key);
	}
	fprintf(f, ", max_request: %s", l->flags & PM_LIM_MAX_REQUEST ?
		pm_policy_format_size(l->max_request, false, a, sizeof(a)) : "unlimited");
	if (shared)
		fprintf(f, ", max_shared: %s", l->flags & PM_LIM_SHARED ?
			format_percent(l->max_shared_permille, a, sizeof(a)) : "unlimited");
	fputs("}\n", f);
}

void pm_policy_print_yaml(const struct pm_policy *p, FILE *f)
{
	fputs("# privmem policy, normalised: every rule carries its resolved limits;\n"
	      "# the first vms rule that matches a VM applies, else the defaults.\n", f);
	fprintf(f, "mode: %s\n", pm_mode_name(p->mode));
	fputs("defaults:\n", f);
	print_limits_yaml(f, "  to_shared", &p->defaults.to_shared, true);
	print_limits_yaml(f, "  to_private", &p->defaults.to_private, false);
	if (!p->nrules) {
		fputs("vms: []\n", f);
		return;
	}
	fputs("vms:\n", f);
	for (unsigned i = 0; i < p->nrules; i++) {
		const struct pm_policy_rule *r = &p->rules[i];
		const char *sep = "";

		fprintf(f, "  # rule %u\n  - ", i + 1);
		if (r->name[0]) {
			fputs("name: ", f);
			yaml_str(f, r->name);
			fputs("\n    ", f);
		}
		fputs("match: {", f);
		if (r->match & PM_MATCH_CGROUP) {
			fputs("cgroup: ", f);
			yaml_str(f, r->cgroup);
			sep = ", ";
		}
		if (r->match & PM_MATCH_COMM) {
			fprintf(f, "%scomm: ", sep);
			yaml_str(f, r->comm);
			sep = ", ";
		}
		if (r->match & PM_MATCH_PID)
			fprintf(f, "%spid: %u", sep, r->pid);
		fprintf(f, "}\n    mode: %s\n", pm_mode_name(r->rule.mode));
		print_limits_yaml(f, "    to_shared", &r->rule.to_shared, true);
		print_limits_yaml(f, "    to_private", &r->rule.to_private, false);
	}
}

static json_object *limits_json(const struct pm_limits *l, bool shared)
{
	json_object *o;
	char a[32];

	if (!(l->flags & (PM_LIM_RATE | PM_LIM_MAX_REQUEST | PM_LIM_SHARED)))
		return json_object_new_string("unlimited");
	o = json_object_new_object();
	if (l->flags & PM_LIM_RATE) {
		json_object_object_add(o, "rate", json_object_new_uint64(l->rate));
		json_object_object_add(o, "burst", json_object_new_uint64(l->burst));
	} else {
		json_object_object_add(o, "rate", json_object_new_string("unlimited"));
	}
	json_object_object_add(o, "max_request", l->flags & PM_LIM_MAX_REQUEST ?
			       json_object_new_uint64(l->max_request) : json_object_new_string("unlimited"));
	if (shared)
		json_object_object_add(o, "max_shared", json_object_new_string(l->flags & PM_LIM_SHARED ?
				       format_percent(l->max_shared_permille, a, sizeof(a)) : "unlimited"));
	return o;
}

json_object *pm_policy_to_json(const struct pm_policy *p)
{
	json_object *o = json_object_new_object(), *d = json_object_new_object();
	json_object *vms = json_object_new_array();

	json_object_object_add(o, "mode", json_object_new_string(pm_mode_name(p->mode)));
	json_object_object_add(d, "to_shared", limits_json(&p->defaults.to_shared, true));
	json_object_object_add(d, "to_private", limits_json(&p->defaults.to_private, false));
	json_object_object_add(o, "defaults", d);
	for (unsigned i = 0; i < p->nrules; i++) {
		const struct pm_policy_rule *r = &p->rules[i];
		json_object *v = json_object_new_object(), *m = json_object_new_object();

		if (r->name[0])
			json_object_object_add(v, "name", json_object_new_string(r->name));
		if (r->match & PM_MATCH_CGROUP)
			json_object_object_add(m, "cgroup", json_object_new_string(r->cgroup));
		if (r->match & PM_MATCH_COMM)
			json_object_object_add(m, "comm", json_object_new_string(r->comm));
		if (r->match & PM_MATCH_PID)
			json_object_object_add(m, "pid", json_object_new_uint64(r->pid));
		json_object_object_add(v, "match", m);
		json_object_object_add(v, "mode", json_object_new_string(pm_mode_name(r->rule.mode)));
		json_object_object_add(v, "to_shared", limits_json(&r->rule.to_shared, true));
		json_object_object_add(v, "to_private", limits_json(&r->rule.to_private, false));
		json_object_array_add(vms, v);
	}
	json_object_object_add(o, "vms", vms);
	return o;
}
