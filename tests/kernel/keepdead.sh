#!/bin/bash
# shellcheck disable=SC2034 # KILL_PIDS is read by lib_cleanup (tests/lib.sh)
# Destroyed VMs are kept for a bounded time and a bounded count, and what is
# dropped is counted (privmemd --keep-destroyed, --max-destroyed): with
# --max-destroyed 2 the two VMs destroyed last stay, with their exact books,
# a running VM is never dropped, and status, /metrics and vms say how many
# were forgotten; with --keep-destroyed 1 a destroyed VM goes within a
# deadline. Needs root and /dev/kvm; starts privmemd, so run it under the
# kernel lock (flock /tmp/privmem-kernel.lock), one privmemd at a time.
#
# The bounds are the host's, not a VMM's: a VM someone else makes and ends
# here meanwhile is kept and forgotten with ours. privmemd runs with -v, so
# its log names every VMM it booked; a round that booked another's VM is run
# again (ROUNDS times at most, then its exact counts are a counted skip).
set -u
cd "$(dirname "$0")/../.." || exit 2
. tests/lib.sh
lib_tmp keepdead
SOCK=$T/privmemd.sock
ROUNDS=${ROUNDS:-3}

# usage errors: one line naming the option, exit 2, before anything is loaded
for arg in "--keep-destroyed x" "--keep-destroyed -1" "--keep-destroyed 4294967296" "--max-destroyed 2k" \
	"--max-destroyed "; do
	# two words, the value maybe empty; timeout: a value wrongly taken must not leave a daemon
	# shellcheck disable=SC2086
	timeout 10 "$B/privmemd" -s "$T/usage.sock" $arg'' 2>"$T/usage.err"; rc=$?
	[ $rc = 2 ] && [ "$(wc -l <"$T/usage.err")" = 1 ] && grep -q -- "${arg%% *}" "$T/usage.err" &&
		ok "privmemd $arg: exit 2, one line" || bad "privmemd $arg: rc=$rc $(cat "$T/usage.err")"
done

need_root_kvm "keep-destroyed tests"
need_tools jq curl

MINE=	# pids of our VMMs, comma-separated
# mine FILE FILTER: FILTER over the VMs in FILE (vms --json) of the pids in MINE
mine() { jq -r "[.vms[] | select(.pid as \$p | [$MINE] | any(. == \$p))] | $2" "$1" 2>/dev/null; }
vms() { "$B/privmem" -s "$SOCK" vms --json >"$1" 2>/dev/null; }
# status OUT [FILTER]: status --json kept in OUT, and FILTER's value
status() { "$B/privmem" -s "$SOCK" status --json >"$1" 2>/dev/null || return 1; [ -z "${2:-}" ] || jv "$1" "$2"; }
forgot_at_least() { [ "$(status "$T/st.json" .forgotten)" -ge "$1" ] 2>/dev/null; }
# foreign LOG: the VMMs other than ours whose events privmemd booked (-v logs each)
foreign() {
	awk '$2 == "vm" && $4 == "pid" { print $5 }' "$1" | sort -u |
		grep -vxF -f <(echo "$MINE" | tr , '\n' | grep .) | paste -sd' '
}
# testvmm NAME ARGS...: one VMM run, its ground truth in $T/NAME.json, its pid added to MINE
testvmm() {
	local name=$1
	shift
	if "$B/testvmm" --requests 3 $TESTVMM_FAULTS --json "$T/$name.json" "$@" >/dev/null 2>"$T/$name.err"; then
		MINE=${MINE:+$MINE,}$(jv "$T/$name.json" .pid)
		return 0
	fi
	bad "testvmm $name: $(cat "$T/$name.err")"
	return 1
}
# held NAME ARGS...: testvmm in the background, its VM open after the JSON (pid in HELD)
held() {
	local name=$1
	shift
	rm -f "$T/$name.json"
	"$B/testvmm" --requests 1 $TESTVMM_FAULTS --json "$T/$name.json" "$@" >/dev/null 2>"$T/$name.err" &
	HELD=$!
	KILL_PIDS=$HELD
	wait_for 20 "testvmm $name to write its JSON" held_written "$T/$name.json"
	MINE=${MINE:+$MINE,}$(jv "$T/$name.json" .pid)
}
held_written() { [ -n "$(jv "$1" .pid)" ] || ! kill -0 "$HELD" 2>/dev/null; }
booked() { vms "$T/state.json" && [ -n "$(jv "$T/state.json" ".vms[] | select(.pid == ${1:-0}) | .id")" ]; }
state_of() { vms "$T/state.json" && [ "$(jv "$T/state.json" ".vms[] | select(.pid == ${2:-0}) | .state")" = "$1" ]; }
end_held() {
	kill "$HELD" 2>/dev/null
	wait "$HELD" 2>/dev/null
	KILL_PIDS=
}

