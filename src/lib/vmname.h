/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The name an operator knows a VM by, looked up once, when the VM is first
 * seen, from the first of these that is present:
 *   1. the libvirt domain, from a cgroup scope machine-qemu\x2dN\x2dNAME.scope
 *      (systemd's escaping undone);
 *   2. QEMU's -name guest=NAME or -name NAME, from the VMM's command line;
 *   3. a Kata or containerd sandbox id, from the cgroup path;
 *   4. otherwise the VMM's comm.
 */
#ifndef PRIVMEM_VMNAME_H
#define PRIVMEM_VMNAME_H

#include <stdbool.h>
#include <stddef.h>

struct pm_vm;

enum pm_name_source {
	PM_NAME_COMM = 0,	/* also: not looked up (an old trace) */
	PM_NAME_LIBVIRT = 1,
	PM_NAME_QEMU = 2,
	PM_NAME_SANDBOX = 3,
	PM_NAME_SOURCES
};

/* "comm", "libvirt", "qemu", "sandbox". */
const char *pm_name_source_name(unsigned src);

/* Each returns 0 and the name in out, or -ENOENT. out is always a C string. */
int pm_vmname_libvirt(const char *cgroup, char *out, size_t len);
/* args: /proc/PID/cmdline as read, n bytes of NUL-separated arguments. */
int pm_vmname_qemu(const char *args, size_t n, char *out, size_t len);
int pm_vmname_sandbox(const char *cgroup, char *out, size_t len);

/* Sets vm->name and vm->name_src from vm->cgroup, /proc/vm->pid/cmdline, vm->comm. */
void pm_vm_lookup_name(struct pm_vm *vm);
/* vm->name, or vm->comm for a VM whose name was never looked up. */
const char *pm_vm_name(const struct pm_vm *vm);
/*
 * --vm SEL: a VM id prefix (hex, any case) or the VM's name (a glob, as
 * fnmatch(3) has it: "web-*"). NULL or "" selects every VM.
 */
bool pm_vm_selected(const struct pm_vm *vm, const char *sel);

#endif
