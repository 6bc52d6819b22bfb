#!/bin/bash
# The demo: privmemd watching the bundled test VM (tests/vmm) convert memory.
# What this host's KVM cannot do (no guest_memfd, no memory attributes) is
# said plainly, from what testvmm found, with where to see it instead.
set -u
cd "$(dirname "$0")/.."
. tests/lib.sh
lib_tmp demo
SOCK=$T/privmemd.sock
TRUTH=/tmp/privmem-demo-truth.json
VMS=/tmp/privmem-demo-vms.json
rm -f "$TRUTH" "$VMS"

# --syscall-hooks, said out loud: where the kernel refuses fentry/fexit
# trampolines (this PVM host does), privmemd sees the VMM's VM creation and
# attempts only through syscall tracepoints, which tax every syscall of every
# process, so it attaches them only when asked. The demo asks; on a kernel
# with trampolines the flag changes nothing.
echo "== starting privmemd --syscall-hooks: the demo VM's attempts need them where the kernel has no"
echo "   trampolines, at a cost to every process's syscalls (without the flag, privmemd taxes nobody"
echo "   and its status says what it does not see)"
SYSCALL_HOOKS='' start_daemon /tmp/privmem-demo.log --syscall-hooks -s "$SOCK" ||
	{ echo "demo: privmemd did not start (log above)"; exit 1; }
echo "== privmemd is up; hooks this kernel offers:"
"$B/privmem" -s "$SOCK" status
echo
echo "== demo VM: 37 seeded conversion requests (4 KiB..2 MiB) and 5 memory-fault exits, where this host can make them"
"$B/testvmm" --seed 1 --requests 37 --faults 5 --faults-if-possible --hold-ms 1000 --json "$TRUTH" >/dev/null 2>"$T/vmm.err" &
VPID=$!
KILL_PIDS=$VPID
# the truth is written when the guest is done; the VM then stays open 1 s
wait_for 60 "the demo VM's ground truth" test -s "$TRUTH"
echo "== while it runs (privmem vms):"
"$B/privmem" -s "$SOCK" vms
wait "$VPID"; rc=$?
KILL_PIDS=
sed 's/^/   /' "$T/vmm.err"
[ "$rc" = 0 ] || { echo "demo: testvmm failed (exit $rc)"; exit 1; }
P=$(jv "$TRUTH" .pid)
booked() { "$B/privmem" -s "$SOCK" vms --json >"$VMS" && [ "$(jv "$VMS" ".vms[] | select(.pid == ${P:-0}) | .state")" = destroyed ]; }
wait_for 10 "privmemd to book the demo VM's exit" booked
echo
echo "== after it exited:"
"$B/privmem" -s "$SOCK" vms
echo

g() { jv "$TRUTH" "$1"; }
echo "== what this host's KVM let the VM do (from $TRUTH):"
echo "   attribute calls: $(g '.to_private.attempts + .to_shared.attempts') made," \
	"$(g '.to_private.conversions + .to_shared.conversions') succeeded," \
	"refused: $(g '.attr_errors | to_entries | map("\(.key)=\(.value)") | join(" ") | if . == "" then "none" else . end')"
if [ "$(g .guest_memfd)" = true ]; then
	echo "   guest_memfd: yes; discards (PUNCH_HOLE): $(g .discards); memory-fault exits: $(g .requests.memory_fault)"
else
	echo "   guest_memfd: NO (KVM_CAP_GUEST_MEMFD=$(g .host_caps.guest_memfd)): the guest ran on anonymous memory,"
	echo "   so this host cannot show discards (PUNCH_HOLE on a guest_memfd) or memory-fault exits"
	echo "   (asked for $(g .faults_asked), made $(g .requests.memory_fault))."
fi
if [ "$(g '.to_private.conversions + .to_shared.conversions')" = 0 ]; then
	echo "   memory attributes: KVM_CAP_MEMORY_ATTRIBUTES=$(g .host_caps.memory_attributes): no conversion can succeed here,"
	echo "   privmem books each refused attempt by errno."
fi
echo "   Real conversions, discards, memory faults and MAP_GPA_RANGE hypercalls, under enforcement:"
echo "   the QEMU bed shows them all (make vmtest, tests/vmtest/README.md)."
echo
echo "== privmem's books against the VMM's own count ($TRUTH), field by field:"
"$B/gtcompare" "$VMS" "$TRUTH"
