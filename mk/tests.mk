# tests/kernel/pminject: successful conversions injected into a running
# privmemd (this host's KVM refuses every KVM_SET_MEMORY_ATTRIBUTES); used by
# ktest, metricstest, toptest and tracektest.
KTEST_BINS += $(O)/pminject
$(O)/pminject: tests/kernel/pminject.c $(O)/capture.skel.h | $(O)
	$(CC) $(CFLAGS) $< -o $@ $(LDLIBS_BPF)
metricstest toptest tracektest policyktest: $(O)/pminject $(O)/jsoneq
