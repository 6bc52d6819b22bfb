#!/bin/sh
# Restart, module reload, upgrade (issue 16 item 6): enforcement holds
# while privmemd is down and KVM is reloaded at new addresses, and after
# privmemd comes back; status tells the truth throughout.
. /vmtest/lib.sh
S=/run/rl.sock
T=/tmp/rl
mkdir -p $T
P=
eq() { if [ "$2" = "$3" ]; then vt_pass "$1"; else vt_fail "$1" "got '$2', want '$3'"; fi; }
start() { # name args...
	n=$1; shift
	privmemd -s $S "$@" >$T/$n.log 2>&1 &
	P=$!
	vt_wait_for $T/$n.log ready 120 && return 0
	kill -0 "$P" 2>/dev/null && why="still starting: $(vt_stuck "$P")" || { wait "$P"; why="exited $?"; }
	vt_fail "start_$n" "$why: $(tail -n 3 $T/$n.log)"
	P=
	return 1
}
conv() { # name: four 2 MiB to-shared conversions, EPERMs out
	testvmm --requests 4 --size 2097152 --dir shared --json $T/$1.json >/dev/null 2>$T/$1.err
	jpath $T/$1.json attr_errors.EPERM || echo 0
}
addr() { awk '$3 == "kvm_vm_ioctl" { print $1; exit }' /proc/kallsyms; }
cat >$T/p.yaml <<'Y'
mode: enforce
defaults:
  to_shared: {max_request: 1MiB}
Y
sed 's/^mode: enforce/mode: audit/' $T/p.yaml >$T/audit.yaml

# --require-enforce refuses what cannot enforce
privmemd -s $S --require-enforce >$T/re1.log 2>&1
eq require_enforce_needs_policy "$?" 1
privmemd -s $S --require-enforce -c $T/audit.yaml >$T/re2.log 2>&1
eq require_enforce_refuses_audit "$?" 1
rm -rf /sys/fs/bpf/privmem

start first --require-enforce -c $T/p.yaml || exit 1
privmem -s $S status --json >$T/st1.json
eq enforcing_at_start "$(jpath $T/st1.json policy.enforcing)" true
eq before_reload_eperm "$(conv a)" 4
kill -9 $P; wait $P 2>/dev/null; P=

a1=$(addr)
# another order: ccp (loaded after kvm at boot) goes in first and takes
# kvm.ko's old place, so kvm.ko lands elsewhere
rmmod kvm_amd && rmmod kvm && rmmod ccp && insmod /lib/modules/ccp.ko && insmod /lib/modules/kvm.ko &&
	insmod /lib/modules/kvm_amd.ko
rc=$?
a2=$(addr)
vt_info "kvm_vm_ioctl $a1 -> $a2 (reload rc $rc)"
eq modules_reloaded "$rc" 0
[ -n "$a2" ] && [ "$a1" != "$a2" ] && vt_pass kvm_moved || vt_fail kvm_moved "kvm_vm_ioctl $a1 -> $a2"
eq down_after_reload_eperm "$(conv b)" 4

start second --require-enforce -c $T/p.yaml || exit 1
privmem -s $S status --json >$T/st2.json
eq enforcing_after_restart "$(jpath $T/st2.json policy.enforcing)" true
eq lsm_live_after_restart "$(jpath $T/st2.json hooks.lsm/file_ioctl.state)" live
case "$(jpath $T/st2.json hooks.lsm/file_ioctl.reason)" in
*"previous privmemd"*) vt_pass lsm_took_over ;;
*) vt_fail lsm_took_over "$(jpath $T/st2.json hooks.lsm/file_ioctl.reason)" ;;
esac
eq vm_ioctl_live_after_reload "$(jpath $T/st2.json hooks.kvm_vm_ioctl.state)" live
h0=$(jpath $T/st2.json hooks.lsm/file_ioctl.hits)
eq after_restart_eperm "$(conv c)" 4
sleep 1.2
privmem -s $S vms --json >$T/vms.json
pid=$(jpath $T/c.json pid)
eq after_restart_denied_booked "$(jpath $T/vms.json "vms.@pid=$pid.denied" || echo missing)" 4
privmem -s $S status --json >$T/st3.json
# hits live in the pinned map: what this run's four attempts added
eq lsm_hits_after_restart "$(( $(jpath $T/st3.json hooks.lsm/file_ioctl.hits) - h0 ))" 4
kill $P; wait $P; P=
# a plain privmemd leaves no enforcement behind
privmemd -s $S >$T/plain.log 2>&1 &
P=$!
vt_wait_for $T/plain.log ready 120
kill $P; wait $P; P=
eq unpinned_no_eperm "$(conv d)" 0
