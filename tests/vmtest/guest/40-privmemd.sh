#!/bin/sh
# The host's privmemd, unchanged, on a distribution kernel with a modular
# KVM: CO-RE and trampoline attach resolve against /sys/kernel/btf/kvm, and
# every hook is live, the BPF LSM included.
. /vmtest/lib.sh
S=/run/privmemd.sock
PRIVMEM_LIBBPF_LOG=1 privmemd -s $S >/tmp/privmemd.log 2>&1 &
P=$!
vt_wait_for /tmp/privmemd.log ready 120
if ! grep -q ready /tmp/privmemd.log; then
	vt_fail privmemd_starts "$(tail -n 5 /tmp/privmemd.log)"
	exit 1
fi
vt_pass privmemd_starts
privmem -s $S status >/tmp/status.txt 2>&1
while read -r l; do vt_info "$l"; done </tmp/status.txt
grep -v '^privmemd: hook\|ready' /tmp/privmemd.log | grep -B40 'END PROG LOAD' | head -n 30 | while read -r l; do vt_info "log: $l"; done
for h in kvm_userspace_exit kvm_vm_ioctl kvm_dev_ioctl kvm_vcpu_ioctl kvm_gmem_fallocate kvm_destroy_vm \
	kvm_vm_set_mem_attributes lsm/file_ioctl sched_process_exit; do
	if grep -qE "^$h +live" /tmp/status.txt; then vt_pass "hook_live_$h"; else vt_fail "hook_live_$h" "$(grep -E "^$h " /tmp/status.txt)"; fi
done
for h in syscalls:ioctl syscalls:fallocate; do
	if grep -qE "^$h +superseded" /tmp/status.txt; then vt_pass "no_syscall_tax_$h"; else vt_fail "no_syscall_tax_$h" "$(grep -E "^$h " /tmp/status.txt)"; fi
done
kill $P
wait $P
