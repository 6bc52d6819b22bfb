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
#include "util.h"
#include "sockapi.h"
#include "cmd_trace.h"
#include "policy.h"

static struct {
	bool json;
	bool pretty;
	const char *sock;
} env = { .sock = PM_DEFAULT_SOCKET };

static const char usage[] =
	"Usage: privmem [-j|--json] [-p|--pretty] [-s SOCKET] COMMAND\n"
	"Commands:\n"
	"  status        daemon version, live hooks, events and losses\n"
	"  vms           per-VM conversion books\n"
	"  record -o FILE [-d SECONDS] [-- CMD...]   record a trace without the daemon (root)\n"
	"  replay FILE|DIR [--vm ID] [--from T] [--to T]   the books and a timeline, from a trace\n"
	"  export FILE|DIR --format chrome [-o OUT]   Chrome/Perfetto trace-event JSON\n"
	"  policy check FILE  validate a policy file and print it normalised\n"
	"Exit status: 0 ok, 1 runtime error, 2 usage.\n"
	"             3 replay/export: read, but damaged parts of the trace were skipped.\n";

static json_object *ask(const char *cmd)
{
	char *reply = NULL;
	json_object *o;
	int err = pm_sock_request(env.sock, cmd, &reply);

	if (err) {
		pm_cli_err("cannot reach privmemd at %s: %s%s", env.sock, strerror(-err),
		      err == -ENOENT || err == -ECONNREFUSED ? " (is privmemd running?)" : "");
		return NULL;
	}
	o = json_tokener_parse(reply);
	free(reply);
	if (!o)
		pm_cli_err("privmemd sent a reply that is not JSON");
	return o;
}

static uint64_t u64_at(json_object *o, const char *path)
{
	char key[64];
	const char *dot;
	json_object *v = o;

	while (v && path) {
		dot = strchr(path, '.');
		snprintf(key, sizeof(key), "%.*s", dot ? (int)(dot - path) : (int)strlen(path), path);
		if (!json_object_object_get_ex(v, key, &v))
			return 0;
		path = dot ? dot + 1 : NULL;
	}
	return v ? json_object_get_uint64(v) : 0;
}

static const char *str_at(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : "";
}

static void print_json(json_object *o)
{
	puts(json_object_to_json_string_ext(o, env.pretty ? JSON_C_TO_STRING_PRETTY : JSON_C_TO_STRING_PLAIN));
}

static void print_hooks_plain(json_object *hooks)
{
	printf("%-26s %-12s %-8s %s\n", "HOOK", "STATE", "HITS", "NOTE");
	json_object_object_foreach(hooks, name, h) {
		const char *reason = str_at(h, "reason");
		json_object *tax;
		bool taxes = json_object_object_get_ex(h, "taxes_all_processes", &tax) && json_object_get_boolean(tax);

		printf("%-26s %-12s %-8" PRIu64 " %s%s%s\n", name, str_at(h, "state"), u64_at(h, "hits"),
		       str_at(h, "covers"), *reason ? "; " : "", *reason ? reason : "");
		if (taxes && strcmp(str_at(h, "state"), "live") == 0)
			printf("%-26s %-12s %-8s taxes every syscall of every process (use --no-syscall-hooks)\n", "", "", "");
	}
}

static void print_policy_plain(json_object *status)
{
	json_object *p, *v;
	bool enforcing;

	if (!json_object_object_get_ex(status, "policy", &p))
		return;
	if (!*str_at(p, "file")) {
		printf("policy: none\n\n");
		return;
	}
	enforcing = json_object_object_get_ex(p, "enforcing", &v) && json_object_get_boolean(v);
	printf("policy: %s, mode %s, %" PRIu64 " rules, %s\n", str_at(p, "file"), str_at(p, "mode"),
	       u64_at(p, "rules"),
	       enforcing ? "enforcing (BPF LSM)"
	       : strcmp(str_at(p, "mode"), "enforce") == 0 ? "ENFORCEMENT UNAVAILABLE: denials only reported"
	       : "not enforcing");
	if (*str_at(p, "last_error"))
		printf("policy: last reload failed, running policy kept: %s\n", str_at(p, "last_error"));
	putchar('\n');
}

/* Asks privmemd to re-read its policy file; a bad file is refused and the old policy stays. */
static int do_reload(int argc, char **argv)
{
	json_object *o;
	int rc = 0;

	(void)argv;
	if (argc) {
		pm_cli_err("reload takes no arguments");
		return 2;
	}
	o = ask("reload");
	if (!o)
		return 1;
	if (*str_at(o, "error")) {
		if (env.json)
			print_json(o);
		else
			fprintf(stderr, "privmem: reload refused, running policy kept: %s\n", str_at(o, "error"));
		rc = 1;
	} else if (env.json) {
		print_json(o);
	} else {
		printf("policy reloaded\n");
	}
	json_object_put(o);
	return rc;
}

