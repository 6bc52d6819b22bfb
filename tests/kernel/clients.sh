#!/bin/bash
# Hostile and slow clients of privmemd's UNIX socket, one instance at a
# time, and who may ask what (tests/kernel, needs root and the kernel lock):
#   - a second privmemd is refused and the first one goes on untouched;
#   - a client that trickles its command, or says nothing, is cut off at the
#     request deadline, and the daemon answers others meanwhile;
#   - the socket is root's (0600) unless --socket-group; with it, 0660 and
#     that group: a member reads status and vms, reload stays root's;
#   - a client the file mode would have kept out (socket chmod'ed open) is
#     still refused, on its SO_PEERCRED credentials, and counted.
# Unprivileged users: setpriv as uid 65534 (nobody) with group 65534
# (nogroup, the --socket-group here) or with group 1 and no others.
set -u
cd "$(dirname "$0")/../.." || exit 2
B=${B:-build}
T=$(mktemp -d /tmp/privmem-clients.XXXXXX)
SOCK=$T/privmemd.sock
PASS=0 FAIL=0
DPID=
GROUP=$(getent group 65534 | cut -d: -f1)
NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups)
STRANGER=(setpriv --reuid=65534 --regid=1 --clear-groups)
# this host has no trampolines: the books of testvmm's runs (the /metrics
# part) need the opt-in syscall-tracepoint fallback (tests/lib.sh)
SYSCALL_HOOKS=--syscall-hooks

