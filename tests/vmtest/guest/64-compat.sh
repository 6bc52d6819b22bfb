#!/bin/sh
# The whole ioctl path (issue 16 item 5): a 32-bit VMM's
# KVM_SET_MEMORY_ATTRIBUTES goes through security_file_ioctl_compat, and
# is enforced like a 64-bit one: four 2 MiB conversions under a 1 MiB
# max_request are four EPERMs, built either way.
. /vmtest/lib.sh
S=/run/cp.sock
T=/tmp/cp
mkdir -p $T
eq() { if [ "$2" = "$3" ]; then vt_pass "$1"; else vt_fail "$1" "got '$2', want '$3'"; fi; }
command -v testvmm32 >/dev/null || { vt_skip compat "no testvmm32 in the guest (gcc-multilib: make deps)"; exit 0; }
cat >$T/p.yaml <<'Y'
mode: enforce
defaults:
  to_shared: {max_request: 1MiB}
Y
privmemd -s $S -c $T/p.yaml >$T/d.log 2>&1 &
P=$!
vt_wait_for $T/d.log ready 120 || { vt_fail compat_start "$(tail -n 3 $T/d.log)"; kill $P; exit 1; }
privmem -s $S status --json >$T/st.json
eq compat_lsm_live "$(jpath $T/st.json hooks.lsm/file_ioctl_compat.state)" live
for b in 64 32; do
	v=testvmm; [ $b = 32 ] && v=testvmm32
	$v --requests 4 --size 2097152 --dir shared --json $T/$b.json >/dev/null 2>$T/$b.err
	eq "compat_${b}bit_vmm_ran" "$(jpath $T/$b.json to_shared.attempts)" 4
	eq "compat_${b}bit_eperm" "$(jpath $T/$b.json attr_errors.EPERM || echo 0)" 4
done
sleep 1.2
privmem -s $S vms --json >$T/vms.json
eq compat_32bit_denied_booked "$(jpath $T/vms.json "vms.@pid=$(jpath $T/32.json pid).denied" || echo missing)" 4
privmem -s $S status --json >$T/st.json
eq compat_lsm_hits "$(jpath $T/st.json hooks.lsm/file_ioctl_compat.hits)" 4
eq native_lsm_hits "$(jpath $T/st.json hooks.lsm/file_ioctl.hits)" 4
kill $P; wait $P
rm -rf /sys/fs/bpf/privmem

# An argument the LSM cannot read is refused in enforce mode (KVM alone
# says EFAULT); a page nobody touched yet is read by the sleepable LSM (so
# KVM judges it: all zeros, EINVAL), and refused by a non-sleepable one.
# It needs a VM with memory attributes: SW_PROTECTED, which a stock KVM
# (the matrix's kernels) does not build.
if [ "${VMTEST_KVM:-}" = stock ]; then
	vt_skip unreadable "stock KVM of ${VMTEST_KREL:-this kernel}: no VM type with memory attributes (KVM_SW_PROTECTED_VM)"
	exit 0
fi
eq unreadable_no_policy "$(setattr_arg bad | head -n 1)" EFAULT
privmemd -s $S -c $T/p.yaml >$T/d2.log 2>&1 &
P=$!
vt_wait_for $T/d2.log ready 120 || { vt_fail unreadable_start "$(tail -n 3 $T/d2.log)"; kill $P; exit 1; }
setattr_arg bad >$T/bad.out
eq unreadable_denied "$(head -n 1 $T/bad.out)" EPERM
privmem -s $S status --json >$T/st2.json
case "$(jpath $T/st2.json hooks.lsm/file_ioctl.verified)" in
sleepable*) want=EINVAL ;;
*) want=EPERM ;;
esac
vt_info "lsm/file_ioctl: $(jpath $T/st2.json hooks.lsm/file_ioctl.verified)"
eq untouched_page "$(setattr_arg untouched | head -n 1)" $want
sleep 1.2
privmem -s $S vms --json >$T/vms2.json
bp=$(sed -n 's/^pid //p' $T/bad.out)
eq unreadable_booked "$(jpath $T/vms2.json "vms.@pid=$bp.denials.denied.by_reason.unreadable" || echo missing)" 1
kill $P; wait $P
rm -rf /sys/fs/bpf/privmem
