#!/bin/bash
# make fuzz: for each target, replay its regression inputs (each a crash or
# hang found once, kept fixed), then fuzz it for FUZZ_SECS seconds from its
# seed corpus. A target fails on any crash, sanitizer report, leak, timeout
# (FUZZ_TIMEOUT s for one input: a slow path is a bug) or memory blow-up.
# Ends with "N passed, N failed"; executions per target are printed.
set -u -o pipefail
cd "$(dirname "$0")/../.."
SECS=${FUZZ_SECS:-60}
TIMEOUT=${FUZZ_TIMEOUT:-10}
B=build/fuzz
PASS=0 FAIL=0
for t in "$@"; do
	bin=$B/$t corpus=tests/fuzz/corpus/$t regress=tests/fuzz/regress/$t
	work=$B/work/$t art=$B/artifacts/$t
	mkdir -p "$work" "$art"
	common=(-timeout="$TIMEOUT" -rss_limit_mb=2048 -artifact_prefix="$art/")
	[ -f tests/fuzz/$t.dict ] && common+=(-dict=tests/fuzz/$t.dict)
	log=$B/$t.log
	if [ ! -d "$corpus" ] || [ -z "$(ls -A "$corpus" 2>/dev/null)" ]; then
		echo "  fuzz $t: FAIL: no seed corpus in $corpus"
		FAIL=$((FAIL + 1))
		continue
	fi
	nreg=0
	if [ -d "$regress" ] && [ -n "$(ls -A "$regress")" ]; then
		nreg=$(ls -A "$regress" | wc -l)
		if ! "$bin" "${common[@]}" "$regress"/* >"$log.regress" 2>&1; then
			echo "  fuzz $t: FAIL: a regression input fails again (log $log.regress):"
			grep -E "ERROR|SUMMARY|Running:|timeout|==[0-9]+==" "$log.regress" | tail -5 | sed 's/^/    /'
			FAIL=$((FAIL + 1))
			continue
		fi
	fi
	"$bin" "${common[@]}" -max_total_time="$SECS" -print_final_stats=1 "$work" "$corpus" >"$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
	cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1)
	if [ "$rc" = 0 ] && [ -n "$execs" ] && [ "$execs" -gt 0 ]; then
		echo "  fuzz $t: ok: $execs executions in ${SECS}s (${rate:-?}/s, ${cov:-cov: ?}), $nreg regression inputs"
		PASS=$((PASS + 1))
	else
		echo "  fuzz $t: FAIL (exit $rc, ${execs:-no} executions; log $log, inputs in $art):"
		grep -E "ERROR|SUMMARY|Test unit written|timeout|out-of-memory" "$log" | tail -6 | sed 's/^/    /'
		FAIL=$((FAIL + 1))
	fi
done
echo "$PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
