#!/bin/bash
# Real-kernel tests: privmemd on this machine's kernel against tests/vmm,
# whose own ground truth privmem's books must equal exactly. Needs root.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
lib_tmp ktest
SOCK=$T/privmemd.sock

# vms_after_exit N OUT: privmemd has booked N destroyed VMs (its batches are read every 50 ms)
destroyed_at_least() {
	"$B/privmem" -s "$SOCK" vms --json >"$2" && [ "$(jq '[.vms[] | select(.state == "destroyed")] | length' "$2")" -ge "$1" ]
}
vms_after_exit() { wait_for 10 "$1 destroyed VMs in privmem vms" destroyed_at_least "$@"; }

need_root_kvm "kernel tests"

tally bpf_inject "$B/bpf_inject_test"
# testvmm's --vms and --churn modes on this host, before any privmemd watches
tally testvmm_modes ./tests/kernel/testvmm_modes.sh

# privmemd --syscall-hooks (start_daemon's SYSCALL_HOOKS): this kernel has
# no trampolines, so the books below come through the syscall tracepoints
if start_daemon "$T/privmemd.log" -s "$SOCK"; then ok "privmemd --syscall-hooks starts"; else bad "privmemd starts"; fi

# One VM: 37 seeded conversion requests of 4 KiB..2 MiB and 5 memory-fault
# exits (none where KVM has no guest_memfd: gtcompare counts those skips).
# shellcheck disable=SC2086 # TESTVMM_FAULTS is one option or none
run_vmm gt1 --seed 1 --requests 37 --faults 5 $TESTVMM_FAULTS
vms_after_exit 1 "$T/pm1.json"
tally one_vm "$B/gtcompare" "$T/pm1.json" "$T/gt1.json"

# Two VMs at once keep separate books.
"$B/testvmm" --seed 2 --requests 50 --faults 3 $TESTVMM_FAULTS --json "$T/gt2.json" >/dev/null 2>&1 &
V2=$!
"$B/testvmm" --seed 3 --requests 23 --faults 0 --size 2097152 --json "$T/gt3.json" >/dev/null 2>&1 &
V3=$!
wait $V2 && wait $V3 && ok "two testvmm runs" || bad "two testvmm runs"
vms_after_exit 3 "$T/pm2.json"
tally two_vms "$B/gtcompare" "$T/pm2.json" "$T/gt2.json" "$T/gt3.json"

# #16.1: VMs one after another in one process (the freed struct kvm often
# comes back for the next): each creation is its own VM with its own books.
# shellcheck disable=SC2086
run_vmm gtn --vms 4 --seed 11 --requests 9 $TESTVMM_FAULTS
vms_after_exit 7 "$T/pmn.json"
tally vms_in_turn "$B/gtcompare" "$T/pmn.json" "$T/gtn.json"

# A 32-bit VMM: its ioctls take the compat path, which the syscalls:*
# events skip; the trampolines, or the raw_syscalls fallback, must see its
# VM created, and book it under its pid.
if [ -x "$B/static/vmcreate32" ]; then
	P32=$("$B/static/vmcreate32" 2>"$T/vmc32.err")
	seen=
	for _ in $(seq 30); do
		"$B/privmem" -s "$SOCK" vms --json >"$T/pm32.json"
		seen=$("$B/jpath" "$T/pm32.json" "vms.@pid=${P32:-none}.pid" 2>/dev/null) && break
		sleep 0.1
	done
	[ -n "$P32" ] && [ "$seen" = "$P32" ] && ok "32-bit VMM's VM booked (compat ioctl)" ||
		bad "32-bit VMM (pid ${P32:-none}) not in the books: $(cat "$T/vmc32.err")"
else
	bad "no $B/static/vmcreate32 (gcc-multilib: make deps)"
fi

# testvmm itself on this host: what it says it had, and --faults without a
# guest_memfd (tests/vmm/README.md, "Hosts without guest_memfd")
g1() { jv "$T/gt1.json" "$1"; }
eq "testvmm: guest_memfd = (KVM_CAP_GUEST_MEMFD > 0)" "$(g1 .guest_memfd)" "$(g1 '.host_caps.guest_memfd > 0')"
eq "testvmm: faults asked" "$(g1 .faults_asked)" 5
eq "testvmm: 37 requests, one attribute call each" "$(g1 '[.requests.mailbox, .to_private.attempts + .to_shared.attempts] | join(" ")')" "37 37"
eq "testvmm: every failed attribute call has its errno" "$(g1 '[.attr_errors[]] | add // 0')" \
	"$(g1 '.to_private.attempts + .to_shared.attempts - .to_private.conversions - .to_shared.conversions')"
