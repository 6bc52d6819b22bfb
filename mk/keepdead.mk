# Destroyed VMs kept for a bounded time and count (tests/kernel/keepdead.sh):
# privmemd --max-destroyed / --keep-destroyed against testvmm runs. Root,
# under the kernel lock, like ktest.
CHECK_STAGES += keepdeadtest
.PHONY: keepdeadtest
keepdeadtest: all $(O)/gtcompare
	./tests/kernel/keepdead.sh