static int do_status(int argc, char **argv)
{
	json_object *o, *hooks;

	(void)argv;
	if (argc) {
		pm_cli_err("status takes no arguments");
		return 2;
	}
	o = ask("status");
	if (!o)
		return 1;
	if (env.json) {
		print_json(o);
	} else {
		printf("privmemd %s on %s, up %.1fs\n", str_at(o, "version"), str_at(o, "kernel"),
		       u64_at(o, "uptime_ns") / 1e9);
		printf("vms %" PRIu64 "  events %" PRIu64 "  lost %" PRIu64 "%s  bad %" PRIu64 "\n\n",
		       u64_at(o, "vms"), u64_at(o, "events"), u64_at(o, "lost"),
		       u64_at(o, "lost") ? " (EVENTS WERE LOST)" : "", u64_at(o, "bad_events"));
		print_policy_plain(o);
		if (json_object_object_get_ex(o, "hooks", &hooks))
			print_hooks_plain(hooks);
	}
	json_object_put(o);
	return 0;
}

static void print_vm_plain(json_object *vm)
{
	char guest[16], tp[16], ts[16];
	uint64_t g = u64_at(vm, "guest_bytes");
	json_object *errs;

	pm_fmt_bytes(guest, sizeof(guest), g);
	pm_fmt_bytes(tp, sizeof(tp), u64_at(vm, "to_private.bytes"));
	pm_fmt_bytes(ts, sizeof(ts), u64_at(vm, "to_shared.bytes"));
	printf("%-16s %7" PRIu64 " %-15s %-9s %8s %6.1f%% %6" PRIu64 "/%-6" PRIu64 " %8s %6" PRIu64 "/%-6" PRIu64
	       " %8s %6" PRIu64 " %6" PRIu64 " %8" PRIu64 " %5" PRIu64,
	       str_at(vm, "id"), u64_at(vm, "pid"), str_at(vm, "comm"), str_at(vm, "state"), guest,
	       g ? 100.0 * u64_at(vm, "shared_bytes") / g : 0.0,
	       u64_at(vm, "to_private.conversions"), u64_at(vm, "to_private.attempts"), tp,
	       u64_at(vm, "to_shared.conversions"), u64_at(vm, "to_shared.attempts"), ts,
	       u64_at(vm, "requests.hypercall"), u64_at(vm, "requests.memory_fault"),
	       u64_at(vm, "discards"), u64_at(vm, "lost"));
	if (json_object_object_get_ex(vm, "attr_errors", &errs) && json_object_object_length(errs)) {
		printf("  errors:");
		json_object_object_foreach(errs, name, n)
			printf(" %s=%" PRIu64, name, json_object_get_uint64(n));
	}
	putchar('\n');
}

static int do_vms(int argc, char **argv)
{
	json_object *o, *arr;

	(void)argv;
	if (argc) {
		pm_cli_err("vms takes no arguments");
		return 2;
	}
	o = ask("vms");
	if (!o)
		return 1;
	if (env.json) {
		print_json(o);
	} else if (json_object_object_get_ex(o, "vms", &arr)) {
		printf("%-16s %7s %-15s %-9s %8s %7s %13s %8s %13s %8s %6s %6s %8s %5s\n", "VM", "PID", "COMM", "STATE",
		       "GUEST", "SHARED", "TO_PRIV ok/try", "BYTES", "TO_SHRD ok/try", "BYTES", "HCALL", "MFAULT",
		       "DISCARDS", "LOST");
		for (size_t i = 0; i < json_object_array_length(arr); i++)
			print_vm_plain(json_object_array_get_idx(arr, i));
		if (u64_at(o, "lost"))
			printf("WARNING: %" PRIu64 " events were lost; counts above are incomplete\n", u64_at(o, "lost"));
	}
	json_object_put(o);
	return 0;
}

/* policy: the language and its checks live in policy.c and policy_cmd.c */
static int do_policy(int argc, char **argv)
{
	return pm_policy_cmd(argc, argv, env.json, env.pretty);
}

/* record, replay, export: cmd_trace.c, which reads the global flags here */
bool pm_cli_json(void)
{
	return env.json;
}

bool pm_cli_pretty(void)
{
	return env.pretty;
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
	{ "policy", do_policy },
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
		case 'j': env.json = true; break;
		case 'p': env.json = env.pretty = true; break;
		case 's': env.sock = optarg; break;
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
			env.json = true;
			memmove(&argv[i], &argv[i + 1], (argc - i) * sizeof(*argv));
			argc--;
			i--;
		}
	}
	return dispatch(argc - optind, argv + optind);
}
