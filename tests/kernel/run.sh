#!/bin/bash
# Real-kernel tests: privmemd on this machine's kernel against tests/vmm,
# whose own ground truth privmem's books must equal exactly. Needs root.
set -u
cd "$(dirname "$0")/../.."
B=${B:-build}
T=$(mktemp -d /tmp/privmem-ktest.XXXXXX)
SOCK=$T/privmemd.sock
PASS=0 FAIL=0
DPID=

cleanup() {
	[ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

ok() { PASS=$((PASS + 1)); echo "ok   $*"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL $*"; }
# Folds a sub-test's own "N passed, N failed" line into the totals.
tally() {
	local name=$1 out line p f
	shift
	out=$("$@" 2>&1)
	echo "$out" | sed "s/^/  [$name] /" | tail -n 40
	line=$(echo "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -n1)
	if [ -z "$line" ]; then
		bad "$name: no result line"
		return
	fi
	p=${line%% passed*}
	f=${line#*passed, }
	f=${f%% failed*}
	PASS=$((PASS + p))
	FAIL=$((FAIL + f))
	[ "$f" = 0 ] && echo "ok   $name ($p checks)" || echo "FAIL $name ($f of $((p + f)) checks)"
}

start_daemon() {
	"$B/privmemd" -s "$SOCK" >"$T/privmemd.log" 2>&1 &
	DPID=$!
	for _ in $(seq 100); do
		grep -q ready "$T/privmemd.log" && return 0
		kill -0 "$DPID" 2>/dev/null || break
		sleep 0.05
	done
	cat "$T/privmemd.log"
	return 1
}

# Waits until privmemd has booked the VMM's exit (its batches are read every 50 ms).
vms_after_exit() {
	local want=$1 out=$2
	for _ in $(seq 60); do
		"$B/privmem" -s "$SOCK" vms --json >"$out"
		[ "$(grep -o '"state":"destroyed"' "$out" | wc -l)" -ge "$want" ] && return 0
		sleep 0.1
	done
	return 1
}

if [ "$(id -u)" != 0 ] || [ ! -w /dev/kvm ]; then
	echo "kernel tests need root and /dev/kvm"
	echo "0 passed, 1 failed"
	exit 1
fi
mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing

tally bpf_inject "$B/bpf_inject_test"

if start_daemon; then ok "privmemd starts"; else bad "privmemd starts"; fi

# One VM: 37 seeded conversion requests of 4 KiB..2 MiB and 5 memory-fault exits.
if "$B/testvmm" --seed 1 --requests 37 --faults 5 --json "$T/gt1.json" >/dev/null 2>"$T/vmm1.err"; then
	ok "testvmm seed 1"
else
	bad "testvmm seed 1: $(cat "$T/vmm1.err")"
fi
vms_after_exit 1 "$T/pm1.json" || bad "vm_destroy not seen"
tally one_vm "$B/gtcompare" "$T/pm1.json" "$T/gt1.json"

# Two VMs at once keep separate books.
"$B/testvmm" --seed 2 --requests 50 --faults 3 --json "$T/gt2.json" >/dev/null 2>&1 &
V2=$!
"$B/testvmm" --seed 3 --requests 23 --faults 0 --size 2097152 --json "$T/gt3.json" >/dev/null 2>&1 &
V3=$!
wait $V2 && wait $V3 && ok "two testvmm runs" || bad "two testvmm runs"
vms_after_exit 3 "$T/pm2.json" || bad "vm_destroy not seen for both"
tally two_vms "$B/gtcompare" "$T/pm2.json" "$T/gt2.json" "$T/gt3.json"

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

# status reports the hooks and what they cost
"$B/privmem" -s "$SOCK" status >"$T/status.txt"; rc=$?
[ $rc = 0 ] && grep -qE '^kvm_userspace_exit +live' "$T/status.txt" && ok "status: exit hook live" || bad "status: $(cat "$T/status.txt")"
grep -q 'taxes every syscall' "$T/status.txt" && ok "status: syscall tax reported" || bad "status: syscall tax not shown"
"$B/privmem" -s "$SOCK" status --json | grep -q '"kvm_userspace_exit":{"state":"live"' && ok "status --json" || bad "status --json"
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
"$B/privmemd" -s "$T/lean.sock" --no-exit-stats >"$T/lean.log" 2>&1 &
LPID=$!
for _ in $(seq 100); do grep -q ready "$T/lean.log" && break; sleep 0.05; done
"$B/testvmm" --seed 9 --requests 5 --faults 3 --json "$T/gt9.json" >/dev/null 2>&1
sleep 0.3
"$B/privmem" -s "$T/lean.sock" vms --json >"$T/lean.json"
P9=$("$B/jpath" "$T/gt9.json" pid)
[ "$("$B/jpath" "$T/lean.json" "vms.@pid=$P9.requests.memory_fault")" = 3 ] && ok "lean: 3 memory-fault requests" ||
	bad "lean: faults $("$B/jpath" "$T/lean.json" "vms.@pid=$P9.requests")"
[ "$("$B/jpath" "$T/lean.json" "vms.@pid=$P9.kernel.exits.39")" = 3 ] && ok "lean: request exits still counted" ||
	bad "lean: exits $("$B/jpath" "$T/lean.json" "vms.@pid=$P9.kernel.exits")"
[ -z "$("$B/jpath" "$T/lean.json" "vms.@pid=$P9.kernel.exits.2")" ] && ok "lean: other exits not counted" ||
	bad "lean: io exits counted"
kill "$LPID"; wait "$LPID" 2>/dev/null

echo "$PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
