/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The policy language (privmem.policy(5)): YAML, or JSON, which is YAML's
 * flow syntax, parsed with libyaml into rules that decide.h applies.
 * Every limit is resolved against the defaults at load time, so what a VM
 * gets is one self-contained struct pm_rule.
 */
#ifndef PRIVMEM_POLICY_H
#define PRIVMEM_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <json-c/json.h>
#include "privmem/decide.h"

#define PM_POLICY_MAX_RULES	1024
#define PM_POLICY_MAX_BYTES	(1 << 20)	/* larger files are refused */
#define PM_POLICY_NAME_LEN	64
#define PM_POLICY_PAT_LEN	256

/* pm_policy_rule.match: the keys present; all of them must hold. */
#define PM_MATCH_CGROUP	(1u << 0)
#define PM_MATCH_COMM	(1u << 1)
#define PM_MATCH_PID	(1u << 2)

struct pm_policy_rule {
	struct pm_rule rule;		/* resolved against the defaults; rule.id = index + 1 */
	char name[PM_POLICY_NAME_LEN];	/* "" when the entry has none */
	unsigned match;			/* PM_MATCH_* */
	char cgroup[PM_POLICY_PAT_LEN];	/* glob on the cgroup v2 path or one of its ancestors */
	char comm[PM_POLICY_NAME_LEN];	/* glob on the VMM's comm */
	uint32_t pid;
	unsigned line, col;		/* where the vms entry starts, 1-based */
};

struct pm_policy {
	uint32_t mode;			/* enum pm_mode: top level, for the defaults and rules without one */
	struct pm_rule defaults;	/* id 0: VMs no rule matches */
	struct pm_policy_rule *rules;	/* in file order: the first match wins */
	unsigned nrules;
	char **warnings;		/* one line each, "FILE:LINE:COLUMN: warning: ..." */
	unsigned nwarnings;
};

/*
 * Parses policy text; `name` prefixes messages. Returns 0 and *out, or
 * -EINVAL (bad policy) / -ENOMEM with err holding one line
 * "NAME:LINE:COLUMN: message" (1-based).
 */
int pm_policy_parse(const char *name, const char *text, size_t len, struct pm_policy **out,
		    char *err, size_t errlen);
/* Reads and parses a file ("-" is stdin). -errno with "PATH: reason" when unreadable. */
int pm_policy_load(const char *path, struct pm_policy **out, char *err, size_t errlen);
void pm_policy_free(struct pm_policy *p);

/* The rule for a VMM: the first vms entry that matches, else the defaults. Never NULL. */
const struct pm_rule *pm_policy_resolve(const struct pm_policy *p, uint32_t pid, const char *comm,
					const char *cgroup);
bool pm_policy_rule_matches(const struct pm_policy_rule *r, uint32_t pid, const char *comm,
			    const char *cgroup);
/* Name for reports: the entry's name, else "rule N", else "defaults". buf >= 16. */
const char *pm_policy_rule_name(const struct pm_policy *p, uint32_t id, char *buf, size_t len);

/* The normalised policy; both print forms parse back to the same policy. */
void pm_policy_print_yaml(const struct pm_policy *p, FILE *f);
json_object *pm_policy_to_json(const struct pm_policy *p);

/* "2MiB" / "64MiB/s": 0, or -EINVAL with *why set to a static reason. */
int pm_policy_parse_size(const char *s, bool rate, uint64_t *out, const char **why);
/* Largest exact unit: binary first, then decimal, else B. buf >= 32. */
const char *pm_policy_format_size(uint64_t v, bool rate, char *buf, size_t len);
/* "12.5%" <-> 125 permille. */
int pm_policy_parse_percent(const char *s, uint32_t *permille, const char **why);

const char *pm_mode_name(uint32_t mode);

#endif
