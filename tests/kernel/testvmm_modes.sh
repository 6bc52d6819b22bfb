#!/bin/bash
# testvmm's own modes on this host, without privmemd: --vms N (N VMs in turn
# in one process, the top level the sums of its "vms") and --churn (VMs made
# and destroyed fast, some through a helper process, no fd left behind);
# tests/vmm/README.md. Needs root and /dev/kvm.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
lib_tmp testvmm-modes

need_root_kvm "testvmm mode tests"
need_tools jq

# nopid FILE: the JSON with its pid (the only value two runs may not share) blanked
nopid() { sed -E 's/"pid":[0-9]+/"pid":0/g' "$1"; }

# --vms 1 is the default run, byte for byte but the pid
run_vmm one
run_vmm vms1 --vms 1
eq "--vms 1: the default run's keys, in order" "$(jv "$T/vms1.json" 'keys_unsorted | join(",")')" \
	"$(jv "$T/one.json" 'keys_unsorted | join(",")')"
[ -s "$T/one.json" ] && [ "$(nopid "$T/vms1.json")" = "$(nopid "$T/one.json")" ] &&
	ok "--vms 1: the default run's JSON" || bad "--vms 1 differs from the default run: $(diff <(nopid "$T/one.json") <(nopid "$T/vms1.json") | head -n 4)"
eq "--vms 1: no \"vms\"" "$(jv "$T/vms1.json" 'has("vms")')" false

# --vms 3: three VMs, each the object of its own single run, the top level their sums
ARGS="--exits 5 --faults 2 $TESTVMM_FAULTS"
# shellcheck disable=SC2086 # ARGS is words
run_vmm v3 --vms 3 $ARGS
V=$T/v3.json
eq "--vms 3: three VMs" "$(jv "$V" '.vms | length')" 3
eq "--vms 3: vm_index in creation order" "$(jv "$V" '[.vms[].vm_index] | join(",")')" 0,1,2
eq "--vms 3: seeds seed+i" "$(jv "$V" '[.seed, .vms[].seed] | join(",")')" 1,1,2,3
eq "--vms 3: each VM has a single run's keys, vm_index first" \
	"$(jv "$V" '[.vms[] | keys_unsorted | join(",")] | unique | join(" | ")')" \
	"vm_index,$(jv "$T/one.json" 'keys_unsorted | join(",")')"
eq "--vms 3: the top level has them, \"vms\" last" "$(jv "$V" 'keys_unsorted | join(",")')" \
	"$(jv "$T/one.json" 'keys_unsorted | join(",")'),vms"
eq "--vms 3: one pid" "$(jv "$V" '[.pid, .vms[].pid] | unique | length')" 1
# shellcheck disable=SC2086
run_vmm seed2 --seed 2 $ARGS
eq "--vms 3: VM 1 is the single run of seed 2" \
	"$(jv "$V" '.vms[1] | del(.vm_index, .pid) | .exit_loop.ns = 0')" \
	"$(jv "$T/seed2.json" 'del(.pid) | .exit_loop.ns = 0')"
for p in requests.mailbox requests.hypercall requests.memory_fault \
	to_private.attempts to_private.attempt_bytes to_private.conversions to_private.bytes \
	to_shared.attempts to_shared.attempt_bytes to_shared.conversions to_shared.bytes \
	discards discard_bytes discard_errors kvm_run_errors exit_loop.exits exit_loop.ns \
	gmem.created gmem.created_bytes; do
	eq "--vms 3: $p = the VMs' sum" "$(jv "$V" ".$p")" "$(jv "$V" "[.vms[].$p] | add")"
done
# objects of counts (by errno, exit reason, size bucket): summed key by key
SUMOBJ='def sumobj(f): [.vms[] | f | to_entries[]] | group_by(.key) | map({key: .[0].key, value: (map(.value) | add)}) | from_entries;'
for p in attr_errors exits to_private.size_log2_hist to_private.attempt_size_log2_hist \
	to_shared.size_log2_hist to_shared.attempt_size_log2_hist; do
	eq "--vms 3: $p = the VMs' sum, key by key" "$(jv "$V" "$SUMOBJ .$p == sumobj(.$p)")" true
done
nonzero "--vms 3: exits counted" "$(jv "$V" '.exits["2"]')"
eq "--vms 3: memory_faults = the VMs' joined" "$(jv "$V" '.memory_faults == [.vms[].memory_faults[]]')" true
eq "--vms 3: what the VMs share is the first's" \
	"$(jv "$V" '[.vm_type, .gmem.size, .gmem.flags, .guest_memfd, .host_caps, .mem, .faults_asked] == (.vms[0] | [.vm_type, .gmem.size, .gmem.flags, .guest_memfd, .host_caps, .mem, .faults_asked])')" true

