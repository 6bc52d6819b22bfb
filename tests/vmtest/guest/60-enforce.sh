#!/bin/sh
# Enforcement on a real BPF LSM: the VMM gets EPERM for exactly the
# attempts the policy refuses (rules whose outcome does not depend on
# timing), audit refuses none and reports the same set, off does nothing,
# other KVM ioctls are untouched, and enforcement holds while privmemd is
# down and is adopted when it comes back. Limits to private, max_shared,
# and rules matched by cgroup and by pid, each live.
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
		kill -0 "$P" 2>/dev/null && why="still starting after 120 s: $(vt_stuck "$P")" || { wait "$P"; why="exited $?"; }
		vt_fail "start_$(basename "$1")" "$why: $(tail -n 3 $T/d.log) $(dmesg | tail -n 3)"
		return 1
	fi
}
stop() { kill "$P" 2>/dev/null; wait "$P" 2>/dev/null; P=; }
# a value must be there: a VM privmemd never recorded fails every check on it
eq() { vt_eq "$@"; }
booked() { privmem -s $S vms --json >$T/vms.json && [ "$(jpath $T/vms.json "vms.@pid=$1.state")" = destroyed ]; }
# vmrun NAME testvmm-args...: runs the VMM, waits until privmemd booked its exit
vmrun() {
	n=$1; shift
	testvmm "$@" --json $T/$n.json >/dev/null 2>$T/$n.err
	echo $? >$T/$n.rc
	[ -z "$P" ] && return
	vt_until 30 "${n}_booked" booked "$(jpath $T/$n.json pid)"
}
# absent keys print nothing: eq then fails (testvmm writes every count it
# has, zero included; privmem too, save attr_errors and denials by key)
gt() { jpath $T/$1.json "$2"; }
pm() { jpath $T/vms.json "vms.@pid=$(jpath $T/$1.json pid).$2"; }
# a count of attr_errors (testvmm lists only the errnos it saw): zero when
# the ground truth exists and lacks the key
gterr() { [ -s $T/$1.json ] && { jpath $T/$1.json "attr_errors.$2" || echo 0; }; }

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
# a second privmemd (no policy: it would remove the pinned enforcement) is
# refused before it touches anything of the first's
privmemd -s /run/pm2.sock >$T/d2nd.log 2>&1
eq second_instance_refused "$?/$(grep -c 'another privmemd is running' $T/d2nd.log)" 1/1
[ -e /sys/fs/bpf/privmem/link_lsm ] && vt_pass second_instance_left_pins || vt_fail second_instance_left_pins "$(ls /sys/fs/bpf/privmem 2>&1)"
[ -S $S ] && [ ! -e /run/pm2.sock ] && vt_pass second_instance_left_socket || vt_fail second_instance_left_socket "$(ls -l /run)"
vmrun big --requests 20 --size 2097152 --dir shared
eq big_vmm_exit "$(cat $T/big.rc)" 0
eq big_vmm_eperm "$(gterr big EPERM)" 20
eq big_denied "$(pm big denied)" 20
eq big_denied_by_max_request "$(pm big denials.denied.by_reason.max_request)" 20
eq big_no_would_deny "$(pm big would_deny)" 0
vmrun fit --requests 20 --size 1048576 --dir shared
eq fit_vmm_no_eperm "$(gterr fit EPERM)" 0
eq fit_denied "$(pm fit denied)" 0
vmrun mixed --seed 1 --requests 37
eq mixed_denied_equals_vmm_eperm "$(pm mixed denied)" "$(gterr mixed EPERM)"
eq mixed_attempts_seen "$(pm mixed to_shared.attempts)" "$(gt mixed to_shared.attempts)"
# other KVM ioctls are untouched: the guest ran, every exit is accounted for
eq mixed_io_exits "$(pm mixed kernel.exits.2)" "$(gt mixed exits.2)"
eq mixed_vmm_exit "$(cat $T/mixed.rc)" 0

