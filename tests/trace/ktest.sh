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
. tests/lib.sh
lib_tmp tracektest
chmod 755 "$T"
RPID=
LIB_CLEANUP='[ -n "$RPID" ] && kill -9 "$RPID" 2>/dev/null && wait "$RPID" 2>/dev/null'
pid_of() { local p; p=$(jv "$1" .pid); echo "${p:--1}"; }

need_root_kvm "trace kernel tests"

# live_after_exit PID OUT: the daemon has booked the VMM's exit (its batches are read every 50 ms)
booked() { "$B/privmem" -s "$T/sock" vms --json >"$2" && [ "$(jv "$2" ".vms[] | select(.pid == $1) | .state")" = destroyed ]; }
live_after_exit() { wait_for 10 "privmemd to book the exit of pid $1" booked "$@"; }
# on_disk LIVE DIR PID...: what the recorder has written replays to the live books
on_disk() {
	local live=$1 dir=$2
	shift 2
	"$B/privmem" replay "$dir" --json >"$T/ondisk.json" 2>/dev/null
	"$B/jsoneq" "$live" "$T/ondisk.json" "$@" >/dev/null 2>&1
}
# replay_has DIR PID: the recorded trace in DIR has the VM of PID, destroyed
replay_has() {
	"$B/privmem" replay "$1" --json >"$T/rh.json" 2>/dev/null
	[ "$(jv "$T/rh.json" ".vms[] | select(.pid == $2) | .state")" = destroyed ]
}

# 1. the flight recorder against the VMM's ground truth and the live books
start_daemon "$T/privmemd.log" -s "$T/sock" --record "$T/rec" && ok "privmemd --record starts" || bad "privmemd --record starts"
grep -q "recording to $T/rec/privmem-.*\.pmtrace" "$T/privmemd.log" && ok "privmemd names its trace file" || bad "no 'recording to' line"
"$B/testvmm" --seed 1 --requests 37 --faults 5 $TESTVMM_FAULTS --json "$T/gt1.json" >/dev/null 2>&1 && ok "testvmm seed 1" || bad "testvmm seed 1"
"$B/testvmm" --seed 4 --requests 300 --faults 2 $TESTVMM_FAULTS --json "$T/gt4.json" >/dev/null 2>&1 && ok "testvmm seed 4" || bad "testvmm seed 4"
# and successful conversions, which this host's KVM never makes (convinject)
inject inj "$DPID" 11
live_after_exit "$(pid_of "$T/gt4.json")" "$T/live.json"
live_after_exit "$(pid_of "$T/inj.json")" "$T/live.json"
# within about one flush interval the live books are on disk
wait_for 5 "the recorder to write the live books" on_disk "$T/live.json" "$T/rec" "$(pid_of "$T/gt1.json")" "$(pid_of "$T/gt4.json")" "$(pid_of "$T/inj.json")"
# privmemd(8): the trace directory 0750, its files 0640
eq "trace directory mode" "$(stat -c %a "$T/rec")" 750
eq "trace file mode" "$(stat -c %a "$T"/rec/*.pmtrace | sort -u | paste -sd' ')" 640
stop_daemon && ok "privmemd exits 0 after SIGTERM" || bad "privmemd exit status"
"$B/privmem" replay "$T/rec" --json >"$T/replay.json" 2>"$T/err"; rc=$?
[ $rc = 0 ] && [ ! -s "$T/err" ] && ok "replay: exit 0, no warning" || bad "replay rc=$rc: $(cat "$T/err")"
tally gt_vs_replay "$B/gtcompare" "$T/replay.json" "$T/gt1.json" "$T/gt4.json" "$T/inj.json"
tally live_vs_replay "$B/jsoneq" "$T/live.json" "$T/replay.json" "$(pid_of "$T/gt1.json")" "$(pid_of "$T/gt4.json")" "$(pid_of "$T/inj.json")"
nonzero "replay: injected conversions" "$(jv "$T/replay.json" ".vms[] | select(.pid == $(pid_of "$T/inj.json")) | .to_private.conversions + .to_shared.conversions")"
"$B/privmem" replay "$T/rec" >"$T/replay.txt" 2>&1 && grep -q "^Timeline of VM" "$T/replay.txt" && ok "replay: text with a timeline" || bad "replay text: $(head -5 "$T/replay.txt")"