# --kill-after-requests counts over the run: 50 = VM 0's 37 and 13 of VM 1's
# (in a subshell of its own, so that bash's "Killed" goes nowhere)
(
	"$B/testvmm" --vms 3 --kill-after-requests 50 --json "$T/k.json" >/dev/null 2>"$T/k.err"
	exit $?
) 2>/dev/null
rc=$?
eq "--vms 3 --kill-after-requests 50: SIGKILL" "$rc" 137
eq "--vms 3 --kill-after-requests 50: requests, VMs, each VM's" \
	"$(jv "$T/k.json" '[.requests.mailbox, (.vms | length), (.vms | map(.requests.mailbox) | join("+"))] | join(" ")')" "50 2 37+13"

# --churn: 200 VMs, every 5th destroyed in the helper, not an fd left
run_vmm churn --churn 200 --churn-pass-every 5
C=$T/churn.json
eq "--churn 200: vms" "$(jv "$C" .churn.vms)" 200
eq "--churn 200 --churn-pass-every 5: passed" "$(jv "$C" .churn.passed)" 40
eq "--churn 200: held" "$(jv "$C" .churn.held)" 0
eq "--churn 200: one attempt per VM" "$(jv "$C" .churn.attempts)" 200
eq "--churn 200: every failed attempt has its errno" "$(jv "$C" '[.churn.attempt_errno[]] | add // 0')" \
	"$(jv "$C" '.churn.attempts - .churn.conversions')"
eq "--churn 200: a guest_memfd per VM where KVM has them" "$(jv "$C" .churn.gmem_created)" \
	"$(jv "$C" 'if .guest_memfd then 200 else 0 end')"
eq "--churn 200: fd_leak" "$(jv "$C" .churn.fd_leak)" 0
eq "--churn 200: helper_fd_leak" "$(jv "$C" .churn.helper_fd_leak)" 0
nonzero "--churn 200: elapsed_ns" "$(jv "$C" .churn.elapsed_ns)"
eq "--churn: its keys" "$(jv "$C" '[keys_unsorted, (.churn | keys_unsorted)] | map(join(",")) | join(" ")')" \
	"pid,vm_type,gmem,guest_memfd,host_caps,churn vms,passed,held,attempts,attempt_errno,conversions,gmem_created,elapsed_ns,fd_leak,helper_fd_leak"

# --churn-hold-every: the held VMs are open after the churn, through the JSON and --hold-ms
"$B/testvmm" --churn 50 --churn-pass-every 3 --churn-hold-every 10 --hold-ms 3000 \
	--json "$T/hold.json" >/dev/null 2>"$T/hold.err" &
HP=$!
# shellcheck disable=SC2034 # lib_cleanup kills it if we end early
KILL_PIDS="$HP"
json_there() { [ -s "$T/hold.json" ]; }
if wait_for 20 "testvmm --churn-hold-every's JSON" json_there; then
	eq "--churn-hold-every 10: held" "$(jv "$T/hold.json" .churn.held)" 5
	eq "--churn-hold-every 10: passed (a held VM is not passed)" "$(jv "$T/hold.json" .churn.passed)" 15
	eq "--churn-hold-every 10: fd_leak" "$(jv "$T/hold.json" .churn.fd_leak)" 0
	eq "--churn-hold-every 10: 5 VMs open during --hold-ms" \
		"$(find "/proc/$HP/fd" -lname 'anon_inode:kvm-vm' 2>/dev/null | wc -l)" 5
fi
kill "$HP" 2>/dev/null
wait "$HP" 2>/dev/null
# shellcheck disable=SC2034
KILL_PIDS=

# refusals: one line, exit 2, no JSON
for a in "--churn 5 --vms 2" "--churn-pass-every 3" "--churn-hold-every 2" "--churn 5 --requests 3" \
	"--churn 0" "--vms 0" "--vms 65"; do
	# shellcheck disable=SC2086
	"$B/testvmm" $a --json "$T/no.json" >/dev/null 2>"$T/no.err"; rc=$?
	[ $rc = 2 ] && [ "$(wc -l <"$T/no.err")" = 1 ] && [ ! -e "$T/no.json" ] &&
		ok "$a: refused, one line, exit 2" || bad "$a: rc=$rc $(cat "$T/no.err")"
	rm -f "$T/no.json"
done

finish