if [ "$(g1 .guest_memfd)" = false ]; then
	eq "no guest_memfd: no faults, no exit 39, no discard, no gmem" \
		"$(g1 '[.requests.memory_fault, (.memory_faults | length), .exits["39"] // 0, .kvm_run_errors, .discards, .gmem.created] | join(" ")')" "0 0 0 0 0 0"
	eq "no guest_memfd: guest memory is anonymous" "$(g1 .mem.shared_view)" anonymous
	"$B/testvmm" --faults 1 --json "$T/nf.json" >/dev/null 2>"$T/nf.err"; rc=$?
	[ $rc = 2 ] && [ "$(wc -l <"$T/nf.err")" = 1 ] && grep -q 'no guest_memfd' "$T/nf.err" && [ ! -e "$T/nf.json" ] &&
		ok "no guest_memfd: --faults 1 is one line, exit 2, no JSON" || bad "--faults 1 without guest_memfd: rc=$rc $(cat "$T/nf.err")"
	"$B/testvmm" --gmem-flags 3 --json "$T/nf.json" >/dev/null 2>"$T/nf.err"; rc=$?
	[ $rc = 2 ] && [ "$(wc -l <"$T/nf.err")" = 1 ] && ok "no guest_memfd: --gmem-flags is one line, exit 2" ||
		bad "--gmem-flags without guest_memfd: rc=$rc $(cat "$T/nf.err")"
else
	eq "guest_memfd: --faults-if-possible changes nothing" "$(g1 '[.requests.memory_fault, .exits["39"], (.memory_faults | length)] | join(" ")')" "5 5 5"
fi

# Successful conversions, which this host's KVM never makes (ENOTTY): convinject
# plays a VMM whose KVM_SET_MEMORY_ATTRIBUTES calls succeed, through privmemd's
# own maps; its books must equal what it injected, conversions, bytes and
# size histograms included.
if inject inj "$DPID" 7; then
	for d in to_private to_shared; do
		nonzero "injected $d conversions" "$(jv "$T/inj.json" ".$d.conversions")"
		nonzero "injected $d bytes" "$(jv "$T/inj.json" ".$d.bytes")"
	done
	wait_for 10 "privmemd to book convinject's VM destroyed" vm_destroyed "$SOCK" "$(jv "$T/inj.json" .pid)" "$T/pmi.json"
	tally injected "$B/gtcompare" "$T/pmi.json" "$T/inj.json"
fi

# status reports the hooks and what they cost: --syscall-hooks bought the
# fallback, live, and its tax is said
"$B/privmem" -s "$SOCK" status >"$T/status.txt"; rc=$?
[ $rc = 0 ] && grep -qE '^kvm_userspace_exit +live' "$T/status.txt" && ok "status: exit hook live" || bad "status: $(cat "$T/status.txt")"
grep -qE '^syscalls:ioctl +live' "$T/status.txt" && ok "--syscall-hooks: status says syscalls:ioctl live" ||
	bad "--syscall-hooks status: $(grep syscalls "$T/status.txt")"
grep -q 'taxes every syscall of every process (asked for with --syscall-hooks)' "$T/status.txt" &&
	ok "--syscall-hooks: syscall tax reported, and who asked" || bad "status: syscall tax not shown"
grep -q 'NOT SEEN' "$T/status.txt" && bad "--syscall-hooks: status still says something is not seen: $(grep -A1 'NOT SEEN' "$T/status.txt")" ||
	ok "--syscall-hooks: nothing said unseen"
"$B/privmem" -s "$SOCK" status --json >"$T/status.json"
eq "status --json: kvm_userspace_exit" "$(jv "$T/status.json" '.hooks.kvm_userspace_exit.state')" live
eq "--syscall-hooks: status --json syscalls:ioctl" "$(jv "$T/status.json" '.hooks["syscalls:ioctl"] | "\(.state) \(.taxes_all_processes)"')" "live true"
"$B/privmem" -s "$SOCK" v >/dev/null && ok "prefix command 'v'" || bad "prefix command"

# refusals: one line, the documented exit codes
"$B/privmem" -s "$SOCK" bogus 2>"$T/e"; rc=$?
[ $rc = 2 ] && [ "$(wc -l <"$T/e")" = 1 ] && ok "unknown command: exit 2, one line" || bad "unknown command rc=$rc"
"$B/privmem" -s "$T/nosuch.sock" vms 2>"$T/e"; rc=$?
[ $rc = 1 ] && grep -q 'is privmemd running' "$T/e" && ok "no daemon: exit 1" || bad "no daemon rc=$rc"
"$B/privmem" -s "$T/nosuch.sock" --json vms >"$T/o" 2>/dev/null
grep -q '^{"error":' "$T/o" && ok "errors are JSON in --json mode" || bad "json error: $(cat "$T/o")"
setpriv --reuid=65534 --regid=65534 --clear-groups "$B/privmemd" -s "$T/x.sock" 2>"$T/e"; rc=$?
[ $rc = 1 ] && grep -q 'must run as root' "$T/e" && [ "$(wc -l <"$T/e")" = 1 ] && ok "non-root refused" || bad "non-root rc=$rc $(cat "$T/e")"
"$B/privmemd" --bogus 2>/dev/null; [ $? = 2 ] && ok "bad option: exit 2" || bad "bad option"
# a client that connects and says nothing must not stall the daemon
"$B/sockjunk" "$SOCK" && ok "junk clients answered or dropped" || bad "junk clients"
"$B/privmem" -s "$SOCK" status >/dev/null && ok "daemon alive after junk clients" || bad "daemon after junk"

