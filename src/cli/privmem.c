// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * privmem: the command-line client. Commands dispatch through a table
 * with prefix matching, as bpftool's do ("privmem v" = "privmem vms").
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "cli.h"
#include "jsonutil.h"
#include "sockapi.h"

static const char usage[] =
	"Usage: privmem [-j|--json] [-p|--pretty] [-s SOCKET] COMMAND\n"
	"Commands:\n"
	"  status        daemon version, live hooks, events and losses\n"
	"  vms [--names] per-VM conversion books (--names: the VMs' names, one a line)\n"
	"  record -o FILE [-d SECONDS] [-- CMD...]   record a trace without the daemon (root)\n"
	"  replay FILE|DIR [--vm NAME|ID] [--from T] [--to T]   the books and a timeline, from a trace\n"
	"  export FILE|DIR --format chrome [-o OUT]   Chrome/Perfetto trace-event JSON\n"
	"  policy check FILE  validate a policy file and print it normalised\n"
	"Exit status: 0 ok, 1 runtime error, 2 usage.\n"
	"             3 replay/export: read, but damaged parts of the trace were skipped.\n";

static json_object *ask(const char *cmd)
{
	char *reply = NULL;
	json_object *o, *err_o;
	int err = pm_sock_request(pm_cli.sock, cmd, &reply);

	if (err) {
		pm_cli_err("cannot reach privmemd at %s: %s%s", pm_cli.sock, strerror(-err),
		      err == -ENOENT || err == -ECONNREFUSED ? " (is privmemd running?)" : "");
		return NULL;
	}
	o = json_tokener_parse(reply);
	free(reply);
	if (!o) {
		pm_cli_err("privmemd sent a reply that is not JSON");
		return NULL;
	}
	/* a refusal (permission, unknown command) is an error, not an empty report; reload says its own */
	if (strcmp(cmd, "reload") && json_object_object_get_ex(o, "error", &err_o)) {
		pm_cli_err("privmemd: %s", json_object_get_string(err_o));
		json_object_put(o);
		return NULL;
	}
	return o;
}

/* The reply to cmd, a request that takes no arguments; NULL with *rc the exit status. */
static json_object *query(const char *cmd, int argc, int *rc)
{
	json_object *o;

	if (argc) {
		pm_cli_err("%s takes no arguments", cmd);
		*rc = 2;
		return NULL;
	}
	o = ask(cmd);
	*rc = o ? 0 : 1;
	return o;
}

static void print_hooks_plain(json_object *hooks)
{
	printf("%-26s %-12s %-8s %s\n", "HOOK", "STATE", "HITS", "NOTE");
	json_object_object_foreach(hooks, name, h) {
		const char *reason = pm_json_str(h, "reason");
		json_object *tax;
		bool taxes = json_object_object_get_ex(h, "taxes_all_processes", &tax) && json_object_get_boolean(tax);

		printf("%-26s %-12s %-8" PRIu64 " %s%s%s\n", name, pm_json_str(h, "state"), pm_json_u64(h, "hits", 0),
		       pm_json_str(h, "covers"), *reason ? "; " : "", *reason ? reason : "");
		if (taxes && strcmp(pm_json_str(h, "state"), "live") == 0)
			printf("%-26s %-12s %-8s taxes every syscall of every process (%s)\n", "", "", "",
			       strncmp(reason, "standing in", 11) == 0 ? "a stand-in: --no-syscall-hooks refuses it"
								       : "asked for with --syscall-hooks");
	}
	pm_cli_print_unseen(stdout, hooks, "privmemd", "\n");
}

static void print_policy_plain(json_object *status)
{
	json_object *p, *v;
	bool enforcing;

	if (!json_object_object_get_ex(status, "policy", &p))
		return;
	if (!*pm_json_str(p, "file")) {
		printf("policy: none\n\n");
		return;
	}
	enforcing = json_object_object_get_ex(p, "enforcing", &v) && json_object_get_boolean(v);
	printf("policy: %s, mode %s, %" PRIu64 " rules, %s\n", pm_json_str(p, "file"), pm_json_str(p, "mode"),
	       pm_json_u64(p, "rules", 0),
	       enforcing ? "enforcing (BPF LSM)"
	       : strcmp(pm_json_str(p, "mode"), "enforce") == 0 ? "ENFORCEMENT UNAVAILABLE: denials only reported"
	       : "not enforcing");
	if (*pm_json_str(p, "last_error"))
		printf("policy: last reload failed, running policy kept: %s\n", pm_json_str(p, "last_error"));
	putchar('\n');
}

/* Asks privmemd to re-read its policy file; a bad file is refused and the old policy stays. */
static int do_reload(int argc, char **argv)
{
	json_object *o;
	int rc = 0;

	(void)argv;
	o = query("reload", argc, &rc);
	if (!o)
		return rc;
	if (*pm_json_str(o, "error")) {
		if (pm_cli.json)
			pm_cli_print_json(o);
		else
			fprintf(stderr, "privmem: reload refused, running policy kept: %s\n", pm_json_str(o, "error"));
		rc = 1;
	} else if (pm_cli.json) {
		pm_cli_print_json(o);
	} else {
		printf("policy reloaded\n");
	}
	json_object_put(o);
	return rc;
}

