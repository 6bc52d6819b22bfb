#!/bin/sh
# testvmm --vm-type 1 --on-deny fail|retry|stop against real denials: the
# bed's BPF LSM under privmemd makes KVM_SET_MEMORY_ATTRIBUTES fail with
# EPERM for every to_shared attempt larger than 1 MiB, and testvmm's ground
# truth must say what each mode did about it (tests/vmm/README.md).
. /vmtest/lib.sh
vt_needs_swprot swprot_deny
T=/tmp/swd
S=/run/swd.sock
mkdir -p $T
for b in testvmm jpath privmemd; do
	command -v $b >/dev/null || { vt_skip swprot_deny "no $b in the guest (make static)"; exit 0; }
done
grep -qw bpf /sys/kernel/security/lsm || { vt_skip swprot_deny "bpf LSM not active"; exit 0; }

eq() { if [ "$2" = "$3" ]; then vt_pass "$1"; else vt_fail "$1" "got '$2', want '$3'"; fi; }
j() { jpath "$T/$1.json" "$2"; }

cat >$T/p.yaml <<'Y'
mode: enforce
vms:
  - name: swprot-deny
    match: {comm: "testvmm"}
    to_shared: {max_request: 1MiB}
Y
privmemd -s $S -c $T/p.yaml >$T/d.log 2>&1 &
P=$!
i=0
vt_wait_for $T/d.log ready 120
if ! grep -q ready $T/d.log; then
	vt_fail swprot_deny_privmemd "$(tail -n 3 $T/d.log)"
	kill $P 2>/dev/null
	exit 1
fi
run() { # NAME ARGS...
	n=$1; shift
	testvmm --swprot --seed 1 --requests 37 "$@" --json "$T/$n.json" >/dev/null 2>"$T/$n.err"
	echo $?
}
# NAME: "index gpa npages attrs ret" per hypercall (testvmm's key order is fixed)
hcs() { sed -n 's/.*"hypercalls":\[\([^]]*\)\].*/\1/p' "$T/$1.json" | tr '}' '\n' |
	sed -n 's/.*"gpa":\([0-9]*\),"npages":\([0-9]*\),"attrs":\([0-9]*\),"ret":\(-\{0,1\}[0-9]*\).*/\1 \2 \3 \4/p' |
	awk '{ print NR - 1, $0 }'; }
# The hypercalls the policy refuses: to_shared (no ENCRYPTED bit) and over 256 pages.
big_shared() { hcs "$1" | awk '$4 % 32 < 16 && $3 > 256 { printf " %d", $1 }' | sed 's/^ //'; }
failed() { hcs "$1" | awk '$5 != 0 { printf " %d", $1 }' | sed 's/^ //'; }

# fail: the guest gets -EPERM for exactly the refused ones, the run goes on.
eq deny_fail_exit "$(run fail --faults 2 --on-deny fail)" 0
big=$(big_shared fail)
nb=$(echo "$big" | wc -w)
vt_info "seed 1: $nb to_shared hypercalls over 1 MiB:$big"
if [ "$nb" -gt 0 ]; then vt_pass deny_policy_bites; else vt_fail deny_policy_bites "no refused request in seed 1"; fi
eq deny_fail_eperm "$(j fail attr_errors.EPERM)" "$nb"
eq deny_fail_which "$(failed fail)" "$big"
first=${big%% *}
eq deny_fail_ret "$(j fail "hypercalls.$first.ret")" -1
eq deny_fail_counted "$(j fail guest_failed_requests)/$(j fail guest_seen_failures)" "$nb/$nb"
eq deny_fail_books "$(($(j fail to_shared.attempts) - $(j fail to_shared.conversions)))" "$nb"
eq deny_fail_no_punch_after_deny "$(j fail discards)" "$(j fail to_shared.conversions)"
eq deny_fail_completed "$(j fail outcome)/$(j fail requests.hypercall)/$(j fail requests.memory_fault)" completed/37/2
eq deny_fail_faults_unaffected "$(j fail by_source.memory_fault.conversions)" 2

# retry: each refused request is tried 4 times (10 ms apart), then failed.
eq deny_retry_exit "$(run retry --on-deny retry)" 0
eq deny_retry_eperm "$(j retry attr_errors.EPERM)" $((4 * nb))
eq deny_retry_retries "$(j retry attr_retries)" $((3 * nb))
eq deny_retry_failed "$(j retry guest_failed_requests)/$(j retry guest_seen_failures)" "$nb/$nb"
eq deny_retry_attempts "$(j retry to_shared.attempts)" $(($(j fail to_shared.attempts) + 3 * nb))

# stop: at the first refused request, as QEMU: JSON written, exit status 3.
eq deny_stop_exit "$(run stop --on-deny stop)" 3
eq deny_stop_outcome "$(j stop outcome)/$(j stop stop.source)/$(j stop stop.errno)/$(j stop stop.to_private)" \
	stopped/hypercall/EPERM/false
eq deny_stop_where "$(j stop stop.gpa)/$(($(j stop stop.size) / 4096))" \
	"$(j fail hypercalls.$first.gpa)/$(j fail hypercalls.$first.npages)"
eq deny_stop_progress "$(j stop requests.hypercall)/$(j stop handled_requests)/$(j stop attr_errors.EPERM)" \
	"$((first + 1))/$first/1"

kill $P
wait $P 2>/dev/null
# An enforcing privmemd leaves its LSM link pinned (enforcement outlives the
# daemon); a privmemd without a policy removes it, so later tests start clean.
privmemd -s $S >$T/d2.log 2>&1 &
P=$!
i=0
vt_wait_for $T/d2.log ready 120
kill $P
wait $P 2>/dev/null
if [ -e /sys/fs/bpf/privmem ]; then
	vt_fail swprot_deny_unpinned "$(ls /sys/fs/bpf/privmem)"
else
	vt_pass swprot_deny_unpinned
fi