# --- the count bound: 5 VMs come and go, the 2 destroyed last stay
count_round() {
	MINE=
	start_daemon "$T/count.log" -v -s "$SOCK" --max-destroyed 2 --keep-destroyed 3600 --metrics 127.0.0.1:0 ||
		return 1
	status "$T/count_st0.json"
	# a VM that outlives all five: running, so never forgotten however old
	held hold --seed 9 --hold-ms 60000
	HPID=$(jv "$T/hold.json" .pid)
	wait_for 10 "privmemd to book the held VM running" state_of running "$HPID"
	for i in 1 2 3 4 5; do
		testvmm "run$i" --seed "$i"
	done
	wait_for 10 "status to count 3 forgotten VMs" forgot_at_least 3
	vms "$T/count.json"
	status "$T/count_st1.json"
	"$B/privmem" -s "$SOCK" status >"$T/status.txt" 2>&1
	URL=$(sed -n 's/^privmemd: metrics on //p' "$T/count.log")
	[ -n "$URL" ] && curl -sf "$URL" >"$T/metrics.txt"
	# the held VM ends: now it is destroyed last, and the oldest kept (run 4) goes
	end_held
	wait_for 10 "the held VM's end to push out the oldest kept" forgot_at_least 4
	vms "$T/count2.json"
	status "$T/count_st2.json"
	stop_daemon
}

for round in $(seq "$ROUNDS"); do
	count_round; rc=$?
	F=$(foreign "$T/count.log")
	[ -z "$F" ] && break
	echo "     round $round of the count bound booked other VMMs too (pids $F): again"
done
eq "privmemd --max-destroyed 2 --keep-destroyed 3600: SIGTERM exit status" "$rc" 0
eq "status: keep_destroyed_s" "$(jv "$T/count_st0.json" .keep_destroyed_s)" 3600
eq "status: max_destroyed" "$(jv "$T/count_st0.json" .max_destroyed)" 2
eq "five testvmm runs and the held one" "$(echo "$MINE" | tr , '\n' | grep -c .)" 6
eq "vms: the held VM still running among 5 destroyed" "$(jv "$T/count.json" ".vms[] | select(.pid == ${HPID:-0}) | .state")" running
if [ -n "$F" ]; then
	skip "exact forgotten counts: other VMMs (pids $F) came and went in each of $ROUNDS rounds"
