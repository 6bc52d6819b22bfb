#!/bin/bash
# Policy on this kernel: audit mode through the attempt hooks (no BPF LSM
# here, so nothing can be denied and privmemd must say so), rules whose
# outcome does not depend on timing, and reloads that keep the old policy
# on bad input. Enforcement itself is proven in the QEMU bed (make vmtest).
set -u
cd "$(dirname "$0")/../.."
B=${B:-build}
T=$(mktemp -d /tmp/privmem-polk.XXXXXX)
SOCK=$T/sock
PASS=0 FAIL=0 DPID=
trap '[ -n "$DPID" ] && kill $DPID 2>/dev/null; rm -rf "$T"' EXIT
ok() { PASS=$((PASS + 1)); echo "ok   $*"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL $*"; }
eq() { # name got want
	[ "$2" = "$3" ] && ok "$1 = $3" || bad "$1: got '$2', want '$3'"
}

start() {
	"$B/privmemd" -s "$SOCK" -c "$1" >"$T/d.log" 2>&1 &
	DPID=$!
	for _ in $(seq 100); do grep -q ready "$T/d.log" && return 0; kill -0 $DPID 2>/dev/null || break; sleep 0.05; done
	cat "$T/d.log"; return 1
}
stop() { kill $DPID; wait $DPID 2>/dev/null; DPID=; }

# vm PATH-IN-VM-JSON for the VMM of ground truth $1
vmrun() { # name args...
	local name=$1; shift
	"$B/testvmm" "$@" --json "$T/$name.json" >/dev/null 2>&1 || bad "testvmm $name"
	for _ in $(seq 40); do
		"$B/privmem" -s "$SOCK" vms --json >"$T/vms.json"
		[ "$("$B/jpath" "$T/vms.json" "vms.@pid=$(pid "$name").state")" = destroyed ] && return
		sleep 0.1
	done
}
pid() { "$B/jpath" "$T/$1.json" pid; }
vm() { "$B/jpath" "$T/vms.json" "vms.@pid=$(pid "$1").$2"; }

printf 'mode: audit\nbogus: 1\n' >"$T/bad.yaml"
cat >"$T/p.yaml" <<'Y'
mode: audit
defaults:
  to_shared: {max_request: 1MiB}
vms:
  - name: burst-only
    match: {comm: "testvmm"}
    to_shared: {rate: 1KiB/s, burst: 8MiB, max_request: unlimited}
    to_private: {max_request: 64KiB}
Y

# 1. max_request from the defaults (a policy without vms entries).
sed '/^vms:/,$d' "$T/p.yaml" >"$T/defaults.yaml"
start "$T/defaults.yaml" && ok "privmemd -c starts"
grep -q 'enforcement unavailable' "$T/d.log" && bad "audit mode must not warn about enforcement" || ok "audit: no enforcement claim"
vmrun mr --requests 20 --size 2097152 --dir shared
eq "max_request: would_deny" "$(vm mr would_deny)" 20
eq "max_request: by reason" "$(vm mr denials.would_deny.by_reason.max_request)" 20
eq "max_request: by rule (defaults = 0)" "$(vm mr denials.would_deny.by_rule.0)" 20
eq "audit denies nothing" "$(vm mr denied)" 0
eq "audit lets every attempt through" "$(vm mr to_shared.attempts)" 20
vmrun small --requests 20 --size 1048576 --dir shared
eq "exactly max_request is allowed" "$(vm small would_deny)" 0
"$B/privmem" -s "$SOCK" status --json >"$T/st.json"
eq "status: policy mode" "$("$B/jpath" "$T/st.json" policy.mode)" audit
eq "status: not enforcing" "$("$B/jpath" "$T/st.json" policy.enforcing)" false
stop

# 2. A matched rule (it applies once privmemd has seen the VM: the VMM
#    waits 300 ms before its guest runs): burst 8 MiB with a negligible
#    refill, so of ten 2 MiB conversions to shared the first four fit and
#    the last six would be denied.
start "$T/p.yaml"
vmrun burst --requests 10 --size 2097152 --dir shared --start-delay-ms 300
eq "burst: would_deny" "$(vm burst would_deny)" 6
eq "burst: by reason rate" "$(vm burst denials.would_deny.by_reason.rate)" 6
eq "burst: by rule 1" "$(vm burst denials.would_deny.by_rule.1)" 6
vmrun priv --requests 10 --size 131072 --dir private --start-delay-ms 300
eq "to_private max_request 64KiB" "$(vm priv denials.would_deny.by_reason.max_request)" 10

# 3. A bad reload keeps the running policy (socket and SIGHUP).
cp "$T/p.yaml" "$T/good.yaml"
printf 'mode: audit\ndefaults:\n  to_shared: {rate: fast}\n' >"$T/p.yaml"
"$B/privmem" -s "$SOCK" reload 2>"$T/e"; rc=$?
eq "bad reload: exit 1" $rc 1
grep -q "p.yaml:3:" "$T/e" && ok "bad reload names file:line" || bad "bad reload message: $(cat "$T/e")"
kill -HUP $DPID; sleep 0.3
grep -q 'reload failed, keeping the running policy' "$T/d.log" && ok "SIGHUP with a bad file keeps the policy" || bad "SIGHUP bad file"
vmrun burst2 --requests 10 --size 2097152 --dir shared --start-delay-ms 300
eq "old policy still applied" "$(vm burst2 would_deny)" 6
"$B/privmem" -s "$SOCK" status --json >"$T/st.json"
eq "failed reloads counted" "$("$B/jpath" "$T/st.json" policy.failed_reloads)" 2

# 4. A good reload applies; mode off decides nothing.
printf 'mode: off\ndefaults:\n  to_shared: {max_request: 4KiB}\n' >"$T/p.yaml"
kill -HUP $DPID; sleep 0.3
vmrun off --requests 10 --size 2097152 --dir shared
eq "mode off: no would_deny" "$(vm off would_deny)" 0
"$B/privmem" -s "$SOCK" status --json >"$T/st.json"
eq "reloaded mode" "$("$B/jpath" "$T/st.json" policy.mode)" off
stop

# 5. enforce without an LSM: says so, reports would_deny, denies nothing.
printf 'mode: enforce\ndefaults:\n  to_shared: {max_request: 1MiB}\n' >"$T/e.yaml"
start "$T/e.yaml"
grep -q 'enforcement unavailable' "$T/d.log" && ok "enforce without LSM: said plainly" || bad "no enforcement warning"
vmrun enf --requests 5 --size 2097152 --dir shared
eq "enforce without LSM: would_deny" "$(vm enf would_deny)" 5
eq "enforce without LSM: denied" "$(vm enf denied)" 0
"$B/privmem" -s "$SOCK" status >"$T/st.txt"
grep -q 'ENFORCEMENT UNAVAILABLE' "$T/st.txt" && ok "status shows it" || bad "status: $(head -5 "$T/st.txt")"
stop

# 7. What-if: record a run under audit mode live, replay the trace under
#    the same policy: replay's decide() must flag exactly what the live one did.
cp "$T/good.yaml" "$T/w.yaml"
"$B/privmemd" -s "$SOCK" -c "$T/w.yaml" --record "$T/rec" >"$T/d.log" 2>&1 &
DPID=$!
for _ in $(seq 100); do grep -q ready "$T/d.log" && break; sleep 0.05; done
vmrun w1 --requests 10 --size 2097152 --dir shared --start-delay-ms 300
vmrun w2 --requests 10 --size 131072 --dir private --start-delay-ms 300
vmrun w3 --seed 5 --requests 30 --start-delay-ms 300
stop
"$B/privmem" --json replay "$T/rec" --policy "$T/w.yaml" >"$T/wi.json"; rc=$?
eq "replay --policy: exit" $rc 0
for n in w1 w2 w3; do
	p=$(pid $n)
	live=$("$B/jpath" "$T/wi.json" "vms.@pid=$p.would_deny")
	eq "what-if $n: would_deny = live" "$("$B/jpath" "$T/wi.json" "what_if.vms.@pid=$p.would_deny")" "$live"
	eq "what-if $n: by reason = live" "$("$B/jpath" "$T/wi.json" "what_if.vms.@pid=$p.by_reason")" \
		"$("$B/jpath" "$T/wi.json" "vms.@pid=$p.denials.would_deny.by_reason")"
	eq "what-if $n: by rule = live" "$("$B/jpath" "$T/wi.json" "what_if.vms.@pid=$p.by_rule")" \
		"$("$B/jpath" "$T/wi.json" "vms.@pid=$p.denials.would_deny.by_rule")"
done
eq "what-if w1: 6 of 10 (burst)" "$("$B/jpath" "$T/wi.json" "what_if.vms.@pid=$(pid w1).would_deny")" 6
eq "what-if w2: 10 of 10 (max_request)" "$("$B/jpath" "$T/wi.json" "what_if.vms.@pid=$(pid w2).would_deny")" 10
# another policy: what it would have denied, never what happened
printf 'mode: enforce\ndefaults:\n  to_shared: {max_request: 64KiB}\n  to_private: {max_request: 64KiB}\n' >"$T/strict.yaml"
"$B/privmem" --json replay "$T/rec" --policy "$T/strict.yaml" >"$T/wi2.json"
eq "what-if strict: w1 all 10" "$("$B/jpath" "$T/wi2.json" "what_if.vms.@pid=$(pid w1).would_deny")" 10
eq "what-if strict: w2 all 10" "$("$B/jpath" "$T/wi2.json" "what_if.vms.@pid=$(pid w2).would_deny")" 10
eq "what-if strict: denial list" "$("$B/jpath" "$T/wi2.json" "what_if.denials.0.reason")" max_request
"$B/privmem" replay "$T/rec" --policy "$T/bad.yaml" 2>"$T/e" >/dev/null; rc=$?
eq "replay --policy bad file: exit" $rc 2
"$B/privmem" replay "$T/rec" --policy "$T/strict.yaml" >"$T/wi.txt"
grep -q 'what if .*strict.yaml' "$T/wi.txt" && ok "what-if text summary" || bad "what-if text: $(tail -5 "$T/wi.txt")"

# 6. A bad policy at start: one line with file:line:column, exit 2.
printf 'mode: audit\nbogus: 1\n' >"$T/bad.yaml"
"$B/privmemd" -s "$SOCK" -c "$T/bad.yaml" 2>"$T/e"; rc=$?
eq "bad policy at start: exit" $rc 2
grep -qE 'bad.yaml:2:1: ' "$T/e" && [ "$(wc -l <"$T/e")" = 1 ] && ok "one line with file:line:column" || bad "start error: $(cat "$T/e")"

echo "$PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
