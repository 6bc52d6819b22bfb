#!/bin/bash
# make recfaulttest: privmemd --record on a small tmpfs of our own, then a
# fault while events flow: the tmpfs filled up (ENOSPC), the directory removed
# (and a file put in its place, so retries fail until it goes), a read-only
# remount. Each time privmemd must keep serving live books with every event,
# say once what happened, retry, and start its next file with a gap record;
# the replay must name the gap: its time span and exactly how many events fell
# in it. The workload is pminject's: N request events injected through
# privmemd's own capture program, so every count is known in advance.
# Needs root (mounts a tmpfs under /tmp, loads BPF): run under the kernel lock.
set -u
cd "$(dirname "$0")/../.."
B=${B:-build}
T=$(mktemp -d /tmp/privmem-recfault.XXXXXX)
M=$T/mnt
PASS=0 FAIL=0
DPID= IPID=
VM=0x7ec0fa017ec0fa01

ok() { PASS=$((PASS + 1)); echo "ok   $*"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL $*"; }
cleanup() {
	stop_inject
	[ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
	mountpoint -q "$M" && { mount -o remount,rw "$M" 2>/dev/null; umount "$M" || umount -l "$M"; }
	rm -rf "$T"
}
trap cleanup EXIT

if [ "$(id -u)" != 0 ]; then
	echo "recorder fault tests need root (tmpfs mounts, BPF)"
	echo "0 passed, 1 failed"
	exit 1
fi

# wait_for SECONDS CMD...: polls CMD every 0.1 s until it succeeds or the deadline passes
wait_for() {
	local end=$(($(date +%s%N) + $1 * 1000000000))
	shift
	until "$@"; do
		[ "$(date +%s%N)" -ge "$end" ] && return 1
		sleep 0.1
	done
}
logged() { grep -q -- "$1" "$T/privmemd.log"; }
replay_events() { "$B/privmem" replay "$M/rec" --json 2>/dev/null >"$T/r.json"; [ "$("$B/jpath" "$T/r.json" events)" = "$1" ]; }
status_at() { "$B/privmem" -s "$T/sock" status --json 2>/dev/null >"$T/status.json"; "$B/jpath" "$T/status.json" "$1"; }
live_events() { [ "$("$B/privmem" -s "$T/sock" status --json 2>/dev/null | "$B/jpath" /dev/stdin events)" = "$1" ]; }

start_inject() {
	coproc INJ { exec "$B/pminject" "$DPID" "$VM" 2>"$T/inject.err"; }
	IPID=${INJ_PID:-}
}
stop_inject() {
	if [ -n "$IPID" ]; then
		[ -n "${INJ[1]:-}" ] && eval "exec ${INJ[1]}>&-" 2>/dev/null
		wait "$IPID" 2>/dev/null
		IPID=
	fi
}
# inject N: N request events; sets FIRST and LAST (CLOCK_MONOTONIC ns around them)
inject() {
	local word= n=
	if [ -n "${INJ[1]:-}" ] && echo "$1" >&"${INJ[1]}"; then
		read -r -t 60 word n FIRST LAST <&"${INJ[0]}"
	fi
	[ "$word" = ok ] && [ "$n" = "$1" ] && return 0
	bad "pminject $1: $(cat "$T/inject.err")"
	return 1
}
fill() { dd if=/dev/zero of="$M/filler" bs=64k 2>/dev/null; [ -s "$M/filler" ]; }
ro_remount() { mount -o remount,ro "$M" 2>/dev/null; }

start_case() {
	CASE=$1
	echo "--- $CASE"
	mkdir -p "$M"
	mount -t tmpfs -o size=1m,mode=0755 privmem-recfault "$M" || { bad "$CASE: mount tmpfs"; return 1; }
	# the default hooks, no --syscall-hooks: pminject's events take the exit
	# program's path, which needs no syscall tracepoint
	"$B/privmemd" -s "$T/sock" --record "$M/rec" >"$T/privmemd.log" 2>&1 &
	DPID=$!
	if ! wait_for 20 logged ready; then
		bad "$CASE: privmemd did not start: $(cat "$T/privmemd.log")"
		return 1
	fi
	start_inject
	# phase A: recorded normally, and on disk before the fault
	inject 1000 || return 1
	A_FIRST=$FIRST A_LAST=$LAST
	wait_for 10 replay_events 1000 && ok "$CASE: 1000 events recorded before the fault" ||
		bad "$CASE: replay before the fault: $("$B/jpath" "$T/r.json" events)"
}

# a case that could not start: leave nothing behind for the next one
abort_case() {
	stop_inject
	[ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
	DPID=
	mountpoint -q "$M" && { umount "$M" || umount -l "$M"; }
}

# end_case RECORDED GAP_EVENTS GAP_FROM_MIN GAP_FROM_MAX GAP_TO_MIN GAP_TO_MAX ERRNO...
end_case() {
	local rec=$1 gap=$2 fmin=$3 fmax=$4 tmin=$5 tmax=$6 total rc e from to n
	shift 6
	total=$((rec + gap))
	wait_for 10 replay_events "$rec" && ok "$CASE: the events after the fault recorded" ||
		bad "$CASE: replay after recovery: $("$B/jpath" "$T/r.json" events) events, want $rec"
	wait_for 5 live_events "$total" && ok "$CASE: live books kept every event ($total)" ||
		bad "$CASE: live events $("$B/privmem" -s "$T/sock" status --json | "$B/jpath" /dev/stdin events), want $total"
	kill -0 "$DPID" 2>/dev/null && ok "$CASE: privmemd still running" || bad "$CASE: privmemd died"
	[ "$(status_at recorder.recording)" = true ] && [ "$(status_at recorder.gaps)" = 1 ] &&
		[ "$(status_at recorder.unrecorded_events)" = "$gap" ] &&
		ok "$CASE: status: recording again, 1 gap, $gap unrecorded events" ||
		bad "$CASE: status recorder: $("$B/jpath" "$T/status.json" recorder)"
	n=$(grep -c "recording stopped" "$T/privmemd.log")
	[ "$n" = 1 ] && ok "$CASE: the fault said once" || bad "$CASE: fault said $n times: $(cat "$T/privmemd.log")"
	kill -TERM "$DPID"
	wait "$DPID"
	rc=$?
	DPID=
	stop_inject
	[ $rc = 0 ] && ok "$CASE: privmemd exits 0" || bad "$CASE: privmemd exit $rc"
	"$B/privmem" replay "$M/rec" --json >"$T/final.json" 2>"$T/err"
	rc=$?
	[ $rc = 0 ] && ok "$CASE: replay exit 0" || bad "$CASE: replay exit $rc: $(cat "$T/err")"
	[ "$("$B/jpath" "$T/final.json" events)" = "$rec" ] && ok "$CASE: replay books $rec events" ||
		bad "$CASE: replay events $("$B/jpath" "$T/final.json" events), want $rec"
	[ "$("$B/jpath" "$T/final.json" trace.gaps | grep -o from_ts | wc -l)" = 1 ] && ok "$CASE: one gap" ||
		bad "$CASE: gaps: $("$B/jpath" "$T/final.json" trace.gaps)"
	n=$("$B/jpath" "$T/final.json" trace.gaps.0.events)
	[ "$n" = "$gap" ] && ok "$CASE: the gap holds exactly $gap events" || bad "$CASE: gap events '$n', want $gap"
	[ "$("$B/jpath" "$T/final.json" trace.unrecorded_events)" = "$gap" ] && ok "$CASE: unrecorded_events $gap" ||
		bad "$CASE: unrecorded_events $("$B/jpath" "$T/final.json" trace.unrecorded_events)"
	from=$("$B/jpath" "$T/final.json" trace.gaps.0.from_ts)
	to=$("$B/jpath" "$T/final.json" trace.gaps.0.to_ts)
	if [ -n "$from" ] && [ -n "$to" ] && [ "$from" -ge "$fmin" ] && [ "$from" -le "$fmax" ] &&
		[ "$to" -ge "$tmin" ] && [ "$to" -le "$tmax" ]; then
		ok "$CASE: gap span $(((to - from) / 1000000)) ms, between the injections that bound it"
	else
		bad "$CASE: gap $from..$to, want from in $fmin..$fmax, to in $tmin..$tmax"
	fi
	for e in "$@"; do
		"$B/jpath" "$T/final.json" trace.gaps.0.errors | grep -q "\"$e\"" && ok "$CASE: gap names $e" ||
			bad "$CASE: gap errors $("$B/jpath" "$T/final.json" trace.gaps.0.errors), want $e"
	done
	"$B/privmem" replay "$M/rec" >"$T/final.txt" 2>&1
	grep -E "^gap: .* \.\. .* \([0-9.]+ s\): $gap events not recorded \(" "$T/final.txt" >"$T/gapline" &&
		ok "$CASE: replay says: $(cat "$T/gapline")" || bad "$CASE: no gap line: $(head -5 "$T/final.txt")"
	rm -f "$M/filler"
	umount "$M" || umount -l "$M"
}

# 1. the tmpfs fills up: a chunk write fails with ENOSPC (what it held is the gap's start)
if start_case full; then
	fill || bad "full: could not fill the tmpfs"
	inject 2000 && B_FIRST=$FIRST B_LAST=$LAST
	wait_for 10 logged "recording stopped" && ok "full: fault reported: $(grep -m1 'recording stopped' "$T/privmemd.log" | cut -c1-120)" ||
		bad "full: no fault message: $(tail -3 "$T/privmemd.log")"
	[ "$(status_at recorder.recording)" = false ] && ok "full: status says not recording" ||
		bad "full: status recorder: $("$B/jpath" "$T/status.json" recorder)"
	inject 300 && C_LAST=$LAST
	rm -f "$M/filler"
	wait_for 10 logged "recording again" && ok "full: recovered: $(grep -m1 'recording again' "$T/privmemd.log")" ||
		bad "full: no recovery: $(tail -3 "$T/privmemd.log")"
	inject 200 && D_FIRST=$FIRST
	end_case 1200 2300 "$A_LAST" "$B_LAST" "$C_LAST" "$D_FIRST" ENOSPC
else
	abort_case
fi

# 2. the directory removed, and a file where it was: everything in the lost file is the gap
if start_case dir-removed; then
	rm -rf "$M/rec" && : >"$M/rec"
	inject 2000
	wait_for 10 logged "recording stopped" && ok "dir-removed: fault reported: $(grep -m1 'recording stopped' "$T/privmemd.log" | cut -c1-120)" ||
		bad "dir-removed: no fault message: $(tail -3 "$T/privmemd.log")"
	inject 300 && C_LAST=$LAST
	rm -f "$M/rec"
	wait_for 10 logged "recording again" && ok "dir-removed: recovered (directory made again)" ||
		bad "dir-removed: no recovery: $(tail -3 "$T/privmemd.log")"
	inject 200 && D_FIRST=$FIRST
	end_case 200 3300 "$A_FIRST" "$A_LAST" "$C_LAST" "$D_FIRST" ENOENT
else
	abort_case
fi

# 3. read-only: the kernel refuses remount,ro while a file is open for writing
# (EBUSY), so it meets the recorder when it opens its next file: here, while
# it retries after the disk filled up
if start_case read-only; then
	fill || bad "read-only: could not fill the tmpfs"
	inject 2000 && B_LAST=$LAST
	wait_for 10 logged "recording stopped" || bad "read-only: no fault message: $(tail -3 "$T/privmemd.log")"
	wait_for 10 ro_remount && ok "read-only: tmpfs remounted read-only" || bad "read-only: remount,ro refused"
	inject 300 && C_LAST=$LAST
	wait_for 10 logged "Read-only file system" && ok "read-only: said: $(grep -m1 'Read-only' "$T/privmemd.log" | cut -c1-120)" ||
		bad "read-only: EROFS not reported: $(tail -3 "$T/privmemd.log")"
	mount -o remount,rw "$M" && rm -f "$M/filler"
	wait_for 10 logged "recording again" && ok "read-only: recovered after remount,rw" ||
		bad "read-only: no recovery: $(tail -3 "$T/privmemd.log")"
	inject 200 && D_FIRST=$FIRST
	end_case 1200 2300 "$A_LAST" "$B_LAST" "$C_LAST" "$D_FIRST" ENOSPC EROFS
else
	abort_case
fi

echo "$PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
