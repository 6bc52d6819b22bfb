# The bed's 32-bit VMM: testvmm built -m32 (its KVM ioctls take the compat
# path, security_file_ioctl_compat; tests/vmtest/guest/64-compat.sh).
$(O)/static/testvmm32: $(TESTVMM_SRCS) $(wildcard tests/vmm/*.h) include/privmem/kvm_abi.h | $(O)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -m32 -static -Itests/vmm $(filter %.c,$^) -o $@
static: $(O)/static/testvmm32

# ktest's 32-bit VMM: one KVM_CREATE_VM through the compat ioctl path
$(O)/static/vmcreate32: tests/kernel/vmcreate.c include/privmem/kvm_abi.h | $(O)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -m32 -static $< -o $@
ktest: $(O)/static/vmcreate32
