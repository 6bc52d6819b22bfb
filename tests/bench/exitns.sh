#!/bin/bash
# The exit hook's own cost per exit, by kernel.bpf_stats_enabled: privmemd
# with exit counts (--no-syscall-hooks) and without (--no-exit-stats), each
# over a testvmm port-I/O exit loop, and the run_time_ns / run_cnt of
# pm_exit. The stats switch is the kernel's, for every program on the host:
# it is on only while the loop runs and is put back as it was.
set -eu
cd "$(dirname "$0")/../.."
. tests/lib.sh
EXITS=${EXITS:-200000}
ROUNDS=${ROUNDS:-3}
T=$(mktemp -d /tmp/privmem-exitns.XXXXXX)
STATS0=$(sysctl -n kernel.bpf_stats_enabled)
trap 'sysctl -qw kernel.bpf_stats_enabled="$STATS0"; [ -n "$DPID" ] && kill $DPID 2>/dev/null; rm -rf "$T"' EXIT

# per_run PROG: PROG's mean run time and runs (bpf_stats), or nothing when it never ran
per_run() {
	bpftool prog show name "$1" --json 2>/dev/null | jq -r 'if type == "array" then .[0] else . end |
		if (.run_cnt // 0) > 0 then "\(.run_time_ns / .run_cnt | floor) \(.run_cnt)" else empty end'
}

# ns_per_exit PRIVMEMD-ARGS...: pm_exit's mean run time over one exit loop and,
# where the syscall tracepoints are attached, that of the KVM_RUN entry's
# program (pm_sys_enter_ioctl: every ioctl on the host, KVM_RUN asks for a resume)
ns_per_exit() {
	start_daemon "$T/d.log" -s "$T/sock" "$@" >&2 || { echo "privmemd did not start" >&2; exit 1; }
	sysctl -qw kernel.bpf_stats_enabled=1
	"$B/testvmm" --requests 0 --exits "$EXITS" --json - >/dev/null 2>"$T/vmm.err"
	per_run pm_exit >"$T/exit"
	per_run pm_sys_enter_ioctl >"$T/enter"
	sysctl -qw kernel.bpf_stats_enabled="$STATS0"
	kill "$DPID"; wait "$DPID" 2>/dev/null || true; DPID=
	[ -s "$T/exit" ] || return 0
	read -r ns runs <"$T/exit"
	printf '%s ns over %s runs' "$ns" "$runs"
	[ -s "$T/enter" ] && read -r ns runs <"$T/enter" && printf '; pm_sys_enter_ioctl %s ns over %s runs' "$ns" "$runs"
	echo
}

echo "# pm_exit ns per exit (bpf_stats), $EXITS exits, $(uname -r), $(nproc) CPUs"
# stats: --no-syscall-hooks (exit counts on); lean: and --no-exit-stats; tp: --syscall-hooks
for mode in ${MODES:-stats lean}; do
	for r in $(seq "$ROUNDS"); do
		case $mode in
		stats) v=$(ns_per_exit --no-syscall-hooks) ;;
		lean) v=$(ns_per_exit --no-syscall-hooks --no-exit-stats) ;;
		tp) v=$(ns_per_exit --syscall-hooks) ;;
		esac
		[ -n "$v" ] || { echo "exitns: pm_exit ran no exits ($mode)" >&2; exit 1; }
		echo "$mode round $r: pm_exit $v"
	done
done
