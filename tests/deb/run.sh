#!/bin/bash
# The package as an operator gets it: build/deb/privmem_*.deb installed with
# dpkg -i into a fresh Debian root (debootstrap, cached by tests/deb/root.sh,
# unpacked anew each run under build/deb/root), entered with chroot inside a
# new mount namespace; there the installed privmemd, privmem and privmemtop
# run against testvmm, whose own counts the books must equal; then dpkg -r
# and dpkg -P leave the root as it was. Needs root and /dev/kvm.
set -u
cd "$(dirname "$0")/../.."
TOP=$PWD
B=${B:-build}
D=$TOP/build/deb
R=$D/root
PASS=0 FAIL=0 SKIP=0
ok() { PASS=$((PASS + 1)); echo "ok   $*"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL $*"; }
same() { [ -n "$2" ] && [ "$2" = "$3" ] && ok "$1: $2" || bad "$1: got '${2}', want '$3'"; }
finish() { echo "$PASS passed, $FAIL failed$([ "$SKIP" -gt 0 ] && echo ", $SKIP skipped")"; [ "$FAIL" = 0 ]; exit; }
# a tally line, with the skips a host without guest_memfd gives gtcompare
TALLY_RE='^[0-9]+ passed, [0-9]+ failed(, [0-9]+ skipped)?$'
# fold LINE: adds a tally line's counts to PASS, FAIL and SKIP
fold() {
	local p=${1%% passed*} f=${1#*passed, } s=0
	f=${f%% failed*}
	case $1 in *" skipped") s=${1##*failed, }; s=${s%% skipped} ;; esac
	PASS=$((PASS + p)) FAIL=$((FAIL + f)) SKIP=$((SKIP + s))
}

if [ "$(id -u)" != 0 ] || [ ! -w /dev/kvm ]; then
	echo "the package test needs root and /dev/kvm"
	echo "0 passed, 1 failed"
	exit 1
fi
ver=$(dpkg-parsechangelog -l debian/changelog -S Version)
deb=$D/privmem_${ver}_$(dpkg --print-architecture).deb
[ -s "$deb" ] || { bad "no package at $deb (make deb)"; finish; }
# the root holds what the package says it depends on, and nothing of privmem's
deps=$(dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed 's/(.*//; s/|.*//; s/[[:space:]]//g' | grep .)
tarball=$(tests/deb/root.sh $deps) || { bad "debootstrap root"; finish; }
rm -rf "$R"
mkdir -p "$R"
tar -C "$R" -xzf "$tarball" || { bad "unpack $tarball"; finish; }
ok "fresh root from $(basename "$tarball")"
cp "$deb" "$R/tmp/privmem.deb"
cp "$B/testvmm" "$B/gtcompare" "$TOP/tests/completion/complete.sh" "$R/tmp/"

# everything below runs in a new mount namespace: the root's /proc, /sys,
# /dev and /run vanish with it, whatever happens
unshare --mount --propagation private bash -s "$R" "$ver" <<'INNER' >"$D/inner.log" 2>&1
set -u
R=$1 ver=$2
PASS=0 FAIL=0 SKIP=0 DPID=
TALLY_RE='^[0-9]+ passed, [0-9]+ failed(, [0-9]+ skipped)?$'
fold() {
	local p=${1%% passed*} f=${1#*passed, } s=0
	f=${f%% failed*}
	case $1 in *" skipped") s=${1##*failed, }; s=${s%% skipped} ;; esac
	PASS=$((PASS + p)) FAIL=$((FAIL + f)) SKIP=$((SKIP + s))
}
ok() { PASS=$((PASS + 1)); echo "ok   $*"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL $*"; }
same() { [ -n "$2" ] && [ "$2" = "$3" ] && ok "$1: $2" || bad "$1: got '${2}', want '$3'"; }
in_root() { chroot "$R" "$@"; }
wait_for() {
	local end=$(($(date +%s%N) + $1 * 1000000000))
	shift
	until "$@"; do
		[ "$(date +%s%N)" -ge "$end" ] && return 1
		sleep 0.05
	done
}
cleanup() { [ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null; }
trap cleanup EXIT
mount -t proc proc "$R/proc" && mount --rbind /sys "$R/sys" && mount --rbind /dev "$R/dev" &&
	mount -t tmpfs -o mode=0755 tmpfs "$R/run" || { echo "mounts failed"; echo "0 passed, 1 failed"; exit 1; }
# what the root holds before the package (dpkg's own books aside)
snapshot() {
	(cd "$R" && find . -xdev \( -path ./tmp -o -path ./var/lib/dpkg -o -path ./var/log -o -path ./var/cache \
		-o -path ./proc -o -path ./sys -o -path ./dev -o -path ./run \) -prune -o -print | LC_ALL=C sort)
}
snapshot >"$R/tmp/before.list"

if in_root dpkg -i /tmp/privmem.deb >"$R/tmp/dpkg-i.log" 2>&1; then ok "dpkg -i privmem.deb"; else
	bad "dpkg -i: $(tail -5 "$R/tmp/dpkg-i.log")"
fi
same "dpkg: installed" "$(in_root dpkg-query -W -f '${Status} ${Version}' privmem 2>/dev/null)" "install ok installed $ver"
for f in /usr/sbin/privmemd /usr/bin/privmem /usr/sbin/privmemtop /usr/share/man/man8/privmemd.8.gz \
	/usr/share/man/man5/privmem.policy.5.gz /lib/systemd/system/privmemd.service \
	/usr/share/privmem/policies/audit-first.yaml /usr/share/privmem/prometheus/privmem-alerts.yml \
	/usr/share/bash-completion/completions/privmem; do
	[ -e "$R$f" ] && ok "installed $f" || bad "missing $f"
done
same "installed privmem policy check" \
	"$(in_root privmem policy check /usr/share/privmem/policies/audit-first.yaml >/dev/null 2>&1; echo $?)" 0
same "installed completion: 'privmem rep'" \
	"$(in_root /tmp/complete.sh /usr/share/bash-completion/completions/privmem "privmem rep")" replay

# the installed daemon, CLI and viewer against testvmm
# chroot itself, not a function: $! of a backgrounded function is a subshell,
# and killing that left the daemon running (attached to this host's kernel).
# --syscall-hooks: this host's kernel has no trampolines, and the books
# checked against testvmm's truth need the opt-in syscall-tracepoint fallback
chroot "$R" /usr/sbin/privmemd --syscall-hooks >"$R/tmp/privmemd.log" 2>&1 &
DPID=$!
if wait_for 10 grep -q ready "$R/tmp/privmemd.log"; then ok "installed privmemd starts"; else
	bad "installed privmemd: $(tail -3 "$R/tmp/privmemd.log")"
fi
same "privmem status: the package's version" \
	"$(in_root privmem status --json 2>/dev/null | grep -o '"version":"[^"]*"')" "\"version\":\"$ver\""
if in_root /tmp/testvmm --seed 3 --requests 11 --hold-ms 300 --json /tmp/gt.json \
	>/dev/null 2>"$R/tmp/testvmm.err"; then ok "testvmm in the root"; else
	bad "testvmm: $(tail -2 "$R/tmp/testvmm.err")"
fi
gtpid=$(grep -o '"pid":[0-9]*' "$R/tmp/gt.json" 2>/dev/null | head -1 | cut -d: -f2)
destroyed() {
	in_root privmem vms --json >"$R/tmp/pm.json" 2>/dev/null &&
		grep -q "\"pid\":$gtpid,[^}]*\"state\":\"destroyed\"" "$R/tmp/pm.json"
}
if [ -n "$gtpid" ] && wait_for 10 destroyed; then ok "privmem vms: testvmm's VM, destroyed"; else
	bad "privmem vms never showed pid ${gtpid:-?} destroyed"
fi
# the books equal testvmm's ground truth (gtcompare prints its own tally)
in_root /tmp/gtcompare /tmp/pm.json /tmp/gt.json >"$R/tmp/gtcompare.out" 2>&1
sed 's/^/  [gtcompare] /' "$R/tmp/gtcompare.out" | tail -n 30
line=$(grep -E "$TALLY_RE" "$R/tmp/gtcompare.out" | tail -1)
if [ -z "$line" ]; then bad "gtcompare: no result line"; else fold "$line"; fi
in_root privmem vms >"$R/tmp/vms.txt" 2>&1
same "privmem vms: the VM's row" "$(awk -v p="$gtpid" '$3 == p { print $2 }' "$R/tmp/vms.txt")" testvmm
in_root privmemtop --once --json >"$R/tmp/top.json" 2>"$R/tmp/top.err"
same "installed privmemtop --once --json: the VM" \
	"$(grep -o "\"pid\":$gtpid" "$R/tmp/top.json" | head -1)" "\"pid\":$gtpid"
kill "$DPID" && wait "$DPID" 2>/dev/null
DPID=

# remove, then purge: nothing of privmem's may stay
if in_root dpkg -r privmem >"$R/tmp/dpkg-r.log" 2>&1; then ok "dpkg -r privmem"; else
	bad "dpkg -r: $(tail -3 "$R/tmp/dpkg-r.log")"
fi
[ ! -e "$R/usr/sbin/privmemd" ] && ok "removed: no privmemd" || bad "privmemd left after dpkg -r"
if in_root dpkg -P privmem >"$R/tmp/dpkg-p.log" 2>&1; then ok "dpkg -P privmem"; else
	bad "dpkg -P: $(tail -3 "$R/tmp/dpkg-p.log")"
fi
same "dpkg: purged" "$(in_root dpkg-query -W -f '${Status}' privmem 2>&1 | grep -c 'ok installed\|config-files')" 0
snapshot >"$R/tmp/after.list"
left=$(diff "$R/tmp/before.list" "$R/tmp/after.list")
[ -z "$left" ] && ok "purged: the root is as before ($(wc -l <"$R/tmp/before.list") paths)" ||
	bad "purge left: $(echo "$left" | head -5 | paste -sd' ')"
echo "$PASS passed, $FAIL failed$([ "$SKIP" -gt 0 ] && echo ", $SKIP skipped")"
INNER
# the namespace's own tally joins this script's
line=$(grep -E "$TALLY_RE" "$D/inner.log" | tail -1)
grep -vE "$TALLY_RE" "$D/inner.log"
if [ -z "$line" ]; then bad "the namespace gave no result line"; else fold "$line"; fi
finish