# the recorder's own file is not for everybody (0640 root), a copy is readable anywhere
REC1=$(ls "$T"/rec/*.pmtrace | head -1)
setpriv --reuid=65534 --regid=65534 --clear-groups "$B/privmem" replay "$REC1" >/dev/null 2>"$T/err"; rc=$?
[ $rc = 1 ] && grep -q 'Permission denied' "$T/err" && ok "replay of the recorder's file as nobody: refused, exit 1" ||
	bad "nobody replayed the recorder's file: rc=$rc $(cat "$T/err")"
# the file is readable without root, on any machine: copy it and replay as nobody
cp "$T"/rec/*.pmtrace "$T/copy.pmtrace" && chmod 644 "$T/copy.pmtrace"
setpriv --reuid=65534 --regid=65534 --clear-groups "$B/privmem" replay "$T/copy.pmtrace" --json >"$T/nobody.json" 2>"$T/err"; rc=$?
[ $rc = 0 ] && ok "replay as nobody: exit 0" || bad "replay as nobody rc=$rc: $(cat "$T/err")"
tally nobody_replay "$B/jsoneq" "$T/live.json" "$T/nobody.json" "$(pid_of "$T/gt1.json")"

# export: one slice per request, request -> resume, valid trace-event JSON
VM1=$(jv "$T/replay.json" ".vms[] | select(.pid == $(pid_of "$T/gt1.json")) | .id")
[ -n "$VM1" ] || bad "no VM for testvmm seed 1 in the replay"
"$B/privmem" export "$T/rec" --format chrome --vm "${VM1:-none}" >"$T/chrome.json" 2>"$T/err"; rc=$?
[ $rc = 0 ] && ok "export --format chrome: exit 0" || bad "export rc=$rc $(cat "$T/err")"
# Without a guest_memfd the guest makes no request privmem could slice and
# nothing changes its shared bytes (a gmem's creation or a successful
# conversion would): then exactly the none the VMM's truth says, and the
# slices and counters themselves are skips.
if has_gmem "$T/gt1.json" "export: a request -> resume slice per memory fault"; then
	tally chrome "$B/chromecheck" "$T/chrome.json" 5
else
	skip "export: shared_bytes counters from a guest_memfd's creation ($NO_GMEM)"
	tally chrome "$B/chromecheck" "$T/chrome.json" \
		"$(jv "$T/gt1.json" '.requests.memory_fault + .requests.hypercall')" \
		"$(jv "$T/gt1.json" '.gmem.created + .to_private.conversions + .to_shared.conversions')"
fi

# 2. privmem record -- CMD: the standalone recorder, for one command's lifetime
# (--syscall-hooks, from tests/lib.sh: the books need the fallback here)
# shellcheck disable=SC2086
"$B/privmem" record $SYSCALL_HOOKS -o "$T/cmd.pmtrace" -- "$B/testvmm" --seed 2 --requests 50 --faults 3 $TESTVMM_FAULTS --json "$T/gt2.json" >/dev/null 2>"$T/rec.err"; rc=$?
[ $rc = 0 ] && grep -q "^privmem: recorded [0-9]* events (0 lost) to $T/cmd.pmtrace" "$T/rec.err" && ok "record -- testvmm: exit 0" || bad "record rc=$rc: $(cat "$T/rec.err")"
"$B/privmem" replay "$T/cmd.pmtrace" --json >"$T/cmd.json" 2>"$T/err"; rc=$?
[ $rc = 0 ] && ok "replay of privmem record's file" || bad "replay rc=$rc $(cat "$T/err")"
tally record_cmd "$B/gtcompare" "$T/cmd.json" "$T/gt2.json"
"$B/privmem" record -o "$T/fail.pmtrace" -- sh -c 'exit 7' 2>/dev/null; rc=$?
[ $rc = 7 ] && ok "record -- CMD: the command's exit status" || bad "record -- failing cmd rc=$rc"
"$B/privmem" record -o "$T/dur.pmtrace" -d 0.3 2>"$T/dur.err"; rc=$?
[ $rc = 0 ] && "$B/privmem" replay "$T/dur.pmtrace" >/dev/null 2>&1 && ok "record -d 0.3: exit 0, replays" || bad "record -d rc=$rc"
# without --syscall-hooks, on a kernel without trampolines, record says what its trace will lack
if "$B/privmem" replay "$T/dur.pmtrace" --json 2>/dev/null | jq -e '.hooks.kvm_vm_ioctl.state == "live"' >/dev/null; then
	skip "record's NOT SEEN line: this kernel has trampolines"
else
	grep -q '^privmem: NOT SEEN: VM creation' "$T/dur.err" && grep -q 'privmem record --syscall-hooks sees them' "$T/dur.err" &&
		ok "record without --syscall-hooks: says what is not recorded and the flag that buys it" ||
		bad "record without --syscall-hooks: $(cat "$T/dur.err")"
	eq "record's trace keeps the reason" "$("$B/privmem" replay "$T/dur.pmtrace" --json 2>/dev/null | jq -r '.hooks["syscalls:ioctl"].state')" disabled
fi
"$B/privmem" record --syscall-hooks --no-syscall-hooks -o "$T/x.pmtrace" -d 1 2>/dev/null; rc=$?
[ $rc = 2 ] && ok "record --syscall-hooks --no-syscall-hooks: exit 2" || bad "record with both flags: rc=$rc"
setpriv --reuid=65534 --regid=65534 --clear-groups "$B/privmem" record -o "$T/x.pmtrace" -d 1 2>"$T/err"; rc=$?
[ $rc = 1 ] && grep -q 'must run as root' "$T/err" && ok "record as non-root: exit 1" || bad "record non-root rc=$rc"
"$B/privmem" record 2>/dev/null; [ $? = 2 ] && ok "record without -o: exit 2" || bad "record without -o"

# 3. kill -9 of the recorder mid-run
# shellcheck disable=SC2086
"$B/privmem" record $SYSCALL_HOOKS -o "$T/crash.pmtrace" 2>"$T/crash.err" &
RPID=$!
wait_for 20 "privmem record to start" grep -q "recording to" "$T/crash.err"
: >"$T/ends"
for i in $(seq 1 12); do
	"$B/testvmm" --seed $((10 + i)) --requests 40 --json "$T/gtc$i.json" >/dev/null 2>&1
	echo "$i $(now_ns)" >>"$T/ends"
	sleep 0.2	# workload pacing: gaps between runs, so the kill lands among them
done &
LOOP=$!
KILL_PIDS=$LOOP
ended() { [ "$(wc -l <"$T/ends")" -ge "$1" ]; }
wait_for 60 "three VMM runs to end under privmem record" ended 3
# the property under test: a run that ended over one flush interval (1 s)
# before a kill -9 is in the file; this lets that interval pass on the clock
sleep 1.2
kill -9 "$RPID"
KILLED=$(now_ns)
wait "$RPID" 2>/dev/null
RPID=
wait "$LOOP"
KILL_PIDS=
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
	want=$(jv "$g" '.to_private.attempts + .to_shared.attempts')
	got=$(jv "$T/crash.json" ".vms[] | select(.pid == $p) | .to_private.attempts + .to_shared.attempts")
	eq "kill -9: run pid $p in full (attempts)" "$got" "$want"
done
last=$(jv "$T/crash.json" .trace.last_ts)
off=$(jv "$T/crash.json" .trace.wall_offset_ns)
lag=$(( (KILLED - ${off:-0} - ${last:-0}) / 1000000 ))
[ -n "$last" ] && [ -n "$off" ] && [ "$lag" -le 1500 ] && ok "kill -9: the trace ends ${lag} ms before the kill (<= one flush interval + the gap between runs)" || bad "kill -9: trace ends ${lag} ms before the kill"

# 5. a policy reloaded while recording: replay reports the one in force at the end
cp policies/audit-first.yaml "$T/policy.yaml"
start_daemon "$T/privmemd.log" -s "$T/sock" --record "$T/pol" -c "$T/policy.yaml" && ok "privmemd -c POLICY --record" || bad "privmemd with a policy"
"$B/privmem" replay "$T/pol" --json >"$T/pol0.json" 2>/dev/null
jv "$T/pol0.json" .trace.policy | head -1 | grep -q '^# Audit-first' && ok "trace header: the policy text" || bad "policy not in the trace header"
sed -i 's/^mode: audit/mode: off/' "$T/policy.yaml"
kill -HUP "$DPID"
wait_for 10 "privmemd to log the reload" grep -q "policy reloaded" "$T/privmemd.log"
new_policy_on_disk() { "$B/privmem" replay "$T/pol" --json >"$T/pol.json" 2>/dev/null && jv "$T/pol.json" .trace.policy | grep -q '^mode: off'; }
wait_for 5 "the reloaded policy in the trace (one flush interval)" new_policy_on_disk &&
	ok "policy reload recorded: replay shows the new text"
stop_daemon || bad "policy daemon exit"

# 4. rotation: size and count limits; each file stands alone
start_daemon "$T/privmemd.log" -s "$T/sock" --record "$T/rot" --record-size 1K --record-files 3 && ok "privmemd --record-size 1K --record-files 3" || bad "rotation daemon"
for i in 1 2 3 4 5; do
	if "$B/testvmm" --seed $((20 + i)) --requests 30 --json "$T/gtr$i.json" >/dev/null 2>&1; then
		# each run on disk before the next: flushes, hence files, follow the runs
		wait_for 5 "run $i in the rotating trace" replay_has "$T/rot" "$(pid_of "$T/gtr$i.json")"
	else
		bad "testvmm seed $((20 + i))"
	fi
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

finish
