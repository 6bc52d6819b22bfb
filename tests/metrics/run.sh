#!/bin/bash
# privmemd --metrics with the real tools: promtool checks the exposition text
# and the sample rules, and a real prometheus, on loopback only, scrapes
# privmemd and must report the totals tests/vmm counted itself. Needs root.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
lib_tmp metrics
SOCK=$T/privmemd.sock
PPID_PROM=
LIB_CLEANUP='[ -n "$PPID_PROM" ] && kill "$PPID_PROM" 2>/dev/null && wait "$PPID_PROM" 2>/dev/null'
# same NAME GOT WANT
same() { eq "$@"; }

need_root_kvm "metrics tests"
need_tools promtool prometheus curl jq systemd-analyze

# --- the sample alert rules: valid, and they fire on privmemd's series ---
promtool check rules dist/prometheus/privmem-alerts.yml >"$T/rules.out" 2>&1 &&
	ok "promtool check rules" || bad "promtool check rules: $(cat "$T/rules.out")"
promtool test rules tests/metrics/alerts_test.yml >"$T/rtest.out" 2>&1 &&
	ok "promtool test rules (storm and lost alerts fire)" || bad "promtool test rules: $(cat "$T/rtest.out")"

# --- the systemd unit parses (with this build's binary in ExecStart) ---
# (systemd-analyze comes with make deps: a missing one fails above, never skips)
sed "s|/usr/sbin/privmemd|$(cd "$B" && pwd)/privmemd|; /^Documentation=/d" dist/privmemd.service >"$T/privmemd.service"
systemd-analyze verify "$T/privmemd.service" >"$T/sa.out" 2>&1
[ ! -s "$T/sa.out" ] && ok "systemd-analyze verify privmemd.service: clean" || bad "systemd-analyze: $(head -3 "$T/sa.out")"

