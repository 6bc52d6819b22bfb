#!/bin/bash
# `privmem policy check`: exit codes, one-line errors, JSON errors, stdin,
# prefixes, and every example in policies/ valid, warning-free and a fixed
# point of its own normalisation.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
PM="$B/privmem"
lib_tmp policy

# same_output NAME A B: two outputs present (non-empty) and identical; cmp
# alone would call two empty outputs equal
same_output() {
	if [ ! -s "$2" ] || [ ! -s "$3" ]; then
		bad "$1: missing output ($(wc -c <"$2" 2>/dev/null || echo no) and $(wc -c <"$3" 2>/dev/null || echo no) bytes)"
	elif cmp -s "$2" "$3"; then
		ok "$1"
	else
		bad "$1: outputs differ"
	fi
}

# expect NAME RC WANT_STDERR -- ARGS...: exit status and exact stderr
expect() {
	local name=$1 rc=$2 want=$3 got
	shift 4
	"$PM" "$@" >"$T/out" 2>"$T/err"
	got=$?
	if [ "$got" != "$rc" ]; then
		bad "$name: exit $got, want $rc ($(head -c 200 "$T/err"))"
	elif [ "$want" != "*" ] && [ "$(cat "$T/err")" != "$want" ]; then
		bad "$name: stderr '$(cat "$T/err")', want '$want'"
	else
		ok "$name"
	fi
}

for f in policies/*; do
	expect "example $f valid, no warnings" 0 "" -- policy check "$f"
	cp "$T/out" "$T/norm.yaml"
	"$PM" policy check "$T/norm.yaml" >"$T/again.yaml" 2>/dev/null
	same_output "example $f: normalised YAML is a fixed point" "$T/norm.yaml" "$T/again.yaml"
	"$PM" policy check --json "$f" >"$T/norm.json" 2>/dev/null
	"$PM" policy check "$T/norm.json" >"$T/from-json.yaml" 2>/dev/null
	same_output "example $f: normalised JSON reads back the same" "$T/norm.yaml" "$T/from-json.yaml"
done

printf 'mode: audit\nvms:\n  - match: {comm: qemu*}\n    to_shared: {rate: 64MiB}\n' >"$T/bad.yaml"
expect "bad rate: exit 2, one line with file:line:column" 2 \
	"$T/bad.yaml:4:23: bad rate '64MiB': a rate needs /s, as in 64MiB/s" -- policy check "$T/bad.yaml"
[ -s "$T/out" ] && bad "bad policy: nothing on stdout" || ok "bad policy: nothing on stdout"

expect "bad policy --json: exit 2" 2 "" -- policy check "$T/bad.yaml" --json
want='{"error":"'"$T"'/bad.yaml:4:23: bad rate '"'"'64MiB'"'"': a rate needs /s, as in 64MiB/s"}'
[ "$(cat "$T/out")" = "$want" ] && ok "bad policy --json: the error as JSON on stdout" ||
	bad "bad policy --json: stdout '$(cat "$T/out")'"

printf 'mode: audit\nmode: off\n' >"$T/dup.yaml"
expect "duplicate key: exit 2" 2 "$T/dup.yaml:2:1: duplicate key 'mode' in policy (first at 1:1)" \
	-- policy check "$T/dup.yaml"
printf 'mode: [audit\n' >"$T/syntax.yaml"
expect "YAML syntax error: exit 2" 2 \
	"$T/syntax.yaml:2:1: did not find expected ',' or ']' (while parsing a flow sequence at 1:7)" \
	-- policy check "$T/syntax.yaml"

expect "missing file: exit 1" 1 "$T/none.yaml: No such file or directory" -- policy check "$T/none.yaml"
expect "directory: exit 1" 1 "$T: Is a directory" -- policy check "$T"
expect "no FILE: exit 2" 2 "*" -- policy check
expect "two FILEs: exit 2" 2 "*" -- policy check policies/audit-first.yaml policies/audit-first.yaml
expect "no subcommand: exit 2" 2 "*" -- policy
expect "unknown subcommand: exit 2" 2 \
	"privmem: unknown policy subcommand 'lint' (try: privmem policy help)" -- policy lint x
expect "policy help: exit 0" 0 "" -- policy help
expect "prefixes: privmem po c FILE" 0 "" -- po c policies/audit-first.yaml
expect "--json before the command" 0 "" -- --json policy check policies/audit-first.yaml
grep -q '^{"mode":"audit",' "$T/out" && ok "--json before the command: JSON" || bad "--json before the command: $(head -c 80 "$T/out")"
expect "-p: pretty JSON" 0 "" -- -p policy check policies/audit-first.yaml
grep -q '^  "mode":"audit",$' "$T/out" && ok "-p: indented" || bad "-p: $(head -c 80 "$T/out")"

"$PM" policy check - <policies/quarantine.json >"$T/stdin.yaml" 2>"$T/err" || bad "stdin: exit $?: $(cat "$T/err")"
"$PM" policy check policies/quarantine.json >"$T/file.yaml" 2>/dev/null
same_output "stdin: - reads the policy from standard input" "$T/stdin.yaml" "$T/file.yaml"
printf 'vms: [1' | "$PM" policy check - >/dev/null 2>"$T/err"
grep -q '^<stdin>:1:8: ' "$T/err" && ok "stdin: errors name <stdin>" || bad "stdin: '$(cat "$T/err")'"

printf 'vms:\n  - match: {comm: "qemu*"}\n  - match: {comm: qemu-kvm}\n' >"$T/shadow.yaml"
expect "a shadowed rule: warning, exit 0" 0 \
	"$T/shadow.yaml:3:5: warning: rule 2 never applies: rule 1 (2:5) matches all it matches, and the first match wins" \
	-- policy check "$T/shadow.yaml"

finish
