# VM names from real processes: libvirt scope, QEMU command line, sandbox
# cgroups, comm (tests/kernel/names.sh; root, /dev/kvm, under the kernel lock)
.PHONY: namestest
namestest: all $(O)/jpath
	./tests/kernel/names.sh
CHECK_STAGES += namestest
