#!/bin/sh
# privmem's books against testvmm's ground truth on real private memory:
# requests by source and direction, conversions, bytes, size histograms,
# discards, a resume per request, the kernel's own kvm_vm_set_mem_attributes
# count; two guests at once; a guest killed mid-run.
. /vmtest/lib.sh
vt_needs_swprot books
S=/run/pm.sock
T=/tmp/books
mkdir -p $T
privmemd -s $S >$T/d.log 2>&1 &
P=$!
vt_wait_for $T/d.log ready 120
grep -q ready $T/d.log || { vt_fail books_privmemd "$(tail -n 3 $T/d.log)"; exit 1; }

# all_booked OUT TRUTH...: privmemd has booked the exits of the VMMs whose truths are given
all_booked() {
	out=$1; shift
	privmem -s $S vms --json >$out || return 1
	for g in "$@"; do
		[ "$(jpath $out "vms.@pid=$(jpath $g pid).state")" = destroyed ] || return 1
	done
}
booked() { bn=$1; shift; vt_until 30 "$bn" all_booked "$@"; }
# gtcompare prints its own tally: fold it into one result per case; it
# passes only with checks run, none failed, and exit status 0
check() {
	name=$1; shift
	out=$(gtcompare "$@" 2>&1)
	rc=$?
	line=$(echo "$out" | tail -n 1)
	case "$rc:$line" in
	"0:0 passed, 0 failed") vt_fail "$name" "no checks ran" ;;
	"0:"*" passed, 0 failed") vt_pass "$name ($line)" ;;
	*) vt_fail "$name" "exit $rc, $line: $(echo "$out" | grep FAIL | head -n 4)" ;;
	esac
}

testvmm --swprot --seed 1 --requests 37 --faults 5 --json $T/one.json >/dev/null 2>$T/one.err ||
	vt_fail books_one_vmm "$(cat $T/one.err)"
booked books_one_destroyed $T/vms1.json $T/one.json
check books_one_vm $T/vms1.json $T/one.json

testvmm --swprot --seed 2 --requests 50 --faults 3 --json $T/a.json >/dev/null 2>&1 &
A=$!
testvmm --swprot --seed 3 --requests 23 --size 2097152 --json $T/b.json >/dev/null 2>&1 &
B=$!
wait $A; wait $B
booked books_two_destroyed $T/vms2.json $T/a.json $T/b.json
check books_two_vms $T/vms2.json $T/a.json $T/b.json

testvmm --swprot --seed 4 --requests 40 --kill-after-requests 12 --json $T/k.json >/dev/null 2>&1
rc=$?
[ $rc = 137 ] && vt_pass "books_killed_vmm_exit_137" || vt_fail books_killed_vmm "exit $rc"
booked books_killed_destroyed $T/vms3.json $T/k.json
check books_killed_mid_run $T/vms3.json $T/k.json
eq() { vt_eq "$@"; }
eq books_killed_requests "$(jpath $T/vms3.json "vms.@pid=$(jpath $T/k.json pid).requests.hypercall")" 12
kill $P
wait $P
