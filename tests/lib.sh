# shellcheck shell=bash
# The one harness of the host-side shell tests (tests/*/*.sh), sourced after
# `cd` to the repository root:   . tests/lib.sh
#
# Rules it carries (the bed's guest side, tests/vmtest/lib.sh, keeps them too):
#  - every result is ok, bad or skip, and all three are counted and printed;
#    `finish` prints the closing line "N passed, N failed[, N skipped]";
#  - a value must exist before it is compared: eq fails on a missing value,
#    on either side, before it compares anything;
#  - a sub-runner (tally) passes only with a result line, at least one check,
#    no failure, and exit status 0: a crash after "4 passed, 0 failed" fails;
#  - waits are on a condition with a deadline on the clock (wait_for), and a
#    wait that times out is a failure that says what it waited for;
#  - JSON is read one way: jq, through jv.
B=${B:-build}
# This host's kernel refuses trampolines (fentry/fexit): a capture sees VM
# creation, attempts and discards here only through the syscall-tracepoint
# fallback, which privmemd, privmem record and privmemtop --direct attach
# only when asked. Every capture a suite starts passes it (start_daemon does);
# a test of the default clears it (SYSCALL_HOOKS='' start_daemon ...). Where
# trampolines work (the QEMU bed) the flag changes nothing.
SYSCALL_HOOKS=--syscall-hooks
PASS=0 FAIL=0 SKIP=0
DPID=
KILL_PIDS=

