#!/bin/bash
# privmemtop as a person sees it: run under tmux against privmemd and a live
# tests/vmm VM, type keys with send-keys, read the screen with capture-pane,
# and hold what it shows against the VMM's own ground truth. Needs root.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
lib_tmp toptest
SOCK=$T/privmemd.sock
TM="tmux -L privmemtop-test-$$ -f /dev/null"
VPID= V10=
LIB_CLEANUP='$TM kill-server 2>/dev/null
	[ -n "$VPID" ] && kill "$VPID" 2>/dev/null && wait "$VPID" 2>/dev/null
	[ -n "$V10" ] && kill "$V10" 2>/dev/null && wait "$V10" 2>/dev/null'

same() { eq "$@"; }
screen() { $TM capture-pane -p -t top; }
shows() { screen | grep -qE -- "$1"; }
# waitfor REGEX [SECONDS]: until the screen shows it (a timeout is a failure)
waitfor() { wait_for "${2:-5}" "the screen to show /$1/" shows "$1"; }
# keys KEY...: types, then waits (at most 3 s on the clock) for the screen to
# change; the checks that follow say whether it changed as it should
changed() { [ "$(screen)" != "$1" ]; }
keys() {
	local before end
	before=$(screen)
	$TM send-keys -t top "$@"
	end=$(( $(now_ns) + 3000000000 ))
	until changed "$before" || [ "$(now_ns)" -ge "$end" ]; do sleep 0.05; done
}
# field N of the screen line matching REGEX (awk fields)
field() { screen | grep -E -- "$1" | head -1 | awk -v n="$2" '{print $n}'; }
gt() { jv "$T/gt.json" "$1"; }

need_root_kvm "privmemtop tests"
need_tools tmux jq

# --- usage and refusals ---
"$B/privmemtop" --json 2>"$T/e"; rc=$?
[ $rc = 2 ] && grep -q 'needs --once' "$T/e" && ok "--json without --once: exit 2" || bad "--json alone rc=$rc"
"$B/privmemtop" -d 0 2>/dev/null; [ $? = 2 ] && ok "-d 0: exit 2" || bad "-d 0"
"$B/privmemtop" --syscall-hooks --once 2>"$T/e"; rc=$?
[ $rc = 2 ] && grep -q -- '--syscall-hooks needs --direct' "$T/e" && ok "--syscall-hooks without --direct: exit 2" ||
	bad "--syscall-hooks alone rc=$rc $(cat "$T/e")"
"$B/privmemtop" -s "$T/none.sock" --once --json >"$T/o" 2>/dev/null; rc=$?
[ $rc = 1 ] && jq -e '.error | test("is privmemd running")' "$T/o" >/dev/null && ok "no daemon: JSON error, exit 1" ||
	bad "no daemon rc=$rc: $(cat "$T/o")"
"$B/privmemtop" -s "$T/none.sock" </dev/null >/dev/null 2>"$T/e"; rc=$?
[ $rc = 1 ] && grep -q 'must be a terminal' "$T/e" && ok "live view without a terminal: exit 1, says why" || bad "no tty rc=$rc"

# --- the daemon, and a VM that converts, then holds still for the screens ---
# an audit policy: to-shared requests over 1 MiB would be denied (nothing is)
printf 'mode: audit\ndefaults:\n  to_shared: {max_request: 1MiB}\n' >"$T/audit.yaml"
start_daemon "$T/privmemd.log" -s "$SOCK" -c "$T/audit.yaml" || bad "privmemd -c starts"
"$B/testvmm" --seed 7 --requests 45 --faults 4 $TESTVMM_FAULTS --hold-ms 30000 --json "$T/gt.json" >/dev/null 2>"$T/vmm.err" &
VPID=$!
# six 2 MiB to-shared requests: six would-deny verdicts
"$B/testvmm" --seed 10 --requests 6 --size 2097152 --dir shared --hold-ms 30000 --json "$T/gt10.json" >/dev/null 2>&1 &
V10=$!
# (testvmm writes its ground truth once its requests are done, then holds)
both_hold() { [ -s "$T/gt.json" ] && [ -s "$T/gt10.json" ]; }
wait_for 30 "both testvmm runs to write their ground truth" both_hold && ok "testvmm ran its requests and holds" ||
	bad "testvmm: $(cat "$T/vmm.err")"