# 2. enforcement holds while privmemd is down, and is adopted on restart
kill -9 "$P"; wait "$P" 2>/dev/null; P=
vmrun down --requests 5 --size 2097152 --dir shared
eq down_vmm_eperm "$(gterr down EPERM)" 5
start $T/maxreq.yaml || exit 1
privmem -s $S status >$T/st.txt
grep -q 'adopted the pinned link' $T/st.txt && vt_pass lsm_adopted || vt_fail lsm_adopted "$(grep lsm $T/st.txt)"
vmrun up --requests 5 --size 2097152 --dir shared
eq up_vmm_eperm "$(gterr up EPERM)" 5
eq up_denied "$(pm up denied)" 5
# the denials made while privmemd was down waited in the pinned ring buffer
privmem -s $S vms --json >$T/vms.json
eq down_denied_booked_after_restart "$(pm down denied)" 5
stop

# 3. burst with a negligible refill: exactly the attempts after the burst
start $T/burst.yaml || exit 1
vmrun burst --requests 10 --size 2097152 --dir shared --start-delay-ms 300
eq burst_vmm_eperm "$(gterr burst EPERM)" 6
eq burst_denied "$(pm burst denied)" 6
eq burst_by_rate "$(pm burst denials.denied.by_reason.rate)" 6
eq burst_by_rule1 "$(pm burst denials.denied.by_rule.1)" 6
stop

# 4. audit: the same set reported, nothing refused
start $T/burst-audit.yaml || exit 1
vmrun audit --requests 10 --size 2097152 --dir shared --start-delay-ms 300
eq audit_vmm_no_eperm "$(gterr audit EPERM)" 0
eq audit_would_deny "$(pm audit would_deny)" 6
eq audit_denied "$(pm audit denied)" 0
stop

# 5. off: a no-op
start $T/burst-off.yaml || exit 1
vmrun off --requests 10 --size 2097152 --dir shared --start-delay-ms 300
eq off_vmm_no_eperm "$(gterr off EPERM)" 0
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
att=$(gt rate to_shared.attempts); eperm=$(gterr rate EPERM); ns=$(gt rate run_ns)
[ -n "$att" ] && [ -n "$eperm" ] && [ -n "$ns" ] || vt_fail rate_truth "testvmm rate: no ground truth ($(cat $T/rate.err))"
ok=$((att - eperm))
eq rate_denied_equals_vmm_eperm "$(pm rate denied)" "$eperm"
bound=$(awk -v ns="$ns" 'BEGIN { printf "%d", 1048576 + 16777216 * ns / 1e9 + 65536 }')
vt_info "rate: $ok of $att allowed ($((ok * 65536)) bytes) in $ns ns; bound $bound bytes"
[ $((ok * 65536)) -le "$bound" ] && vt_pass rate_within_bucket_bound || vt_fail rate_within_bucket_bound "$((ok * 65536)) > $bound"
[ $((ok * 65536)) -ge 1048576 ] && vt_pass rate_burst_allowed || vt_fail rate_burst_allowed "only $ok allowed"
[ "$eperm" -gt 0 ] && vt_pass rate_some_denied || vt_fail rate_some_denied "nothing denied in $ns ns"
stop

# 5c. to_private limits are enforced as to_shared ones are: every attempt
#     over max_request and no other (vm type 0: what the LSM lets through,
#     KVM itself refuses, with another errno)
cat >$T/priv.yaml <<'Y'
mode: enforce
defaults:
  to_private: {max_request: 64KiB}
Y
start $T/priv.yaml || exit 1
vmrun pbig --requests 10 --size 131072 --dir private
eq priv_big_vmm_eperm "$(gterr pbig EPERM)" 10
eq priv_big_denied "$(pm pbig denied)" 10
eq priv_big_by_max_request "$(pm pbig denials.denied.by_reason.max_request)" 10
eq priv_big_attempts "$(pm pbig to_private.attempts)" "$(gt pbig to_private.attempts)"
vmrun pfit --requests 10 --size 65536 --dir private
eq priv_fit_vmm_no_eperm "$(gterr pfit EPERM)" 0
eq priv_fit_denied "$(pm pfit denied)" 0
vmrun pshared --requests 10 --size 131072 --dir shared
eq priv_limit_spares_to_shared "$(gterr pshared EPERM)" 0
stop

