#!/bin/bash
# make bench: overheads as ratios against a baseline taken in the same run.
# Alternates bare and attached runs and takes medians, so drift hits both.
set -eu
cd "$(dirname "$0")/../.."
. tests/lib.sh
ROUNDS=${ROUNDS:-5}
# BENCH_SMOKE=1 (make benchcheck): one short round of every host measurement,
# to prove the bench runs and measures; its figures are not for the table.
SMOKE=${BENCH_SMOKE:-0}
EXITS=200000 CALLS=2000000
# BENCH_WORKLOADS="exits" (a subset of "exits getppid ioctl"): only those
# rows of the capture-overhead table, then stop
WORKLOADS=${BENCH_WORKLOADS:-exits getppid ioctl}
[ "$SMOKE" = 1 ] && ROUNDS=1 EXITS=2000 CALLS=20000
T=$(mktemp -d /tmp/privmem-bench.XXXXXX)
DPID=
trap '[ -n "$DPID" ] && kill $DPID 2>/dev/null; rm -rf "$T"' EXIT

# field PATH: a number from the JSON on stdin (jq, as every test reads JSON)
field() { jq -r "$1 // empty"; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# daemon_on ARGS...: privmemd with exactly ARGS (no SYSCALL_HOOKS of
# tests/lib.sh: each column says which hooks it measures)
daemon_on() {
	SYSCALL_HOOKS='' start_daemon "$T/d.log" -s "$T/sock" "$@" || { echo "privmemd did not start"; exit 1; }
}
daemon_off() { kill "$DPID"; wait "$DPID" 2>/dev/null || true; DPID=; }

# mode: bare | syshooks (--syscall-hooks: syscall tracepoints on kernels
# without fexit, the default before issue #14) | default (no flag: no
# syscall hook where fexit is missing) | lean (default plus --no-exit-stats)
run_mode() {
	local mode=$1 what=$2
	case $mode in
	syshooks) daemon_on --syscall-hooks ;;
	default) daemon_on ;;
	lean) daemon_on --no-exit-stats ;;
	esac
	local v
	case $what in
	exits) v=$("$B/testvmm" --requests 0 --exits "$EXITS" --json - 2>"$T/vmm.err" | field .exit_loop.ns) ;;
	getppid) v=$("$B/sysloop" "$CALLS" | field .getppid_ns) ;;
	ioctl) v=$("$B/sysloop" "$CALLS" | field .ioctl_ns) ;;
	esac
	[ "$mode" = bare ] || daemon_off
	# a measurement that did not happen stops the bench: never a 0 in the table
	if ! awk -v v="$v" 'BEGIN { exit !(v + 0 > 0) }'; then
		echo "bench: $what ($mode) measured nothing (got '${v}')" >&2
		[ -s "$T/vmm.err" ] && sed 's/^/bench:   /' "$T/vmm.err" >&2
		exit 1
	fi
	echo "$v"
}

echo "# privmem bench on $(uname -r), $(nproc) CPUs, $(date -u +%F)"
# a privmem left running would tax the "bare" runs too: refuse to measure then
if bpftool prog show 2>/dev/null | grep -q ' name pm_'; then
	echo "bench: privmem BPF programs are already loaded (a privmemd running?): stop them first" >&2
	exit 1
fi
for what in $WORKLOADS; do
	for mode in bare syshooks default lean; do : >"$T/$what.$mode"; done
	for _ in $(seq "$ROUNDS"); do
		for mode in bare syshooks default lean; do run_mode $mode $what >>"$T/$what.$mode"; done
	done
