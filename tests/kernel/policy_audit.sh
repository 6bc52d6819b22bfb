#!/bin/bash
# Policy on this kernel: audit mode through the attempt hooks (no BPF LSM
# here, so nothing can be denied and privmemd must say so), rules whose
# outcome does not depend on timing, and reloads that keep the old policy
# on bad input. Enforcement itself is proven in the QEMU bed (make vmtest).
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
lib_tmp polk
SOCK=$T/sock
need_root_kvm "policy kernel tests"

start() { start_daemon "$T/d.log" -s "$SOCK" -c "$1"; }
stop() { stop_daemon; }

# vmrun NAME testvmm-args...: runs the VMM, waits until privmemd has booked its exit
destroyed() { "$B/privmem" -s "$SOCK" vms --json >"$T/vms.json" && [ "$(vm "$1" state)" = destroyed ]; }
vmrun() {
	local name=$1
	shift
	if ! "$B/testvmm" "$@" --json "$T/$name.json" >/dev/null 2>"$T/$name.err"; then
		bad "testvmm $name: $(cat "$T/$name.err")"
		return 1
	fi
	wait_for 10 "privmemd to book $name's exit" destroyed "$name"
}
# pid NAME: the VMM's pid from its ground truth; -1 (no VM has it) when missing
pid() { local p; p=$(jv "$T/$1.json" .pid); echo "${p:--1}"; }
vm() { jv "$T/vms.json" ".vms[] | select(.pid == $(pid "$1")) | .$2"; }
# status PATH: a key of privmem status --json
status() { "$B/privmem" -s "$SOCK" status --json >"$T/st.json" && jv "$T/st.json" ".$1"; }
logged() { grep -q "$1" "$T/d.log"; }

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
start "$T/defaults.yaml" && ok "privmemd -c starts" || bad "privmemd -c starts"
grep -q 'enforcement unavailable' "$T/d.log" && bad "audit mode must not warn about enforcement" || ok "audit: no enforcement claim"
vmrun mr --requests 20 --size 2097152 --dir shared
eq "max_request: would_deny" "$(vm mr would_deny)" 20
eq "max_request: by reason" "$(vm mr denials.would_deny.by_reason.max_request)" 20
eq "max_request: by rule (defaults = 0)" "$(vm mr 'denials.would_deny.by_rule["0"]')" 20
eq "audit denies nothing" "$(vm mr denied)" 0
eq "audit lets every attempt through" "$(vm mr to_shared.attempts)" 20
vmrun small --requests 20 --size 1048576 --dir shared
eq "exactly max_request is allowed" "$(vm small would_deny)" 0
eq "status: policy mode" "$(status policy.mode)" audit
eq "status: not enforcing" "$(status policy.enforcing)" false
stop

# 2. A matched rule (it applies once privmemd has seen the VM: the VMM
#    waits 300 ms before its guest runs): burst 8 MiB with a negligible
#    refill, so of ten 2 MiB conversions to shared the first four fit and
#    the last six would be denied.
start "$T/p.yaml" || bad "privmemd -c p.yaml starts"
vmrun burst --requests 10 --size 2097152 --dir shared --start-delay-ms 300
eq "burst: would_deny" "$(vm burst would_deny)" 6
eq "burst: by reason rate" "$(vm burst denials.would_deny.by_reason.rate)" 6
eq "burst: by rule 1" "$(vm burst 'denials.would_deny.by_rule["1"]')" 6
vmrun priv --requests 10 --size 131072 --dir private --start-delay-ms 300
eq "to_private max_request 64KiB" "$(vm priv denials.would_deny.by_reason.max_request)" 10

# 3. A bad reload keeps the running policy (socket and SIGHUP).
cp "$T/p.yaml" "$T/good.yaml"
printf 'mode: audit\ndefaults:\n  to_shared: {rate: fast}\n' >"$T/p.yaml"
"$B/privmem" -s "$SOCK" reload 2>"$T/e"; rc=$?
eq "bad reload: exit 1" $rc 1
grep -q "p.yaml:3:" "$T/e" && ok "bad reload names file:line" || bad "bad reload message: $(cat "$T/e")"
kill -HUP $DPID
wait_for 10 "privmemd to log the failed SIGHUP reload" logged 'reload failed, keeping the running policy' &&
	ok "SIGHUP with a bad file keeps the policy"
vmrun burst2 --requests 10 --size 2097152 --dir shared --start-delay-ms 300
eq "old policy still applied" "$(vm burst2 would_deny)" 6
eq "failed reloads counted" "$(status policy.failed_reloads)" 2