# clean shutdown
kill -TERM "$DPID"
wait "$DPID"; rc=$?
DPID=
[ $rc = 0 ] && [ ! -e "$SOCK" ] && ok "SIGTERM: exit 0, socket removed" || bad "SIGTERM rc=$rc"
grep -q 'exiting: .* 0 lost' "$T/privmemd.log" && ok "no events lost" || bad "losses: $(tail -1 "$T/privmemd.log")"

# lean mode (--no-exit-stats): requests still seen exactly, no exit counts
# (after the first daemon is gone: one privmemd at a time)
if start_daemon "$T/lean.log" -s "$T/lean.sock" --no-exit-stats; then ok "privmemd --no-exit-stats starts"; else bad "lean privmemd starts"; fi
"$B/testvmm" --seed 9 --requests 5 --faults 3 $TESTVMM_FAULTS --json "$T/gt9.json" >/dev/null 2>"$T/vmm9.err" || bad "testvmm seed 9: $(cat "$T/vmm9.err")"
P9=$(jv "$T/gt9.json" .pid)
lean_booked() { "$B/privmem" -s "$T/lean.sock" vms --json >"$T/lean.json" && [ "$(jv "$T/lean.json" ".vms[] | select(.pid == ${P9:-0}) | .state")" = destroyed ]; }
wait_for 10 "the lean daemon to book testvmm's exit" lean_booked
lean() { jv "$T/lean.json" ".vms[] | select(.pid == ${P9:-0}) | $1"; }
eq "lean: attempts still seen" "$(lean '.to_private.attempts + .to_shared.attempts')" \
	"$(jv "$T/gt9.json" '.to_private.attempts + .to_shared.attempts')"
if has_gmem "$T/gt9.json" "lean: memory-fault requests and their exits"; then
	eq "lean: memory-fault requests (testvmm --faults 3)" "$(lean .requests.memory_fault)" 3
	eq "lean: request exits still counted" "$(lean '.kernel.exits["39"]')" 3
fi
[ "$(lean '.kernel.exits | has("2")')" = false ] && ok "lean: other exits not counted" ||
	bad "lean: io exits counted (or the VM is missing): $(lean .kernel.exits)"
stop_daemon

# privmemd(8): a missing socket directory is made 0700, the socket 0600, and
# a client that is not root is refused by either; --no-syscall-hooks shows
# the syscall tracepoints "disabled" with the reason
chmod 755 "$T"
PSOCK=$T/pmdir/privmemd.sock
if SYSCALL_HOOKS='' start_daemon "$T/perm.log" -s "$PSOCK" --no-syscall-hooks; then ok "privmemd --no-syscall-hooks starts"; else bad "privmemd --no-syscall-hooks starts"; fi
eq "socket directory mode" "$(stat -c %a "$T/pmdir")" 700
eq "socket mode" "$(stat -c %a "$PSOCK")" 600
nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
nobody "$B/privmem" -s "$PSOCK" status >/dev/null 2>"$T/e"; rc=$?
[ $rc = 1 ] && grep -q 'Permission denied' "$T/e" && ok "non-root client refused (directory 0700): exit 1" ||
	bad "non-root client: rc=$rc $(cat "$T/e")"
chmod 755 "$T/pmdir"
nobody "$B/privmem" -s "$PSOCK" status >/dev/null 2>"$T/e"; rc=$?
[ $rc = 1 ] && grep -q 'Permission denied' "$T/e" && ok "non-root client refused by the socket's own 0600: exit 1" ||
	bad "non-root client, open directory: rc=$rc $(cat "$T/e")"
chmod 700 "$T/pmdir"
"$B/privmem" -s "$PSOCK" status --json >"$T/nosys.json"
for h in syscalls:ioctl syscalls:fallocate; do
	eq "--no-syscall-hooks: $h state" "$(jv "$T/nosys.json" ".hooks[\"$h\"].state")" disabled
	eq "--no-syscall-hooks: $h reason" "$(jv "$T/nosys.json" ".hooks[\"$h\"].reason")" --no-syscall-hooks