# ceiling_case NAME PERMILLE: the run's EPERMs and privmem's denials are
# exactly the to_shared attempts that testvmm's truth puts over the ceiling
ceiling_case() {
	guest=$(gt $1 gmem.created_bytes); natt=$(gt $1 to_shared.attempts)
	if [ -z "$guest" ] || [ -z "$natt" ] || { [ "$natt" -gt 0 ] && [ -z "$(gt $1 to_shared_attempts.0.size)" ]; }; then
		vt_fail ${1}_truth "no ground truth: $(cat $T/$1.err)"
		return
	fi
	cap=$(awk -v g="$guest" -v p="$2" 'BEGIN { print int(g / 1000) * p + int((g % 1000) * p / 1000) }')	# decide.h pm_permille_of
	want=0 i=0
	while [ $i -lt "$natt" ]; do
		sb=$(gt $1 to_shared_attempts.$i.shared_before); sz=$(gt $1 to_shared_attempts.$i.size)
		[ -n "$sb" ] && [ -n "$sz" ] || { vt_fail ${1}_truth "no truth for attempt $i"; return; }
		[ "$sz" -gt "$cap" ] || [ "$sb" -gt $((cap - sz)) ] && want=$((want + 1))
		i=$((i + 1))
	done
	vt_info "$1: guest $guest, cap $cap, $natt to_shared attempts: $want over the ceiling"
	[ "$want" -gt 0 ] && vt_pass ${1}_policy_bites || vt_fail ${1}_policy_bites "$natt attempts never cross $cap"
	eq ${1}_vmm_eperm "$(gterr $1 EPERM)" "$want"
	eq ${1}_denied "$(pm $1 denied)" "$want"
	eq ${1}_by_shared_ceiling "$(pm $1 denials.denied.by_reason.shared_ceiling)" "$want"
	eq ${1}_conversions "$(pm $1 to_shared.conversions)" "$((natt - want))"
}

# 5d. max_shared: a SW_PROTECTED VM converts 2 MiB at a time to shared; the
#     policy holds its shared bytes (privmem.policy(5): open guest_memfd
#     bytes whose pages lack KVM's PRIVATE attribute) to 25% of its memory.
#     Which attempts cross the line follows from testvmm's truth: its own
#     page-by-page record of what it made private, before each attempt.
cat >$T/maxsh.yaml <<'Y'
mode: enforce
vms:
  - match: {comm: "testvmm"}
    to_shared: {max_shared: 25%}
Y
start $T/maxsh.yaml || exit 1
vmrun maxsh --swprot --requests 60 --size 2097152 --dir shared --start-delay-ms 300
# (not n: vt_fail and vmrun use that name)
ceiling_case maxsh 250
stop

# 5d'. the ceiling follows the truth when the guest repeats itself: a mixed
#      stream converts private memory to private again and shared memory
#      to shared again, which changes nothing in KVM and nothing in the
#      ceiling (it used to drift below zero and let the excess through)
cat >$T/maxmix.yaml <<'Y'
mode: enforce
vms:
  - match: {comm: "testvmm"}
    to_shared: {max_shared: 10%}
Y
start $T/maxmix.yaml || exit 1
vmrun maxmix --swprot --seed 5 --requests 300 --dir mixed --start-delay-ms 300
ceiling_case maxmix 100
stop

# 5e. rules matched by cgroup and by pid: the rule in force is the matched
#     one, other VMMs get the defaults (none here)
if [ -w /sys/fs/cgroup/cgroup.procs ] && mkdir -p /sys/fs/cgroup/pmvm; then
	cat >$T/cg.yaml <<'Y'
