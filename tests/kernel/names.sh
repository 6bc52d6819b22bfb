#!/bin/bash
# VM names from real processes (vmname.h): testvmm started in a cgroup scope
# named as libvirt names it, with a QEMU-style command line, in a Kata and a
# containerd sandbox's cgroup, and plainly; privmemd must name each VM from
# the right source in `vms --json`, the NAME column, /metrics, privmemtop,
# its flight-recorder trace and `replay --vm NAME`. Needs root and /dev/kvm.
set -u
cd "$(dirname "$0")/../.."
B=${B:-build}
T=$(mktemp -d /tmp/privmem-names.XXXXXX)
SOCK=$T/privmemd.sock
PASS=0 FAIL=0
DPID=
CG2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
CGT=$CG2/privmem-names.$$
PORT=$((20000 + $$ % 20000))
SANDBOX=4a5d1c2b9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b

ok() { PASS=$((PASS + 1)); echo "ok   $*"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL $*"; }
# same NAME GOT WANT: a missing value is a failure, never a match
same() { [ -n "$2" ] && [ "$2" = "$3" ] && ok "$1: $2" || bad "$1: got '${2}', want '$3'"; }
# wait_for SECONDS CMD...: CMD until it succeeds or the clock runs out
wait_for() {
	local end=$(($(date +%s%N) + $1 * 1000000000))
	shift
	until "$@"; do
		[ "$(date +%s%N)" -ge "$end" ] && return 1
		sleep 0.05
	done
}
cleanup() {
	[ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
	# the test's processes have exited: their cgroups are empty and can go
	[ -d "$CGT" ] && find "$CGT" -mindepth 1 -depth -type d -exec rmdir {} + 2>/dev/null
	[ -d "$CGT" ] && rmdir "$CGT"
	rm -rf "$T"
}
trap cleanup EXIT

if [ "$(id -u)" != 0 ] || [ ! -w /dev/kvm ] || [ -z "$CG2" ]; then
	echo "name tests need root, /dev/kvm and a cgroup2 mount"
	echo "0 passed, 1 failed"
	exit 1
fi

# --syscall-hooks: this host has no trampolines, and a VM is named when its creation is seen
"$B/privmemd" --syscall-hooks -s "$SOCK" --record "$T/rec" --metrics "127.0.0.1:$PORT" >"$T/privmemd.log" 2>&1 &
DPID=$!
if wait_for 10 grep -q ready "$T/privmemd.log"; then ok "privmemd starts"; else
	bad "privmemd starts: $(cat "$T/privmemd.log")"
	echo "$PASS passed, $FAIL failed"
	exit 1
fi

# run_vmm LABEL CGROUP|- ARGV0 [WORDS...]: testvmm in CGROUP (created; - for
# this shell's), exec'd as ARGV0 with WORDS after "--"; prints its pid.
run_vmm() {
	local label=$1 cg=$2 argv0=$3
	shift 3
	[ "$cg" = - ] || mkdir -p "$cg"
	# the shell moves itself into the cgroup, then becomes testvmm: the VM is
	# created there, as libvirt's or containerd's QEMU is
	bash -c '[ "$1" = - ] || echo $$ >"$1/cgroup.procs" || exit 9; shift; a0=$1; shift; exec -a "$a0" "$@"' \
		_ "$cg" "$argv0" "$B/testvmm" --requests 2 --hold-ms 1500 --json "$T/$label.json" -- "$@" \
		>"$T/$label.out" 2>"$T/$label.err" &
	echo $!
}

vms_json() { "$B/privmem" -s "$SOCK" vms --json >"$T/vms.json" 2>/dev/null; }
# field of the VM whose pid is PID in the last vms reply
vm_field() { "$B/jpath" "$T/vms.json" "vms.@pid=$1.$2" 2>/dev/null; }
seen() { vms_json && [ -n "$(vm_field "$1" id)" ]; }

P_LIBVIRT=$(run_vmm libvirt "$CGT/machine.slice/machine-qemu\\x2d7\\x2dweb\\x2d01.scope" qemu-system-x86_64 \
	-name guest=not-this-one,debug-threads=on)
P_QEMU=$(run_vmm qemu - /usr/bin/qemu-system-x86_64 -m 64 -name guest=db-7,debug-threads=on -S)
P_QEMU2=$(run_vmm qemu2 - qemu-system-x86_64 -name "cache,,1,process=qemu-cache")
P_KATA=$(run_vmm kata "$CGT/kata_overhead/sb-42" qemu-system-x86_64)
P_CTRD=$(run_vmm ctrd "$CGT/kubepods.slice/cri-containerd-$SANDBOX.scope" cloud-hypervisor)
P_COMM=$(run_vmm comm - testvmm)

# name source label: each VM named from the first source present
check_vm() {
	local pid=$1 want=$2 src=$3 label=$4
	if ! wait_for 10 seen "$pid"; then
		bad "$label: privmemd never listed pid $pid ($(cat "$T/$label.err" 2>/dev/null | tail -1))"
		return
	fi
	same "$label: name" "$(vm_field "$pid" name)" "$want"
	same "$label: name_source" "$(vm_field "$pid" name_source)" "$src"
}
check_vm "$P_LIBVIRT" web-01 libvirt libvirt
check_vm "$P_QEMU" db-7 qemu qemu
check_vm "$P_QEMU2" cache,1 qemu qemu2
check_vm "$P_KATA" sb-42 sandbox kata
check_vm "$P_CTRD" "$SANDBOX" sandbox ctrd
check_vm "$P_COMM" testvmm comm comm

# the NAME column, /metrics and privmemtop say the same
"$B/privmem" -s "$SOCK" vms >"$T/vms.txt" 2>&1
same "privmem vms: NAME column" "$(awk 'NR == 1 { print $2 }' "$T/vms.txt")" NAME
same "privmem vms: web-01's row" "$(awk -v p="$P_LIBVIRT" '$3 == p { print $2 }' "$T/vms.txt")" web-01
same "privmem vms: db-7's row" "$(awk -v p="$P_QEMU" '$3 == p { print $2 }' "$T/vms.txt")" db-7
curl -sf "http://127.0.0.1:$PORT/metrics" >"$T/metrics.txt"
# every sample of the VM carries its name label (and there are samples)
named() {
	local all
	all=$(grep -c "pid=\"$2\"" "$T/metrics.txt")
	[ "$all" -gt 0 ] || { bad "/metrics: no sample of pid $2"; return; }
	same "/metrics: $all samples of pid $2 labelled name=\"$1\"" "$(grep -c "name=\"$1\",pid=\"$2\"" "$T/metrics.txt")" "$all"
}
named web-01 "$P_LIBVIRT"
named sb-42 "$P_KATA"
"$B/privmemtop" -s "$SOCK" --once --json >"$T/top.json" 2>"$T/top.err"
same "privmemtop: db-7" "$("$B/jpath" "$T/top.json" "vms.@pid=$P_QEMU.name" 2>/dev/null)" db-7

# bash completion offers the daemon's names after --vm
same "completion: --vm offers the names" \
	"$(PATH=$B:$PATH tests/completion/complete.sh dist/bash-completion/privmem "privmem -s $SOCK replay x --vm " | paste -sd' ')" \
	"$(printf '%s\n' web-01 db-7 cache,1 sb-42 "$SANDBOX" testvmm | LC_ALL=C sort | paste -sd' ')"
same "completion: --vm d" \
	"$(PATH=$B:$PATH tests/completion/complete.sh dist/bash-completion/privmem "privmem -s $SOCK export x --vm d")" db-7

# the trace carries the names: replay lists them and selects by them
gone() { ! kill -0 "$1" 2>/dev/null; }
for p in "$P_LIBVIRT" "$P_QEMU" "$P_QEMU2" "$P_KATA" "$P_CTRD" "$P_COMM"; do
	wait_for 20 gone "$p" || bad "testvmm $p still running"
done
kill "$DPID" && wait "$DPID" 2>/dev/null
DPID=
"$B/privmem" replay "$T/rec" --json >"$T/replay.json" 2>"$T/replay.err"
same "replay: web-01" "$("$B/jpath" "$T/replay.json" "vms.@pid=$P_LIBVIRT.name" 2>/dev/null)" web-01
same "replay: sb-42 from a sandbox" "$("$B/jpath" "$T/replay.json" "vms.@pid=$P_KATA.name_source" 2>/dev/null)" sandbox
"$B/privmem" replay "$T/rec" --vm db-7 --json >"$T/one.json" 2>"$T/one.err"
same "replay --vm db-7: one VM" "$("$B/jpath" "$T/one.json" "vms.-1.pid" 2>/dev/null)/$("$B/jpath" "$T/one.json" vms.0.name)" \
	"$P_QEMU/db-7"
"$B/privmem" replay "$T/rec" --vm 'web-*' --json >"$T/glob.json" 2>&1
same "replay --vm 'web-*'" "$("$B/jpath" "$T/glob.json" vms.0.name 2>/dev/null)/$("$B/jpath" "$T/glob.json" vms.1.name 2>/dev/null)" "web-01/"
id=$("$B/jpath" "$T/replay.json" "vms.@pid=$P_COMM.id" 2>/dev/null)
"$B/privmem" replay "$T/rec" --vm "${id:0:6}" --json >"$T/id.json" 2>&1
same "replay --vm ID-PREFIX" "$("$B/jpath" "$T/id.json" vms.0.name 2>/dev/null)" testvmm
"$B/privmem" export "$T/rec" --format chrome --vm sb-42 -o "$T/sb.json" 2>"$T/export.err"
same "export --vm sb-42: its process only" "$(grep -o '"VM [0-9a-f]* [^"]*' "$T/sb.json" | sort -u | wc -l)" 1
"$B/privmem" replay "$T/rec" --vm no-such-vm >/dev/null 2>"$T/none.err"
same "replay --vm no-such-vm: exit 1" "$?" 1
same "replay --vm no-such-vm: says so" "$(cat "$T/none.err")" "privmem: no VM in the trace matches --vm no-such-vm"

echo "$PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
