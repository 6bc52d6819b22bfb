#!/bin/bash
# make bench, trace part: the same testvmm runs recorded at once by
# `privmem record`, by ftrace (read out with trace-cmd) and by perf, then
#  - bytes per event and per guest request of each file, and the marginal
#    bytes per event between a small and a large run (headers cancel out);
#  - replay speed on one core: privmem replay's path against `trace-cmd
#    report` and `perf script` over their files of the same run, in events
#    per CPU-second, and privmem on 10 M synthetic events (goal >= 5 M/s).
# trace-cmd 3.1 cannot start a recording on kernels that refuse writes to
# ftrace_enabled/set_ftrace_filter (it exits or crashes), so the tracefs
# instance is set up here exactly as `trace-cmd record -e` would, and
# `trace-cmd extract` writes its trace.dat from that ring buffer.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
T=$(mktemp -d /tmp/privmem-tracebench.XXXXXX)
INST=/sys/kernel/tracing/instances/privmem-bench.$$
EVENTS="kvm syscalls/sys_enter_ioctl syscalls/sys_enter_fallocate"
SMALL=${SMALL:-2000} LARGE=${LARGE:-20000}
RPID= PPID2=
cleanup() {
	[ -n "$RPID" ] && kill "$RPID" 2>/dev/null
	[ -n "$PPID2" ] && kill "$PPID2" 2>/dev/null
	[ -d "$INST" ] && { echo 0 >"$INST/events/enable"; rmdir "$INST"; } 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

have_tc=1 have_perf=1
command -v trace-cmd >/dev/null || { have_tc=0; echo "trace-cmd missing (apt-get install trace-cmd): skipped"; }
command -v perf >/dev/null || { have_perf=0; echo "perf missing (apt-get install linux-perf): skipped"; }
mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing

cpu_s() {	# CPU seconds (user + sys) of a command, its output discarded
	local TIMEFORMAT='%U %S' t
	t=$({ time "$@" >/dev/null 2>&1; } 2>&1 | tail -1)
	echo "$t" | awk '{print $1 + $2}'
}

# record R: one testvmm run of R requests into $T/R.{pmtrace,dat,perf}
record() {
	local r=$1 p
	# shellcheck disable=SC2086 # SYSCALL_HOOKS (tests/lib.sh): attempts need them here
	"$B/privmem" record $SYSCALL_HOOKS -o "$T/$r.pmtrace" 2>"$T/$r.rec.err" &
	RPID=$!
	wait_for 20 "privmem record to start" grep -q "recording to" "$T/$r.rec.err"
	"$B/testvmm" --seed 3 --requests "$r" --start-delay-ms 1000 --json "$T/$r.gt.json" >/dev/null 2>&1 &
	p=$!
	# the VM exists (its guest waits 1 s): attach by pid
	has_vm() { ls -l /proc/"$p"/fd 2>/dev/null | grep -q 'kvm-vm'; }
	wait_for 10 "testvmm to create its VM" has_vm
	if [ $have_tc = 1 ]; then
		mkdir "$INST" && echo 262144 >"$INST/buffer_size_kb" && echo "$p" >"$INST/set_event_pid"
		for e in $EVENTS; do echo 1 >"$INST/events/$e/enable"; done
	fi
	if [ $have_perf = 1 ]; then
		perf record -q -o "$T/$r.perf" -p "$p" -e 'kvm:*' -e syscalls:sys_enter_ioctl \
			-e syscalls:sys_enter_fallocate >/dev/null 2>&1 &
		PPID2=$!
	fi
	wait "$p"
	sleep 0.3	# pacing, not a wait: the tracers' last buffers drain before they are stopped
	# perf record -p ends by itself when its target exits
	if [ $have_perf = 1 ]; then kill -INT "$PPID2" 2>/dev/null; wait "$PPID2" 2>/dev/null; PPID2=; fi
	if [ $have_tc = 1 ]; then
		echo 0 >"$INST/tracing_on"
		trace-cmd extract -B "$(basename "$INST")" -o "$T/$r.dat" >/dev/null 2>&1
		[ -d "$INST" ] && { echo 0 >"$INST/events/enable"; rmdir "$INST"; } 2>/dev/null
	fi
	kill -INT "$RPID"; wait "$RPID"; RPID=
}

size() { stat -c %s "$1" 2>/dev/null || echo 0; }
pm_events() { "$B/privmem" replay "$1" --json 2>/dev/null | jq -r '.events // empty'; }
tc_events() { trace-cmd report -i "$1" 2>/dev/null | grep -cE '^ *[^ ].* \[[0-9]+\] +[0-9.]+: '; }
perf_events() { perf script -i "$1" 2>/dev/null | wc -l; }

echo "## trace: bytes per event and replay speed ($(uname -r), $(nproc) CPUs)"
for r in $SMALL $LARGE; do record "$r"; done

declare -A ev by
for r in $SMALL $LARGE; do
	ev[pm.$r]=$(pm_events "$T/$r.pmtrace"); by[pm.$r]=$(size "$T/$r.pmtrace")
	if [ $have_tc = 1 ]; then ev[tc.$r]=$(tc_events "$T/$r.dat"); by[tc.$r]=$(size "$T/$r.dat"); fi
	if [ $have_perf = 1 ]; then ev[pf.$r]=$(perf_events "$T/$r.perf"); by[pf.$r]=$(size "$T/$r.perf"); fi
done
printf '\n| recorder | events (%s req) | bytes | bytes/event | bytes/request | marginal bytes/event (%s vs %s req) |\n|---|---|---|---|---|---|\n' "$LARGE" "$LARGE" "$SMALL"
row() {
	local name=$1 k=$2
	[ -n "${ev[$k.$LARGE]:-}" ] || return
	awk -v n="$name" -v e="${ev[$k.$LARGE]}" -v b="${by[$k.$LARGE]}" -v e0="${ev[$k.$SMALL]}" -v b0="${by[$k.$SMALL]}" \
		-v r="$LARGE" 'BEGIN { printf "| %s | %d | %d | %.2f | %.1f | %.2f |\n", n, e, b, b / e, b / r, (b - b0) / (e - e0) }'
}
row "privmem record (privmem-trace)" pm
row "ftrace -> trace-cmd extract (trace.dat)" tc
row "perf record (perf.data)" pf

echo
printf '| reader, one core (%s req run) | events | CPU s for the run | events per CPU-second | privmem events/s ratio | privmem run-time ratio |\n|---|---|---|---|---|---|\n' "$LARGE"
pm=$(taskset -c 0 "$B/replaybench" "$T/$LARGE.pmtrace" 1.5)
pm_rate=$(echo "$pm" | jq -r '.replay_events_per_s // empty')
pm_s=$(awk -v e="${ev[pm.$LARGE]}" -v r="$pm_rate" 'BEGIN { printf "%.4f", e / r }')
printf '| privmem replay | %s | %s | %s | 1 | 1 |\n' "${ev[pm.$LARGE]}" "$pm_s" "$pm_rate"
if [ $have_tc = 1 ]; then
	s=$(cpu_s taskset -c 0 trace-cmd report -i "$T/$LARGE.dat")
	awk -v e="${ev[tc.$LARGE]}" -v s="$s" -v p="$pm_rate" -v ps="$pm_s" 'BEGIN {
		printf "| trace-cmd report | %d | %.2f | %.0f | %.1fx | %.0fx |\n", e, s, e / s, p / (e / s), s / ps }'
fi
if [ $have_perf = 1 ]; then
	s=$(cpu_s taskset -c 0 perf script -i "$T/$LARGE.perf")
	awk -v e="${ev[pf.$LARGE]}" -v s="$s" -v p="$pm_rate" -v ps="$pm_s" 'BEGIN {
		printf "| perf script | %d | %.2f | %.0f | %.1fx | %.0fx |\n", e, s, e / s, p / (e / s), s / ps }'
fi
"$B/tracegen" -o "$T/synth.pmtrace" -n 10000000 -c 40000 -v 4 >/dev/null
syn=$(taskset -c 0 "$B/replaybench" "$T/synth.pmtrace" 3)
echo
echo "privmem replay, 10 M synthetic testvmm-shaped events ($(size "$T/synth.pmtrace") bytes), one core: $syn"
awk -v r="$(echo "$syn" | jq -r '.replay_events_per_s // empty')" 'BEGIN {
	printf "goal >= 5000000 events/s: %s (%.1f M/s)\n", (r >= 5000000 ? "met" : "MISSED"), r / 1e6 }'
echo "events/s ratio: privmem replay's events per CPU-second over the other reader's, each on its own file of the"
echo "same run; run-time ratio: the other reader's CPU time for the whole run over privmem's."
