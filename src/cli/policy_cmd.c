// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * privmem policy check FILE: the operator's dry run before privmemd loads a
 * policy. Errors keep the compilers' FILE:LINE:COLUMN shape, unprefixed, so
 * editors jump to them.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "cli.h"
#include "policy.h"

static const char policy_usage[] =
	"Usage: privmem policy check FILE [--json]\n"
	"  Validates a policy (FILE - is stdin) and prints it normalised.\n"
	"  Exit status: 0 valid, 1 FILE unreadable, 2 invalid or usage.\n";

static int policy_check(int argc, char **argv)
{
	struct pm_policy *p;
	char err[512];
	int rc;

	if (argc != 1) {
		pm_cli_err(argc ? "policy check takes one FILE" : "policy check needs a FILE");
		if (!pm_cli.json)
			fputs(policy_usage, stderr);
		return 2;
	}
	rc = pm_policy_load(argv[0], &p, err, sizeof(err));
	if (rc) {
		pm_cli_err_at(err);
		return rc == -EINVAL ? 2 : 1;
	}
	for (unsigned i = 0; i < p->nwarnings; i++)
		fprintf(stderr, "%s\n", p->warnings[i]);
	if (pm_cli.json) {
		json_object *o = pm_policy_to_json(p);

		puts(json_object_to_json_string_ext(o, (pm_cli.pretty ? JSON_C_TO_STRING_PRETTY : JSON_C_TO_STRING_PLAIN) |
						       JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
	} else {
		pm_policy_print_yaml(p, stdout);
	}
	pm_policy_free(p);
	return 0;
}

int pm_cmd_policy(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int argc, char **argv);
	} sub[] = {
		{ "check", policy_check },
	};
	size_t len;
	int hit = -1;

	if (!argc || !strcmp(argv[0], "help") || !strcmp(argv[0], "--help") || !strcmp(argv[0], "-h")) {
		fputs(policy_usage, argc ? stdout : stderr);
		return argc ? 0 : 2;
	}
	len = strlen(argv[0]);
	for (size_t i = 0; i < sizeof(sub) / sizeof(sub[0]); i++) {
		if (len && !strncmp(sub[i].name, argv[0], len)) {
			if (hit >= 0) {
				pm_cli_err("policy: ambiguous subcommand");
				return 2;
			}
			hit = (int)i;
		}
	}
	if (hit < 0) {
		pm_cli_err("unknown policy subcommand '%s' (try: privmem policy help)", argv[0]);
		return 2;
	}
	return sub[hit].fn(argc - 1, argv + 1);
}