# 4. A good reload applies; mode off decides nothing.
printf 'mode: off\ndefaults:\n  to_shared: {max_request: 4KiB}\n' >"$T/p.yaml"
kill -HUP $DPID
mode_is() { [ "$(status policy.mode)" = "$1" ]; }
wait_for 10 "SIGHUP to apply mode off" mode_is off
vmrun off --requests 10 --size 2097152 --dir shared
eq "mode off: no would_deny" "$(vm off would_deny)" 0
eq "reloaded mode" "$(status policy.mode)" off
# 4b. a good reload over the socket: exit 0, applied before the reply
cp "$T/good.yaml" "$T/p.yaml"
"$B/privmem" -s "$SOCK" reload >"$T/o" 2>"$T/e"; rc=$?
eq "privmem reload of a good file: exit" "$rc" 0
[ -s "$T/e" ] && bad "privmem reload: stderr '$(cat "$T/e")'" || ok "privmem reload: nothing on stderr"
eq "privmem reload: the new mode at once" "$(status policy.mode)" audit
eq "privmem reload: failed reloads unchanged" "$(status policy.failed_reloads)" 2
vmrun reloaded --requests 10 --size 2097152 --dir shared --start-delay-ms 300
eq "privmem reload: the reloaded rule applies (burst)" "$(vm reloaded would_deny)" 6
stop

# 5. enforce without an LSM: says so, reports would_deny, denies nothing.
printf 'mode: enforce\ndefaults:\n  to_shared: {max_request: 1MiB}\n' >"$T/e.yaml"
start "$T/e.yaml" || bad "privmemd -c e.yaml starts"
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
start_daemon "$T/d.log" -s "$SOCK" -c "$T/w.yaml" --record "$T/rec" || bad "privmemd --record starts"
vmrun w1 --requests 10 --size 2097152 --dir shared --start-delay-ms 300
vmrun w2 --requests 10 --size 131072 --dir private --start-delay-ms 300
# mixed directions, 128 KiB each: every to-private attempt is over the rule's
# 64 KiB max_request, and 30 x 128 KiB to shared stay inside its 8 MiB burst
vmrun w3 --seed 5 --requests 30 --size 131072 --dir mixed --start-delay-ms 300
stop
"$B/privmem" --json replay "$T/rec" --policy "$T/w.yaml" >"$T/wi.json"; rc=$?
eq "replay --policy: exit" $rc 0
wi() { jv "$T/wi.json" ".what_if.vms[] | select(.pid == $(pid "$1")) | .$2"; }
rv() { jv "$T/wi.json" ".vms[] | select(.pid == $(pid "$1")) | .$2"; }
for n in w1 w2 w3; do
	eq "what-if $n: would_deny = live" "$(wi $n would_deny)" "$(rv $n would_deny)"
	eq "what-if $n: by reason = live" "$(wi $n by_reason)" "$(rv $n denials.would_deny.by_reason)"
	eq "what-if $n: by rule = live" "$(wi $n by_rule)" "$(rv $n denials.would_deny.by_rule)"
done
eq "what-if w1: 6 of 10 (burst)" "$(wi w1 would_deny)" 6
eq "what-if w2: 10 of 10 (max_request)" "$(wi w2 would_deny)" 10
# w3's own expectation, from testvmm's count of its to-private attempts
w3priv=$(jv "$T/w3.json" .to_private.attempts)
[ "${w3priv:-0}" -gt 0 ] && [ "$(jv "$T/w3.json" .to_shared.attempts)" -gt 0 ] && ok "w3 ran both directions" ||
	bad "w3: to_private $w3priv, to_shared $(jv "$T/w3.json" .to_shared.attempts) attempts"
eq "what-if w3: every to-private attempt (testvmm's count)" "$(wi w3 would_deny)" "$w3priv"
eq "what-if w3: all by max_request" "$(wi w3 by_reason.max_request)" "$w3priv"
eq "live w3: the same count" "$(vm w3 would_deny)" "$w3priv"
# another policy: what it would have denied, never what happened
printf 'mode: enforce\ndefaults:\n  to_shared: {max_request: 64KiB}\n  to_private: {max_request: 64KiB}\n' >"$T/strict.yaml"
"$B/privmem" --json replay "$T/rec" --policy "$T/strict.yaml" >"$T/wi2.json"
eq "what-if strict: w1 all 10" "$(jv "$T/wi2.json" ".what_if.vms[] | select(.pid == $(pid w1)) | .would_deny")" 10
eq "what-if strict: w2 all 10" "$(jv "$T/wi2.json" ".what_if.vms[] | select(.pid == $(pid w2)) | .would_deny")" 10
eq "what-if strict: denial list" "$(jv "$T/wi2.json" ".what_if.denials[0].reason")" max_request
"$B/privmem" replay "$T/rec" --policy "$T/bad.yaml" 2>"$T/e" >/dev/null; rc=$?
eq "replay --policy bad file: exit" $rc 2
"$B/privmem" replay "$T/rec" --policy "$T/strict.yaml" >"$T/wi.txt"
grep -q 'what if .*strict.yaml' "$T/wi.txt" && ok "what-if text summary" || bad "what-if text: $(tail -5 "$T/wi.txt")"

# 6. A bad policy at start: one line with file:line:column, exit 2.
printf 'mode: audit\nbogus: 1\n' >"$T/bad.yaml"
"$B/privmemd" -s "$SOCK" -c "$T/bad.yaml" 2>"$T/e"; rc=$?
eq "bad policy at start: exit" $rc 2
grep -qE 'bad.yaml:2:1: ' "$T/e" && [ "$(wc -l <"$T/e")" = 1 ] && ok "one line with file:line:column" || bad "start error: $(cat "$T/e")"

finish
