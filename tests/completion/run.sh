#!/bin/bash
# Bash completion for privmem (dist/bash-completion/privmem, or the FILE
# given: tests/deb/run.sh passes the installed one): commands, options,
# trace and policy files, the record command. VM names from a running
# daemon are checked in tests/kernel/names.sh, which has one.
set -u
cd "$(dirname "$0")/../.."
TOP=$PWD
FILE=$(realpath "${1:-dist/bash-completion/privmem}")
T=$(mktemp -d /tmp/privmem-compl.XXXXXX)
PASS=0 FAIL=0
trap 'rm -rf "$T"' EXIT
ok() { PASS=$((PASS + 1)); echo "ok   $*"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL $*"; }
# offers LINE WANT...: exactly these candidates (none: WANT empty)
offers() {
	local line=$1 got want
	shift
	got=$(cd "$T/w" && "$TOP/tests/completion/complete.sh" "$FILE" "$line" | paste -sd' ')
	want=$(printf '%s\n' "$@" | sed '/^$/d' | LC_ALL=C sort | paste -sd' ')
	[ "$got" = "$want" ] && ok "'$line' -> ${want:-nothing}" || bad "'$line': got '$got', want '$want'"
}

mkdir -p "$T/w/traces" "$T/w/pol"
touch "$T/w/run.pmtrace" "$T/w/old.pmtrace" "$T/w/notes.txt" "$T/w/p.yaml" "$T/w/q.yml" "$T/w/r.json" \
	"$T/w/traces/privmem-1.pmtrace"
# no daemon here: --vm offers nothing, quietly
export PATH=$TOP/build:$PATH

"$TOP/tests/completion/complete.sh" "$FILE" "privmem " >/dev/null
[ $? = 8 ] && bad "complete -p privmem: nothing registered" || ok "complete -F _privmem privmem registered"
offers "privmem " status vms record replay export policy reload
offers "privmem re" record replay reload
offers "privmem -" -j --json -p --pretty -s --socket -h --help
offers "privmem --j" --json
offers "privmem -s /run/x.sock v" vms
offers "privmem replay " traces old.pmtrace run.pmtrace pol
offers "privmem replay r" run.pmtrace
offers "privmem rep traces/" traces/privmem-1.pmtrace
offers "privmem replay run.pmtrace --" --vm --from --to --policy --json --help
offers "privmem replay run.pmtrace --policy " traces pol p.yaml q.yml r.json
offers "privmem replay run.pmtrace --from " ""
offers "privmem replay run.pmtrace --vm " ""
offers "privmem export run.pmtrace --format " chrome
offers "privmem export run.pmtrace -o " traces pol r.json
offers "privmem export run.pmtrace --" --format --output --vm --from --to --help
offers "privmem policy " check
offers "privmem policy check " traces pol p.yaml q.yml r.json
offers "privmem record -o " traces pol old.pmtrace run.pmtrace
offers "privmem record -o x.pmtrace --sys" --syscall-hooks
offers "privmem record -o x.pmtrace --no" --no-syscall-hooks
offers "privmem record -o x.pmtrace -- bas" $(compgen -c -- bas | sort -u)
offers "privmem vms --" --json --names
offers "privmem status --" --json

# make install puts the same file where bash-completion looks for it
if make -s install DESTDIR="$T/inst" PREFIX=/usr >"$T/install.log" 2>&1; then
	f=$T/inst/usr/share/bash-completion/completions/privmem
	cmp -s "$f" dist/bash-completion/privmem && ok "make install: $(basename "$(dirname "$f")")/privmem" ||
		bad "make install: no $f"
	FILE=$f
	offers "privmem replay run.pmtrace --f" --from
else
	bad "make install: $(tail -3 "$T/install.log")"
fi

echo "$PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
