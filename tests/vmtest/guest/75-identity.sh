#!/bin/sh
# #16.1 VM identity: a process that makes VMs one after another often gets
# the freed struct kvm back. Each creation must be its own VM with its own
# exact books, live and in replay, and no id may be a kernel address.
. /vmtest/lib.sh
vt_needs_swprot identity
S=/run/pm.sock
T=/tmp/ident
mkdir -p $T/rec
privmemd -s $S --record $T/rec >$T/d.log 2>&1 &
P=$!
vt_wait_for $T/d.log ready 120
grep -q ready $T/d.log || { vt_fail identity_privmemd "$(tail -n 3 $T/d.log)"; exit 1; }

# ids_of FILE PID: the ids of PID's VMs, one a line, in the file's order
ids_of() {
	_k=0
	while _p=$(jpath "$1" "vms.$_k.pid"); do
		[ "$_p" = "$2" ] && jpath "$1" "vms.$_k.id"
		_k=$((_k + 1))
	done
}
# booked PID N: privmemd booked N VMs of PID, all destroyed
booked() {
	privmem -s $S vms --json >$T/vms.json || return 1
	[ "$(ids_of $T/vms.json "$1" | grep -c .)" -ge "$2" ] || return 1
	_k=0
	while _p=$(jpath $T/vms.json "vms.$_k.pid"); do
		[ "$_p" = "$1" ] && [ "$(jpath $T/vms.json "vms.$_k.state")" != destroyed ] && return 1
		_k=$((_k + 1))
	done
	return 0
}
# gtcompare's tally as one result (it passes only with checks run, none failed, exit 0)
check() {
	name=$1; shift
	out=$(gtcompare "$@" 2>&1); rc=$?
	line=$(echo "$out" | tail -n 1)
	case "$rc:$line" in
	"0:0 passed, 0 failed") vt_fail "$name" "no checks ran" ;;
	"0:"*" passed, 0 failed") vt_pass "$name ($line)" ;;
	*) vt_fail "$name" "exit $rc, $line: $(echo "$out" | grep FAIL | head -n 4)" ;;
	esac
}

N=4
testvmm --swprot --vms $N --seed 7 --requests 9 --size 2097152 --json $T/gt.json >/dev/null 2>$T/gt.err ||
	vt_fail identity_testvmm "$(cat $T/gt.err)"
pid=$(jpath $T/gt.json pid)
vt_eq identity_truth_vms "$(jpath $T/gt.json vms.-1.vm_index)" $((N - 1))
vt_until 30 identity_booked booked "$pid" $N
# one VM per creation, each with its own books (gtcompare: --vms truths)
check identity_live_books $T/vms.json $T/gt.json
ids=$(ids_of $T/vms.json "$pid")
vt_eq identity_distinct_ids "$(echo "$ids" | sort -u | grep -c .)" $N
# ids are no function of a kernel address: none looks like a direct-map or vmalloc pointer
vt_eq identity_ids_not_pointers "$(echo "$ids" | grep -c '^ffff')" 0

kill $P; wait $P
privmem replay $T/rec --json >$T/replay.json 2>$T/replay.err || vt_fail identity_replay "$(cat $T/replay.err)"
check identity_replay_books $T/replay.json $T/gt.json