/* Only what needs an operator: per-VM kernel state refused for want of room (fails closed). */
static void print_kernel_state_plain(json_object *o)
{
	json_object *full = pm_json_at(o, "kernel_state.full");
	uint64_t n = 0;

	if (!full || !json_object_is_type(full, json_type_object))
		return;
	json_object_object_foreach(full, k, v) {
		(void)k;
		n += json_object_get_uint64(v);
	}
	if (n)
		printf("WARNING: kernel per-VM state refused %" PRIu64 " times (maps full; enforcement denies "
		       "no_state): see status --json kernel_state\n\n", n);
}

static void print_status_plain(json_object *o)
{
	json_object *hooks;

	printf("privmemd %s on %s, up %.1fs\n", pm_json_str(o, "version"), pm_json_str(o, "kernel"),
	       pm_json_u64(o, "uptime_ns", 0) / 1e9);
	printf("vms %" PRIu64 "  events %" PRIu64 "  lost %" PRIu64 "%s  bad %" PRIu64 "\n",
	       pm_json_u64(o, "vms", 0), pm_json_u64(o, "events", 0), pm_json_u64(o, "lost", 0),
	       pm_json_u64(o, "lost", 0) ? " (EVENTS WERE LOST)" : "", pm_json_u64(o, "bad_events", 0));
	/* an older privmemd says nothing of forgetting: nor do we, rather than a made-up 0 */
	if (json_object_object_get_ex(o, "forgotten", NULL))
		printf("forgotten %" PRIu64 "  (destroyed VMs kept %" PRIu64 " s, at most %" PRIu64 ")\n",
		       pm_json_u64(o, "forgotten", 0), pm_json_u64(o, "keep_destroyed_s", 0),
		       pm_json_u64(o, "max_destroyed", 0));
	putchar('\n');
	print_kernel_state_plain(o);
	print_policy_plain(o);
	if (json_object_object_get_ex(o, "hooks", &hooks))
		print_hooks_plain(hooks);
}

static void print_vms_plain(json_object *o)
{
	json_object *arr;

	if (!json_object_object_get_ex(o, "vms", &arr))
		return;
	pm_cli_vms_header();
	for (size_t i = 0; i < json_object_array_length(arr); i++)
		pm_cli_vms_row(json_object_array_get_idx(arr, i));
	if (pm_json_u64(o, "lost", 0))
		printf("WARNING: %" PRIu64 " events were lost; counts above are incomplete\n", pm_json_u64(o, "lost", 0));
}

/* A request without arguments whose reply is shown as it came (-j) or as plain prints it. */
static int show(const char *cmd, int argc, void (*plain)(json_object *o))
{
	int rc;
	json_object *o = query(cmd, argc, &rc);

	if (!o)
		return rc;
	if (pm_cli.json)
		pm_cli_print_json(o);
	else
		plain(o);
	json_object_put(o);
	return 0;
}

static int do_status(int argc, char **argv)
{
	(void)argv;
	return show("status", argc, print_status_plain);
}

/* One name per line, each once: for scripts and shell completion (--vm NAME). */
static void print_names(json_object *arr)
{
	size_t n = json_object_array_length(arr);

	for (size_t i = 0; i < n; i++) {
		const char *name = pm_json_str(json_object_array_get_idx(arr, i), "name");
		size_t j;

		for (j = 0; j < i && strcmp(name, pm_json_str(json_object_array_get_idx(arr, j), "name")); j++)
			;
		if (j == i && *name)
			puts(name);
	}
}

static int do_vms(int argc, char **argv)
{
	json_object *o, *arr;

	if (argc != 1 || strcmp(argv[0], "--names"))
		return show("vms", argc, print_vms_plain);
	o = ask("vms");
	if (!o)
		return 1;
	if (json_object_object_get_ex(o, "vms", &arr) && json_object_is_type(arr, json_type_array))
		print_names(arr);
	json_object_put(o);
	return 0;
}

static const struct cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
} cmds[] = {
	{ "status", do_status },
	{ "vms", do_vms },
	{ "record", pm_cmd_record },
	{ "replay", pm_cmd_replay },
	{ "export", pm_cmd_export },
	{ "policy", pm_cmd_policy },
	{ "reload", do_reload },
	{ 0 },
};

static int dispatch(int argc, char **argv)
{
	const struct cmd *hit = NULL;
	size_t len = strlen(argv[0]);

	for (const struct cmd *c = cmds; c->name; c++) {
		if (strncmp(c->name, argv[0], len))
			continue;
		if (hit) {
			pm_cli_err("command '%s' is ambiguous", argv[0]);
			return 2;
		}
		hit = c;
	}
	if (!hit) {
		pm_cli_err("unknown command '%s' (try: privmem --help)", argv[0]);
		return 2;
	}
	return hit->fn(argc - 1, argv + 1);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "pretty", no_argument, NULL, 'p' },
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;

	/* '+': options stop at the command, whose own flags follow it */
	while ((c = getopt_long(argc, argv, "+jps:h", opts, NULL)) != -1) {
		switch (c) {
		case 'j': pm_cli.json = true; break;
		case 'p': pm_cli.json = pm_cli.pretty = true; break;
		case 's': pm_cli.sock = optarg; break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (optind >= argc) {
		fputs(usage, stderr);
		return 2;
	}
	/* `privmem vms --json` reads better than `privmem --json vms`: accept both */
	for (int i = optind + 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;	/* record -- CMD: the command's own flags */
		if (strcmp(argv[i], "--json") == 0 || strcmp(argv[i], "-j") == 0) {
			pm_cli.json = true;
			memmove(&argv[i], &argv[i + 1], (argc - i) * sizeof(*argv));
			argc--;
			i--;
		}
	}
	return dispatch(argc - optind, argv + optind);
}
