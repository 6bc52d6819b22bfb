/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * What the commands of privmem share: the global flags, which privmem.c
 * parses once, the one error printer, and the vms table. Each command file
 * includes this header and none of the others'.
 */
#ifndef PRIVMEM_CLI_H
#define PRIVMEM_CLI_H

#include <stdbool.h>
#include <stdio.h>
#include <json-c/json.h>

/* Exit status when a trace was read but some of it had to be skipped. */
#define PM_EXIT_PARTIAL 3

struct pm_cli_flags {
	bool json;		/* -j, --json: before or after the command */
	bool pretty;		/* -p: indented JSON (implies json) */
	const char *sock;	/* -s: privmemd's socket */
};
extern struct pm_cli_flags pm_cli;

/* One line: {"error":...} on stdout in JSON mode, "privmem: ..." on stderr otherwise. */
void pm_cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The same without the prefix, for FILE:LINE:COLUMN messages (editors jump to them). */
void pm_cli_err_at(const char *msg);
/* o on stdout, pretty if -p. */
void pm_cli_print_json(json_object *o);

/* The vms table: a header, then one row per VM object of `privmem vms --json`'s shape. */
void pm_cli_vms_header(void);
void pm_cli_vms_row(json_object *vm);
/*
 * What goes unseen for want of trampolines while the syscall-tracepoint
 * fallback is off (hooks: the "hooks" object of status), in words, with
 * the flag of WHO (privmemd, privmem record) that buys it and its cost,
 * after LEAD. False, printing nothing, when nothing is unseen.
 */
bool pm_cli_print_unseen(FILE *f, json_object *hooks, const char *who, const char *lead);

/* Commands; argv[0] is the command's first argument, as bpftool-style dispatch passes it. */
int pm_cmd_record(int argc, char **argv);
int pm_cmd_replay(int argc, char **argv);
int pm_cmd_export(int argc, char **argv);
int pm_cmd_policy(int argc, char **argv);

#endif