else
	eq "status: forgotten before any VM" "$(jv "$T/count_st0.json" .forgotten)" 0
	eq "vms: destroyed VMs of the five runs" "$(mine "$T/count.json" 'map(select(.state == "destroyed")) | length')" 2
	eq "vms: the two kept are the two destroyed last" "$(mine "$T/count.json" 'map(select(.state == "destroyed") | .pid) | sort | join(" ")')" \
		"$(printf '%s\n' "$(jv "$T/run4.json" .pid)" "$(jv "$T/run5.json" .pid)" | grep . | sort -n | paste -sd' ')"
	eq "status: forgotten" "$(jv "$T/count_st1.json" .forgotten)" 3
	eq "vms: forgotten" "$(jv "$T/count.json" .forgotten)" 3
	# what is kept is kept whole: the last VM's books equal its ground truth
	tally kept_books "$B/gtcompare" "$T/count.json" "$T/run5.json"
	grep -qE '^forgotten 3 +\(destroyed VMs kept 3600 s, at most 2\)' "$T/status.txt" &&
		ok "status: 'forgotten 3 (destroyed VMs kept 3600 s, at most 2)'" || bad "status: $(grep -i forgot "$T/status.txt")"
	metric() { awk -v m="$1" '$1 == m { print $2 }' "$T/metrics.txt" 2>/dev/null; }
	eq "/metrics: privmem_vms_forgotten_total" "$(metric privmem_vms_forgotten_total)" 3
	eq "/metrics: privmem_keep_destroyed_seconds" "$(metric privmem_keep_destroyed_seconds)" 3600
	eq "/metrics: privmem_max_destroyed_vms" "$(metric privmem_max_destroyed_vms)" 2
	grep -q '^# TYPE privmem_vms_forgotten_total counter$' "$T/metrics.txt" 2>/dev/null &&
		ok "/metrics: privmem_vms_forgotten_total is a counter" || bad "/metrics: no TYPE line for privmem_vms_forgotten_total"
	eq "vms: kept after the held VM ended" "$(mine "$T/count2.json" 'map(.pid) | sort | join(" ")')" \
		"$(printf '%s\n' "$(jv "$T/run5.json" .pid)" "$HPID" | grep . | sort -n | paste -sd' ')"
	eq "status: forgotten after the held VM ended" "$(jv "$T/count_st2.json" .forgotten)" 4
fi

# --- the time bound: a destroyed VM goes once --keep-destroyed has passed
time_round() {
	MINE=
	start_daemon "$T/time.log" -v -s "$SOCK" --keep-destroyed 1 || return 1
	status "$T/time_st0.json"
	held brief --seed 4 --hold-ms 400
	BPID=$(jv "$T/brief.json" .pid)
	wait_for 10 "privmemd to book the brief VM" booked "$BPID" && ok "the brief VM (pid $BPID) is booked"
	wait "$HELD" && ok "the brief testvmm ran" || bad "brief testvmm: $(cat "$T/brief.err")"
	KILL_PIDS=
	# kept a while first: a VM forgotten at once would hardly ever be seen destroyed
	wait_for 5 "the brief VM booked destroyed" vm_destroyed "$SOCK" "$BPID" "$T/brief_vms.json" &&
		ok "the brief VM is listed destroyed"
	wait_for 10 "the destroyed VM to be forgotten after 1 s" gone "$BPID" && ok "the destroyed VM is forgotten"
	status "$T/time_st1.json"
	stop_daemon
}
gone() { vms "$T/gone.json" && [ -n "$(jv "$T/gone.json" .forgotten)" ] &&
	[ -z "$(jv "$T/gone.json" ".vms[] | select(.pid == ${1:-0}) | .id")" ]; }

for round in $(seq "$ROUNDS"); do
	time_round; rc=$?
	F=$(foreign "$T/time.log")
	[ -z "$F" ] && break
	echo "     round $round of the time bound booked other VMMs too (pids $F): again"
done
eq "privmemd --keep-destroyed 1: SIGTERM exit status" "$rc" 0
eq "status: max_destroyed default" "$(jv "$T/time_st0.json" .max_destroyed)" 1024
if [ -n "$F" ]; then
	skip "forgotten after --keep-destroyed 1: other VMMs (pids $F) came and went in each of $ROUNDS rounds"
else
	eq "status: forgotten after --keep-destroyed 1" "$(jv "$T/time_st1.json" .forgotten)" 1
fi
grep -q 'exiting: .* 0 lost' "$T/time.log" && ok "no events lost" || bad "losses: $(tail -1 "$T/time.log")"

finish