PID=$(gt .pid)
PID=${PID:--1}
P10=$(jv "$T/gt10.json" .pid)
P10=${P10:--1}

# 80x24, as a plain terminal
$TM new-session -d -s top -x 80 -y 24 "env LANG=C.UTF-8 TERM=screen $B/privmemtop -s $SOCK -d 0.3; sleep 30"
waitfor "^ *$PID testvmm" 5 && ok "80x24: a row for pid $PID" || echo "     screen: $(screen)"
line=$(screen | grep -E "^ *$PID ")
same "row: comm" "$(echo "$line" | awk '{print $2}')" testvmm
same "80 columns: no line wider" "$(screen | awk '{ if (length($0) > 80) n++ } END {print n+0}')" 0
same "80 columns: P50 dropped, P99 kept" "$(screen | grep -cE 'PID +NAME .* P99 ')$(screen | grep -c ' P50 ')" 10
mode=$("$B/privmem" -s "$SOCK" status --json | jq -r '.policy.mode // .policy // "none"')
screen | grep -qE "^hooks [0-9]+/[0-9]+ live  policy: $mode " && ok "header: live hooks and policy mode ($mode)" || bad "header: $(screen | sed -n 4p)"
screen | grep -q 'EVENTS LOST' && bad "loud lost marker with nothing lost" || ok "no lost marker when nothing was lost"

# the audit VM: DENY shows denied/would-deny, the detail pane the reason and rule
waitfor "^ *$P10 testvmm" 3
same "audit VM: DENY column" "$(screen | grep -E "^ *$P10 " | awk '{print $(NF-1)}')" "0/6"
"$B/privmem" -s "$SOCK" vms --json >"$T/vms.json"
wd=$(jv "$T/vms.json" '[.vms[].would_deny] | add')
[ -n "$wd" ] && screen | grep -qE "denied/would 0/$wd" && ok "header: host denials 0/$wd, as privmem vms" || bad "header denials: $(screen | sed -n 2p)"
keys / ; keys -l -- "$P10"; keys Enter; keys Enter
waitfor 'would-deny: max_request=6 rule 0=6' && ok "detail: would-deny by reason and rule" || echo "     detail: $(screen | tail -3)"
screen | grep -qE 'would-deny to_shared gpa 0x[0-9a-f]+ 2M rule 0' && ok "detail: the latest would-denials listed" ||
	bad "detail denial list: $(screen | tail -3)"
keys Escape; keys / ; keys Escape
kill "$V10"; wait "$V10" 2>/dev/null; V10=

# totals mode: the row shows what the VMM counted
keys t
waitfor 'PID +NAME .* FLTS ' 3
line=$(screen | grep -E "^ *$PID ")
# PID NAME GUEST SHR% PRIV MiB SHRD MiB FLTS P99 DENY DROP
same "totals: to-private conversions" "$(echo "$line" | awk '{print $5}')" "$(gt .to_private.conversions)"
same "totals: to-shared conversions" "$(echo "$line" | awk '{print $7}')" "$(gt .to_shared.conversions)"
has_gmem "$T/gt.json" "totals: memory-fault exits" &&
	same "totals: memory-fault exits" "$(echo "$line" | awk '{print $9}')" "$(gt .requests.memory_fault)"
same "totals: drops" "$(echo "$line" | awk '{print $12}')" 0
wd=$(jv "$T/vms.json" ".vms[] | select(.pid == $PID) | .would_deny")
[ "$wd" = 0 ] && wd=0 || wd="0/$wd"
same "totals: denials (privmem vms)" "$(echo "$line" | awk '{print $11}')" "$wd"
keys t

