# Recorder faults on the host (tests/trace/recfault.sh): a full tmpfs, the
# directory removed, a read-only remount, each ending in a replay that names
# its gap. Root, under the kernel lock.
$(O)/pminject: tests/trace/pminject.c $(O)/capture.skel.h include/privmem/kvm_abi.h | $(O)
	$(CC) $(CFLAGS) $< -o $@ $(LDLIBS_BPF)
.PHONY: recfaulttest
recfaulttest: all $(O)/pminject $(O)/jpath
	./tests/trace/recfault.sh
CHECK_STAGES += recfaulttest
