#!/bin/bash
# The demo: privmemd watching the bundled test VM (tests/vmm) convert memory.
set -eu
cd "$(dirname "$0")/.."
B=build
SOCK=$(mktemp -u /tmp/privmem-demo.XXXXXX.sock)
"$B/privmemd" -s "$SOCK" 2>/tmp/privmem-demo.log &
DPID=$!
trap 'kill $DPID 2>/dev/null; wait $DPID 2>/dev/null' EXIT
for _ in $(seq 100); do grep -q ready /tmp/privmem-demo.log && break; sleep 0.05; done
echo "== privmemd is up; hooks this kernel offers:"
"$B/privmem" -s "$SOCK" status
echo
echo "== demo VM: 37 seeded conversion requests (4 KiB..2 MiB) and 5 memory-fault exits"
"$B/testvmm" --seed 1 --requests 37 --faults 5 --hold-ms 300 --json /tmp/privmem-demo-truth.json >/dev/null &
VPID=$!
sleep 0.2
echo "== while it runs (privmem vms):"
"$B/privmem" -s "$SOCK" vms
wait $VPID
sleep 0.3
echo
echo "== after it exited:"
"$B/privmem" -s "$SOCK" vms
echo
echo "== privmem's books against the VMM's own count (/tmp/privmem-demo-truth.json), field by field:"
"$B/privmem" -s "$SOCK" vms --json >/tmp/privmem-demo-vms.json
"$B/gtcompare" /tmp/privmem-demo-vms.json /tmp/privmem-demo-truth.json
