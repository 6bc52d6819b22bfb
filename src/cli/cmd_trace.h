/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* privmem record | replay | export: the trace commands of the CLI (cmd_trace.c). */
#ifndef PRIVMEM_CMD_TRACE_H
#define PRIVMEM_CMD_TRACE_H

#include <stdbool.h>

/* Exit status when a trace was read but some of it had to be skipped. */
#define PM_EXIT_PARTIAL 3

/* argv[0] is the command's first argument, as bpftool-style dispatch passes it. */
int pm_cmd_record(int argc, char **argv);
int pm_cmd_replay(int argc, char **argv);
int pm_cmd_export(int argc, char **argv);

/* Global flags, owned by privmem.c. */
bool pm_cli_json(void);
bool pm_cli_pretty(void);
/* One-line error: {"error":...} on stdout in JSON mode, "privmem: ..." on stderr otherwise. */
void pm_cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
