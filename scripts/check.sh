#!/bin/bash
# Runs each `make check` stage, keeps going after a failure, and ends with one
# line summing every runner's own tally (cmocka's and our "N passed, N failed").
# A stage that exits non-zero is one more failure, whatever its tally said;
# a stage that outlives its time limit is killed and counted the same way.
# Limits (seconds): CHECK_TIMEOUT (default 300) for every stage, or
# CHECK_TIMEOUT_<stage> for one; the bed (vmtest) fetches and builds a kernel
# on a cold cache and gets 2400.
set -u -o pipefail
cd "$(dirname "$0")/.."
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT
PASS=0 FAIL=0 SKIP=0 BROKEN=""

limit_of() {
	local v="CHECK_TIMEOUT_$1"
	if [ -n "${!v:-}" ]; then
		echo "${!v}"
	elif [ "$1" = vmtest ]; then
		echo 2400
	else
		echo "${CHECK_TIMEOUT:-300}"
	fi
}

# sum SED-EXPR: the sum of the numbers SED-EXPR picks out of the stage's log
sum() { sed -nE "$1" "$LOG" | paste -sd+ | bc; }

# privmemd processes (any root, chroots too) not there before the stage
daemons() { pgrep -x privmemd | sort; }

for stage in "$@"; do
	echo "=== make $stage"
	before=$(daemons)
	limit=$(limit_of "$stage")
	# timeout signals its whole process group: the stage's daemons and VMs too
	timeout -k 30 "$limit" make --no-print-directory "$stage" 2>&1 | tee "$LOG"
	rc=${PIPESTATUS[0]}
	p=$(sum 's/^.*\[  PASSED  \] ([0-9]+) test.*/\1/p; s/^([0-9]+) passed, [0-9]+ failed.*/\1/p')
	f=$(sum 's/^.*\[  FAILED  \] ([0-9]+) test.*/\1/p; s/^[0-9]+ passed, ([0-9]+) failed.*/\1/p')
	s=$(sum 's/^.*\[  SKIPPED \] ([0-9]+) test.*/\1/p; s/^[0-9]+ passed, [0-9]+ failed, ([0-9]+) skipped.*/\1/p')
	# a sub-runner's tally folded into a driver's own is counted once: drivers indent them
	PASS=$((PASS + ${p:-0}))
	FAIL=$((FAIL + ${f:-0}))
	SKIP=$((SKIP + ${s:-0}))
	if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
		echo "FAIL make $stage: no result within ${limit}s (killed; CHECK_TIMEOUT_$stage raises the limit)"
		BROKEN="$BROKEN $stage(timeout)"
		FAIL=$((FAIL + 1))
	elif [ "$rc" != 0 ]; then
		echo "FAIL make $stage: exit $rc"
		BROKEN="$BROKEN $stage"
		FAIL=$((FAIL + 1))
	elif [ -z "${p}${f}" ]; then
		echo "FAIL make $stage: no result line"
		BROKEN="$BROKEN $stage(no-result)"
		FAIL=$((FAIL + 1))
	fi
	# a stage leaves no daemon behind: it would stay attached to this
	# kernel and skew every stage after it (a zombie is gone already)
	left=$(comm -13 <(echo "$before") <(daemons))
	for pid in $left; do
		[ "$(awk '/^State/ {print $2}' "/proc/$pid/status" 2>/dev/null)" = Z ] && continue
		echo "FAIL make $stage: left privmemd pid $pid running ($(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null); root $(readlink "/proc/$pid/root")); killed"
		kill "$pid" 2>/dev/null
		BROKEN="$BROKEN $stage(left-privmemd)"
		FAIL=$((FAIL + 1))
	done
done
[ -n "$BROKEN" ] && echo "make check: failing stages:$BROKEN (each counted as one failure)"
[ "$SKIP" -gt 0 ] && echo "make check: $SKIP skipped (see the skip lines above)"
echo "$PASS passed, $FAIL failed$([ "$SKIP" -gt 0 ] && echo ", $SKIP skipped")"
[ "$FAIL" = 0 ] && [ -z "$BROKEN" ]