done
printf '\n| workload | bare | privmemd --syscall-hooks | ratio | privmemd (default) | ratio | privmemd --no-exit-stats | ratio |\n|---|---|---|---|---|---|---|---|\n'
for what in $WORKLOADS; do
	b=$(median <"$T/$what.bare"); t=$(median <"$T/$what.syshooks"); n=$(median <"$T/$what.default"); l=$(median <"$T/$what.lean")
	case $what in
	exits) unit="ns per 200k exits"; label="testvmm port-I/O exit loop" ;;
	getppid) unit="ns/call"; label="getppid() loop, non-VMM" ;;
	ioctl) unit="ns/call"; label="ioctl(FIONREAD) loop, non-VMM" ;;
	esac
	# ratio = baseline speed / attached speed expressed as attached throughput relative to bare
	awk -v l="$label" -v u="$unit" -v b="$b" -v t="$t" -v n="$n" -v e="$l" 'BEGIN {
		printf "| %s (%s) | %.0f | %.0f | %.3fx | %.0f | %.3fx | %.0f | %.3fx |\n", l, u, b, t, b / t, n, b / n, e, b / e }'
done
echo
echo "ratio = bare time / attached time (1.000x = no slowdown; 0.980x = 2% slower). Medians of $ROUNDS alternating rounds."
[ -n "${BENCH_WORKLOADS:-}" ] && exit 0
echo
echo "## ingest"
"$B/ingest" 2 | tee "$T/ingest.json"
if ! jq -se '.[0] | .unaccounted == 0 and .sent > 0' "$T/ingest.json" >/dev/null; then
	echo "bench: ingest measured nothing, or left events unaccounted" >&2
	exit 1
fi
# The daemon's whole path: burst.bpf.c feeds privmemd's own ring buffer from
# BPF (bpf_loop, a burst per test run), privmemd books every record with the
# recorder on and a /metrics scrape every second. Every record must be booked
# or counted lost; the offered rate goes up until privmemd starts losing.
echo
echo "## ingest through privmemd (recorder on, /metrics scraped every second)"
ingest_daemon() {
	local port=$((19000 + RANDOM % 1000)) secs=$1; shift
	# the default hooks: burst's records come from BPF, no syscall hook sees them
	daemon_on --record "$T/rec" --metrics "127.0.0.1:$port"
	( while kill -0 "$DPID" 2>/dev/null; do curl -s "127.0.0.1:$port/metrics" >/dev/null; sleep 1; done ) &
	local scraper=$!
	for rate in "$@"; do
		"$B/burst" --socket "$T/sock" --seconds "$secs" --rate "$rate" --vms 64 | tee -a "$T/burst.json" || {
			echo "bench: burst at $rate/s left records unaccounted" >&2; exit 1; }
	done
	echo "privmemd RSS after: $(ps -o rss= -p "$DPID") KiB"
	kill "$scraper" 2>/dev/null; daemon_off; rm -rf "$T/rec"
}
if [ "$SMOKE" = 1 ]; then
	ingest_daemon 1 0
else
	ingest_daemon 5 1000000 2000000 3000000 4000000 0
fi
if [ "$SMOKE" = 1 ]; then
	echo "$((3 * 4 + 2)) passed, 0 failed"	# every measurement above happened (else we stopped)
	exit 0
fi

# BENCH_HOST_ONLY=1 stops here (the capture overheads above)
[ "${BENCH_HOST_ONLY:-0}" = 1 ] && exit 0

# trace: bytes per event and replay speed against trace-cmd and perf
echo
./tests/bench/trace.sh

# the QEMU bed: real private memory, fentry/fexit and the BPF LSM, under TCG
echo
echo "## in the QEMU bed (TCG emulation: compare ratios, not absolute times)"
PRIVMEM_VMTEST_TEST_TIMEOUT=900 PRIVMEM_VMTEST_TIMEOUT=1000 PRIVMEM_VMTEST_TESTS=90-bench \
	PRIVMEM_VMTEST_EXTRA_TESTS=tests/bench/vm/90-bench.sh ./tests/vmtest/run.sh 2>&1 |
	sed -n 's/^.*BENCH //p' | awk '{printf "| %s | %s |\n", $1, $2}'
