#!/bin/sh
# A plain VM on this kernel's own KVM (kvm_amd on QEMU's SVM): testvmm's
# host mode, VM type 0, no private memory. Whatever this kernel does with
# its KVM_SET_MEMORY_ATTRIBUTES calls (6.1 has no such ioctl, 6.12 refuses
# PRIVATE on type 0, 7.x ...), privmemd's books of its exits and attempts
# must equal testvmm's ground truth exactly: the same privmemd binary on
# every kernel of the matrix.
. /vmtest/lib.sh
S=/run/plain.sock
T=/tmp/plain
mkdir -p $T
for b in testvmm jpath gtcompare privmemd; do
	command -v $b >/dev/null || { vt_fail plainvm "no $b in the guest (make static)"; exit 1; }
done
privmemd -s $S >$T/d.log 2>&1 &
P=$!
vt_wait_for $T/d.log ready 120
if ! grep -q ready $T/d.log; then
	vt_fail plainvm_privmemd "$(grep -v '^libbpf: ' $T/d.log | tail -n 3)"
	kill $P 2>/dev/null
	exit 1
fi

eq() { if [ "$2" = "$3" ]; then vt_pass "$1"; else vt_fail "$1" "got '$2', want '$3'"; fi; }
# booked OUT TRUTH...: true once privmemd has seen every given VMM's VM destroyed
booked() {
	out=$1; shift
	end=$(($(date +%s) + 30))
	while [ "$(date +%s)" -lt $end ]; do
		privmem -s $S vms --json >$out
		n=0
		for g in "$@"; do
			[ "$(jpath $out "vms.@pid=$(jpath $g pid).state")" = destroyed ] && n=$((n + 1))
		done
		[ $n = $# ] && return 0
		sleep 0.2
	done
	return 1
}
# gtcompare prints its own tally: one result per case
check() {
	name=$1; shift
	out=$(gtcompare "$@" 2>&1)
	line=$(echo "$out" | tail -n 1)
	case $line in
	*" passed, 0 failed"*) vt_pass "$name ($line)" ;;
	*) vt_fail "$name" "$line: $(echo "$out" | grep FAIL | head -n 4 | tr '\n' ' ')" ;;
	esac
	echo "$out" | grep '^SKIP' | while read -r l; do vt_info "$name: $l"; done
}

# One VM: the seeded request stream and a burst of port-I/O exits.
if ! testvmm --seed 1 --requests 37 --exits 500 --json $T/a.json >/dev/null 2>$T/a.err; then
	vt_fail plainvm_runs "$(tail -n 2 $T/a.err)"
	kill $P; wait $P
	exit 1
fi
vt_pass plainvm_runs
vt_info "plain VM on $(uname -r): exits $(jpath $T/a.json exits | tr -d ' \n'), attr_errors $(jpath $T/a.json attr_errors | tr -d ' \n'), guest_memfd $(jpath $T/a.json guest_memfd 2>/dev/null || echo '?')"
booked $T/vms1.json $T/a.json || vt_fail plainvm_destroyed "vm_destroy not seen within 30 s"
check plainvm_books $T/vms1.json $T/a.json
id=$(jpath $T/a.json pid)
eq plainvm_exits_io "$(jpath $T/vms1.json "vms.@pid=$id.kernel.exits.2")" "$(jpath $T/a.json exits.2)"
eq plainvm_attempts "$(($(jpath $T/vms1.json "vms.@pid=$id.to_private.attempts") + $(jpath $T/vms1.json "vms.@pid=$id.to_shared.attempts")))" \
	"$(($(jpath $T/a.json to_private.attempts) + $(jpath $T/a.json to_shared.attempts)))"

# Two at once, other seeds and sizes: separate books, each exact.
testvmm --seed 2 --requests 50 --exits 100 --json $T/b.json >/dev/null 2>&1 &
A=$!
testvmm --seed 3 --requests 23 --size 2097152 --json $T/c.json >/dev/null 2>&1 &
B=$!
wait $A; ra=$?; wait $B; rb=$?
eq plainvm_two_run "$ra/$rb" 0/0
booked $T/vms2.json $T/b.json $T/c.json || vt_fail plainvm_two_destroyed "vm_destroy not seen within 30 s"
check plainvm_two_books $T/vms2.json $T/b.json $T/c.json
eq plainvm_lost "$(jpath $T/vms2.json lost)" 0
# Every live hook this workload passes through was hit: live means firing.
privmem -s $S status --json >$T/st.json
for h in kvm_userspace_exit kvm_vm_ioctl kvm_dev_ioctl kvm_vcpu_ioctl kvm_destroy_vm sched_process_exit \
	lsm/file_ioctl syscalls:ioctl; do
	st=$(jpath $T/st.json "hooks.$h.state")
	[ "$st" = live ] || continue
	hits=$(jpath $T/st.json "hooks.$h.hits")
	if [ "${hits:-0}" -gt 0 ]; then vt_pass "plainvm_hits_$h ($hits)"; else vt_fail "plainvm_hits_$h" "live, but no hits after 3 VMs"; fi
done
kill $P
wait $P
