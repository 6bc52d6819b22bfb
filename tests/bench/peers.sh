#!/bin/bash
# make bench-peers: privmem beside the tools an operator already has, on one
# seeded testvmm workload in one run:
#   privmem record        (this project; answered by privmem replay)
#   bpftrace              (a script that counts the same things in-kernel)
#   ftrace -> trace-cmd   (kvm events + sys_enter_ioctl; trace-cmd report + awk)
#   perf record           (same events; perf script + awk)
# Per tool: the exit-loop and getppid ratios to bare (alternating rounds,
# medians), bytes written per guest request, the time to answer
# "conversion attempts per VM by direction, with a size histogram", peak RSS,
# and whether that answer equals testvmm's ground truth ("faster" must never
# mean "wrong"). A tool that cannot answer says why.
#
# trace-cmd 3.1 cannot start a recording on kernels that refuse writes to
# ftrace_enabled/set_ftrace_filter, so the tracefs instance is set up here
# exactly as `trace-cmd record -e` would and `trace-cmd extract` writes the
# file (tests/bench/trace.sh does the same).
set -u
cd "$(dirname "$0")/../.."
B=build
ROUNDS=${ROUNDS:-5}
REQ=${PEERS_REQUESTS:-2000} EXITS=${PEERS_EXITS:-200000} CALLS=${PEERS_CALLS:-2000000}
SEED=7
T=$(mktemp -d /tmp/privmem-peers.XXXXXX)
INST=/sys/kernel/tracing/instances/privmem-peers.$$
TPID=
SETATTR=0x4020aed2	# KVM_SET_MEMORY_ATTRIBUTES
cleanup() {
	[ -n "$TPID" ] && pkill -INT -P "$TPID" 2>/dev/null && wait "$TPID" 2>/dev/null
	[ -d "$INST" ] && { echo 0 >"$INST/events/enable"; rmdir "$INST"; } 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
die() { echo "bench-peers: $*" >&2; exit 1; }
# the tools run under /usr/bin/time (peak RSS), which ignores SIGINT: signal its child
stop_tpid() { pkill -INT -P "$TPID"; wait "$TPID"; TPID=; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
now() { date +%s.%N; }
# wait_for SECS WHAT CMD...: the condition, or a loud failure
wait_for() {
	local end=$(($(date +%s) + $1)) what=$2; shift 2
	until "$@"; do [ "$(date +%s)" -lt "$end" ] || die "timed out waiting for $what"; sleep 0.05; done
}

for c in bpftrace trace-cmd perf jq /usr/bin/time; do command -v "$c" >/dev/null || die "$c missing (make deps)"; done
mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing
if bpftool prog show 2>/dev/null | grep -q ' name pm_'; then
	die "privmem BPF programs are already loaded (a privmemd running?): stop them first"
fi

# ---------------------------------------------------------------- tools
# start_TOOL DIR: attach system-wide, return once attached (TPID set).
# stop_TOOL DIR: detach, leave the tool's file(s) in DIR.
# answer_TOOL DIR: print {"PID": {"to_private": {"attempts": N, "hist": {"12": N}}, ...}}
#                  or {"cannot": "why"}; the time this takes is the tool's answer time.
# --syscall-hooks: where fexit is refused (the 6.18 PVM host) attempts are
# seen only through the syscall tracepoints, as the peers see them
start_privmem() {
	/usr/bin/time -f %M -o "$1/rss" "$B/privmem" record --syscall-hooks -o "$1/run.pmtrace" 2>"$1/err" &
	TPID=$!
	wait_for 60 "privmem record" grep -q "recording to" "$1/err"
}
stop_privmem() { stop_tpid; }
answer_privmem() {
	"$B/privmem" replay "$1/run.pmtrace" --json | jq -c '[.vms[] | {key: (.pid | tostring), value: {
		to_private: {attempts: .to_private.attempts, hist: .to_private.attempt_size_log2_hist},
		to_shared: {attempts: .to_shared.attempts, hist: .to_shared.attempt_size_log2_hist}}}] | from_entries'
}
files_privmem() { echo "$1/run.pmtrace"; }

