// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * VM names from the strings the real tools write: libvirt's scope names
 * (systemd-escaped), QEMU's -name options, Kata's and containerd's cgroup
 * paths. The same sources on real processes: tests/kernel/names.sh.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "vmname.h"
#include "vmstate.h"

static void libvirt_scopes(void **state)
{
	char n[128];

	(void)state;
	/* libvirt >= 6 on cgroup v2: QEMU sits in libvirt/emulator below the scope */
	assert_int_equal(pm_vmname_libvirt("/machine.slice/machine-qemu\\x2d3\\x2dweb\\x2d01.scope/libvirt/emulator",
					   n, sizeof(n)), 0);
	assert_string_equal(n, "web-01");
	assert_int_equal(pm_vmname_libvirt("/machine.slice/machine-qemu\\x2d12\\x2ddb.scope", n, sizeof(n)), 0);
	assert_string_equal(n, "db");
	/* any escaped byte: '.', '_', UTF-8 */
	assert_int_equal(pm_vmname_libvirt("/machine.slice/machine-qemu\\x2d1\\x2dcaf\\xc3\\xa9\\x2e1.scope", n, sizeof(n)), 0);
	assert_string_equal(n, "caf\xc3\xa9.1");
	/* older libvirt: no domain id */
	assert_int_equal(pm_vmname_libvirt("/machine.slice/machine-qemu\\x2dold.scope", n, sizeof(n)), 0);
	assert_string_equal(n, "old");
	/* an escaped control byte never reaches a terminal */
	assert_int_equal(pm_vmname_libvirt("/machine.slice/machine-qemu\\x2d1\\x2da\\x1bb.scope", n, sizeof(n)), 0);
	assert_string_equal(n, "a?b");
	/* not libvirt's: a systemd-nspawn machine, a plain scope, the root */
	assert_int_equal(pm_vmname_libvirt("/machine.slice/machine-debian.scope", n, sizeof(n)), -ENOENT);
	assert_int_equal(pm_vmname_libvirt("/system.slice/qemu.scope", n, sizeof(n)), -ENOENT);
	assert_int_equal(pm_vmname_libvirt("/", n, sizeof(n)), -ENOENT);
	assert_int_equal(pm_vmname_libvirt("", n, sizeof(n)), -ENOENT);
	assert_string_equal(n, "");
	/* a name longer than the buffer is cut, still a C string */
	assert_int_equal(pm_vmname_libvirt("/machine-qemu\\x2d1\\x2dabcdefgh.scope", n, 4), 0);
	assert_string_equal(n, "abc");
}

#define ARGS(s) s, sizeof(s)	/* cmdline: NUL-separated, a NUL after the last */

static void qemu_names(void **state)
{
	char n[128];

	(void)state;
	/* as libvirt starts QEMU */
	assert_int_equal(pm_vmname_qemu(ARGS("/usr/bin/qemu-system-x86_64\0-name\0guest=web-01,debug-threads=on\0-S"),
					n, sizeof(n)), 0);
	assert_string_equal(n, "web-01");
	/* the implied key, and more options after it */
	assert_int_equal(pm_vmname_qemu(ARGS("qemu-system-x86_64\0-m\0512\0-name\0db7,process=qemu-db7\0"), n, sizeof(n)), 0);
	assert_string_equal(n, "db7");
	/* guest= after another key; ",," is a comma */
	assert_int_equal(pm_vmname_qemu(ARGS("qemu\0--name\0process=x,guest=a,,b\0"), n, sizeof(n)), 0);
	assert_string_equal(n, "a,b");
	/* the last -name wins, as in QEMU */
	assert_int_equal(pm_vmname_qemu(ARGS("qemu\0-name\0one\0-name\0two"), n, sizeof(n)), 0);
	assert_string_equal(n, "two");
	/* no -name; -name as the last word; argv[0] is never an option; a key that is not guest */
	assert_int_equal(pm_vmname_qemu(ARGS("qemu\0-m\0512"), n, sizeof(n)), -ENOENT);
	assert_int_equal(pm_vmname_qemu(ARGS("qemu\0-name"), n, sizeof(n)), -ENOENT);
	assert_int_equal(pm_vmname_qemu(ARGS("-name\0x"), n, sizeof(n)), -ENOENT);
	assert_int_equal(pm_vmname_qemu(ARGS("qemu\0-name\0process=p"), n, sizeof(n)), -ENOENT);
	assert_int_equal(pm_vmname_qemu(ARGS("qemu\0-name\0"), n, sizeof(n)), -ENOENT);
	/* a cmdline cut short without its last NUL: the unterminated word is not read */
	assert_int_equal(pm_vmname_qemu("qemu\0-name\0abc", 14, n, sizeof(n)), -ENOENT);
	assert_int_equal(pm_vmname_qemu("", 0, n, sizeof(n)), -ENOENT);
}

