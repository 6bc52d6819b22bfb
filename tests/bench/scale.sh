#!/bin/bash
# Scale (issue #14 item 4), part of `make bench`: privmemd with N VMs live
# at once, then M created and destroyed (every 7th closed in another
# process). Reports RSS, CPU per 1000 events, the time of `privmem vms
# --json` and of one /metrics scrape with N VMs, and the kernel's per-VM
# map entries before, with N live and after (they must return to the
# baseline, or the run fails). A benchmark: it prints a table, and fails
# only when a measurement did not happen or the state did not come back.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
LIVE=${SCALE_LIVE:-500}
CHURN=${SCALE_CHURN:-10000}
PORT=${SCALE_PORT:-19464}
lib_tmp scale
SOCK=$T/sock

die() { echo "scale: $*" >&2; echo "0 passed, 1 failed"; exit 1; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$DPID/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$DPID/stat"; }
events() { "$B/privmem" -s "$SOCK" status --json | jq -r .events; }
maps() { # "name=entries ..." of the kernel's per-VM maps
	"$B/privmem" -s "$SOCK" status --json |
		jq -r '[.kernel_state.maps | to_entries[] | select(.key != "vmm_tgids") | "\(.key)=\(.value.entries)"] | join(" ")'
}
ms_of() { local t0 t1; t0=$(date +%s%N); "$@" >/dev/null 2>&1 || return 1; t1=$(date +%s%N); echo $(((t1 - t0) / 1000000)); }
live_vms() { [ "$("$B/privmem" -s "$SOCK" vms --json | jq '[.vms[] | select(.state == "running")] | length')" -ge "$1" ]; }

start_daemon "$T/d.log" -s "$SOCK" --metrics "127.0.0.1:$PORT" --max-destroyed 100 || die "privmemd did not start"
base=$(maps)
rss0=$(rss_kb)

# N VMs at once: one process holds them all (--churn-hold-every 1)
"$B/testvmm" --churn "$LIVE" --churn-hold-every 1 --hold-ms 60000 --json "$T/live.json" >/dev/null 2>"$T/live.err" &
V=$!
wait_for 60 "$LIVE VMs live in privmem vms" live_vms "$LIVE" || die "never saw $LIVE live VMs"
rss_live=$(rss_kb)
maps_live=$(maps)
vms_ms=$(ms_of "$B/privmem" -s "$SOCK" vms --json) || die "privmem vms --json failed"
met_ms=$(ms_of curl -sf "http://127.0.0.1:$PORT/metrics") || die "/metrics scrape failed"
met_bytes=$(curl -sf "http://127.0.0.1:$PORT/metrics" | wc -c)
kill "$V"; wait "$V" 2>/dev/null

# M VMs created and destroyed
e0=$(events); c0=$(cpu_ticks); t0=$(date +%s%N)
"$B/testvmm" --churn "$CHURN" --churn-pass-every 7 --json "$T/churn.json" >/dev/null 2>"$T/churn.err" ||
	die "testvmm --churn: $(cat "$T/churn.err")"
back() { [ "$(maps)" = "$base" ]; }
wait_for 60 "kernel maps back at baseline ($base)" back
t1=$(date +%s%N); e1=$(events); c1=$(cpu_ticks)
rss1=$(rss_kb)
hz=$(getconf CLK_TCK)
ev=$((e1 - e0))
cpu_ms=$(((c1 - c0) * 1000 / hz))

cat <<T

## scale ($LIVE live VMs, then $CHURN created and destroyed; $(uname -r))

| measure | value |
|---|---|
| privmemd RSS: start / $LIVE live / after $CHURN churned | $rss0 / $rss_live / $rss1 kB |
| kernel maps: start | $base |
| kernel maps: $LIVE live | $maps_live |
| kernel maps: after the churn | $(maps) |
| \`privmem vms --json\` with $LIVE VMs | $vms_ms ms |
| one /metrics scrape with $LIVE VMs | $met_ms ms ($met_bytes bytes) |
| churn: VMs, of them passed to another process | $(jq -r .churn.vms "$T/churn.json"), $(jq -r .churn.passed "$T/churn.json") |
| churn: wall time until the maps were back | $(((t1 - t0) / 1000000)) ms |
| churn: events booked, privmemd CPU | $ev, $cpu_ms ms ($( [ "$ev" -gt 0 ] && echo "$((cpu_ms * 1000 / ev)) ms per 1000 events" || echo "no events")) |
T
ok "scale: maps back at baseline after $CHURN VMs"
finish
