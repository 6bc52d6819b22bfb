#!/bin/sh
# Enforcement on a real BPF LSM: the VMM gets EPERM for exactly the
# attempts the policy refuses (rules whose outcome does not depend on
# timing), audit refuses none and reports the same set, off does nothing,
# other KVM ioctls are untouched, and enforcement holds while privmemd is
# down and is adopted when it comes back.
. /vmtest/lib.sh
vt_needs_swprot enforce
S=/run/pm.sock
T=/tmp/enf
mkdir -p $T
P=

start() { # policy-file
	privmemd -s $S -c "$1" >$T/d.log 2>&1 &
	P=$!
	vt_wait_for $T/d.log ready 120
	if ! grep -q ready $T/d.log; then
		kill -0 "$P" 2>/dev/null && why="still starting after 120 s" || { wait "$P"; why="exited $?"; }
		vt_fail "start_$(basename "$1")" "$why: $(tail -n 3 $T/d.log) $(dmesg | tail -n 3)"
		return 1
	fi
}
stop() { kill "$P" 2>/dev/null; wait "$P" 2>/dev/null; P=; }
eq() { if [ "$2" = "$3" ]; then vt_pass "$1"; else vt_fail "$1" "got '$2', want '$3'"; fi; }
# vmrun NAME testvmm-args...: runs the VMM, waits until privmemd booked its exit
vmrun() {
	n=$1; shift
	testvmm "$@" --json $T/$n.json >/dev/null 2>$T/$n.err
	echo $? >$T/$n.rc
	[ -z "$P" ] && return
	pid=$(jpath $T/$n.json pid)
	i=0
	while [ $i -lt 50 ]; do
		privmem -s $S vms --json >$T/vms.json
		[ "$(jpath $T/vms.json "vms.@pid=$pid.state")" = destroyed ] && return
		sleep 0.1; i=$((i + 1))
	done
}
gt() { jpath $T/$1.json "$2" || echo 0; }
pm() { jpath $T/vms.json "vms.@pid=$(jpath $T/$1.json pid).$2" || echo 0; }

cat >$T/maxreq.yaml <<'Y'
mode: enforce
defaults:
  to_shared: {max_request: 1MiB}
Y
cat >$T/burst.yaml <<'Y'
mode: enforce
vms:
  - name: testvmm-burst
    match: {comm: "testvmm"}
    to_shared: {rate: 1KiB/s, burst: 8MiB}
Y
sed 's/^mode: enforce/mode: audit/' $T/burst.yaml >$T/burst-audit.yaml
sed 's/^mode: enforce/mode: off/' $T/burst.yaml >$T/burst-off.yaml

# 1. max_request: every larger attempt and no other
start $T/maxreq.yaml || exit 1
privmem -s $S status --json >$T/st.json
eq enforcing "$(jpath $T/st.json policy.enforcing)" true
vmrun big --requests 20 --size 2097152 --dir shared
eq big_vmm_exit "$(cat $T/big.rc)" 0
eq big_vmm_eperm "$(gt big attr_errors.EPERM)" 20
eq big_denied "$(pm big denied)" 20
eq big_denied_by_max_request "$(pm big denials.denied.by_reason.max_request)" 20
eq big_no_would_deny "$(pm big would_deny)" 0
vmrun fit --requests 20 --size 1048576 --dir shared
eq fit_vmm_no_eperm "$(gt fit attr_errors.EPERM)" 0
eq fit_denied "$(pm fit denied)" 0
vmrun mixed --seed 1 --requests 37
eq mixed_denied_equals_vmm_eperm "$(pm mixed denied)" "$(gt mixed attr_errors.EPERM)"
eq mixed_attempts_seen "$(pm mixed to_shared.attempts)" "$(gt mixed to_shared.attempts)"
# other KVM ioctls are untouched: the guest ran, every exit is accounted for
eq mixed_io_exits "$(pm mixed kernel.exits.2)" "$(gt mixed exits.2)"
eq mixed_vmm_exit "$(cat $T/mixed.rc)" 0

