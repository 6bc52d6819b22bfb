#!/bin/sh
# privmemd, the host's binary unchanged, on whatever kernel the bed booted
# (the rebuilt default, or a stock kernel of the matrix): it starts, and it
# says of every hook exactly what this kernel offers. The oracle is the
# kernel's own description of itself, read here independently of privmemd:
# tracefs events and their formats, ftrace's list of functions a trampoline
# can attach to (and, once attached, enabled_functions), kallsyms, and the
# active LSMs. A hook privmemd reports that has no oracle here is a failure:
# a new hook needs its line below.
. /vmtest/lib.sh
S=/run/privmemd.sock
T=/tmp/hk
mkdir -p $T
TR=/sys/kernel/tracing
PRIVMEM_LIBBPF_LOG=1 privmemd -s $S >$T/d.log 2>&1 &
P=$!
vt_wait_for $T/d.log ready 120
if ! grep -q ready $T/d.log; then
	kill -0 $P 2>/dev/null && why="not ready after 120 s" || { wait $P; why="exited $?"; }
	vt_fail privmemd_starts "$why: $(grep -v '^libbpf: ' $T/d.log | tail -n 3) $(grep -B2 'END PROG LOAD' $T/d.log | head -n 3)"
	kill $P 2>/dev/null
	exit 1
fi
vt_pass privmemd_starts
privmem -s $S status >$T/st.txt 2>&1
privmem -s $S status --json >$T/st.json 2>&1
while read -r l; do vt_info "$l"; done <$T/st.txt

has_tp() { [ -d "$TR/events/$1" ]; }
has_fn() { grep -qE "^$1( |\$)" $TR/available_filter_functions; }
has_sym() { grep -qE " $1( |\$)" /proc/kallsyms; }
attached() { grep -qE "^$1( |\$)" $TR/enabled_functions; }
state() { jpath $T/st.json "hooks.$1.state"; }
reason() { jpath $T/st.json "hooks.$1.reason"; }

# expect HOOK STATE WHY: privmemd's state must be STATE; a hook that is not
# live must give a reason, and for "unavailable" or "disabled" one that
# names WHY.
expect() {
	h=$1 want=$2 why=$3
	got=$(state "$h") || { vt_fail "hook_$h" "not reported"; return; }
	r=$(reason "$h")
	if [ "$got" != "$want" ]; then
		vt_fail "hook_$h" "privmemd says '$got' ($r), the kernel says '$want' ($why)"
	elif [ "$want" != live ] && [ -z "$r" ]; then
		vt_fail "hook_$h" "$got without a reason"
	elif { [ "$want" = unavailable ] || [ "$want" = disabled ]; } && ! echo "$r" | grep -qF -- "$why"; then
		vt_fail "hook_$h" "$want, but the reason '$r' does not name '$why'"
	else
		vt_pass "hook_$h"
		[ "$want" = live ] && vt_info "hook $h: live" || vt_info "hook $h: $got: $r"
	fi
}

# Trampolines: the three ioctl entry points replace the ioctl tracepoints only together.
grp=live
for f in kvm_vm_ioctl kvm_dev_ioctl kvm_vcpu_ioctl; do has_fn $f || grp=unavailable; done
for f in kvm_vm_ioctl kvm_dev_ioctl kvm_vcpu_ioctl; do
	if ! has_fn $f; then expect $f unavailable "$f"
	elif [ $grp = live ]; then expect $f live ""
	else expect $f unavailable "together"
	fi
done
for f in kvm_gmem_fallocate kvm_destroy_vm kvm_gmem_release; do
	if has_fn $f; then expect $f live ""; else expect $f unavailable "$f"; fi
done
# ... and a trampoline said to be live is in ftrace's list of attached functions
for f in kvm_vm_ioctl kvm_dev_ioctl kvm_vcpu_ioctl kvm_gmem_fallocate kvm_destroy_vm kvm_gmem_release; do
	[ "$(state $f)" = live ] || continue
	if attached $f; then vt_pass "attached_$f"; else vt_fail "attached_$f" "live, but not in $TR/enabled_functions"; fi
done