# --- privmemd with /metrics on a loopback port the kernel picks ---
start_daemon "$T/privmemd.log" -s "$SOCK" --metrics 127.0.0.1:0 || bad "privmemd --metrics starts"
URL=$(sed -n 's/^privmemd: metrics on //p' "$T/privmemd.log")
[ -n "$URL" ] && ok "privmemd: metrics on $URL" || { bad "no metrics URL: $(cat "$T/privmemd.log")"; finish; }
HOSTPORT=${URL#http://}
HOSTPORT=${HOSTPORT%/metrics}
PORT=${HOSTPORT##*:}
# bound to the address given, nothing else
ss -Hltn "sport = :$PORT" >"$T/ss"
[ "$(wc -l <"$T/ss")" = 1 ] && grep -q "127.0.0.1:$PORT" "$T/ss" && ok "listens on 127.0.0.1:$PORT only" ||
	bad "listeners on :$PORT: $(cat "$T/ss")"

# one VM whose own count is the ground truth
"$B/testvmm" --seed 4 --requests 41 --faults 3 $TESTVMM_FAULTS --json "$T/gt.json" >/dev/null 2>"$T/vmm.err" &&
	ok "testvmm seed 4" || bad "testvmm: $(cat "$T/vmm.err")"
VPID=$(jv "$T/gt.json" .pid)
VPID=${VPID:--1}
gt() { jv "$T/gt.json" "$1"; }
# gm NAME: the check NAME needs a guest_memfd; a counted skip where the run had none
gm() { has_gmem "$T/gt.json" "$1"; }
# booked PID OUT: privmemd has booked the exit of the VMM
booked() { "$B/privmem" -s "$SOCK" vms --json >"$2" && [ "$(jv "$2" ".vms[] | select(.pid == $1) | .state")" = destroyed ]; }
wait_for 10 "privmemd to book testvmm's exit" booked "$VPID" "$T/vms.json"

# --- the text itself ---
curl -sS -D "$T/h1" "$URL" -o "$T/m.txt"
grep -qi '^content-type: text/plain; version=0.0.4' "$T/h1" && ok "text format content type" ||
	bad "content type: $(grep -i content-type "$T/h1")"
promtool check metrics <"$T/m.txt" >"$T/pc.out" 2>&1; rc=$?
[ $rc = 0 ] && [ ! -s "$T/pc.out" ] && ok "promtool check metrics: clean" || bad "promtool check metrics rc=$rc: $(head -5 "$T/pc.out")"
curl -sS -D "$T/h2" -H 'Accept: application/openmetrics-text;version=1.0.0,text/plain;q=0.5' "$URL" -o "$T/om.txt"
grep -qi '^content-type: application/openmetrics-text; version=1.0.0' "$T/h2" && [ "$(tail -n1 "$T/om.txt")" = "# EOF" ] &&
	grep -q '^# TYPE privmem_conversions counter$' "$T/om.txt" && ok "OpenMetrics on request (# EOF, counter family names)" ||
	bad "OpenMetrics: $(grep -i content-type "$T/h2") / $(tail -n1 "$T/om.txt")"
sample() { grep -F "$1{vm=" "$T/m.txt" | grep -F "pid=\"$VPID\"" | grep -F "$2" | awk '{s += $NF; n++} END {if (n) print s}'; }
same "text: to_shared attempts" "$(sample privmem_attempts_total 'direction="to_shared"')" "$(gt .to_shared.attempts)"
same "text: to_private attempt bytes" "$(sample privmem_attempt_bytes_total 'direction="to_private"')" "$(gt .to_private.attempt_bytes)"
gm "text: memory-fault requests" && same "text: memory-fault requests" "$(sample privmem_requests_total 'source="memory_fault"')" "$(gt .requests.memory_fault)"
gm "text: discards" && same "text: discards" "$(sample privmem_discards_total '')" "$(gt .discards)"
gm "text: resume latency count" && same "text: resume latency count" "$(sample privmem_resume_latency_seconds_count '')" "$(gt .requests.memory_fault)"
code=$(curl -s -o /dev/null -w '%{http_code}' "${URL%/metrics}/nope"); same "GET /nope" "$code" 404
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$URL"); same "POST /metrics" "$code" 405
code=$(curl -s -o /dev/null -w '%{http_code}' -I "$URL"); same "HEAD /metrics" "$code" 200
# successful conversions (this host's KVM makes none): convinject's, in privmemd's
# own maps; counters, bytes and every size bucket as it counted them
PI=-1
gi() { jv "$T/inj.json" "$1"; }
if inject inj "$DPID" 5; then
	PI=$(jv "$T/inj.json" .pid)
	wait_for 10 "privmemd to book convinject's VM" vm_destroyed "$SOCK" "$PI" "$T/vmsi.json"
	curl -sS "$URL" -o "$T/mi.txt"
	promtool check metrics <"$T/mi.txt" >"$T/pci.out" 2>&1 && [ ! -s "$T/pci.out" ] &&
		ok "promtool check metrics with conversions: clean" || bad "promtool (conversions): $(head -3 "$T/pci.out")"
	mi() { grep -F "$1{vm=" "$T/mi.txt" | grep -F "pid=\"$PI\"" | grep -F -- "$2" | awk '{s += $NF; n++} END {if (n) print s}'; }
	for d in to_private to_shared; do
		nonzero "injected $d conversions" "$(gi ".$d.conversions")"
		same "text: injected $d conversions" "$(mi privmem_conversions_total "direction=\"$d\"")" "$(gi ".$d.conversions")"
		same "text: injected $d conversion bytes" "$(mi privmem_conversion_bytes_total "direction=\"$d\"")" "$(gi ".$d.bytes")"
		same "text: injected $d attempts" "$(mi privmem_attempts_total "direction=\"$d\"")" "$(gi ".$d.attempts")"
		same "text: $d size histogram count" "$(mi privmem_conversion_size_bytes_count "direction=\"$d\"")" "$(gi ".$d.conversions")"
		same "text: $d size histogram sum" "$(mi privmem_conversion_size_bytes_sum "direction=\"$d\"")" "$(gi ".$d.bytes")"
		# cumulative buckets, le = 2^(k+1) - 1, from the injected log2 counts
		cum=0
		for k in $(seq 12 21); do
			cum=$((cum + $(gi ".$d.size_log2_hist[\"$k\"] // 0")))
			same "text: $d size bucket le=$(((2 << k) - 1))" \
				"$(mi privmem_conversion_size_bytes_bucket "direction=\"$d\",le=\"$(((2 << k) - 1))\"")" "$cum"
		done
	done
	same "text: injected attempt errors EINVAL" "$(mi privmem_attempt_errors_total 'errno="EINVAL"')" "$(gi '.attr_errors.EINVAL')"
	same "text: injected hypercall requests" "$(mi privmem_requests_total 'source="hypercall"')" "$(gi .requests.hypercall)"
fi

# scrape cost: what a 1 s scrape interval would add to the daemon
t0=$(date +%s%N)
for _ in $(seq 20); do curl -s -o /dev/null "$URL"; done
t1=$(date +%s%N)
echo "     20 scrapes took $(((t1 - t0) / 1000000)) ms ($(wc -c <"$T/m.txt") bytes each)"