# filter to the VM, open its detail pane
keys / ; keys -l -- "$PID"; keys Enter
waitfor "filter: $PID" 3 && ok "filter shown" || echo "     filter: $(screen | sed -n 5p)"
[ "$(screen | grep -cE '^ *[0-9]+ ')" = 1 ] && ok "filter leaves one row" || bad "filter rows: $(screen | grep -cE '^ *[0-9]+ ')"
keys Enter
# (the VM's name, when it has one, follows its id)
waitfor "VM [0-9a-f]{16} +(testvmm +)?pid $PID  testvmm  running" 3 && ok "detail pane for pid $PID" ||
	echo "     detail: $(screen)"
same "detail: to-private attempts" "$(field '^to-private ' 3)" "$(gt .to_private.attempts)"
same "detail: to-shared attempts" "$(field '^to-shared ' 3)" "$(gt .to_shared.attempts)"
same "detail: to-private conversions" "$(field '^to-private ' 4)" "$(gt .to_private.conversions)"
has_gmem "$T/gt.json" "detail: memory-fault requests" &&
	same "detail: memory-fault requests" "$(screen | sed -nE 's/.*requests ([0-9]+) hypercall, ([0-9]+) memory-fault.*/\2/p')" "$(gt .requests.memory_fault)"
has_gmem "$T/gt.json" "detail: discards" &&
	same "detail: discards" "$(screen | sed -nE 's/.*discards ([0-9]+) .*/\1/p')" "$(gt .discards)"
errs=$(jv "$T/gt.json" '.attr_errors | to_entries | map("\(.key)=\(.value)") | join(" ")')
[ -z "$errs" ] && errs=none
same "detail: attempt errors" "$(screen | sed -nE 's/^attempt errors (.*)  denied.*/\1/p')" "$errs"
has_gmem "$T/gt.json" "detail: resume latency samples" &&
	same "detail: resume latency samples" "$(screen | sed -nE 's/.*resume p50 .* \(([0-9]+)\).*/\1/p')" "$(gt .requests.memory_fault)"
screen | grep -qE '(ATTEMPT|CONVERSION) SIZES' && screen | grep -q 'RESUME LATENCY' && ok "detail: size and latency histograms" || bad "histograms missing"
screen | grep -q '^attempts/s ' && ok "detail: rate sparkline" || bad "no sparkline"
screen | grep -q 'RECENT DENIALS' && ok "detail: denials section" || bad "no denials section"
# the size histogram's first column (to-private) has the VM's counts
hsum=$(screen | awk '/SIZES/{on=1; next} /RECENT DENIALS/{on=0} on && $1 ~ /^[0-9.]+[BKMGTP]$/ {s += $2} END {print s+0}')
[ "$hsum" -gt 0 ] && ok "detail: size histogram has counts ($hsum in the to-private column)" || bad "size histogram empty"
keys Escape
waitfor 'PID +NAME' 3 && ok "Esc: back to the list" || echo "     Esc: $(screen | sed -n 6p)"
keys / ; keys Escape
screen | grep -q 'filter:' && bad "Esc in the prompt did not clear the filter" || ok "Esc in the prompt clears the filter"

# help, pause, sort
keys h
waitfor 'Columns: PID of the VMM; NAME' 3 && ok "h: help screen" || echo "     help: $(screen | head -8)"
keys x
waitfor 'PID +NAME' 3 && ok "any key leaves help"
keys p
waitfor '\[PAUSED\]' 3 && ok "p: paused"
keys p
unpaused() { ! shows '\[PAUSED\]'; }
wait_for 3 "[PAUSED] to go" unpaused && ok "p again: running"
keys '<'
keys '<'
keys '<'
keys '<'
screen | grep -qE 'PID +NAME' && ok "sort keys keep the list" || bad "sort"