cleanup() {
	[ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' TERM INT

ok() { PASS=$((PASS + 1)); echo "ok   $*"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL $*"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# wait_ready LOG PID: true once the daemon logged "ready" (10 s at most)
wait_ready() {
	local end=$(($(date +%s) + 10))
	while [ "$(date +%s)" -lt $end ]; do
		grep -q ready "$1" && return 0
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

[ -n "$GROUP" ] || { bad "no group with gid 65534 on this host"; echo "$PASS passed, $FAIL failed"; exit 1; }
"$B/privmemd" $SYSCALL_HOOKS -s "$SOCK" --socket-group "$GROUP" >"$T/d.log" 2>&1 &
DPID=$!
if ! wait_ready "$T/d.log" "$DPID"; then
	bad "privmemd did not start: $(tail -n 3 "$T/d.log")"
	echo "$PASS passed, $FAIL failed"
	exit 1
fi

# --- one instance at a time
"$B/privmemd" $SYSCALL_HOOKS -s "$T/second.sock" >"$T/d2.log" 2>&1; rc=$?
[ $rc = 1 ] && grep -q "another privmemd is running (pid $DPID, socket $SOCK" "$T/d2.log" &&
	[ "$(wc -l <"$T/d2.log")" = 1 ] && ok "second privmemd refused: exit 1, one line naming the first" ||
	bad "second privmemd: rc=$rc $(cat "$T/d2.log")"
[ ! -e "$T/second.sock" ] && ok "the second bound no socket" || bad "second.sock exists"
[ -S "$SOCK" ] && "$B/privmem" -s "$SOCK" status >/dev/null && ok "the first still serves its socket" ||
	bad "first privmemd's socket gone or dead"

# --- the socket and its group
[ "$(stat -c '%a %G' "$SOCK")" = "660 $GROUP" ] && ok "socket 0660, group $GROUP" ||
	bad "socket mode/group: $(stat -c '%a %G' "$SOCK")"
"${NOBODY[@]}" "$B/privmem" -s "$SOCK" status --json >"$T/nb.json" 2>"$T/nb.err"; rc=$?
[ $rc = 0 ] && jq -e '.hooks.kvm_userspace_exit.state' "$T/nb.json" >/dev/null &&
	ok "group member (uid 65534): status" || bad "group member status: rc=$rc $(cat "$T/nb.err")"
"${NOBODY[@]}" "$B/privmem" -s "$SOCK" vms --json >"$T/nbv.json" 2>&1 && jq -e '.vms' "$T/nbv.json" >/dev/null &&
	ok "group member: vms" || bad "group member vms: $(head -c 200 "$T/nbv.json")"
"${NOBODY[@]}" "$B/privmem" -s "$SOCK" --json reload >"$T/nbr.json" 2>&1; rc=$?
[ $rc != 0 ] && grep -q "reload is root's" "$T/nbr.json" && ok "group member: reload refused (rc $rc)" ||
	bad "group member reload: rc=$rc $(cat "$T/nbr.json")"
"${STRANGER[@]}" "$B/privmem" -s "$SOCK" status >/dev/null 2>"$T/st.err"; rc=$?
[ $rc = 1 ] && ok "non-member kept out by the file mode (rc 1: $(head -c 80 "$T/st.err"))" ||
	bad "non-member: rc=$rc $(cat "$T/st.err")"
# open the file mode: the daemon's own credentials check still refuses
chmod 0666 "$SOCK"; chmod 0755 "$T"
"${STRANGER[@]}" "$B/privmem" -s "$SOCK" --json status >"$T/st2.json" 2>&1; rc=$?
[ $rc != 0 ] && grep -q "permission denied: uid 65534 is not root nor in group $GROUP" "$T/st2.json" &&
	ok "non-member through an open socket: refused by SO_PEERCRED" || bad "non-member, open socket: rc=$rc $(cat "$T/st2.json")"
"$B/privmem" -s "$SOCK" status --json >"$T/root.json"
[ "$(jq .refused_clients "$T/root.json")" = 2 ] && ok "refused_clients = 2 (reload, open socket)" ||
	bad "refused_clients: $(jq .refused_clients "$T/root.json")"

# --- slow clients: cut off at the deadline (200 ms), others served meanwhile
for mode in trickle silent; do
	ms=$("$B/slowclient" "$SOCK" $mode); rc=$?
	[ $rc = 0 ] && [ "$ms" -lt 1000 ] && ok "$mode client cut off after $ms ms" || bad "$mode client: rc=$rc held $ms ms"
done
TR=()
for i in 1 2 3 4; do "$B/slowclient" "$SOCK" trickle >"$T/tr$i" & TR+=($!); done
sleep 0.1
t0=$(now_ms)
"$B/privmem" -s "$SOCK" status >/dev/null; rc=$?
dt=$(($(now_ms) - t0))
wait "${TR[@]}"	# not a bare wait: the daemon is a child too
[ $rc = 0 ] && [ $dt -lt 2000 ] && ok "status answered in $dt ms beside 4 trickling clients" ||
	bad "status beside tricklers: rc=$rc, $dt ms"
# one client at a time: the k-th trickler is cut off after about k deadlines
n=0; for i in 1 2 3 4; do [ "$(cat "$T/tr$i")" -lt 2000 ] 2>/dev/null && n=$((n + 1)); done
[ $n = 4 ] && ok "4 concurrent tricklers each cut off within 2 s ($(cat "$T"/tr* | sort -n | xargs | tr ' ' /) ms)" ||
	bad "tricklers: $(cat "$T"/tr*)"

kill -TERM "$DPID"; wait "$DPID"; rc=$?; DPID=
[ $rc = 0 ] && ok "SIGTERM: exit 0" || bad "SIGTERM rc=$rc"
# the lock went with it: the next one starts
"$B/privmemd" $SYSCALL_HOOKS -s "$SOCK" >"$T/d3.log" 2>&1 &
DPID=$!
wait_ready "$T/d3.log" "$DPID" && ok "a new privmemd starts once the first is gone" || bad "restart: $(tail -n 2 "$T/d3.log")"
[ "$(stat -c '%a' "$SOCK")" = 600 ] && ok "without --socket-group the socket is 0600" || bad "mode $(stat -c '%a' "$SOCK")"
"$B/privmemd" --socket-group no-such-group-here 2>"$T/e"; rc=$?
[ $rc = 2 ] && [ "$(wc -l <"$T/e")" = 1 ] && ok "unknown --socket-group: exit 2, one line" || bad "bad group rc=$rc $(cat "$T/e")"

kill -TERM "$DPID"; wait "$DPID"; DPID=

# --- /metrics: scrapes are served off the event path, under limits
#   6 clients scrape in a loop while testvmm converts and exits: the books
#   stay exact and nothing is lost; the daemon's thread took at most one
#   snapshot per 100 ms however many scrapes came; a client holding the
#   per-address limit of connections is refused beyond it and dropped
#   when idle, and the daemon's socket answers meanwhile.
"$B/privmemd" $SYSCALL_HOOKS -s "$SOCK" --metrics 127.0.0.1:0 >"$T/m.log" 2>&1 &
DPID=$!
wait_ready "$T/m.log" "$DPID" || bad "privmemd --metrics: $(tail -n 2 "$T/m.log")"
URL=$(sed -n 's/^privmemd: metrics on //p' "$T/m.log")
PORT=${URL##*:}; PORT=${PORT%%/*}
: >"$T/go"
SC=()
for i in 1 2 3 4 5 6; do
	( n=0; while [ -e "$T/go" ]; do curl -s -m 5 -o /dev/null "$URL" && n=$((n + 1)); done; echo $n >"$T/scr$i" ) &
	SC+=($!)
done
t0=$(now_ms)
"$B/testvmm" --seed 1 --requests 37 --exits 3000 --json "$T/gt.json" >/dev/null 2>"$T/vmm.err"; vrc=$?
"$B/testvmm" --seed 2 --requests 50 --size 2097152 --json "$T/gt2.json" >/dev/null 2>>"$T/vmm.err" || vrc=1
sleep 0.5	# the scrapers go on while the books settle
rm -f "$T/go"
wait "${SC[@]}"
dt=$(($(now_ms) - t0))
total=0; for i in 1 2 3 4 5 6; do total=$((total + $(cat "$T/scr$i"))); done
[ "$total" -gt 20 ] && ok "$total scrapes by 6 clients in $dt ms" || bad "only $total scrapes in $dt ms"
if [ $vrc != 0 ] && grep -qi guest_memfd "$T/vmm.err"; then
	echo "SKIP metrics flood books: testvmm cannot run on this KVM: $(head -n1 "$T/vmm.err")"
elif [ $vrc != 0 ]; then
	bad "testvmm under scrapes: $(head -n 2 "$T/vmm.err")"
else
	end=$(($(date +%s) + 10))
	while [ "$(date +%s)" -lt $end ]; do
		"$B/privmem" -s "$SOCK" vms --json >"$T/vms.json"
		[ "$(jq -r "[.vms[] | select(.pid == $(jq .pid "$T/gt.json") or .pid == $(jq .pid "$T/gt2.json")) | .state] | join(\",\")" "$T/vms.json")" = destroyed,destroyed ] && break
		sleep 0.1
	done
	out=$("$B/gtcompare" "$T/vms.json" "$T/gt.json" "$T/gt2.json" 2>&1)
	line=$(echo "$out" | tail -n1)
	case $line in
	*" passed, 0 failed"*) ok "books exact under scrapes (gtcompare: $line)";;
	*) bad "books under scrapes: $line $(echo "$out" | grep FAIL | head -n 3)";;
	esac
	[ "$(jq .lost "$T/vms.json")" = 0 ] && ok "nothing lost under scrapes" || bad "lost $(jq .lost "$T/vms.json")"
	# and /metrics itself says the same numbers (a scrape after the books settled)
	curl -s "$URL" >"$T/m.txt"
	vpid=$(jq .pid "$T/gt.json")
	got=$(grep -F 'privmem_kvm_exits_total{' "$T/m.txt" | grep -F "pid=\"$vpid\"" | grep -F 'reason="IO"' | awk '{print $NF}')
	[ "$got" = "$(jq '.exits."2"' "$T/gt.json")" ] && ok "/metrics: $got IO exits, testvmm's count" ||
		bad "/metrics IO exits '$got', testvmm $(jq '.exits."2"' "$T/gt.json")"
fi
"$B/privmem" -s "$SOCK" status --json >"$T/ms.json"
snaps=$(jq .metrics.snapshots "$T/ms.json"); scr=$(jq .metrics.scrapes "$T/ms.json")
[ "$scr" -ge "$total" ] && [ "$snaps" -ge 1 ] && [ "$snaps" -le $((dt / 100 + 3)) ] &&
	ok "$scr scrapes served from $snaps snapshots (at most one per 100 ms: <= $((dt / 100 + 3)))" ||
	bad "scrapes $scr, snapshots $snaps in $dt ms"

# a hog holding 8 idle connections from one address: the 9th is refused, the
# socket API answers meanwhile, and the idle ones are dropped at the timeout
# (bash picks the fds: fixed ones past 9 may be its own, and then do not open)
HOG=()
for _ in 1 2 3 4 5 6 7 8; do exec {fd}<>/dev/tcp/127.0.0.1/"$PORT"; HOG+=("$fd"); done
sleep 0.3
curl -s -m 3 -o /dev/null "$URL"; rc=$?
[ $rc != 0 ] && ok "9th connection from one address refused (curl rc $rc)" || bad "9th connection served"
"$B/privmem" -s "$SOCK" status >/dev/null && ok "socket API answers while /metrics is full" || bad "socket API while /metrics full"
t0=$(now_ms); served=0
while [ $(($(now_ms) - t0)) -lt 15000 ]; do
	curl -s -m 2 -o /dev/null "$URL" && { served=1; break; }
	sleep 0.5
done
dt=$(($(now_ms) - t0))
[ $served = 1 ] && [ $dt -ge 8000 ] && ok "idle connections dropped at the timeout: served again after $dt ms" ||
	bad "after the hog: served=$served after $dt ms"
for fd in "${HOG[@]}"; do exec {fd}>&-; done
kill -TERM "$DPID"; wait "$DPID"; rc=$?; DPID=
[ $rc = 0 ] && ok "privmemd --metrics: SIGTERM exit 0 (server thread joined)" || bad "metrics SIGTERM rc=$rc"

echo "$PASS passed, $FAIL failed"
[ $FAIL = 0 ]