done
"$B/privmem" -s "$PSOCK" status >"$T/nosys.txt"
grep -qE '^syscalls:ioctl +disabled' "$T/nosys.txt" && ok "--no-syscall-hooks: status says disabled" ||
	bad "--no-syscall-hooks status: $(grep syscalls "$T/nosys.txt")"
grep -q 'taxes every syscall' "$T/nosys.txt" && bad "--no-syscall-hooks: a syscall tax still reported" ||
	ok "--no-syscall-hooks: no syscall tax"
stop_daemon
"$B/privmemd" --syscall-hooks --no-syscall-hooks -s "$T/x.sock" 2>"$T/e"; rc=$?
[ $rc = 2 ] && [ "$(wc -l <"$T/e")" = 1 ] && grep -q contradict "$T/e" && ok "--syscall-hooks with --no-syscall-hooks: exit 2, one line" ||
	bad "--syscall-hooks --no-syscall-hooks: rc=$rc $(cat "$T/e")"

# The default, no flag (issue #14): on a kernel without trampolines the
# fallback stays off, so other processes pay nothing, and privmemd says
# what it does not see and which flag buys it at what cost. What it says
# is unseen is unseen: testvmm's VM is booked from its exits, its attempts
# are not.
if SYSCALL_HOOKS='' start_daemon "$T/default.log" -s "$T/default.sock"; then ok "privmemd (no flags) starts"; else bad "privmemd (no flags) starts"; fi
"$B/privmem" -s "$T/default.sock" status --json >"$T/def.json"
"$B/privmem" -s "$T/default.sock" status >"$T/def.txt"
dh() { jv "$T/def.json" ".hooks[\"$1\"].$2"; }
if [ "$(dh kvm_vm_ioctl state)" = live ]; then
	skip "default syscall hooks: this kernel has trampolines (the fallback is superseded, nothing to opt into)"
else
	eq "default: syscalls:ioctl state" "$(dh syscalls:ioctl state)" disabled
	case $(dh syscalls:ioctl reason) in
	"not attached by default: VM creation, attempts, guest_memfd creation and resumes are not seen on this kernel (no trampolines); --syscall-hooks attaches them and taxes every process's syscalls")
		ok "default: syscalls:ioctl reason says what is unseen, the flag and its cost" ;;
	*) bad "default: syscalls:ioctl reason '$(dh syscalls:ioctl reason)'" ;;
	esac
	eq "default: syscalls:ioctl never ran" "$(dh syscalls:ioctl hits)" 0
	# no guest_memfd on this host: kvm_gmem_fallocate is not there to fall back for
	case $(dh syscalls:fallocate state) in
	disabled) case $(dh syscalls:fallocate reason) in
		"not attached by default: discards are not seen"*"--syscall-hooks"*) ok "default: syscalls:fallocate disabled, saying so" ;;
		*) bad "default: syscalls:fallocate reason '$(dh syscalls:fallocate reason)'" ;;
		esac ;;
	unavailable) ok "default: syscalls:fallocate unavailable ($(dh syscalls:fallocate reason))" ;;
	*) bad "default: syscalls:fallocate $(dh syscalls:fallocate state) ($(dh syscalls:fallocate reason))" ;;
	esac
	grep -qE '^syscalls:ioctl +disabled' "$T/def.txt" && ok "default: status says syscalls:ioctl disabled" ||
		bad "default status: $(grep syscalls "$T/def.txt")"
	grep -q 'taxes every syscall' "$T/def.txt" && bad "default: a syscall tax reported" || ok "default: no syscall tax"
	grep -q '^NOT SEEN: VM creation, guest_memfd creation, the VMM.s attempts and conversions' "$T/def.txt" &&
		ok "default: status says plainly what privmemd does not see" || bad "default: status: $(cat "$T/def.txt")"
	grep -q 'privmemd --syscall-hooks sees them, at a cost to' "$T/def.txt" && grep -q 'every syscall of every process' "$T/def.txt" &&
		ok "default: status names --syscall-hooks and its cost" || bad "default: no flag or cost in: $(grep -A4 'NOT SEEN' "$T/def.txt")"
	run_vmm gtd --seed 4 --requests 12
	wait_for 10 "the default daemon to book testvmm's exit" vm_destroyed "$T/default.sock" "$(jv "$T/gtd.json" .pid)" "$T/pmd.json"
	dv() { jv "$T/pmd.json" ".vms[] | select(.pid == $(jv "$T/gtd.json" .pid)) | $1"; }
	nonzero "default: testvmm's exits still seen" "$(dv '[.kernel.exits[]] | add')"
	eq "default: its attempts unseen, as said ($(jv "$T/gtd.json" '.to_private.attempts + .to_shared.attempts') made)" \
		"$(dv '.to_private.attempts + .to_shared.attempts')" 0
fi
stop_daemon

finish
