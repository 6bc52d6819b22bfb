#!/bin/sh
# shellcheck shell=sh
# Helpers for guest tests (sourced by /init; tests source /vmtest/lib.sh).
# Test names: no spaces; the reason may be anything on one line.
# VMTEST_KREL, VMTEST_KVM (stock | swprot), VMTEST_TEST_TIMEOUT
# shellcheck disable=SC1091
[ -f /vmtest/env ] && . /vmtest/env
vt_pass() { echo "VMTEST: PASS $1"; }
# (sh has no locals: the helpers' own names start with _, so callers' n, i... survive)
vt_fail() { _fn=$1; shift; echo "VMTEST: FAIL $_fn: $(echo "$*" | tr '\n' ' ')"; }
vt_skip() { _sn=$1; shift; echo "VMTEST: SKIP $_sn: $*"; }
vt_info() { echo "VMTEST: INFO $*"; }
# vt_check NAME CMD...: PASS if CMD succeeds, else FAIL with its output.
vt_check() {
	_cn=$1; shift
	if _co=$("$@" 2>&1); then vt_pass "$_cn"; else vt_fail "$_cn" "$* -> $(echo "$_co" | tail -n 3)"; fi
}
# True if the running kernel is at least MAJOR.MINOR ($1 $2).
vt_kernel_ge() {
	r=$(uname -r); ma=${r%%.*}; mi=${r#*.}; mi=${mi%%[!0-9]*}
	[ "$ma" -gt "$1" ] || { [ "$ma" -eq "$1" ] && [ "$mi" -ge "$2" ]; }
}
# vt_wait_for FILE PATTERN SECONDS: true once PATTERN is in FILE. Bounded by
# the clock, not by a count of sleeps (a sleep cut short by a signal must
# not shorten the wait).
vt_wait_for() {
	_end=$(( $(date +%s) + $3 ))
	while ! grep -q "$2" "$1" 2>/dev/null; do
		[ "$(date +%s)" -ge "$_end" ] && return 1
		sleep 0.2
	done
}
# vt_until SECONDS NAME CMD...: runs CMD until it succeeds, at most SECONDS on
# the clock; a timeout is a FAIL named NAME (the bed's wait_for).
vt_until() {
	_lim=$1; _end=$(( $(date +%s) + $1 )); _n=$2; shift 2
	until "$@" >/dev/null 2>&1; do
		if [ "$(date +%s)" -ge "$_end" ]; then
			vt_fail "$_n" "timed out after ${_lim}s: $*"
			return 1
		fi
		sleep 0.1
	done
}
# vt_eq NAME GOT WANT: a value must be there before it is compared: an empty
# GOT or WANT (missing data) is a FAIL, never a match.
vt_eq() {
	if [ -z "$3" ]; then vt_fail "$1" "no expected value (missing data), got '$2'"
	elif [ -z "$2" ]; then vt_fail "$1" "missing, want '$3'"
	elif [ "$2" = "$3" ]; then vt_pass "$1"
	else vt_fail "$1" "got '$2', want '$3'"; fi
}
# vt_needs_swprot NAME: a test that needs VM type 1 (KVM_SW_PROTECTED_VM)
# ends here with one counted SKIP on a stock KVM (the matrix's kernels).
vt_needs_swprot() {
	if [ "${VMTEST_KVM:-}" = stock ]; then
		vt_skip "$1" "stock KVM of ${VMTEST_KREL:-this kernel}: no KVM_SW_PROTECTED_VM (VM type 1)"
		exit 0
	fi
}
# vt_stuck PID: where a process that should have finished is (its kernel
# stack and state, one line), then it is killed, so the tests after it do
# not trip over its instance lock.
vt_stuck() {
	_st="state $(awk '/^State/ {print $2}' /proc/$1/status 2>/dev/null) wchan $(cat /proc/$1/wchan 2>/dev/null)"
	_st="$_st stack: $(tr '\n' ' ' </proc/$1/stack 2>/dev/null | cut -c1-600)"
	for _t in /proc/$1/task/*; do
		[ -r "$_t/stack" ] && _st="$_st | $(basename "$_t"): $(head -n 4 "$_t/stack" | tr '\n' ' ')"
	done
	kill -9 "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	echo "$_st"
}

