#!/bin/bash
# Runs each `make check` stage, keeps going after a failure, and ends with one
# line summing every runner's own tally (cmocka's and our "N passed, N failed").
set -u -o pipefail
cd "$(dirname "$0")/.."
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT
PASS=0 FAIL=0 BROKEN=""
for stage in "$@"; do
	echo "=== make $stage"
	make --no-print-directory "$stage" 2>&1 | tee "$LOG" || BROKEN="$BROKEN $stage"
	p=$(sed -nE 's/^.*\[  PASSED  \] ([0-9]+) test.*/\1/p; s/^([0-9]+) passed, [0-9]+ failed.*/\1/p' "$LOG" | paste -sd+ | bc)
	f=$(sed -nE 's/^.*\[  FAILED  \] ([0-9]+) test.*/\1/p; s/^[0-9]+ passed, ([0-9]+) failed.*/\1/p' "$LOG" | paste -sd+ | bc)
	# a sub-runner's tally folded into a driver's own is counted once: drivers indent them
	PASS=$((PASS + ${p:-0}))
	FAIL=$((FAIL + ${f:-0}))
done
if [ -n "${BROKEN// /}" ]; then
	echo "make check: failing stages:$BROKEN"
	[ "$FAIL" = 0 ] && FAIL=1
fi
echo "$PASS passed, $FAIL failed"
[ "$FAIL" = 0 ] && [ -z "${BROKEN// /}" ]
