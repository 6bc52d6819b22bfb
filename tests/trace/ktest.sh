#!/bin/bash
# make tracektest: record real tests/vmm runs on this kernel and replay them.
#  - privmemd --record: replay equals the VMM's ground truth and the daemon's
#    own live JSON for the same run; export is valid trace-event JSON
#  - privmem record -- CMD: the standalone recorder, same books
#  - kill -9 of the recorder mid-run: the file replays, and every run that
#    ended more than one flush interval before the kill is there in full
#  - rotation by size and count; each file replays on its own
#  - replay runs without root
# Needs root and /dev/kvm.
set -u
cd "$(dirname "$0")/../.."
B=${B:-build}
T=$(mktemp -d /tmp/privmem-tracektest.XXXXXX)
chmod 755 "$T"
PASS=0 FAIL=0
DPID= RPID=

cleanup() {
	[ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
	[ -n "$RPID" ] && kill -9 "$RPID" 2>/dev/null && wait "$RPID" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

ok() { PASS=$((PASS + 1)); echo "ok   $*"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL $*"; }
tally() {
	local name=$1 out line p f
	shift
	out=$("$@" 2>&1)
	echo "$out" | sed "s/^/  [$name] /" | tail -n 25
	line=$(echo "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -n1)
	if [ -z "$line" ]; then
		bad "$name: no result line"
		return
	fi
	p=${line%% passed*}
	f=${line#*passed, }
	f=${f%% failed*}
	PASS=$((PASS + p))
	FAIL=$((FAIL + f))
	[ "$f" = 0 ] && echo "ok   $name ($p checks)" || echo "FAIL $name ($f of $((p + f)) checks)"
}
pid_of() { grep -o '"pid":[0-9]*' "$1" | head -1 | cut -d: -f2; }
now_ns() { date +%s%N; }

if [ "$(id -u)" != 0 ] || [ ! -w /dev/kvm ]; then
	echo "trace kernel tests need root and /dev/kvm"
	echo "0 passed, 1 failed"
	exit 1
fi
mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing

start_daemon() {
	"$B/privmemd" -s "$T/sock" "$@" >"$T/privmemd.log" 2>&1 &
	DPID=$!
	for _ in $(seq 100); do
		grep -q ready "$T/privmemd.log" && return 0
		kill -0 "$DPID" 2>/dev/null || break
		sleep 0.05
	done
	cat "$T/privmemd.log"
	return 1
}
stop_daemon() {
	kill -TERM "$DPID"
	wait "$DPID"
	local rc=$?
	DPID=
	return $rc
}
# the daemon has booked the VMM's exit (its batches are read every 50 ms)
live_after_exit() {
	local pid=$1 out=$2
	for _ in $(seq 60); do
		"$B/privmem" -s "$T/sock" vms --json >"$out"
		grep -q "\"pid\":$pid,[^}]*\"state\":\"destroyed\"" "$out" && return 0
		sleep 0.1
	done
	return 1
}

# 1. the flight recorder against the VMM's ground truth and the live books
start_daemon --record "$T/rec" && ok "privmemd --record starts" || bad "privmemd --record starts"
grep -q "recording to $T/rec/privmem-.*\.pmtrace" "$T/privmemd.log" && ok "privmemd names its trace file" || bad "no 'recording to' line"
"$B/testvmm" --seed 1 --requests 37 --faults 5 --json "$T/gt1.json" >/dev/null 2>&1 && ok "testvmm seed 1" || bad "testvmm seed 1"
"$B/testvmm" --seed 4 --requests 300 --faults 2 --json "$T/gt4.json" >/dev/null 2>&1 && ok "testvmm seed 4" || bad "testvmm seed 4"
live_after_exit "$(pid_of "$T/gt4.json")" "$T/live.json" || bad "daemon did not see the VMM exit"
sleep 1.2	# one flush interval: the live books are on disk
stop_daemon && ok "privmemd exits 0 after SIGTERM" || bad "privmemd exit status"
"$B/privmem" replay "$T/rec" --json >"$T/replay.json" 2>"$T/err"; rc=$?
[ $rc = 0 ] && [ ! -s "$T/err" ] && ok "replay: exit 0, no warning" || bad "replay rc=$rc: $(cat "$T/err")"
tally gt_vs_replay "$B/gtcompare" "$T/replay.json" "$T/gt1.json" "$T/gt4.json"
tally live_vs_replay "$B/jsoneq" "$T/live.json" "$T/replay.json" "$(pid_of "$T/gt1.json")" "$(pid_of "$T/gt4.json")"
"$B/privmem" replay "$T/rec" >"$T/replay.txt" 2>&1 && grep -q "^Timeline of VM" "$T/replay.txt" && ok "replay: text with a timeline" || bad "replay text: $(head -5 "$T/replay.txt")"

# the file is readable without root, on any machine: copy it and replay as nobody
cp "$T"/rec/*.pmtrace "$T/copy.pmtrace" && chmod 644 "$T/copy.pmtrace"
setpriv --reuid=65534 --regid=65534 --clear-groups "$B/privmem" replay "$T/copy.pmtrace" --json >"$T/nobody.json" 2>"$T/err"; rc=$?
[ $rc = 0 ] && ok "replay as nobody: exit 0" || bad "replay as nobody rc=$rc: $(cat "$T/err")"
tally nobody_replay "$B/jsoneq" "$T/live.json" "$T/nobody.json" "$(pid_of "$T/gt1.json")"

# export: one slice per request, request -> resume, valid trace-event JSON
"$B/privmem" export "$T/rec" --format chrome --vm "$(grep -o '"id":"[0-9a-f]*","pid":'"$(pid_of "$T/gt1.json")" "$T/replay.json" | cut -d'"' -f4)" >"$T/chrome.json" 2>"$T/err"; rc=$?
[ $rc = 0 ] && ok "export --format chrome: exit 0" || bad "export rc=$rc $(cat "$T/err")"
tally chrome "$B/chromecheck" "$T/chrome.json" 5

# 2. privmem record -- CMD: the standalone recorder, for one command's lifetime
"$B/privmem" record -o "$T/cmd.pmtrace" -- "$B/testvmm" --seed 2 --requests 50 --faults 3 --json "$T/gt2.json" >/dev/null 2>"$T/rec.err"; rc=$?
[ $rc = 0 ] && grep -q "^privmem: recorded [0-9]* events (0 lost) to $T/cmd.pmtrace" "$T/rec.err" && ok "record -- testvmm: exit 0" || bad "record rc=$rc: $(cat "$T/rec.err")"
"$B/privmem" replay "$T/cmd.pmtrace" --json >"$T/cmd.json" 2>"$T/err"; rc=$?
[ $rc = 0 ] && ok "replay of privmem record's file" || bad "replay rc=$rc $(cat "$T/err")"
tally record_cmd "$B/gtcompare" "$T/cmd.json" "$T/gt2.json"
"$B/privmem" record -o "$T/fail.pmtrace" -- sh -c 'exit 7' 2>/dev/null; rc=$?
[ $rc = 7 ] && ok "record -- CMD: the command's exit status" || bad "record -- failing cmd rc=$rc"
"$B/privmem" record -o "$T/dur.pmtrace" -d 0.3 2>/dev/null; rc=$?
[ $rc = 0 ] && "$B/privmem" replay "$T/dur.pmtrace" >/dev/null 2>&1 && ok "record -d 0.3: exit 0, replays" || bad "record -d rc=$rc"
setpriv --reuid=65534 --regid=65534 --clear-groups "$B/privmem" record -o "$T/x.pmtrace" -d 1 2>"$T/err"; rc=$?
[ $rc = 1 ] && grep -q 'must run as root' "$T/err" && ok "record as non-root: exit 1" || bad "record non-root rc=$rc"
"$B/privmem" record 2>/dev/null; [ $? = 2 ] && ok "record without -o: exit 2" || bad "record without -o"

# 3. kill -9 of the recorder mid-run
"$B/privmem" record -o "$T/crash.pmtrace" 2>"$T/crash.err" &
RPID=$!
for _ in $(seq 100); do grep -q "recording to" "$T/crash.err" && break; sleep 0.05; done
: >"$T/ends"
for i in $(seq 1 12); do
	"$B/testvmm" --seed $((10 + i)) --requests 40 --json "$T/gtc$i.json" >/dev/null 2>&1
	echo "$i $(now_ns)" >>"$T/ends"
	sleep 0.2
done &
LOOP=$!
sleep 2.6
kill -9 "$RPID"
KILLED=$(now_ns)
wait "$RPID" 2>/dev/null
RPID=
wait "$LOOP"
"$B/privmem" replay "$T/crash.pmtrace" --json >"$T/crash.json" 2>"$T/err"; rc=$?
{ [ $rc = 0 ] || [ $rc = 3 ]; } && ok "killed recorder's file replays (exit $rc)" || bad "crash replay rc=$rc $(cat "$T/err")"
[ $rc = 0 ] || grep -q "truncated chunk at end of file" "$T/err" && ok "only a torn tail, if anything, is skipped" || bad "crash warnings: $(cat "$T/err")"
full=() late=()
while read -r i end; do
	if [ $((KILLED - end)) -gt 1100000000 ]; then full+=("$T/gtc$i.json"); else late+=("$i"); fi
done <"$T/ends"
[ "${#full[@]}" -ge 3 ] && ok "${#full[@]} runs ended > 1 s before the kill" || bad "only ${#full[@]} runs ended before the kill"
# a run that ended in time has every one of its events in the file
for g in "${full[@]}"; do
	p=$(pid_of "$g")
	want=$(grep -o '"attempts":[0-9]*' "$g" | awk -F: '{s+=$2} END {print s}')
	got=$(grep -o "\"pid\":$p,.*" "$T/crash.json" | grep -o '"attempts":[0-9]*' | head -2 | awk -F: '{s+=$2} END {print s+0}')
	[ "$got" = "$want" ] && ok "kill -9: run pid $p in full ($got attempts)" || bad "kill -9: run pid $p: $got of $want attempts"
done
last=$(grep -o '"last_ts":[0-9]*' "$T/crash.json" | cut -d: -f2)
off=$(grep -o '"wall_offset_ns":-\?[0-9]*' "$T/crash.json" | cut -d: -f2)
lag=$(( (KILLED - off - last) / 1000000 ))
[ "$lag" -le 1500 ] && ok "kill -9: the trace ends ${lag} ms before the kill (<= one flush interval + the gap between runs)" || bad "kill -9: trace ends ${lag} ms before the kill"

# 5. a policy reloaded while recording: replay reports the one in force at the end
cp policies/audit-first.yaml "$T/policy.yaml"
start_daemon --record "$T/pol" -c "$T/policy.yaml" && ok "privmemd -c POLICY --record" || bad "privmemd with a policy"
"$B/privmem" replay "$T/pol" --json 2>/dev/null | grep -q '"policy":"# Audit-first' && ok "trace header: the policy text" || bad "policy not in the trace header"
sed -i 's/^mode: audit/mode: off/' "$T/policy.yaml"
kill -HUP "$DPID"
for _ in $(seq 40); do grep -q "policy reloaded" "$T/privmemd.log" && break; sleep 0.05; done
sleep 1.1
"$B/privmem" replay "$T/pol" --json >"$T/pol.json" 2>/dev/null
grep -q 'mode: off' "$T/pol.json" && ok "policy reload recorded: replay shows the new text" || bad "policy reload not in the trace: $(grep -o '"policy":"[^"]\{0,80\}' "$T/pol.json")"
stop_daemon || bad "policy daemon exit"

# 4. rotation: size and count limits; each file stands alone
start_daemon --record "$T/rot" --record-size 1K --record-files 3 && ok "privmemd --record-size 1K --record-files 3" || bad "rotation daemon"
for i in 1 2 3 4 5; do
	"$B/testvmm" --seed $((20 + i)) --requests 30 --json "$T/gtr$i.json" >/dev/null 2>&1
	sleep 1.1
done
stop_daemon || bad "rotation daemon exit"
n=$(ls "$T/rot"/privmem-*.pmtrace | wc -l)
[ "$n" -le 3 ] && [ "$n" -ge 2 ] && ok "rotation keeps $n files" || bad "rotation: $n files"
for f in "$T"/rot/privmem-*.pmtrace; do
	"$B/privmem" replay "$f" --json >"$T/one.json" 2>"$T/err"; rc=$?
	[ $rc = 0 ] && ok "rotated $(basename "$f") replays alone" || bad "rotated $f rc=$rc $(cat "$T/err")"
done
"$B/privmem" replay "$T/rot" --json >"$T/rot.json" 2>"$T/err"; rc=$?
[ $rc = 0 ] && ok "rotation directory replays" || bad "rotation dir rc=$rc $(cat "$T/err")"
tally rotated_last_run "$B/gtcompare" "$T/rot.json" "$T/gtr5.json"

echo "$PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
