// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * VM names: the libvirt domain, QEMU's -name, a sandbox id, or comm.
 * Looked up where the cgroup path is, on a VM's first sighting; the parsers
 * are pure so that the unit tests feed them the strings the real tools write.
 */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "vmname.h"
#include "vmstate.h"

#define CMDLINE_MAX (256 * 1024)	/* libvirt's QEMU command lines run to a few KiB */

const char *pm_name_source_name(unsigned src)
{
	static const char *const names[PM_NAME_SOURCES] = {
		[PM_NAME_COMM] = "comm", [PM_NAME_LIBVIRT] = "libvirt",
		[PM_NAME_QEMU] = "qemu", [PM_NAME_SANDBOX] = "sandbox",
	};

	return src < PM_NAME_SOURCES ? names[src] : "comm";
}

/* Names reach terminals, metrics labels and JSON: no control bytes. */
static int put_name(char *out, size_t len, const char *s, size_t n)
{
	size_t i;

	if (!len)
		return -ENOSPC;
	if (!n) {
		out[0] = '\0';
		return -ENOENT;
	}
	for (i = 0; i < n && i + 1 < len; i++)
		out[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	out[i] = '\0';
	return 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* systemd's unit-name escaping undone: "\x2d" is '-', any "\xNN" the byte NN. */
static size_t unescape(const char *s, size_t n, char *out, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 1 < cap; i++) {
		if (s[i] == '\\' && i + 3 < n && s[i + 1] == 'x' && hexval(s[i + 2]) >= 0 && hexval(s[i + 3]) >= 0) {
			out[o++] = (char)(hexval(s[i + 2]) << 4 | hexval(s[i + 3]));
			i += 3;
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
	return o;
}

/*
 * One component: "machine-" + escape("DRIVER-ID-NAME") + ".scope", as libvirt
 * names its machines (older libvirt: "DRIVER-NAME").
 */
static int libvirt_component(const char *c, size_t n, char *out, size_t len)
{
	char buf[512], *p, *q;

	if (n <= 14 || strncmp(c, "machine-", 8) || strncmp(c + n - 6, ".scope", 6))
		return -ENOENT;
	unescape(c + 8, n - 14, buf, sizeof(buf));
	p = buf + strspn(buf, "abcdefghijklmnopqrstuvwxyz");
	if (p == buf || *p != '-')
		return -ENOENT;	/* no driver: a systemd-nspawn machine, not libvirt's */
	p++;
	q = p + strspn(p, "0123456789");
	if (q > p && *q == '-')
		p = q + 1;
	return put_name(out, len, p, strlen(p));
}

int pm_vmname_libvirt(const char *cgroup, char *out, size_t len)
{
	const char *c = cgroup;

	if (len)
		out[0] = '\0';
	/* libvirt puts QEMU in a child of its scope (libvirt/emulator, vcpuN) */
	while (c && *c) {
		const char *end = strchr(c, '/');
		size_t n = end ? (size_t)(end - c) : strlen(c);

		if (libvirt_component(c, n, out, len) == 0)
			return 0;
		c = end ? end + 1 : NULL;
	}
	return -ENOENT;
}

/*
 * QEMU's -name takes QemuOpts: "[guest=]NAME[,process=P][,debug-threads=on]",
 * the first element without a key being the guest name, ",," a comma.
 */
static int qemu_name_value(const char *v, char *out, size_t len)
{
	char el[256];
	size_t n = 0;
	bool first = true;

	for (const char *p = v;; p++) {
		if (*p == ',' && p[1] == ',') {
			if (n + 1 < sizeof(el))
				el[n++] = ',';
			p++;
			continue;
		}
		if (*p && *p != ',') {
			if (n + 1 < sizeof(el))
				el[n++] = *p;
			continue;
		}
		el[n] = '\0';
		if (strncmp(el, "guest=", 6) == 0)
			return put_name(out, len, el + 6, n - 6);
		if (first && !strchr(el, '='))
			return put_name(out, len, el, n);
		if (!*p)
			return -ENOENT;
		first = false;
		n = 0;
	}
}

int pm_vmname_qemu(const char *args, size_t n, char *out, size_t len)
{
	const char *end = args + n, *a = args;
	int ret = -ENOENT;

	if (len)
		out[0] = '\0';
	if (!n)
		return -ENOENT;
	a += strnlen(a, n) + 1;	/* argv[0] is the program, not an option */
	while (a < end) {
		size_t l = strnlen(a, (size_t)(end - a));
		const char *next = a + l + 1;

		if ((strcmp(a, "-name") == 0 || strcmp(a, "--name") == 0) && next < end &&
		    strnlen(next, (size_t)(end - next)) < (size_t)(end - next))
			ret = qemu_name_value(next, out, len);	/* the last -name wins, as in QEMU */
		a = next;
	}
	return ret;
}

static bool all_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (hexval(s[i]) < 0)
			return false;
	return n > 0;
}

/* One component, given its parent's: a Kata or containerd sandbox id, or -ENOENT. */
static int sandbox_component(const char *c, size_t n, const char *parent, size_t pn, char *out, size_t len)
{
	static const char cri[] = "cri-containerd-";

	if (n > sizeof(cri) - 1 + 6 && strncmp(c, cri, sizeof(cri) - 1) == 0 && strncmp(c + n - 6, ".scope", 6) == 0)
		return put_name(out, len, c + sizeof(cri) - 1, n - (sizeof(cri) - 1) - 6);
	if (n > 5 && strncmp(c, "kata_", 5) == 0 && !(n == 13 && strncmp(c, "kata_overhead", 13) == 0))
		return put_name(out, len, c + 5, n - 5);
	if (pn == 13 && strncmp(parent, "kata_overhead", 13) == 0)
		return put_name(out, len, c, n);
	if (n == 64 && all_hex(c, n))	/* containerd with the cgroupfs driver: /k8s.io/ID, /kubepods/.../ID */
		return put_name(out, len, c, n);
	return -ENOENT;
}

int pm_vmname_sandbox(const char *cgroup, char *out, size_t len)
{
	const char *c = cgroup, *parent = "";
	size_t pn = 0;
	int ret = -ENOENT;

	if (len)
		out[0] = '\0';
	/* the deepest match: a VMM's cgroup sits below its pod's */
	while (c && *c) {
		const char *end = strchr(c, '/');
		size_t n = end ? (size_t)(end - c) : strlen(c);
		char name[256];

		if (n && sandbox_component(c, n, parent, pn, name, sizeof(name)) == 0)
			ret = put_name(out, len, name, strlen(name));
		parent = c;
		pn = n;
		c = end ? end + 1 : NULL;
	}
	return ret;
}

static ssize_t read_cmdline(uint32_t pid, char *buf, size_t cap)
{
	char path[40];
	size_t n = 0;
	ssize_t r;
	int fd;

	snprintf(path, sizeof(path), "/proc/%u/cmdline", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (n < cap && (r = read(fd, buf + n, cap - n)) > 0)
		n += (size_t)r;
	close(fd);
	return (ssize_t)n;
}

void pm_vm_lookup_name(struct pm_vm *vm)
{
	char *args;
	ssize_t n;

	if (pm_vmname_libvirt(vm->cgroup, vm->name, sizeof(vm->name)) == 0) {
		vm->name_src = PM_NAME_LIBVIRT;
		return;
	}
	args = malloc(CMDLINE_MAX);
	n = args ? read_cmdline(vm->pid, args, CMDLINE_MAX) : -ENOMEM;
	if (n > 0 && pm_vmname_qemu(args, (size_t)n, vm->name, sizeof(vm->name)) == 0) {
		vm->name_src = PM_NAME_QEMU;
		free(args);
		return;
	}
	free(args);
	if (pm_vmname_sandbox(vm->cgroup, vm->name, sizeof(vm->name)) == 0) {
		vm->name_src = PM_NAME_SANDBOX;
		return;
	}
	put_name(vm->name, sizeof(vm->name), vm->comm, strnlen(vm->comm, sizeof(vm->comm)));
	vm->name_src = PM_NAME_COMM;
}

const char *pm_vm_name(const struct pm_vm *vm)
{
	return vm->name[0] ? vm->name : vm->comm;
}

bool pm_vm_selected(const struct pm_vm *vm, const char *sel)
{
	size_t n;
	char id[24];

	if (!sel || !*sel)
		return true;
	if (!vm)
		return false;
	n = strlen(sel);
	snprintf(id, sizeof(id), "%016" PRIx64, vm->id);
	if (n <= 16 && all_hex(sel, n) && strncasecmp(id, sel, n) == 0)
		return true;
	return fnmatch(sel, pm_vm_name(vm), 0) == 0;
}