# no flicker: with nothing changing, a refresh sends almost nothing
$TM pipe-pane -t top -o "cat >>$T/steady.out"
sleep 3	# the measured interval itself: ten refreshes at -d 0.3
$TM pipe-pane -t top
$TM send-keys -t top C-l
$TM pipe-pane -t top -o "cat >>$T/full.out"
$TM send-keys -t top C-l
# the repaint is in the file whole once it is big and has stopped growing
repainted() {
	local a b
	a=$(wc -c <"$T/full.out" 2>/dev/null || echo 0)
	sleep 0.1	# two looks at the size, 0.1 s apart
	b=$(wc -c <"$T/full.out" 2>/dev/null || echo 0)
	[ "$a" -gt 500 ] && [ "$a" = "$b" ]
}
wait_for 5 "the full repaint after C-l" repainted
$TM pipe-pane -t top
steady=$(wc -c <"$T/steady.out")
full=$(wc -c <"$T/full.out")
echo "     3 s of refreshes every 0.3 s sent $steady bytes; one full repaint is $full bytes"
[ "$full" -gt 500 ] && [ "$steady" -lt $((full / 2)) ] && ok "refreshes send only what changed" || bad "steady $steady vs full $full bytes"

# resize: the screen follows the terminal
$TM resize-window -t top -x 132 -y 40
waitfor 'PID +NAME +GUEST SHR% PRIV/s' 3
same "132x40: key bar on the last row" "$(screen | sed -n 40p | cut -c1-5)" "hHelp"
screen | grep -qE 'PID +NAME +GUEST SHR% PRIV/s MiB/s SHRD/s MiB/s FLT/s +P50 +P99 +DENY DROP' &&
	ok "132 columns: every column" || bad "132: $(screen | sed -n 6p)"
$TM resize-window -t top -x 60 -y 15
keybar_at() { [ "$(screen | sed -n "${1}p" | cut -c1-5)" = hHelp ]; }
wait_for 3 "the key bar on row 15" keybar_at 15
same "60x15: no line wider" "$(screen | awk '{ if (length($0) > 60) n++ } END {print n+0}')" 0
same "60x15: key bar on the last row" "$(screen | sed -n 15p | cut -c1-5)" "hHelp"
waitfor "^ *$PID testvmm" 3 && ok "60x15: the VM's row is still there"
$TM resize-window -t top -x 80 -y 24
wait_for 3 "the key bar on row 24" keybar_at 24

# successful conversions, injected (this host's KVM makes none): the row's
# totals and --once --json hold what convinject counted
gi() { jv "$T/inj.json" "$1"; }
PI=-1
if inject inj "$DPID" 3; then
	PI=$(jv "$T/inj.json" .pid)
	nonzero "injected to-private conversions" "$(gi .to_private.conversions)"
	nonzero "injected to-shared conversions" "$(gi .to_shared.conversions)"
	waitfor "^ *$PI convinject" 5 && ok "a row for the injected VM"
	keys t
	waitfor 'PID +NAME .* FLTS ' 3
	line=$(screen | grep -E "^ *$PI ")
	same "totals: injected to-private conversions" "$(echo "$line" | awk '{print $5}')" "$(gi .to_private.conversions)"
	same "totals: injected to-shared conversions" "$(echo "$line" | awk '{print $7}')" "$(gi .to_shared.conversions)"
	keys t
	"$B/privmemtop" -s "$SOCK" --once --json -d 0.2 >"$T/oncei.json"
	vi() { jv "$T/oncei.json" ".vms[] | select(.pid == $PI) | $1"; }
	for d in to_private to_shared; do
		same "--once --json: injected $d conversions" "$(vi ".$d.conversions")" "$(gi ".$d.conversions")"
		same "--once --json: injected $d bytes" "$(vi ".$d.bytes")" "$(gi ".$d.bytes")"
	done
fi