static void sandboxes(void **state)
{
	static const char id[] = "4a5d1c2b9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b";
	char n[128], cg[512];

	(void)state;
	/* containerd, systemd cgroup driver: the sandbox's scope */
	snprintf(cg, sizeof(cg), "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/"
		 "cri-containerd-%s.scope", id);
	assert_int_equal(pm_vmname_sandbox(cg, n, sizeof(n)), 0);
	assert_string_equal(n, id);
	/* containerd, cgroupfs driver */
	snprintf(cg, sizeof(cg), "/kubepods/burstable/pod0f7c/%s", id);
	assert_int_equal(pm_vmname_sandbox(cg, n, sizeof(n)), 0);
	assert_string_equal(n, id);
	/* Kata: sandbox_cgroup_only's kata_ID, and the overhead cgroup */
	assert_int_equal(pm_vmname_sandbox("/kata_sb-77", n, sizeof(n)), 0);
	assert_string_equal(n, "sb-77");
	assert_int_equal(pm_vmname_sandbox("/kata_overhead/sb-78", n, sizeof(n)), 0);
	assert_string_equal(n, "sb-78");
	assert_int_equal(pm_vmname_sandbox("/kata_overhead", n, sizeof(n)), -ENOENT);
	assert_int_equal(pm_vmname_sandbox("/kata_o", n, sizeof(n)), 0);
	assert_string_equal(n, "o");
	/* not sandboxes: 63 hex digits, a non-hex 64, a user session */
	assert_int_equal(pm_vmname_sandbox("/k8s.io/4a5d1c2b9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2", n,
					   sizeof(n)), -ENOENT);
	assert_int_equal(pm_vmname_sandbox("/k8s.io/4a5d1c2b9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2x", n,
					   sizeof(n)), -ENOENT);
	assert_int_equal(pm_vmname_sandbox("/user.slice/user-0.slice/session-1.scope", n, sizeof(n)), -ENOENT);
}

static void lookup_order_and_selection(void **state)
{
	struct pm_vm vm;

	(void)state;
	memset(&vm, 0, sizeof(vm));
	vm.id = 0x5965a285e4197cb3ull;
	vm.pid = 0x7fffffff;	/* no such process: no command line */
	snprintf(vm.comm, sizeof(vm.comm), "qemu-system-x86");
	assert_string_equal(pm_vm_name(&vm), "qemu-system-x86");	/* never looked up: comm */
	snprintf(vm.cgroup, sizeof(vm.cgroup), "/kata_sb-1");
	pm_vm_lookup_name(&vm);
	assert_string_equal(vm.name, "sb-1");
	assert_string_equal(pm_name_source_name(vm.name_src), "sandbox");
	/* libvirt's scope comes before a sandbox further down */
	snprintf(vm.cgroup, sizeof(vm.cgroup), "/machine.slice/machine-qemu\\x2d1\\x2dweb.scope/kata_sb-1");
	pm_vm_lookup_name(&vm);
	assert_string_equal(vm.name, "web");
	assert_string_equal(pm_name_source_name(vm.name_src), "libvirt");
	snprintf(vm.cgroup, sizeof(vm.cgroup), "/");
	pm_vm_lookup_name(&vm);
	assert_string_equal(vm.name, "qemu-system-x86");
	assert_string_equal(pm_name_source_name(vm.name_src), "comm");

	snprintf(vm.name, sizeof(vm.name), "web-01");
	assert_true(pm_vm_selected(&vm, NULL));
	assert_true(pm_vm_selected(&vm, ""));
	assert_true(pm_vm_selected(&vm, "5965"));
	assert_true(pm_vm_selected(&vm, "5965A285E4197CB3"));
	assert_false(pm_vm_selected(&vm, "5965a285e4197cb30"));
	assert_false(pm_vm_selected(&vm, "7cb3"));		/* a prefix, not a substring */
	assert_true(pm_vm_selected(&vm, "web-01"));
	assert_true(pm_vm_selected(&vm, "web-*"));
	assert_false(pm_vm_selected(&vm, "web"));		/* names match whole */
	assert_false(pm_vm_selected(&vm, "WEB-01"));
	assert_false(pm_vm_selected(NULL, "web-01"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(libvirt_scopes),
		cmocka_unit_test(qemu_names),
		cmocka_unit_test(sandboxes),
		cmocka_unit_test(lookup_order_and_selection),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