if has_tp kvm/kvm_userspace_exit; then expect kvm_userspace_exit live ""
else expect kvm_userspace_exit unavailable kvm_userspace_exit; fi

# Without trampolines the syscall-tracepoint fallback is opt-in (privmemd
# runs here without --syscall-hooks): disabled, its reason naming the flag.
if [ $grp = live ]; then expect syscalls:ioctl superseded ""
elif ! has_tp syscalls/sys_enter_ioctl; then expect syscalls:ioctl unavailable "syscall tracepoints"
else expect syscalls:ioctl disabled --syscall-hooks; fi
if has_fn kvm_gmem_fallocate; then expect syscalls:fallocate superseded ""
elif ! has_sym kvm_gmem_fallocate; then expect syscalls:fallocate unavailable kvm_gmem_fallocate
else expect syscalls:fallocate disabled --syscall-hooks; fi

if has_tp sched/sched_process_exit; then expect sched_process_exit live ""
else expect sched_process_exit unavailable sched_process_exit; fi
if has_tp kvm/kvm_rmp_fault; then expect kvm_rmp_fault live ""
else expect kvm_rmp_fault unavailable kvm_rmp_fault; fi
# kvm_page_fault names its vCPU only from 6.6 on (6.1: address and error code)
if ! has_tp kvm/kvm_page_fault; then expect kvm_page_fault unavailable kvm_page_fault
elif grep -q vcpu_id $TR/events/kvm/kvm_page_fault/format; then expect kvm_page_fault live ""
else expect kvm_page_fault unavailable "vCPU"; fi
if has_tp kvm/kvm_vm_set_mem_attributes; then expect kvm_vm_set_mem_attributes live ""
else expect kvm_vm_set_mem_attributes unavailable kvm_vm_set_mem_attributes; fi
case ",$(cat /sys/kernel/security/lsm)," in
*,bpf,*) expect lsm/file_ioctl live "" ;;
*) expect lsm/file_ioctl unavailable "active LSM" ;;
esac
# 32-bit VMMs' ioctls: the compat LSM hook exists from 6.8 on
if [ "$(state lsm/file_ioctl)" != live ]; then expect lsm/file_ioctl_compat unavailable "lsm/file_ioctl"
elif has_sym bpf_lsm_file_ioctl_compat; then expect lsm/file_ioctl_compat live ""
else expect lsm/file_ioctl_compat unavailable "security_file_ioctl_compat"; fi

# The bed's own kernel (KVM rebuilt, newest) promises every hook, none of
# them a syscall tracepoint's tax.
if [ "${VMTEST_KVM:-}" = swprot ]; then
	bad=
	for h in kvm_userspace_exit kvm_vm_ioctl kvm_dev_ioctl kvm_vcpu_ioctl kvm_gmem_fallocate kvm_destroy_vm kvm_gmem_release \
		kvm_vm_set_mem_attributes lsm/file_ioctl sched_process_exit; do
		[ "$(state $h)" = live ] || bad="$bad $h=$(state $h)"
	done
	[ -z "$bad" ] && vt_pass bed_kernel_all_live || vt_fail bed_kernel_all_live "$bad"
fi

# every hook privmemd reports has its oracle above
known=" kvm_vm_ioctl kvm_dev_ioctl kvm_vcpu_ioctl kvm_gmem_fallocate kvm_destroy_vm kvm_gmem_release kvm_userspace_exit syscalls:ioctl syscalls:fallocate sched_process_exit kvm_rmp_fault kvm_page_fault kvm_vm_set_mem_attributes lsm/file_ioctl lsm/file_ioctl_compat "
# (json-c writes "/" as "\/")
jpath $T/st.json hooks | grep -oE '"[^"]+": *\{' | sed 's/"\([^"]*\)".*/\1/; s#\\/#/#g' >$T/names
n=0
while read -r h; do
	n=$((n + 1))
	case "$known" in *" $h "*) ;; *) vt_fail "hook_oracle_$h" "privmemd reports hook '$h'; this test has no oracle for it";; esac
done <$T/names
[ "$n" -gt 0 ] && vt_pass "hooks_reported ($n)" || vt_fail hooks_reported "no hooks in status --json: $(head -c 200 $T/st.json)"
kill $P
wait $P