# the VM exits: its row stays, and --once --json has the same totals
kill "$VPID"; wait "$VPID" 2>/dev/null; VPID=
once_destroyed() {
	"$B/privmemtop" -s "$SOCK" --once --json -d 0.2 >"$T/once.json" &&
		[ "$(jv "$T/once.json" ".vms[] | select(.pid == $PID) | .state")" = destroyed ]
}
wait_for 10 "privmemtop --once to show pid $PID destroyed" once_destroyed
v() { jv "$T/once.json" ".vms[] | select(.pid == $PID) | $1"; }
same "--once --json: state" "$(v .state)" destroyed
same "--once --json: to-shared attempts" "$(v .to_shared.attempts)" "$(gt .to_shared.attempts)"
same "--once --json: to-private attempt bytes" "$(v .to_private.attempt_bytes)" "$(gt .to_private.attempt_bytes)"
has_gmem "$T/gt.json" "--once --json: memory faults" &&
	same "--once --json: memory faults" "$(v .memory_faults)" "$(gt .requests.memory_fault)"
same "--once --json: rates of an idle VM" "$(v '.to_shared.conversions_per_s + .memory_faults_per_s')" 0
"$B/privmemtop" -s "$SOCK" --once -d 0.1 >"$T/once.txt"
grep -qE "^ *$PID testvmm " "$T/once.txt" && grep -q '^VMs ' "$T/once.txt" && ok "--once: text table" || bad "--once: $(cat "$T/once.txt")"

# q quits and gives the terminal back
keys q
quit() { ! shows 'PID +NAME'; }
wait_for 3 "privmemtop to quit on q" quit && ok "q quits"

