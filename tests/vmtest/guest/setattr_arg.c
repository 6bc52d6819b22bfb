// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * setattr_arg: one KVM_SET_MEMORY_ATTRIBUTES on a fresh VM whose argument
 * is MODE: "bad" (an unmapped address: nobody can read it) or "untouched"
 * (a fresh anonymous page nobody has touched: a sleepable LSM faults it in,
 * a non-sleepable one cannot read it). Prints the errno name (or "0").
 * Exit 0 when the call was made, 1 when KVM itself failed before it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include "privmem/kvm_abi.h"

static const char *errname(int e)
{
	switch (e) {
	case 0: return "0";
	case EPERM: return "EPERM";
	case EFAULT: return "EFAULT";
	case EINVAL: return "EINVAL";
	default: return strerror(e);
	}
}

int main(int argc, char **argv)
{
	void *arg = (void *)16;
	int kfd, vfd;

	if (argc != 2 || (strcmp(argv[1], "bad") && strcmp(argv[1], "untouched"))) {
		fprintf(stderr, "usage: setattr_arg bad|untouched\n");
		return 2;
	}
	kfd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	vfd = kfd < 0 ? -1 : ioctl(kfd, PM_KVM_CREATE_VM, PM_KVM_X86_SW_PROTECTED_VM);
	if (vfd < 0) {
		fprintf(stderr, "setattr_arg: no VM: %s\n", strerror(errno));
		return 1;
	}
	if (strcmp(argv[1], "untouched") == 0) {
		arg = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (arg == MAP_FAILED)
			return 1;
	}
	printf("%s\n", errname(ioctl(vfd, PM_KVM_SET_MEMORY_ATTRIBUTES, arg) ? errno : 0));
	printf("pid %d\n", (int)getpid());
	return 0;
}
