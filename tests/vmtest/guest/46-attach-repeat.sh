#!/bin/sh
# A hook reported live must be live (issue 16 item 2): privmemd started
# again and again (trampolines attached anew each time, 2 vCPUs); after
# each start every hook's reported state is checked against what it really
# saw of a VMM with known conversions: a live trampoline is in ftrace's
# enabled_functions and booked every attempt, the LSM and the kernel's
# set-attribute tracepoint counted every one; a silent one missed them.
. /vmtest/lib.sh
S=/run/ar.sock
T=/tmp/ar
mkdir -p $T
N=${VMTEST_ATTACH_STARTS:-10}
REQ=8
ok=0 bad=0 reattached=0 silent=0 i=0
while [ $i -lt $N ]; do
	i=$((i + 1))
	privmemd -s $S >$T/d$i.log 2>&1 &
	P=$!
	if ! vt_wait_for $T/d$i.log ready 120; then
		vt_fail "attach_start_$i" "$(tail -n 3 $T/d$i.log)"
		kill $P 2>/dev/null; wait $P 2>/dev/null
		bad=$((bad + 1))
		continue
	fi
	reattached=$((reattached + $(grep -c 'attaching it again' $T/d$i.log)))
	testvmm --requests $REQ --size 65536 --dir shared --json $T/g.json >/dev/null 2>$T/g.err
	pid=$(jpath $T/g.json pid)
	att=$(jpath $T/g.json to_shared.attempts)
	conv=$(jpath $T/g.json to_shared.conversions)
	# booked: the VM's exit (destroy) is in, and a second has passed for the cross-check
	w=0
	while [ $w -lt 50 ]; do
		privmem -s $S vms --json >$T/vms.json
		[ "$(jpath $T/vms.json "vms.@pid=$pid.state")" = destroyed ] && break
		sleep 0.1; w=$((w + 1))
	done
	sleep 1.2
	privmem -s $S status --json >$T/st.json
	privmem -s $S vms --json >$T/vms.json
	why=""
	[ "$att" = $REQ ] || why="$why testvmm made '$att' attempts, not $REQ;"
	for f in kvm_vm_ioctl kvm_dev_ioctl kvm_vcpu_ioctl kvm_gmem_fallocate kvm_destroy_vm kvm_gmem_release; do
		st=$(jpath $T/st.json "hooks.$f.state")
		ef=no
		grep -q "^$f " /sys/kernel/tracing/enabled_functions && ef=yes
		case "$st" in
		live) [ $ef = yes ] || why="$why $f live but not in enabled_functions;";;
		silent) silent=$((silent + 1));;
		# a kernel without the function (6.1: no guest_memfd) says so, truthfully
		unavailable) grep -qE "^$f( |\$)" /sys/kernel/tracing/available_filter_functions &&
			why="$why $f unavailable though the kernel has it ($(jpath $T/st.json "hooks.$f.reason"));";;
		*) why="$why $f $st ($(jpath $T/st.json "hooks.$f.reason"));";;
		esac
	done
	vst=$(jpath $T/st.json hooks.kvm_vm_ioctl.state)
	booked=$(jpath $T/vms.json "vms.@pid=$pid.to_shared.attempts" || echo missing)
	if [ "$vst" = live ] && [ "$booked" != "$att" ]; then
		why="$why kvm_vm_ioctl live but booked $booked of $att attempts;"
	fi
	if [ "$vst" = silent ] && [ "$(jpath $T/st.json hooks.syscalls:ioctl.state)" != live ]; then
		why="$why kvm_vm_ioctl silent and nothing stands in;"
	fi
	lst=$(jpath $T/st.json hooks.lsm/file_ioctl.state)
	lh=$(jpath $T/st.json hooks.lsm/file_ioctl.hits)
	[ "$lst" = live ] && [ "$lh" != "$att" ] && why="$why lsm/file_ioctl live but saw $lh of $att;"
	tst=$(jpath $T/st.json hooks.kvm_vm_set_mem_attributes.state)
	th=$(jpath $T/st.json hooks.kvm_vm_set_mem_attributes.hits)
	[ "$tst" = live ] && [ "$th" != "$conv" ] && why="$why kvm_vm_set_mem_attributes live but saw $th of $conv;"
	kill $P; wait $P
	if [ -z "$why" ]; then ok=$((ok + 1)); else bad=$((bad + 1)); vt_fail "attach_start_$i" "$why"; fi
done
vt_info "attach: $N starts, $ok truthful, $bad not, $reattached re-attached after a failed proof, $silent silent trampolines"
[ $ok = "$N" ] && vt_pass attach_states_truthful_over_starts || vt_fail attach_states_truthful_over_starts "$ok of $N"
[ $silent = 0 ] && vt_pass attach_no_silent_trampoline || vt_fail attach_no_silent_trampoline "$silent silent"