# --- --direct: privmemtop loads the BPF itself, no daemon needed ---
stop_daemon || bad "privmemd exit status"
# --syscall-hooks (tests/lib.sh): this host has no trampolines, and the
# attempts checked below come through the syscall tracepoints
# shellcheck disable=SC2086
timeout 30 "$B/privmemtop" --direct $SYSCALL_HOOKS --once --json -d 4 >"$T/direct.json" 2>"$T/direct.err" &
TPID=$!
# loaded and attached: the BPF links show in its file descriptors
# (TPID is timeout's; privmemtop is its child)
attached() {
	local c
	c=$(pgrep -P "$TPID" | head -1)
	[ -n "$c" ] && grep -qs '^link_id:' /proc/"$c"/fdinfo/* 2>/dev/null
}
wait_for 20 "privmemtop --direct to attach its BPF programs" attached
"$B/testvmm" --seed 8 --requests 21 --faults 2 $TESTVMM_FAULTS --json "$T/gt8.json" >/dev/null 2>&1 && ok "testvmm under --direct" || bad "testvmm seed 8"
wait "$TPID"; rc=$?
P8=$(jv "$T/gt8.json" .pid)
P8=${P8:--1}
same "--direct: exit status" "$rc" 0
same "--direct: to-shared attempts" "$(jv "$T/direct.json" ".vms[] | select(.pid == $P8) | .to_shared.attempts")" "$(jv "$T/gt8.json" .to_shared.attempts)"
has_gmem "$T/gt8.json" "--direct: memory faults" &&
	same "--direct: memory faults" "$(jv "$T/direct.json" ".vms[] | select(.pid == $P8) | .memory_faults")" "$(jv "$T/gt8.json" .requests.memory_fault)"
same "--direct: source" "$(jv "$T/direct.json" .source | cut -c1-6)" direct
same "--direct --syscall-hooks: nothing unseen" "$(jv "$T/direct.json" '.unseen | length')" 0

# --- --replay: a trace recorded by `privmem record`, the same screens ---
# shellcheck disable=SC2086
timeout 60 "$B/privmem" record $SYSCALL_HOOKS -o "$T/rec.pmt" -- "$B/testvmm" --seed 9 --requests 33 --faults 3 $TESTVMM_FAULTS --hold-ms 1500 \
	--json "$T/gt9.json" >/dev/null 2>"$T/rec.err" && ok "privmem record -- testvmm" || bad "record: $(cat "$T/rec.err")"
P9=$(jv "$T/gt9.json" .pid)
P9=${P9:--1}
g9() { jv "$T/gt9.json" "$1"; }
$TM kill-session -t top 2>/dev/null
$TM new-session -d -s top -x 80 -y 24 "env LANG=C.UTF-8 TERM=screen $B/privmemtop --replay $T/rec.pmt -d 0.2 --speed 2; sleep 30"
waitfor "replay .* END [0-9.]+/[0-9.]+s x2 " 10 && ok "replay plays to the end at x2" || echo "     replay: $(screen | head -3)"
keys t
waitfor 'PID +NAME .* FLTS ' 3
line=$(screen | grep -E "^ *$P9 ")
same "replay row: comm" "$(echo "$line" | awk '{print $2}')" testvmm
same "replay totals: to-private conversions" "$(echo "$line" | awk '{print $5}')" "$(g9 .to_private.conversions)"
same "replay totals: to-shared conversions" "$(echo "$line" | awk '{print $7}')" "$(g9 .to_shared.conversions)"
has_gmem "$T/gt9.json" "replay totals: memory-fault exits" &&
	same "replay totals: memory-fault exits" "$(echo "$line" | awk '{print $9}')" "$(g9 .requests.memory_fault)"
keys / ; keys -l -- "$P9"; keys Enter
keys Enter
waitfor '^to-private ' 3
same "replay detail: to-private attempts" "$(field '^to-private ' 3)" "$(g9 .to_private.attempts)"
same "replay detail: to-shared attempts" "$(field '^to-shared ' 3)" "$(g9 .to_shared.attempts)"
has_gmem "$T/gt9.json" "replay detail: discards" &&
	same "replay detail: discards" "$(screen | sed -nE 's/.*discards ([0-9]+) .*/\1/p')" "$(g9 .discards)"
has_gmem "$T/gt9.json" "replay detail = privmem replay: memory faults" &&
	same "replay detail = privmem replay: memory faults" "$(screen | sed -nE 's/.*hypercall, ([0-9]+) memory-fault.*/\1/p')" \
	"$("$B/privmem" replay "$T/rec.pmt" --json >"$T/rp.json"; jv "$T/rp.json" ".vms[] | select(.pid == $P9) | .requests.memory_fault")"
keys Escape
# seek back to the start (pause first, so it stays there), then forward again
keys p
keys -
waitfor " 0\.0/[0-9.]+s x2 " 3 && ok "- seeks back to the start" || echo "     seek back: $(screen | head -1)"
waitfor '\[PAUSED\]' 3 && ok "replay paused"
before=$(screen | sed -nE 's/.*tries ([0-9]+)\/([0-9]+).*/\1+\2/p' | bc)
keys +
keys +
waitfor "END " 3 && ok "+ seeks forward to the end" || echo "     seek forward: $(screen | head -1)"
after=$(screen | sed -nE 's/.*tries ([0-9]+)\/([0-9]+).*/\1+\2/p' | bc)
[ -n "$before" ] && [ -n "$after" ] && [ "$before" -lt "$after" ] && ok "the books follow the position ($before then $after attempts)" || bad "tries $before -> $after"
keys q
"$B/privmemtop" --replay "$T/rec.pmt" --once --json >"$T/replay.json"; rc=$?
same "replay --once --json: exit" "$rc" 0
same "replay --once --json: to-shared attempts" "$(jv "$T/replay.json" ".vms[] | select(.pid == $P9) | .to_shared.attempts")" "$(g9 .to_shared.attempts)"
same "replay --once --json: to-private attempt bytes" "$(jv "$T/replay.json" ".vms[] | select(.pid == $P9) | .to_private.attempt_bytes")" "$(g9 .to_private.attempt_bytes)"
"$B/privmemtop" --replay "$T/none.pmt" --once 2>"$T/e"; rc=$?
[ $rc = 1 ] && [ "$(wc -l <"$T/e")" = 1 ] && ok "missing trace: exit 1, one line" || bad "missing trace rc=$rc: $(cat "$T/e")"
"$B/privmemtop" --replay "$T/rec.pmt" --direct 2>/dev/null; [ $? = 2 ] && ok "--replay with --direct: exit 2" || bad "--replay --direct"

finish
