// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * privmem-trace [-j] replay|export ARGS: the CLI's trace commands
 * (cmd_trace.c) without privmem.c's dispatcher, for the ASan+UBSan build
 * that the corruption tests run (`make tracetest`).
 */
#include <stdio.h>
#include <string.h>
#include "cmd_trace.h"

static bool json;

bool pm_cli_json(void)
{
	return json;
}

bool pm_cli_pretty(void)
{
	return false;
}

int main(int argc, char **argv)
{
	int i = 1;

	if (i < argc && !strcmp(argv[i], "-j")) {
		json = true;
		i++;
	}
	for (int j = i + 1; j < argc; j++) {
		if (!strcmp(argv[j], "--json")) {
			json = true;
			for (int k = j; k < argc; k++)
				argv[k] = argv[k + 1];
			argc--;
			j--;
		}
	}
	if (i >= argc) {
		fprintf(stderr, "usage: privmem-trace [-j] replay|export ARGS\n");
		return 2;
	}
	if (!strcmp(argv[i], "replay"))
		return pm_cmd_replay(argc - i - 1, argv + i + 1);
	if (!strcmp(argv[i], "export"))
		return pm_cmd_export(argc - i - 1, argv + i + 1);
	fprintf(stderr, "privmem-trace: unknown command '%s'\n", argv[i]);
	return 2;
}
