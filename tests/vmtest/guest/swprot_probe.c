// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * swprot_probe: real private memory on a KVM_X86_SW_PROTECTED_VM (type 1),
 * which the vmtest kernel's rebuilt kvm.ko offers without SEV/TDX hardware.
 * Checks, one VMTEST line each:
 *   swprot_vm_types        KVM_CAP_VM_TYPES has bit 1 (SW_PROTECTED_VM)
 *   swprot_create_vm       KVM_CREATE_VM(1) succeeds
 *   swprot_mem_attr_cap    KVM_CAP_MEMORY_ATTRIBUTES (VM fd) has PRIVATE
 *   swprot_guest_memfd     KVM_CREATE_GUEST_MEMFD (2 MiB, flags 0)
 *   swprot_set_private     KVM_SET_MEMORY_ATTRIBUTES(PRIVATE) over 2 MiB
 *   swprot_set_shared      ... and back to 0
 *   tp_set_mem_attributes_exists  kvm/kvm_vm_set_mem_attributes in tracefs
 *                          (required from 7.2; SKIP before when absent)
 *   tp_set_mem_attributes_fires   it recorded both calls above
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/types.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "privmem/kvm_abi.h"
#include "vmtest.h"

#define SZ_2M (2ull << 20)
#define TRACEFS "/sys/kernel/tracing"
#define TP_DIR TRACEFS "/events/kvm/kvm_vm_set_mem_attributes"

static int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, s, strlen(s));
	close(fd);
	return n == (ssize_t)strlen(s) ? 0 : -1;
}

/* Counts "kvm_vm_set_mem_attributes" lines in the trace with attr [0x<attr>]. */
static int count_trace(const char *attr)
{
	char line[512], want[32];
	FILE *f = fopen(TRACEFS "/trace", "re");
	int n = 0;

	if (!f)
		return -1;
	snprintf(want, sizeof(want), "[0x%s]", attr);
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "kvm_vm_set_mem_attributes") && strstr(line, want))
			n++;
	fclose(f);
	return n;
}

static int set_attrs(int vm, __u64 attrs)
{
	struct pm_kvm_memory_attributes a = {
		.address = 0, .size = SZ_2M, .attributes = attrs, .flags = 0,
	};

	return ioctl(vm, PM_KVM_SET_MEMORY_ATTRIBUTES, &a);
}

int main(void)
{
	struct pm_kvm_create_guest_memfd g = { .size = SZ_2M, .flags = 0 };
	int kvm, vm, gmem, types, attrs, tracing = 0;

	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0) {
		vt_fail("swprot_open_dev_kvm", "open /dev/kvm: %s", strerror(errno));
		return vt_exit();
	}

	types = ioctl(kvm, PM_KVM_CHECK_EXTENSION, PM_KVM_CAP_VM_TYPES);
	if (types < 0)
		vt_fail("swprot_vm_types", "KVM_CHECK_EXTENSION(VM_TYPES): %s", strerror(errno));
	else if (!(types & (1 << PM_KVM_X86_SW_PROTECTED_VM)))
		vt_fail("swprot_vm_types", "KVM_CAP_VM_TYPES=%#x lacks SW_PROTECTED_VM (bit 1): "
			"kvm.ko without CONFIG_KVM_SW_PROTECTED_VM?", types);
	else
		vt_pass("swprot_vm_types");
	vt_info("KVM_CAP_VM_TYPES=%#x", types);

	do
		vm = ioctl(kvm, PM_KVM_CREATE_VM, PM_KVM_X86_SW_PROTECTED_VM);
	while (vm < 0 && errno == EINTR);
	if (vm < 0) {
		vt_fail("swprot_create_vm", "KVM_CREATE_VM(type 1): %s", strerror(errno));
		return vt_exit();
	}
	vt_pass("swprot_create_vm");

	attrs = ioctl(vm, PM_KVM_CHECK_EXTENSION, PM_KVM_CAP_MEMORY_ATTRIBUTES);
	if (attrs < 0)
		vt_fail("swprot_mem_attr_cap", "KVM_CHECK_EXTENSION(MEMORY_ATTRIBUTES): %s", strerror(errno));
	else if (!(attrs & PM_KVM_MEMORY_ATTRIBUTE_PRIVATE))
		vt_fail("swprot_mem_attr_cap", "KVM_CAP_MEMORY_ATTRIBUTES=%#x lacks PRIVATE (0x8)", attrs);
	else
		vt_pass("swprot_mem_attr_cap");

	gmem = ioctl(vm, PM_KVM_CREATE_GUEST_MEMFD, &g);
	if (gmem < 0)
		vt_fail("swprot_guest_memfd", "KVM_CREATE_GUEST_MEMFD(2 MiB, flags 0): %s", strerror(errno));
	else
		vt_pass("swprot_guest_memfd");

	/* The conversion tracepoint (kvm.ko of 7.2 and later). */
	if (access(TP_DIR, F_OK) == 0) {
		vt_pass("tp_set_mem_attributes_exists");
		tracing = write_file(TRACEFS "/trace", "") == 0 &&
			  write_file(TP_DIR "/enable", "1") == 0;
		if (!tracing)
			vt_fail("tp_set_mem_attributes_fires", "cannot enable %s: %s", TP_DIR, strerror(errno));
	} else if (vt_kernel_ge(7, 2)) {
		vt_fail("tp_set_mem_attributes_exists", "%s missing on a >= 7.2 kernel", TP_DIR);
	} else {
		vt_skip("tp_set_mem_attributes_exists", "absent (kernel < 7.2)");
	}

	if (set_attrs(vm, PM_KVM_MEMORY_ATTRIBUTE_PRIVATE))
		vt_fail("swprot_set_private", "KVM_SET_MEMORY_ATTRIBUTES(PRIVATE, 2 MiB): %s", strerror(errno));
	else
		vt_pass("swprot_set_private");
	if (set_attrs(vm, 0))
		vt_fail("swprot_set_shared", "KVM_SET_MEMORY_ATTRIBUTES(0, 2 MiB): %s", strerror(errno));
	else
		vt_pass("swprot_set_shared");

	if (tracing) {
		int priv, shared;

		write_file(TP_DIR "/enable", "0");
		priv = count_trace("8");
		shared = count_trace("0");
		if (priv == 1 && shared == 1)
			vt_pass("tp_set_mem_attributes_fires");
		else
			vt_fail("tp_set_mem_attributes_fires",
				"expected 1 PRIVATE and 1 shared event, trace has %d and %d", priv, shared);
	}

	if (gmem >= 0)
		close(gmem);
	close(vm);
	close(kvm);
	return vt_exit();
}
