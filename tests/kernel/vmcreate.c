// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * vmcreate: makes one VM and closes it, nothing else; built -m32 it is a
 * 32-bit VMM whose KVM_CREATE_VM takes the compat ioctl path (ktest: the
 * VM must be in privmemd's books under this pid). Prints the pid.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include "privmem/kvm_abi.h"

int main(void)
{
	int kfd = open("/dev/kvm", O_RDWR | O_CLOEXEC), vfd;

	vfd = kfd < 0 ? -1 : ioctl(kfd, PM_KVM_CREATE_VM, 0);
	if (vfd < 0) {
		fprintf(stderr, "vmcreate: %s\n", strerror(errno));
		return 1;
	}
	printf("%d\n", (int)getpid());
	close(vfd);
	close(kfd);
	return 0;
}