cat >"$T/peer.bt" <<EOF
tracepoint:syscalls:sys_enter_ioctl /args->cmd == $SETATTR/ {
	\$sz = *(uint64 *)uptr(args->arg + 8);
	\$priv = (*(uint64 *)uptr(args->arg + 16)) & 8;
	if (\$priv) { @attempts[pid, "to_private"] = count(); @size[pid, "to_private"] = hist(\$sz); }
	else { @attempts[pid, "to_shared"] = count(); @size[pid, "to_shared"] = hist(\$sz); }
}
tracepoint:kvm:kvm_userspace_exit { @exits[pid, args->reason] = count(); }
EOF
start_bpftrace() {
	/usr/bin/time -f %M -o "$1/rss" bpftrace -f json -o "$1/out.json" "$T/peer.bt" 2>"$1/err" &
	TPID=$!
	wait_for 120 "bpftrace to attach" grep -q attached_probes "$1/out.json"
}
stop_bpftrace() { stop_tpid; }
# bpftrace printed its maps at exit: the answer is a reshaping of them
answer_bpftrace() {
	jq -sc '[.[] | select(.type == "map" or .type == "hist") | .data] | add as $d |
		($d["@attempts"] // {}) as $a | ($d["@size"] // {}) as $h |
		[$a | to_entries[] | (.key | split(",")) as $k | {pid: $k[0], dir: $k[1], n: .value}] |
		group_by(.pid) | map({key: .[0].pid, value: (map({key: .dir, value: {attempts: .n,
			hist: ([$h[.pid + "," + .dir][]? | select(.count > 0) |
				{key: (.min | if . == 0 then 0 else (log2 | floor) end | tostring), value: .count}] | from_entries)}}) | from_entries)}) |
		from_entries' "$1/out.json"
}
files_bpftrace() { echo "$1/out.json"; }

start_ftrace() {
	mkdir "$INST" && echo 262144 >"$INST/buffer_size_kb" || die "cannot make a tracefs instance"
	for e in kvm syscalls/sys_enter_ioctl; do echo 1 >"$INST/events/$e/enable"; done
	echo 1 >"$INST/tracing_on"
	echo 0 >"$1/rss"
}
stop_ftrace() {
	echo 0 >"$INST/tracing_on"
	/usr/bin/time -f %M -o "$1/rss" trace-cmd extract -B "$(basename "$INST")" -o "$1/run.dat" >/dev/null 2>&1
	echo 0 >"$INST/events/enable"; rmdir "$INST"
}
# sys_enter_ioctl carries the argument's address, not the struct it points to:
# attempts can be counted, their direction and size cannot
answer_ftrace() {
	trace-cmd report -i "$1/run.dat" 2>/dev/null | awk -v c="$SETATTR" '
		/sys_enter_ioctl/ && $0 ~ ("cmd: " c) { split($1, a, "-"); n[a[length(a)]]++ }
		END { printf "{\"cannot\":\"direction and size: the KVM_SET_MEMORY_ATTRIBUTES argument is in user memory\",\"attempts\":{"
		      s = ""; for (p in n) { printf "%s\"%s\":%d", s, p, n[p]; s = "," } print "}}" }'
}
files_ftrace() { echo "$1/run.dat"; }

start_perf() {
	/usr/bin/time -f %M -o "$1/rss" perf record -q -a -o "$1/run.perf" -e 'kvm:*' -e syscalls:sys_enter_ioctl \
		>/dev/null 2>"$1/err" &
	TPID=$!
	# perf has attached once it has written its header
	wait_for 60 "perf record" test -s "$1/run.perf"
}
stop_perf() { stop_tpid; }
answer_perf() {
	perf script -i "$1/run.perf" -F pid,event,trace 2>/dev/null | awk -v c="$SETATTR" '
		/sys_enter_ioctl/ && $0 ~ ("cmd: " c) { n[$1]++ }
		END { printf "{\"cannot\":\"direction and size: the KVM_SET_MEMORY_ATTRIBUTES argument is in user memory\",\"attempts\":{"
		      s = ""; for (p in n) { printf "%s\"%s\":%d", s, p, n[p]; s = "," } print "}}" }'
}
files_perf() { echo "$1/run.perf"; }

TOOLS="privmem bpftrace ftrace perf"

# ---------------------------------------------------------------- workload
exit_loop() { "$B/testvmm" --requests 0 --exits "$EXITS" --json - 2>/dev/null | jq -e '.exit_loop.ns'; }
getppid_ns() { "$B/sysloop" "$CALLS" | jq -e '.getppid_ns'; }
measure() {	# measure TOOL WHAT: one run of WHAT with TOOL attached (or bare)
	local tool=$1 what=$2 d=$T/m.$1 v
	rm -rf "$d"; mkdir -p "$d"
	[ "$tool" = bare ] || "start_$tool" "$d"
	v=$($what) || v=
	[ "$tool" = bare ] || "stop_$tool" "$d"
	awk -v v="$v" 'BEGIN { exit !(v + 0 > 0) }' || die "$what with $tool measured nothing"
	echo "$v"
}

echo "# privmem beside its peers on $(uname -r), $(nproc) CPUs, $(date -u +%F); bpftrace $(bpftrace --version | cut -d' ' -f2), $(trace-cmd --version 2>/dev/null | head -1 | cut -d' ' -f3), perf $(perf --version | cut -d' ' -f3)"
for what in exit_loop getppid_ns; do
	for t in bare $TOOLS; do : >"$T/$what.$t"; done
	for _ in $(seq "$ROUNDS"); do
		for t in bare $TOOLS; do measure "$t" "$what" >>"$T/$what.$t"; done
	done
done

# the answer: one seeded run per tool, checked against the VMM's own count
truth() {	# {"to_private": {...}, "to_shared": {...}} of testvmm's JSON
	jq -c '{to_private: {attempts: .to_private.attempts, hist: .to_private.attempt_size_log2_hist},
		to_shared: {attempts: .to_shared.attempts, hist: .to_shared.attempt_size_log2_hist}}' "$1"
}
printf '\n| tool | exit loop vs bare | getppid vs bare | bytes per guest request | time to answer (s) | peak RSS (KiB) | answer vs ground truth |\n|---|---|---|---|---|---|---|\n'
for t in $TOOLS; do
	d=$T/a.$t
	mkdir -p "$d"
	"start_$t" "$d"
	"$B/testvmm" --seed "$SEED" --requests "$REQ" --json "$d/gt.json" >/dev/null 2>"$d/vmm.err" ||
		die "testvmm failed under $t: $(head -1 "$d/vmm.err")"
	"stop_$t" "$d"
	pid=$(jq -r .pid "$d/gt.json")
	t0=$(now)
	"answer_$t" "$d" >"$d/answer.json" || die "$t's answer could not be computed"
	t1=$(now)
	want=$(truth "$d/gt.json")
	if jq -e 'has("cannot")' "$d/answer.json" >/dev/null; then
		n=$(jq -r --arg p "$pid" '.attempts[$p] // 0' "$d/answer.json")
		total=$(echo "$want" | jq '.to_private.attempts + .to_shared.attempts')
		[ "$n" = "$total" ] && verdict="attempts exact ($n); cannot answer $(jq -r .cannot "$d/answer.json")" ||
			verdict="WRONG: $n attempts, testvmm made $total"
	else
		got=$(jq -c --arg p "$pid" '.[$p] // {}' "$d/answer.json")
		if [ "$(echo "$got" | jq -S .)" = "$(echo "$want" | jq -S .)" ]; then
			verdict="exact ($(echo "$want" | jq '.to_private.attempts + .to_shared.attempts') attempts, both histograms)"
		else
			verdict="WRONG: got $got, want $want"
		fi
	fi
	bytes=0
	for f in $("files_$t" "$d"); do bytes=$((bytes + $(stat -c %s "$f" 2>/dev/null || echo 0))); done
	b_ex=$(median <"$T/exit_loop.bare"); x_ex=$(median <"$T/exit_loop.$t")
	b_gp=$(median <"$T/getppid_ns.bare"); x_gp=$(median <"$T/getppid_ns.$t")
	awk -v t="$t" -v be="$b_ex" -v xe="$x_ex" -v bg="$b_gp" -v xg="$x_gp" -v by="$bytes" -v r="$REQ" \
		-v s="$(echo "$t1 - $t0" | bc)" -v rss="$(tail -1 "$d/rss")" -v v="$verdict" 'BEGIN {
		printf "| %s | %.3fx | %.3fx | %.1f | %.3f | %s | %s |\n", t, be / xe, bg / xg, by / r, s, rss, v }'
done
echo
echo "ratios: bare time / time with the tool attached (medians of $ROUNDS alternating rounds; 1.000x = no cost)."
echo "The answer run: testvmm --seed $SEED --requests $REQ; bytes: what the tool wrote for it. privmem answers from"
echo "its trace with privmem replay; bpftrace keeps the counts in the kernel and prints them when it stops; ftrace"
echo "and perf record every event and are answered by a report read with awk."
