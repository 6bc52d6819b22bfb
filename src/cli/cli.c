// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
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

/* What a hook's covers token means to an operator (hook_status covers lists them). */
static const char *plain_cover(const char *tok, size_t n)
{
	static const struct { const char *tok, *plain; } words[] = {
		{ "vm_create", "VM creation" },
		{ "gmem_create", "guest_memfd creation" },
		{ "decide", "the VMM's attempts and conversions (KVM_SET_MEMORY_ATTRIBUTES)" },
		{ "resume", "request-to-resume latency" },
		{ "discard", "discards (PUNCH_HOLE)" },
	};

	for (unsigned i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strlen(words[i].tok) == n && strncmp(tok, words[i].tok, n) == 0)
			return words[i].plain;
	return NULL;
}

/*
 * A disabled hook that would tax every process is one the kernel gave no
 * trampoline for and the operator did not buy: what it covers goes unseen.
 * Said in words, with the flag and its price, so nobody reads an empty
 * attempts column as "the VMs convert nothing".
 */
bool pm_cli_print_unseen(FILE *f, json_object *hooks, const char *who, const char *lead)
{
	char unseen[512] = "";
	size_t off = 0;
	unsigned n = 0;
	bool refused = false;	/* --no-syscall-hooks, rather than the default */

	if (!hooks || !json_object_is_type(hooks, json_type_object))
		return false;
	json_object_object_foreach(hooks, name, h) {
		json_object *tax;
		const char *c = pm_json_str(h, "covers");

		(void)name;
		if (!json_object_object_get_ex(h, "taxes_all_processes", &tax) || !json_object_get_boolean(tax) ||
		    strcmp(pm_json_str(h, "state"), "disabled") != 0)
			continue;
		refused |= strcmp(pm_json_str(h, "reason"), "--no-syscall-hooks") == 0;
		while (*c) {
			size_t len = strcspn(c, ",");
			const char *p = plain_cover(c, len);

			if (off < sizeof(unseen))
				off += (size_t)snprintf(unseen + off, sizeof(unseen) - off, "%s%.*s", n ? ", " : "",
							p ? (int)strlen(p) : (int)len, p ? p : c);
			n++;
			c += len;
			c += strspn(c, ", ");
		}
	}
	if (!n)
		return false;
	fprintf(f, "%sNOT SEEN: %s.\n"
		"  This kernel has no trampolines (fentry/fexit) for them, and %s %s the\n"
		"  syscall-tracepoint fallback: %s --syscall-hooks sees them, at a cost to\n"
		"  every syscall of every process on the host (getppid() ran at 0.75x, ioctl() at 0.43x\n"
		"  of bare speed on a 6.18 host; privmemd(8)).\n",
		lead, unseen, who, refused ? "was told not to attach (--no-syscall-hooks)" : "does not attach, unless asked,",
		who);
	return true;
}