mode: enforce
vms:
  - name: by-cgroup
    match: {cgroup: "/pmvm"}
    to_shared: {max_request: 1MiB}
Y
	start $T/cg.yaml || exit 1
	# the VMM in the cgroup: the shell moves itself there, then becomes testvmm
	n=cgin
	sh -c 'echo $$ >/sys/fs/cgroup/pmvm/cgroup.procs && exec testvmm "$@"' testvmm \
		--requests 5 --size 2097152 --dir shared --start-delay-ms 300 --json $T/$n.json >/dev/null 2>$T/$n.err
	vt_until 30 cgin_booked booked "$(jpath $T/cgin.json pid)"
	eq cgroup_rule_vmm_eperm "$(gterr cgin EPERM)" 5
	eq cgroup_rule_denied_by_rule1 "$(pm cgin denials.denied.by_rule.1)" 5
	vmrun cgout --requests 5 --size 2097152 --dir shared --start-delay-ms 300
	eq cgroup_rule_spares_others "$(gterr cgout EPERM)" 0
	stop
else
	vt_fail cgroup_rule "no writable cgroup v2 hierarchy at /sys/fs/cgroup"
fi

# by pid: the VMM's pid is known before it starts (the shell that becomes it
# waits for the policy to name it), the policy is reloaded over the socket
printf 'mode: enforce\n' >$T/pid.yaml
start $T/pid.yaml || exit 1
rm -f $T/go
sh -c '. /vmtest/lib.sh; vt_wait_for '$T'/go go 60 && exec testvmm "$@"' testvmm \
	--requests 5 --size 2097152 --dir shared --start-delay-ms 300 --json $T/bypid.json >/dev/null 2>$T/bypid.err &
VP=$!
printf 'mode: enforce\nvms:\n  - name: by-pid\n    match: {pid: %s}\n    to_shared: {max_request: 1MiB}\n' $VP >$T/pid.yaml
privmem -s $S reload >$T/reload.out 2>&1 && vt_pass pid_rule_reload || vt_fail pid_rule_reload "$(cat $T/reload.out)"
echo go >$T/go
wait $VP
eq pid_rule_vmm_pid "$(gt bypid pid)" "$VP"
vt_until 30 bypid_booked booked "$VP"
eq pid_rule_vmm_eperm "$(gterr bypid EPERM)" 5
eq pid_rule_denied_by_rule1 "$(pm bypid denials.denied.by_rule.1)" 5
[ "$(pm bypid denials.denied.by_rule.1)" = 5 ] ||
	vt_info "pid_rule: vms $(tr -d '\n' <$T/vms.json | sed 's/"hooks":{.*}},"vms"/"vms"/' | cut -c1-2500)"
	vt_info "pid_rule: the VM's denials $(pm bypid denials) denied $(pm bypid denied) rule $(pm bypid rule) first_ns $(pm bypid first_ns); VMs of pid $VP: $(grep -o "\"pid\":$VP[,}]" $T/vms.json | wc -l); status $(privmem -s $S status --json | tr -d '\n' | cut -c1-400)"
vmrun pidother --requests 5 --size 2097152 --dir shared --start-delay-ms 300
eq pid_rule_spares_others "$(gterr pidother EPERM)" 0
stop

# 6. privmemd without a policy removes what was pinned: no enforcement left
privmemd -s $S >$T/d2.log 2>&1 &
P=$!
vt_wait_for $T/d2.log ready 120 && vt_pass nopolicy_privmemd_ready || vt_fail nopolicy_privmemd_ready "$(tail -n 3 $T/d2.log)"
stop
vmrun after --requests 5 --size 2097152 --dir shared
eq unpinned_no_eperm "$(gterr after EPERM)" 0
[ -e /sys/fs/bpf/privmem ] && vt_fail pins_removed "$(ls /sys/fs/bpf/privmem)" || vt_pass pins_removed
