# tests/kernel/convinject: successful conversions injected into a running
# privmemd (this host's KVM refuses every KVM_SET_MEMORY_ATTRIBUTES); used by
# ktest, metricstest, toptest and tracektest.
KTEST_BINS += $(O)/convinject
$(O)/convinject: tests/kernel/convinject.c $(O)/capture.skel.h | $(O)
	$(CC) $(CFLAGS) $< -o $@ $(LDLIBS_BPF)
# (a rule's prerequisites are read where it stands: name ktest here too)
ktest demo metricstest toptest tracektest policyktest: $(O)/convinject $(O)/jsoneq