# --- a real prometheus, loopback only, scraping every second ---
PPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$T/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $PWD/dist/prometheus/privmem-alerts.yml
scrape_configs:
  - job_name: privmem
    static_configs:
      - targets: ['$HOSTPORT']
EOF
timeout 120 prometheus --config.file="$T/prometheus.yml" --storage.tsdb.path="$T/tsdb" \
	--web.listen-address="127.0.0.1:$PPORT" --log.level=warn >"$T/prom.log" 2>&1 &
PPID_PROM=$!
API="http://127.0.0.1:$PPORT"
wait_for 30 "prometheus to be ready" curl -sf "$API/-/ready" -o /dev/null && ok "prometheus ready on 127.0.0.1:$PPORT" ||
	bad "prometheus: $(tail -3 "$T/prom.log")"
# q PROMQL: the first result's value, or "none"
q() { curl -s --max-time 5 "$API/api/v1/query" --data-urlencode "query=$1" | jq -r '.data.result[0].value[1] // "none"'; }
# waitq PROMQL WANT: until the query says WANT (scrapes land every second), at
# most 15 s on the clock; prints the last answer (the caller compares it)
waitq() {
	local v=none end=$(( $(now_ns) + 15000000000 ))
	[ -n "$2" ] || { q "$1"; return; }	# no expected value: nothing to wait for (eq fails it)
	while :; do
		v=$(q "$1")
		[ "$v" = "$2" ] && break
		[ "$(now_ns)" -ge "$end" ] && break
		sleep 0.2	# poll interval; the clock above bounds the wait
	done
	echo "$v"
}
same "prometheus: up{job=privmem}" "$(waitq 'up{job="privmem"}' 1)" 1
health=$(curl -s "$API/api/v1/targets" | jq -r '.data.activeTargets[0].health + " " + .data.activeTargets[0].lastError')
same "prometheus: target health" "$health" "up "
same "promql: attempts to_shared" "$(waitq "sum(privmem_attempts_total{pid=\"$VPID\",direction=\"to_shared\"})" "$(gt .to_shared.attempts)")" "$(gt .to_shared.attempts)"
same "promql: attempts to_private" "$(waitq "sum(privmem_attempts_total{pid=\"$VPID\",direction=\"to_private\"})" "$(gt .to_private.attempts)")" "$(gt .to_private.attempts)"
same "promql: attempt bytes" "$(waitq "sum(privmem_attempt_bytes_total{pid=\"$VPID\"})" "$(gt '.to_shared.attempt_bytes + .to_private.attempt_bytes')")" "$(gt '.to_shared.attempt_bytes + .to_private.attempt_bytes')"
same "promql: conversions" "$(waitq "sum(privmem_conversions_total{pid=\"$VPID\"})" "$(gt '.to_shared.conversions + .to_private.conversions')")" "$(gt '.to_shared.conversions + .to_private.conversions')"
same "promql: conversion bytes" "$(waitq "sum(privmem_conversion_bytes_total{pid=\"$VPID\"})" "$(gt '.to_shared.bytes + .to_private.bytes')")" "$(gt '.to_shared.bytes + .to_private.bytes')"
gm "promql: memory-fault requests" && same "promql: memory-fault requests" "$(waitq "privmem_requests_total{pid=\"$VPID\",source=\"memory_fault\"}" "$(gt .requests.memory_fault)")" "$(gt .requests.memory_fault)"
same "promql: ENOTTY errors" "$(waitq "sum(privmem_attempt_errors_total{pid=\"$VPID\",errno=\"ENOTTY\"}) or vector(0)" "$(gt '.attr_errors.ENOTTY // 0')")" "$(gt '.attr_errors.ENOTTY // 0')"
gm "promql: discards" && same "promql: discards" "$(waitq "privmem_discards_total{pid=\"$VPID\"}" "$(gt .discards)")" "$(gt .discards)"
gm "promql: resume latency histogram count" && same "promql: resume latency histogram count" "$(waitq "privmem_resume_latency_seconds_count{pid=\"$VPID\"}" "$(gt .requests.memory_fault)")" "$(gt .requests.memory_fault)"
same "promql: comm label" "$(curl -s "$API/api/v1/query" --data-urlencode "query=privmem_vm_running{pid=\"$VPID\"}" | jq -r '.data.result[0].metric.comm')" testvmm
same "promql: injected conversions" "$(waitq "sum(privmem_conversions_total{pid=\"$PI\"})" "$(gi '.to_private.conversions + .to_shared.conversions')")" "$(gi '.to_private.conversions + .to_shared.conversions')"
same "promql: injected to_shared bytes" "$(waitq "privmem_conversion_bytes_total{pid=\"$PI\",direction=\"to_shared\"}" "$(gi .to_shared.bytes)")" "$(gi .to_shared.bytes)"
same "promql: events lost" "$(q 'privmem_events_lost_total')" 0
same "promql: policy mode" "$(q 'privmem_policy_mode == 1' | sed 's/none//')" 1
same "promql: live hooks = privmem status" "$(q 'privmem_hooks_live')" "$("$B/privmem" -s "$SOCK" status --json | jq '[.hooks[] | select(.state == "live")] | length')"
rules=$(curl -s "$API/api/v1/rules" | jq '[.data.groups[].rules[]] | length')
same "prometheus loaded the sample rules" "$rules" 3

kill "$PPID_PROM" && wait "$PPID_PROM" 2>/dev/null
PPID_PROM=
grep -qi 'level=error' "$T/prom.log" && bad "prometheus logged errors: $(grep -i level=error "$T/prom.log" | head -3)" || ok "prometheus logged no errors"

# --- an audit policy: would-deny verdicts by reason and rule, and the mode ---
stop_daemon
printf 'mode: audit\ndefaults:\n  to_shared: {max_request: 1MiB}\n' >"$T/audit.yaml"
start_daemon "$T/privmemd2.log" -s "$SOCK" -c "$T/audit.yaml" --metrics 127.0.0.1:0 || bad "privmemd -c --metrics starts"
URL2=$(sed -n 's/^privmemd: metrics on //p' "$T/privmemd2.log")
"$B/testvmm" --seed 11 --requests 7 --size 2097152 --dir shared --json "$T/gt11.json" >/dev/null 2>&1 || bad "testvmm seed 11"
P11=$(jv "$T/gt11.json" .pid)
P11=${P11:--1}
wait_for 10 "privmemd to book testvmm seed 11's exit" booked "$P11" "$T/vms2.json"
curl -sS "$URL2" -o "$T/m2.txt"
promtool check metrics <"$T/m2.txt" >"$T/pc2.out" 2>&1 && [ ! -s "$T/pc2.out" ] && ok "promtool check metrics with denials: clean" ||
	bad "promtool (denials): $(head -3 "$T/pc2.out")"
m2() { grep -F "$1{vm=" "$T/m2.txt" | grep -F "pid=\"$P11\"" | grep -F "$2" | awk '{s += $NF; n++} END {if (n) print s}'; }
same "audit: would-deny" "$(m2 privmem_would_denials_total '')" 7
same "audit: denied" "$(m2 privmem_denials_total '')" 0
same "audit: by reason max_request" "$(m2 privmem_denials_by_reason_total 'verdict="would_deny",reason="max_request"')" 7
same "audit: by rule 0 (the defaults)" "$(m2 privmem_denials_by_rule_total 'verdict="would_deny",rule="0"')" 7
same "audit: policy mode" "$(grep -E '^privmem_policy_mode\{mode="audit"\}' "$T/m2.txt" | awk '{print $2}')" 1
same "audit: = privmem vms" "$(jv "$T/vms2.json" ".vms[] | select(.pid == $P11) | .would_deny")" 7

# --- refusals ---
timeout 20 "$B/privmemd" -s "$T/x.sock" --metrics localhost:9464 2>"$T/e"; rc=$?
[ $rc = 2 ] && grep -q 'numeric address' "$T/e" && ok "--metrics localhost: exit 2, numeric address asked" || bad "--metrics localhost rc=$rc: $(cat "$T/e")"
HOSTPORT2=${URL2#http://}
HOSTPORT2=${HOSTPORT2%/metrics}

stop_daemon; rc=$?
same "privmemd exit status after scrapes" "$rc" 0

# a busy port (one privmemd at a time: something else holds the port it just freed)
busybox nc -l -p "${HOSTPORT2##*:}" >/dev/null 2>&1 &
NCPID=$!
listening() { ss -tln | grep -q ":${HOSTPORT2##*:} "; }
wait_for 5 "busybox nc to listen on ${HOSTPORT2##*:}" listening
timeout 20 "$B/privmemd" -s "$T/x.sock" --metrics "$HOSTPORT2" 2>"$T/e"; rc=$?
kill "$NCPID" 2>/dev/null; wait "$NCPID" 2>/dev/null
[ $rc = 1 ] && grep -q 'cannot listen' "$T/e" && ok "--metrics on a busy port: exit 1" || bad "busy port rc=$rc: $(tail -1 "$T/e")"
finish