# 2. enforcement holds while privmemd is down, and is adopted on restart
kill -9 "$P"; wait "$P" 2>/dev/null; P=
vmrun down --requests 5 --size 2097152 --dir shared
eq down_vmm_eperm "$(gt down attr_errors.EPERM)" 5
start $T/maxreq.yaml || exit 1
privmem -s $S status >$T/st.txt
grep -q 'adopted the pinned link' $T/st.txt && vt_pass lsm_adopted || vt_fail lsm_adopted "$(grep lsm $T/st.txt)"
vmrun up --requests 5 --size 2097152 --dir shared
eq up_vmm_eperm "$(gt up attr_errors.EPERM)" 5
eq up_denied "$(pm up denied)" 5
# the denials made while privmemd was down waited in the pinned ring buffer
privmem -s $S vms --json >$T/vms.json
eq down_denied_booked_after_restart "$(pm down denied)" 5
stop

# 3. burst with a negligible refill: exactly the attempts after the burst
start $T/burst.yaml || exit 1
vmrun burst --requests 10 --size 2097152 --dir shared --start-delay-ms 300
eq burst_vmm_eperm "$(gt burst attr_errors.EPERM)" 6
eq burst_denied "$(pm burst denied)" 6
eq burst_by_rate "$(pm burst denials.denied.by_reason.rate)" 6
eq burst_by_rule1 "$(pm burst denials.denied.by_rule.1)" 6
stop

# 4. audit: the same set reported, nothing refused
start $T/burst-audit.yaml || exit 1
vmrun audit --requests 10 --size 2097152 --dir shared --start-delay-ms 300
eq audit_vmm_no_eperm "$(gt audit attr_errors.EPERM)" 0
eq audit_would_deny "$(pm audit would_deny)" 6
eq audit_denied "$(pm audit denied)" 0
stop

# 5. off: a no-op
start $T/burst-off.yaml || exit 1
vmrun off --requests 10 --size 2097152 --dir shared --start-delay-ms 300
eq off_vmm_no_eperm "$(gt off attr_errors.EPERM)" 0
eq off_nothing "$(pm off would_deny)/$(pm off denied)" 0/0
stop

# 5b. a timed rate: what gets through is held to the bucket's bound,
#     burst + rate x elapsed (+ one request in flight), and the burst is
#     never refused
cat >$T/rate.yaml <<'Y'
mode: enforce
defaults:
  to_shared: {rate: 16MiB/s, burst: 1MiB}
Y
start $T/rate.yaml || exit 1
vmrun rate --swprot --requests 400 --size 65536 --dir shared --start-delay-ms 300
att=$(gt rate to_shared.attempts); eperm=$(gt rate attr_errors.EPERM); ns=$(gt rate run_ns)
ok=$((att - eperm))
eq rate_denied_equals_vmm_eperm "$(pm rate denied)" "$eperm"
bound=$(awk -v ns="$ns" 'BEGIN { printf "%d", 1048576 + 16777216 * ns / 1e9 + 65536 }')
vt_info "rate: $ok of $att allowed ($((ok * 65536)) bytes) in $ns ns; bound $bound bytes"
[ $((ok * 65536)) -le "$bound" ] && vt_pass rate_within_bucket_bound || vt_fail rate_within_bucket_bound "$((ok * 65536)) > $bound"
[ $((ok * 65536)) -ge 1048576 ] && vt_pass rate_burst_allowed || vt_fail rate_burst_allowed "only $ok allowed"
[ "$eperm" -gt 0 ] && vt_pass rate_some_denied || vt_fail rate_some_denied "nothing denied in $ns ns"
stop

# 6. privmemd without a policy removes what was pinned: no enforcement left
privmemd -s $S >$T/d2.log 2>&1 &
P=$!
sleep 2
stop
vmrun after --requests 5 --size 2097152 --dir shared
eq unpinned_no_eperm "$(gt after attr_errors.EPERM)" 0
[ -e /sys/fs/bpf/privmem ] && vt_fail pins_removed "$(ls /sys/fs/bpf/privmem)" || vt_pass pins_removed
