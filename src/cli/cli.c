// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include "cli.h"
#include "jsonutil.h"
#include "sockapi.h"
#include "util.h"

struct pm_cli_flags pm_cli = { .sock = PM_DEFAULT_SOCKET };

void pm_cli_err(const char *fmt, ...)
{
	char buf[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	pm_json_err(pm_cli.json, "privmem", buf);
}

void pm_cli_err_at(const char *msg)
{
	pm_json_err(pm_cli.json, NULL, msg);
}

void pm_cli_print_json(json_object *o)
{
	puts(json_object_to_json_string_ext(o, pm_cli.pretty ? JSON_C_TO_STRING_PRETTY : JSON_C_TO_STRING_PLAIN));
}

void pm_cli_vms_header(void)
{
	printf("%-16s %-20s %7s %-15s %-9s %8s %7s %13s %8s %13s %8s %6s %6s %8s %5s\n", "VM", "NAME", "PID", "COMM", "STATE",
	       "GUEST", "SHARED", "TO_PRIV ok/try", "BYTES", "TO_SHRD ok/try", "BYTES", "HCALL", "MFAULT",
	       "DISCARDS", "LOST");
}

/* Absent counters read as 0: privmemd omits none, and old traces lack newer ones. */
#define num(o, path) pm_json_u64(o, path, 0)

/* "12.5%", or "~12.5%" when the books could not follow every conversion (shared_inexact). */
static void fmt_shared(char *buf, size_t len, json_object *vm, uint64_t guest)
{
	json_object *inexact = pm_json_at(vm, "shared_inexact");
	bool approx = inexact && json_object_get_boolean(inexact);

	snprintf(buf, len, "%s%.1f%%", approx ? "~" : "", guest ? 100.0 * num(vm, "shared_bytes") / guest : 0.0);
}

void pm_cli_vms_row(json_object *vm)
{
	char guest[16], tp[16], ts[16], shared[16];
	uint64_t g = num(vm, "guest_bytes");
	json_object *errs = pm_json_at(vm, "attr_errors");

	pm_fmt_bytes(guest, sizeof(guest), g);
	pm_fmt_bytes(tp, sizeof(tp), num(vm, "to_private.bytes"));
	pm_fmt_bytes(ts, sizeof(ts), num(vm, "to_shared.bytes"));
	fmt_shared(shared, sizeof(shared), vm, g);
	printf("%-16s %-20.20s %7" PRIu64 " %-15s %-9s %8s %7s %6" PRIu64 "/%-6" PRIu64 " %8s %6" PRIu64 "/%-6" PRIu64
	       " %8s %6" PRIu64 " %6" PRIu64 " %8" PRIu64 " %5" PRIu64,
	       pm_json_str(vm, "id"), pm_json_str(vm, "name"), num(vm, "pid"), pm_json_str(vm, "comm"), pm_json_str(vm, "state"), guest,
	       shared,
	       num(vm, "to_private.conversions"), num(vm, "to_private.attempts"), tp,
	       num(vm, "to_shared.conversions"), num(vm, "to_shared.attempts"), ts,
	       num(vm, "requests.hypercall"), num(vm, "requests.memory_fault"),
	       num(vm, "discards"), num(vm, "lost"));
	if (shared[0] == '~')
		printf("  shared: inexact (memory too fragmented to book)");
	if (errs && json_object_is_type(errs, json_type_object) && json_object_object_length(errs)) {
		printf("  errors:");
		json_object_object_foreach(errs, name, n)
			printf(" %s=%" PRIu64, name, json_object_get_uint64(n));
	}
	putchar('\n');
}