ok() { PASS=$((PASS + 1)); echo "ok   $*"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL $*"; }
skip() { SKIP=$((SKIP + 1)); echo "skip $*"; }

# eq NAME GOT WANT: both present, and equal
eq() {
	if [ -z "$3" ]; then
		bad "$1: no expected value (missing data), got '$2'"
	elif [ -z "$2" ]; then
		bad "$1: missing, want '$3'"
	elif [ "$2" = "$3" ]; then
		ok "$1 = $3"
	else
		bad "$1: got '$2', want '$3'"
	fi
}

# jv FILE FILTER: the one value jq's FILTER selects in FILE, raw; nothing when
# the file is missing or not JSON, or FILTER selects nothing, null or several.
jv() {
	jq -r -c "[$2] | if length == 1 and .[0] != null then .[0] else empty end" "$1" 2>/dev/null
}

now_ns() { date +%s%N; }

# vm_destroyed SOCK PID OUT: privmem vms --json (kept in OUT) has the VM of PID, destroyed
vm_destroyed() {
	"$B/privmem" -s "$1" vms --json >"$3" 2>/dev/null &&
		[ "$(jv "$3" ".vms[] | select(.pid == ${2:--1}) | .state")" = destroyed ]
}

# run_vmm NAME ARGS...: testvmm ARGS, its truth in $T/NAME.json and its
# stderr in $T/NAME.err; one result, a failure with its exit status and why
run_vmm() {
	local n=$1 rc
	shift
	if "$B/testvmm" "$@" --json "$T/$n.json" >/dev/null 2>"$T/$n.err"; then
		ok "testvmm $n: $*"
	else
		rc=$?
		bad "testvmm $n: $*: exit $rc: $(tail -n 2 "$T/$n.err")"
	fi
}

# inject NAME DAEMON_PID SEED: tests/kernel/convinject into a running capture
# (privmemd, privmem record, privmemtop --direct); its truth in $T/NAME.json
inject() {
	if "$B/convinject" "$2" "$T/$1.json" "$3" 2>"$T/$1.err"; then
		ok "convinject $1 into pid $2"
	else
		bad "convinject $1: $(cat "$T/$1.err")"
		return 1
	fi
}
# nonzero NAME VALUE: a count the workload makes non-zero is
nonzero() { [ -n "$2" ] && [ "$2" -gt 0 ] 2>/dev/null && ok "$1 = $2 (non-zero)" || bad "$1: '$2', want > 0"; }

# wait_for TIMEOUT_S DESCRIPTION CMD...: runs CMD until it succeeds or
# TIMEOUT_S seconds (a decimal) have passed on the clock. A timeout is a
# counted failure naming DESCRIPTION; the status says which it was.
wait_for() {
	local limit=$1 what=$2 end
	shift 2
	end=$(( $(now_ns) + $(awk -v s="$limit" 'BEGIN { printf "%d", s * 1e9 }') ))
	while :; do
		"$@" && return 0
		if [ "$(now_ns)" -ge "$end" ]; then
			bad "timed out after ${limit}s waiting for $what"
			return 1
		fi
		sleep 0.05	# the poll interval; the deadline above is the bound
	done
}

# tally NAME CMD...: runs a sub-runner that ends with "N passed, N failed" and
# folds its counts into ours.
tally() {
	local name=$1 out line p f s rc
	shift
	out=$("$@" 2>&1)
	rc=$?
	echo "$out" | sed "s/^/  [$name] /" | tail -n "${TALLY_LINES:-40}"
	line=$(echo "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -n1)
	if [ -z "$line" ]; then
		bad "$name: no result line (exit $rc)"
		return 1
	fi
	p=${line%% passed*}
	f=${line#*passed, }
	f=${f%% failed*}
	PASS=$((PASS + p))
	FAIL=$((FAIL + f))
	case $line in *" skipped"*) s=${line##*failed, }; SKIP=$((SKIP + ${s%% skipped*}));; esac
	if [ "$f" != 0 ]; then
		echo "FAIL $name ($f of $((p + f)) checks)"
	elif [ "$rc" != 0 ]; then
		bad "$name: exit $rc$([ "$rc" -gt 128 ] && echo " (signal $((rc - 128)))") after '$line'"
	elif [ "$p" = 0 ]; then
		bad "$name: ran no checks"
	else
		echo "ok   $name ($p checks)"
		return 0
	fi
	return 1
}

# finish: the closing line and the exit status
finish() {
	echo "$PASS passed, $FAIL failed$([ "$SKIP" -gt 0 ] && echo ", $SKIP skipped")"
	[ "$FAIL" = 0 ]
	exit
}

# need_root_kvm WHAT: a root-only suite run without root or /dev/kvm fails (CI has both)
need_root_kvm() {
	if [ "$(id -u)" != 0 ] || [ ! -w /dev/kvm ]; then
		echo "$1 need root and /dev/kvm"
		echo "0 passed, 1 failed"
		exit 1
	fi
	mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing
}

# need_tools TOOL...: each must be installed (make deps installs them)
need_tools() {
	local t
	for t in "$@"; do
		command -v "$t" >/dev/null && continue
		echo "missing $t (make deps)"
		echo "0 passed, 1 failed"
		exit 1
	done
}

# start_daemon LOG PRIVMEMD-ARGS...: privmemd $SYSCALL_HOOKS ARGS in the
# background (pid in DPID), ready within 20 s; on failure prints its log and
# returns 1.
daemon_ready() { grep -q ready "$1" 2>/dev/null || ! kill -0 "$DPID" 2>/dev/null; }
start_daemon() {
	local log=$1
	shift
	# shellcheck disable=SC2086 # SYSCALL_HOOKS is one option or none
	"$B/privmemd" $SYSCALL_HOOKS "$@" >"$log" 2>&1 &
	DPID=$!
	wait_for 20 "privmemd $SYSCALL_HOOKS $* to be ready" daemon_ready "$log"
	if ! grep -q ready "$log"; then
		sed 's/^/     | /' "$log"
		kill "$DPID" 2>/dev/null
		wait "$DPID" 2>/dev/null
		DPID=
		return 1
	fi
}
# stop_daemon: SIGTERM, and privmemd's exit status
stop_daemon() {
	local rc
	[ -n "$DPID" ] || return 1
	kill -TERM "$DPID"
	wait "$DPID"
	rc=$?
	DPID=
	return $rc
}

# lib_tmp NAME: a private directory in T, removed on exit along with DPID,
# the pids in KILL_PIDS and whatever LIB_CLEANUP (a command) stops
lib_cleanup() {
	local p
	[ -n "${LIB_CLEANUP:-}" ] && eval "$LIB_CLEANUP"
	for p in $KILL_PIDS; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	[ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
	[ -n "${T:-}" ] && rm -rf "$T"
}
lib_tmp() {
	T=$(mktemp -d "/tmp/privmem-$1.XXXXXX")
	trap lib_cleanup EXIT
}

# Hosts without guest_memfd (KVM_CAP_GUEST_MEMFD 0): testvmm runs there on
# anonymous memory, makes every attribute call, but no PUNCH_HOLE and no
# memory-fault exit; with --faults-if-possible it runs with 0 faults, and its
# JSON says "guest_memfd":false. Suites pass TESTVMM_FAULTS to every testvmm
# that asks for faults, and guard each check that needs a guest_memfd with
# has_gmem, which reads the answer from that run's own ground truth.
TESTVMM_FAULTS=--faults-if-possible
NO_GMEM="host KVM has no guest_memfd; covered by make vmtest"
# has_gmem GT.json WHAT: true when that run had a guest_memfd; otherwise WHAT
# is a counted skip (false), or a failure when the JSON does not say (false).
has_gmem() {
	case $(jv "$1" .guest_memfd) in
	true) return 0 ;;
	false) skip "$2 ($NO_GMEM)" ;;
	*) bad "$2: $1 does not say whether the host had a guest_memfd" ;;
	esac
	return 1
}
