#!/bin/bash
# tests/vmtest/run.sh — the QEMU test bed: a Debian kernel with a real BPF
# LSM, a modular KVM rebuilt with CONFIG_KVM_SW_PROTECTED_VM=y (real private
# memory conversions without SEV/TDX hardware) and kvm_amd on QEMU's SVM.
#
# Stages (each cached under $PRIVMEM_VMTEST_CACHE, keyed by kernel version,
# guarded by stamp files, so a later run redoes only what changed):
#   fetch      private apt state -> newest suitable kernel -> apt-get download
#   build      kvm.ko + kvm-amd.ko from linux-source with KVM_SW_PROTECTED_VM=y
#   initramfs  busybox + modules + guest tests + guest binaries
#   boot       qemu-system-x86_64 (TCG, -cpu max) runs the guest tests
# Output: one line per result, timings, then exactly "N passed, N failed".
# Exit: 0 all passed, 1 a test failed or the guest never reported, 2 setup error.
#
# Kernels: by default the newest suitable kernel with a rebuilt KVM (above).
# PRIVMEM_VMTEST_KERNELS (or make's KERNELS=) names several, each booted in
# turn with the same binaries, results prefixed "[name]", one tally for all:
#   default            the above (newest, KVM rebuilt with SW_PROTECTED_VM)
#   bookworm, trixie, trixie-backports, sid, ...
#                      the kernel that suite's linux-image-amd64 points at,
#                      its own KVM modules unmodified ("stock")
#   backports          the newest kernel of any *-backports suite, stock
#   stock:RELEASE      that release, stock;  RELEASE  that release, rebuilt
# `make vmtest-matrix` = KERNELS="bookworm trixie backports".
# See tests/vmtest/README.md for the environment variables and how to add
# guest tests and binaries.
set -uo pipefail
# (pipefail: never end a pipeline with 'grep -q', its early exit fails the writer.)

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VT=$ROOT/tests/vmtest
cd "$ROOT" || exit 2

CACHE=${PRIVMEM_VMTEST_CACHE:-/var/cache/privmem-vmtest}
FLAVOUR=${PRIVMEM_VMTEST_FLAVOUR:-amd64}
SUITES=${PRIVMEM_VMTEST_SUITES:-bookworm bookworm-backports trixie trixie-backports sid}
PIN_KERNEL=${PRIVMEM_VMTEST_KERNEL:-}
OFFLINE=${PRIVMEM_VMTEST_OFFLINE:-0}
BOOT_TIMEOUT=${PRIVMEM_VMTEST_TIMEOUT:-900}
TEST_TIMEOUT=${PRIVMEM_VMTEST_TEST_TIMEOUT:-300}
APT_TIMEOUT=${PRIVMEM_VMTEST_APT_TIMEOUT:-15}
EXTRA_MODULES=${PRIVMEM_VMTEST_MODULES:-}
EXTRA_KCONFIG=${PRIVMEM_VMTEST_KCONFIG:-}
EXTRA_BINS=${PRIVMEM_VMTEST_BINS:-}
ONLY_TESTS=${PRIVMEM_VMTEST_TESTS:-}
EXTRA_TESTS=${PRIVMEM_VMTEST_EXTRA_TESTS:-}
EXTRA_APPEND=${PRIVMEM_VMTEST_APPEND:-}
VERBOSE=${PRIVMEM_VMTEST_VERBOSE:-0}
# Single-threaded TCG by default: with thread=multi, the guest kernel's
# cross-CPU code patching (static keys flipped by KVM VM create/destroy,
# tracepoint or BPF attach) races with the other vCPU's translated code and
# oopses ("int3" in __schedule): 3 of 3 runs creating 300 VMs died within
# seconds under multi, 0 under single (boot+tests ~12 s instead of ~9 s).
TCG_THREAD=${PRIVMEM_VMTEST_TCG_THREAD:-single}
# Two emulated CPUs (on single-threaded TCG): cross-CPU races live there,
# e.g. a trampoline that attached yet was never patched in (issue 16);
# 46-attach-repeat proves every trampoline over many daemon starts.
SMP=${PRIVMEM_VMTEST_SMP:-2}
# 0: keep every kernel (a matrix run needs several; disk is cheaper than a refetch)
KEEP_KERNELS=${PRIVMEM_VMTEST_KEEP_KERNELS:-0}
KERNELS=${PRIVMEM_VMTEST_KERNELS:-${KERNELS:-}}
# Internal: the one kernel of a matrix this invocation runs, and that the
# matrix driver already refreshed the apt lists.
SELECT=${PRIVMEM_VMTEST_SELECT:-}
APT_FRESH=${PRIVMEM_VMTEST_APT_FRESH:-0}
# 1: fetch (and build) the kernel(s), do not boot: needs no kernel lock
FETCH_ONLY=${PRIVMEM_VMTEST_FETCH_ONLY:-0}
STOCK=0 STOCK_SUITE=""
case $SELECT in
""|default) ;;
backports) STOCK=1 STOCK_SUITE='[a-z]+-backports' PIN_KERNEL="";;
stock:*) STOCK=1 PIN_KERNEL=${SELECT#stock:};;
[a-z]*) STOCK=1 STOCK_SUITE=$SELECT PIN_KERNEL="";;
*) PIN_KERNEL=$SELECT;;
esac
ALLOW_UNVERIFIED=${PRIVMEM_VMTEST_ALLOW_UNVERIFIED:-0}
JOBS=$(nproc 2>/dev/null || echo 2)
# Bump when the module build recipe changes: forces a rebuild of cached modules.
BUILD_RECIPE="r1 -e KVM_SW_PROTECTED_VM -d MODULE_SIG_ALL -d RUST $EXTRA_KCONFIG"
MIN_PREFERRED=7.2	# first version whose kvm.ko has kvm_vm_set_mem_attributes
BASE_MODULES="irqbypass kvm ccp kvm_amd"

APT=$CACHE/apt
LOG=$CACHE/logs
T_FETCH=0 T_BUILD=0 T_INITRAMFS=0 T_BOOT=0
T0=$(date +%s%N)

say() { echo "vmtest: $*"; }
die() { echo "vmtest: error: $*" >&2; exit 2; }
now() { date +%s%N; }
secs() { local ns=$(( $2 - $1 )); printf '%d.%d' $((ns / 1000000000)) $(((ns / 100000000) % 10)); }
# Stamp files: stage output is valid while the stamp holds the same key.
stamp_ok() { [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]; }
stamp_set() { printf '%s' "$2" > "$1.tmp" && mv -f "$1.tmp" "$1"; }

need() {
	local c missing=""
	for c in "$@"; do command -v "$c" >/dev/null 2>&1 || missing="$missing $c"; done
	[ -z "$missing" ] || die "missing host tools:$missing (run 'make deps' / scripts/deps.sh)"
}
need apt-get apt-cache apt-config dpkg-deb dpkg gcc make flex bison bc pahole xz gzip \
	modinfo strip readelf timeout flock qemu-system-x86_64 ldd
[ -x /bin/busybox ] || die "missing /bin/busybox (package busybox-static)"
/bin/busybox --list 2>/dev/null | grep -x cpio >/dev/null || die "/bin/busybox has no cpio applet"

mkdir -p "$CACHE" "$LOG" 2>/dev/null && [ -w "$CACHE" ] ||
	die "cache dir $CACHE not writable (run as root or set PRIVMEM_VMTEST_CACHE)"

# ---------------------------------------------------------------- apt ----
# Everything apt reads or writes lives under $APT: APT_CONFIG is read before
# any other configuration file, and it points Dir::Etc (sources, parts,
# preferences, trusted keys) and Dir::State/Cache into the cache dir, so the
# host's apt configuration is read for nothing but its mirror URI and a few
# Acquire settings below, and is never written.
host_mirror() {
	local codename uri
	codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
	uri=$(env -u APT_CONFIG apt-get indextargets --no-release-info \
		--format '$(REPO_URI) $(RELEASE)' 2>/dev/null |
		awk -v c="$codename" '$2 == c { print $1; exit }')
	[ -n "$uri" ] || uri=$(env -u APT_CONFIG apt-get indextargets --no-release-info \
		--format '$(REPO_URI) $(RELEASE)' 2>/dev/null |
		awk '$1 ~ /\/debian\/?$/ { print $1; exit }')
	echo "${uri%/}"
}

host_apt_opt() {	# prints the host's value of an apt option (read only)
	local v=""
	eval "$(env -u APT_CONFIG apt-config shell v "$1" 2>/dev/null)"
	echo "$v"
}

apt_setup() {
	mkdir -p "$APT"/{etc/apt.conf.d,etc/preferences.d,etc/sources.list.d,etc/trusted.gpg.d} \
		"$APT"/{state/lists/partial,cache/archives/partial,log,keyrings}
	: > "$APT/state/status"
	: > "$APT/etc/sources.list"
	local q a
	{
		echo "Dir::State \"$APT/state\";"
		echo "Dir::State::Lists \"$APT/state/lists\";"
		echo "Dir::State::status \"$APT/state/status\";"
		echo "Dir::Cache \"$APT/cache\";"
		echo "Dir::Log \"$APT/log\";"
		echo "Dir::Etc \"$APT/etc\";"
		echo "Dir::Etc::main \"$APT/etc/apt.conf\";"
		echo "Dir::Etc::Parts \"$APT/etc/apt.conf.d\";"
		echo "Dir::Etc::SourceList \"$APT/etc/sources.list\";"
		echo "Dir::Etc::SourceParts \"$APT/etc/sources.list.d\";"
		echo "Dir::Etc::Preferences \"$APT/etc/preferences\";"
		echo "Dir::Etc::PreferencesParts \"$APT/etc/preferences.d\";"
		echo "Dir::Etc::Trusted \"$APT/etc/trusted.gpg\";"
		echo "Dir::Etc::TrustedParts \"$APT/etc/trusted.gpg.d\";"
		echo "APT::Architecture \"amd64\";"
		echo "APT::Architectures { \"amd64\"; };"
		echo "APT::Sandbox::User \"root\";"
		echo "Acquire::Languages \"none\";"
		echo "Acquire::Retries \"1\";"
		echo "Acquire::http::Timeout \"$APT_TIMEOUT\";"
		echo "Acquire::https::Timeout \"$APT_TIMEOUT\";"
		echo "Acquire::IndexTargets::deb::Contents-deb::DefaultEnabled \"false\";"
		# Inherit what the host needs to reach its mirror (snapshot mirrors
		# need the validity checks off; proxies), nothing else.
		for q in Acquire::Check-Valid-Until Acquire::Check-Date \
			Acquire::http::Proxy Acquire::https::Proxy; do
			a=$(host_apt_opt "$q")
			[ -n "$a" ] && echo "$q \"$a\";"
		done
	} > "$APT/apt.conf"
	export APT_CONFIG=$APT/apt.conf
}

write_sources() {	# $1 = suites, $2 = Signed-By value or "UNVERIFIED"
	{
		echo "Types: deb"
		echo "URIs: $MIRROR"
		echo "Suites: $1"
		echo "Components: main"
		if [ "$2" = UNVERIFIED ]; then echo "Trusted: yes"; else echo "Signed-By: $2"; fi
	} > "$APT/etc/sources.list.d/vmtest.sources"
}

apt_update() {	# -> 0 ok; log in $LOG/apt-update.log
	local cap=$((APT_TIMEOUT * 8))
	timeout -k 10 $cap apt-get -q update > "$LOG/apt-update.log" 2>&1
	local rc=$?
	if [ $rc = 124 ] || [ $rc = 137 ]; then
		echo "E: no complete answer within $cap s (apt-get update killed; PRIVMEM_VMTEST_APT_TIMEOUT=$APT_TIMEOUT)" >> "$LOG/apt-update.log"
	fi
	local pat='^(E|W): (Failed to fetch|GPG error|An error occurred during the signature|The repository|Some index files failed|no complete answer)'
	# Unverified last resort: signatures are expected to fail, fetching not.
	[ "${1:-}" = unverified ] && pat='^(E|W): (Failed to fetch|Some index files failed|no complete answer)'
	grep -qE "$pat" "$LOG/apt-update.log" && return 1
	return $rc
}

# Suites whose signature could not be checked, from the apt-get update log.
unverified_suites() {
	local s
	for s in $SUITES; do
		grep -E "(GPG error|The repository).* $s (InRelease|Release)" "$LOG/apt-update.log" |
			grep -E 'NO_PUBKEY|not signed|EXPKEYSIG|KEYEXPIRED|REVKEYSIG|BADSIG|signatures|Signed-By' >/dev/null &&
			echo "$s"
	done
}

first_error() { grep -m1 -E '^(E|W):' "$LOG/apt-update.log" | cut -c1-300; }

apt_refresh() {
	MIRROR=${PRIVMEM_VMTEST_MIRROR:-$(host_mirror)}
	[ -n "$MIRROR" ] || die "cannot find the host's Debian mirror in its apt sources (set PRIVMEM_VMTEST_MIRROR)"
	apt_setup
	local keyring=${PRIVMEM_VMTEST_KEYRING:-/usr/share/keyrings/debian-archive-keyring.gpg}
	[ -r "$keyring" ] || die "no keyring $keyring (package debian-archive-keyring)"
	local kr=$keyring s
	# A newer keyring fetched by an earlier run (see below) stays in use.
	for s in "$APT"/keyrings/x/usr/share/keyrings/debian-archive-keyring.{pgp,gpg}; do
		[ -s "$s" ] && { kr="$keyring $s"; break; }
	done
	write_sources "$SUITES" "$kr"
	if apt_update; then
		return 0
	fi
	local bad good
	bad=$(unverified_suites | xargs)
	[ -n "$bad" ] || die "apt-get update from $MIRROR failed: $(first_error) (log: $LOG/apt-update.log)"
	good=$SUITES
	for s in $bad; do good=$(echo " $good " | sed "s/ $s / /" | xargs); done
	if [ -n "$good" ]; then
		say "keyring $kr cannot verify: $bad; fetching a newer debian-archive-keyring"
	else
		say "keyring $kr verifies none of $SUITES"
	fi
	# The newest debian-archive-keyring from the suites that do verify
	# carries the keys of newer releases.
	if [ -n "$good" ]; then
		write_sources "$good" "$keyring"
		if apt_update && (cd "$APT/keyrings" && rm -f ./*.deb &&
			timeout -k 10 300 apt-get -q download debian-archive-keyring >> "$LOG/apt-update.log" 2>&1); then
			rm -rf "$APT/keyrings/x" && dpkg-deb -x "$APT"/keyrings/debian-archive-keyring_*.deb "$APT/keyrings/x"
			local newkr=""
			for s in "$APT"/keyrings/x/usr/share/keyrings/debian-archive-keyring.pgp \
				"$APT"/keyrings/x/usr/share/keyrings/debian-archive-keyring.gpg; do
				[ -s "$s" ] && { newkr=$s; break; }
			done
			if [ -n "$newkr" ]; then
				write_sources "$SUITES" "$keyring $newkr"
				apt_update && { say "using keyring from $(basename "$APT"/keyrings/debian-archive-keyring_*.deb)"; return 0; }
			fi
		fi
	fi
	bad=$(unverified_suites | xargs)
	if [ -n "$bad" ] && [ "$ALLOW_UNVERIFIED" = 1 ]; then
		# Last resort, only on request: no signature check for these suites.
		say "WARNING: PRIVMEM_VMTEST_ALLOW_UNVERIFIED=1: using $bad WITHOUT signature verification"
		write_sources "$SUITES" UNVERIFIED
		# apt keeps verified lists over unverifiable ones: start afresh.
		rm -rf "$APT/state/lists" && mkdir -p "$APT/state/lists/partial"
		apt_update unverified && return 0
	elif [ -n "$bad" ] && [ -n "$good" ]; then
		say "WARNING: dropping unverifiable suites: $bad (set PRIVMEM_VMTEST_ALLOW_UNVERIFIED=1 to use them unverified)"
		SUITES=$good
		write_sources "$SUITES" "$keyring"
		apt_update && return 0
	fi
	die "apt-get update from $MIRROR failed: $(first_error) (log: $LOG/apt-update.log)"
}

# ------------------------------------------------------- kernel choice ----
# The highest available version of a package, empty if none. (madison is
# fast; "apt-cache show --no-all-versions" builds a depcache: 0.7 s a call.)
pkg_ver() {
	local v best=""
	for v in $(apt-cache madison "$1" 2>/dev/null | awk -F'|' '{ gsub(/ /, "", $2); print $2 }' | sort -u); do
		if [ -z "$best" ] || dpkg --compare-versions "$v" gt "$best"; then best=$v; fi
	done
	echo "$best"
}
pkg_field() { apt-cache show "$1=$2" 2>/dev/null | awk -v f="$3:" '$1 == f { sub(/^[^:]*: /, ""); print; exit }'; }

# Sets KREL (e.g. 7.3.4+deb13-amd64), KPKGVER (its package version), SRCMM
# (7.3), LAYOUT and PKGS ("name=version ..."); on failure WHY says what is missing.
resolve_kernel() {	# $1 = X
	local X=$1 iv hv v up mm deps common kbuild srcv b pkgs
	WHY=""
	iv=$(pkg_ver "linux-image-$X")
	[ -n "$iv" ] || { WHY="no linux-image-$X"; return 1; }
	deps=$(pkg_field "linux-image-$X" "$iv" Depends)
	if [[ "$deps" == *"linux-binary-$X "* || "$deps" == *"linux-binary-$X" ]]; then
		# 7.x: linux-image-X is a meta package over binary, base, modules.
		LAYOUT=split pkgs=""
		for b in binary base modules; do
			v=$(pkg_ver "linux-$b-$X")
			[ -n "$v" ] || { WHY="no linux-$b-$X"; return 1; }
			pkgs="$pkgs linux-$b-$X=$v"
		done
	else
		LAYOUT=image pkgs=" linux-image-$X=$iv"
	fi
	hv=$(pkg_ver "linux-headers-$X")
	[ -n "$hv" ] || { WHY="no linux-headers-$X"; return 1; }
	deps=$(pkg_field "linux-headers-$X" "$hv" Depends | tr ',' '\n')
	common=$(echo "$deps" | grep -oE 'linux-headers-[^ ]+-common' | head -n1)
	kbuild=$(echo "$deps" | grep -oE 'linux-kbuild-[^ ]+' | head -n1)
	[ -n "$common" ] && [ -n "$kbuild" ] || { WHY="linux-headers-$X names no -common/kbuild"; return 1; }
	for b in "$common" "$kbuild"; do
		v=$(pkg_ver "$b")
		[ -n "$v" ] || { WHY="no $b"; return 1; }
		pkgs="$pkgs $b=$v"
	done
	up=${X%%[-+]*}
	mm=$(echo "$up" | cut -d. -f1,2)
	# The source must be the very version the headers were built from.
	srcv=$(apt-cache madison "linux-source-$mm" 2>/dev/null | awk -v v="$hv" '$3 == v { print $3; exit }')
	[ -n "$srcv" ] || { WHY="no linux-source-$mm=$hv"; return 1; }
	PKGS="linux-headers-$X=$hv$pkgs linux-source-$mm=$srcv"
	KREL=$X KPKGVER=$hv SRCMM=$mm
}

# Stock: the kernel's own packages only (no headers, no source: nothing is
# rebuilt). Sets KREL, KPKGVER, LAYOUT, PKGS like resolve_kernel.
resolve_stock() {	# $1 = X
	local X=$1 iv deps v b pkgs
	WHY=""
	iv=$(pkg_ver "linux-image-$X")
	[ -n "$iv" ] || { WHY="no linux-image-$X"; return 1; }
	deps=$(pkg_field "linux-image-$X" "$iv" Depends)
	if [[ "$deps" == *"linux-binary-$X "* || "$deps" == *"linux-binary-$X" ]]; then
		LAYOUT=split pkgs=""
		for b in binary base modules; do
			v=$(pkg_ver "linux-$b-$X")
			[ -n "$v" ] || { WHY="no linux-$b-$X"; return 1; }
			pkgs="$pkgs linux-$b-$X=$v"
		done
	else
		LAYOUT=image pkgs=" linux-image-$X=$iv"
	fi
	PKGS=${pkgs# }
	KREL=$X KPKGVER=$iv SRCMM=""
}

# The kernel a suite's (or, for a regex, the newest such suite's)
# linux-image-FLAVOUR meta package depends on.
pick_stock_suite() {
	local mv dep
	mv=$(apt-cache madison "linux-image-$FLAVOUR" 2>/dev/null |
		awk -F'|' -v s="$STOCK_SUITE" '{ gsub(/ /, "", $2) } $3 ~ (" " s "/") { print $2 }' | sort -V | tail -n1)
	[ -n "$mv" ] || die "no linux-image-$FLAVOUR in suite '$STOCK_SUITE' at $MIRROR (suites: $SUITES)"
	dep=$(pkg_field "linux-image-$FLAVOUR" "$mv" Depends | grep -oE "linux-image-[0-9][^ ,]*-$FLAVOUR" | head -n1)
	[ -n "$dep" ] || die "linux-image-$FLAVOUR=$mv names no kernel"
	resolve_stock "${dep#linux-image-}" || die "stock ${dep#linux-image-} (suite '$STOCK_SUITE') not usable: $WHY"
}

pick_kernel() {
	local list X
	if [ "$STOCK" = 1 ]; then
		if [ -n "$PIN_KERNEL" ]; then
			resolve_stock "$PIN_KERNEL" || die "stock:$PIN_KERNEL not usable: $WHY"
		else
			pick_stock_suite
		fi
		return
	fi
	if [ -n "$PIN_KERNEL" ]; then
		resolve_kernel "$PIN_KERNEL" || die "PRIVMEM_VMTEST_KERNEL=$PIN_KERNEL not usable: $WHY"
		return
	fi
	# Kernel ABI names of the flavour, newest upstream version first.
	list=$(apt-cache pkgnames linux-image- 2>/dev/null |
		grep -E "^linux-image-[0-9]+\.[0-9]+[^ ]*-$FLAVOUR\$" |
		grep -vE -- '-(cloud|rt|dbg|unsigned)-' | sed 's/^linux-image-//' |
		awk '{ v = $0; sub(/[-+].*/, "", v); print v, $0 }' | sort -V -r -k1,1 -k2,2 | awk '{ print $2 }')
	[ -n "$list" ] || die "no linux-image-*-$FLAVOUR in $SUITES at $MIRROR"
	for X in $list; do
		resolve_kernel "$X" && return
		say "skipping $X: $WHY"
	done
	die "no kernel in $SUITES has all of image, modules, headers, kbuild and source"
}

ver_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]; }

# ---------------------------------------------------------------- fetch ----
fetch_kernel() {
	local key="$PKGS" p
	mkdir -p "$K/debs"
	if ! stamp_ok "$K/.stamp-fetch" "$key"; then
		say "downloading$(for p in $PKGS; do printf ' %s' "${p%%=*}"; done | sed "s/-$KREL//g")"
		rm -f "$K"/debs/*.deb
		# shellcheck disable=SC2086
		(cd "$K/debs" && timeout -k 10 900 apt-get -q download $PKGS) > "$LOG/apt-download.log" 2>&1 ||
			die "apt-get download failed: $(grep -m1 -E '^(E|W):' "$LOG/apt-download.log" | cut -c1-300) (log: $LOG/apt-download.log)"
		stamp_set "$K/.stamp-fetch" "$key"
	fi
	if ! stamp_ok "$K/.stamp-unpack" "$key"; then
		say "unpacking $KREL"
		rm -rf "$K/root" && mkdir -p "$K/root"
		for p in "$K"/debs/*.deb; do
			case "$(basename "$p")" in linux-source-*|linux-kbuild-*|linux-headers-*) continue;; esac
			dpkg-deb -x "$p" "$K/root" || die "cannot unpack $p"
		done
		# The modules' own directory, under /usr/lib (7.x) or /lib (6.x).
		local md
		for md in "$K/root/usr/lib/modules/$KREL" "$K/root/lib/modules/$KREL"; do
			[ -d "$md/kernel" ] && ln -sfn "$md" "$K/moddir"
		done
		for p in "$K/root/usr/lib/modules/$KREL/vmlinuz" "$K/root/boot/vmlinuz-$KREL"; do
			[ -f "$p" ] && ln -sfn "$p" "$K/vmlinuz"
		done
		[ -e "$K/moddir" ] || die "no lib/modules/$KREL/kernel in the packages"
		[ -e "$K/vmlinuz" ] || die "no vmlinuz for $KREL in the packages"
		find -L "$K/moddir/kernel" -name '*.ko*' | awk '{ n = $0; sub(/.*\//, "", n); sub(/\.ko(\.[a-z]+)?$/, "", n);
			gsub(/-/, "_", n); print n, $0 }' > "$K/modindex"
		stamp_set "$K/.stamp-unpack" "$key"
	fi
	local cfg
	cfg=$(ls "$K"/root/usr/lib/modules/"$KREL"/config "$K"/root/boot/config-"$KREL" 2>/dev/null | head -n1)
	if [ -n "$cfg" ]; then
		grep -q '^CONFIG_BPF_LSM=y' "$cfg" || say "WARNING: $KREL lacks CONFIG_BPF_LSM"
		grep -q '^CONFIG_DEBUG_INFO_BTF_MODULES=y' "$cfg" || say "WARNING: $KREL lacks CONFIG_DEBUG_INFO_BTF_MODULES"
	fi
}

# ---------------------------------------------------------------- build ----
build_modules() {
	local key="$PKGS|$BUILD_RECIPE" src hdr tarball
	[ "$STOCK" = 1 ] && return 0	# the distribution's KVM, unmodified
	if stamp_ok "$K/.stamp-build" "$key" && [ -f "$K/out/kvm.ko" ] && [ -f "$K/out/kvm-amd.ko" ]; then
		return 0
	fi
	src=$K/src/linux-source-$SRCMM
	hdr=$K/hdr/usr/src/linux-headers-$KREL
	if ! stamp_ok "$K/.stamp-src" "$PKGS"; then
		say "extracting linux-source-$SRCMM"
		rm -rf "$K/src" "$K/hdr" && mkdir -p "$K/src" "$K/hdr"
		dpkg-deb -x "$K"/debs/linux-headers-"$KREL"_*.deb "$K/hdr" || die "cannot unpack linux-headers-$KREL"
		tarball=$(dpkg-deb -c "$K"/debs/linux-source-"$SRCMM"_*.deb | awk '{ print $6 }' | grep -m1 -E '\.tar\.[a-z]+$')
		[ -n "$tarball" ] || die "no tarball in linux-source-$SRCMM"
		dpkg-deb --fsys-tarfile "$K"/debs/linux-source-"$SRCMM"_*.deb | tar -x -O "$tarball" |
			tar -x -J -C "$K/src" || die "cannot extract linux-source-$SRCMM"
		[ -d "$src/arch/x86/kvm" ] || die "linux-source-$SRCMM did not unpack to $src"
		stamp_set "$K/.stamp-src" "$PKGS"
	fi
	[ -f "$hdr/.config" ] && [ -f "$hdr/Module.symvers" ] || die "linux-headers-$KREL lacks .config or Module.symvers"
	say "building kvm.ko kvm-amd.ko (KVM_SW_PROTECTED_VM=y) for $KREL (log: $LOG/build-$KREL.log)"
	(
		set -e
		cd "$src"
		cp "$hdr/.config" .config
		# shellcheck disable=SC2086
		scripts/config -e KVM_SW_PROTECTED_VM -d MODULE_SIG_ALL -d RUST $EXTRA_KCONFIG
		make -s -j"$JOBS" KERNELRELEASE="$KREL" olddefconfig
		grep -q '^CONFIG_KVM_SW_PROTECTED_VM=y' .config || { echo "KVM_SW_PROTECTED_VM did not stick"; exit 1; }
		make -s -j"$JOBS" KERNELRELEASE="$KREL" modules_prepare
		# modpost resolves against the distribution kernel's exports; the
		# BTF-only vmlinux is the base for the modules' split BTF.
		cp "$hdr/Module.symvers" Module.symvers
		if [ -f "$hdr/vmlinux" ]; then cp "$hdr/vmlinux" vmlinux; else echo "WARNING: no vmlinux in headers: modules get no BTF"; fi
		# CONFIG_KVM_INTEL= only drops kvm-intel.ko from this directory's
		# Makefile (kvm.ko and kvm-amd.ko come out identical, ~half the time).
		make -j"$JOBS" KERNELRELEASE="$KREL" M=arch/x86/kvm CONFIG_KVM_INTEL= modules
	) > "$LOG/build-$KREL.log" 2>&1 || {
		tail -n 25 "$LOG/build-$KREL.log" | sed 's/^/  | /' >&2
		die "module build failed (log: $LOG/build-$KREL.log)"
	}
	grep -q '^WARNING: no vmlinux' "$LOG/build-$KREL.log" && say "WARNING: linux-headers-$KREL has no vmlinux: kvm.ko gets no BTF"
	mkdir -p "$K/out"
	local m want got
	for m in kvm kvm-amd; do
		strip --strip-debug -o "$K/out/$m.ko" "$src/arch/x86/kvm/$m.ko" || die "strip $m.ko failed"
		got=$(modinfo -F vermagic "$K/out/$m.ko")
		want=$(modinfo -F vermagic "$(awk -v n="${m//-/_}" '$1 == n { print $2; exit }' "$K/modindex")")
		[ "$got" = "$want" ] || die "$m.ko vermagic '$got' != kernel's '$want'"
	done
	stamp_set "$K/.stamp-build" "$key"
}

# ------------------------------------------------------------ initramfs ----
# Module names in load order (dependencies first), from modinfo depends.
MODORDER=""
mod_file() {	# name -> file (rebuilt kvm/kvm_amd override the package's)
	case "$STOCK$1" in
	0kvm) echo "$K/out/kvm.ko";;
	0kvm_amd) echo "$K/out/kvm-amd.ko";;
	*) awk -v n="${1//-/_}" '$1 == n { print $2; exit }' "$K/modindex";;
	esac
}
mod_add() {
	local n=${1//-/_} f d
	case " $MODORDER " in *" $n "*) return 0;; esac
	f=$(mod_file "$n")
	[ -n "$f" ] && [ -f "$f" ] || die "module $n not found in linux-modules-$KREL"
	for d in $(modinfo -F depends "$f" | tr ',' ' '); do mod_add "$d"; done
	MODORDER="$MODORDER $n"
}

add_file() {	# src guest-path: copies a file (and, if dynamic, its libraries)
	local src=$1 dst=$IR$2 lib
	mkdir -p "$(dirname "$dst")"
	if [ -d "$src" ]; then cp -a "$src/." "$dst/"; return; fi
	cp -L "$src" "$dst" || die "cannot copy $src"
	if [ -x "$src" ] && ldd "$src" >/dev/null 2>&1; then
		for lib in $(ldd "$src" | grep -oE '/[^ ]+' | sort -u); do
			[ -e "$IR$lib" ] || { mkdir -p "$IR$(dirname "$lib")"; cp -L "$lib" "$IR$lib"; }
		done
	fi
}

build_guest_c() {	# compiles tests/vmtest/guest/*.c -> $CACHE/guest-bin/NAME
	local c name out libs
	mkdir -p "$CACHE/guest-bin"
	for c in "$VT"/guest/*.c; do
		[ -e "$c" ] || continue
		name=$(basename "$c" .c)
		out=$CACHE/guest-bin/$name
		# Extra link flags: a "vmtest-ldlibs: -lbpf -lelf -lz" line in the source.
		libs=$(sed -n 's/.*vmtest-ldlibs:\(.*\)$/\1/p' "$c" | sed 's#\*/##' | head -n1)
		if [ ! -x "$out" ] || [ "$c" -nt "$out" ] || [ -n "$(find "$VT/guest" "$ROOT/include" -name '*.h' -newer "$out" 2>/dev/null | head -n1)" ]; then
			# shellcheck disable=SC2086
			gcc -static -O2 -Wall -Wextra -Werror -Iinclude -I"$VT/guest" -o "$out.tmp" "$c" $libs > "$LOG/cc-$name.log" 2>&1 || {
				sed 's/^/  | /' "$LOG/cc-$name.log" >&2
				die "cannot compile $c"
			}
			mv -f "$out.tmp" "$out"
		fi
		add_file "$out" "/bin/$name"
	done
}

add_guest_bins() {	# tests/vmtest/guest-bins lines and PRIVMEM_VMTEST_BINS words
	local line src dst opt
	{
		[ -f "$VT/guest-bins" ] && sed -e 's/#.*//' "$VT/guest-bins"
		for src in $EXTRA_BINS; do echo "$src"; done
	} | while read -r src dst _; do
		[ -n "$src" ] || continue
		opt=0
		case "$src" in \?*) opt=1; src=${src#\?};; esac
		[ -n "$dst" ] || dst=/bin/$(basename "$src")
		if [ ! -e "$src" ]; then
			[ $opt = 1 ] && { say "optional guest file $src not found, skipped"; continue; }
			die "guest file $src (from tests/vmtest/guest-bins or PRIVMEM_VMTEST_BINS) not found (build it first)"
		fi
		add_file "$src" "$dst"
	done || exit 2
}

build_initramfs() {
	IR=$RUN/root
	rm -rf "$IR" && mkdir -p "$IR"/{bin,sbin,dev,proc,sys,tmp,run,lib/modules,vmtest/tests}
	cp /bin/busybox "$IR/bin/busybox"
	cp "$VT/init" "$IR/init" && chmod 755 "$IR/init"
	cp "$VT/lib.sh" "$IR/vmtest/lib.sh"
	# Modules, decompressed, in load order.
	local m f
	MODORDER=""
	for m in $BASE_MODULES $EXTRA_MODULES; do mod_add "$m"; done
	: > "$IR/vmtest/modules.list"
	for m in $MODORDER; do
		f=$(mod_file "$m")
		case "$f" in
		*.ko.xz) xz -dc "$f" > "$IR/lib/modules/$m.ko";;
		*.ko.zst) zstd -qdc "$f" > "$IR/lib/modules/$m.ko";;
		*.ko.gz) gzip -dc "$f" > "$IR/lib/modules/$m.ko";;
		*) cp "$f" "$IR/lib/modules/$m.ko";;
		esac || die "cannot decompress $f"
		echo "$m" >> "$IR/vmtest/modules.list"
	done
	# Guest tests, run by /init in name order.
	local t n=0
	for t in $EXTRA_TESTS; do [ -f "$t" ] || die "PRIVMEM_VMTEST_EXTRA_TESTS: no file $t"; done
	for t in "$VT"/guest/*.sh $EXTRA_TESTS; do
		[ -e "$t" ] || continue
		if [ -n "$ONLY_TESTS" ]; then
			local pat hit=0
			for pat in $ONLY_TESTS; do
				# shellcheck disable=SC2254
				case "$(basename "$t")" in $pat|$pat.sh) hit=1;; esac
			done
			[ $hit = 1 ] || continue
		fi
		cp "$t" "$IR/vmtest/tests/" && n=$((n + 1))
	done
	[ $n -gt 0 ] || die "no guest tests selected (tests/vmtest/guest/*.sh, PRIVMEM_VMTEST_TESTS='$ONLY_TESTS')"
	build_guest_c
	add_guest_bins
	{
		echo "VMTEST_KREL='$KREL'"
		echo "VMTEST_TEST_TIMEOUT='$TEST_TIMEOUT'"
		# stock: the distribution's KVM (no VM type 1); swprot: rebuilt
		if [ "$STOCK" = 1 ]; then echo "VMTEST_KVM=stock"; else echo "VMTEST_KVM=swprot"; fi
	} > "$IR/vmtest/env"
	(cd "$IR" && find . | /bin/busybox cpio -o -H newc 2>/dev/null | gzip -1 > "$RUN/initrd.gz.tmp") ||
		die "cannot pack the initramfs"
	mv -f "$RUN/initrd.gz.tmp" "$RUN/initrd.gz"
}

# ----------------------------------------------------------------- boot ----
boot_and_report() {
	local console=$RUN/console.log rc pass=0 fail=0 skip=0 line kind rest done_seen=0
	say "booting $KREL (timeout ${BOOT_TIMEOUT}s; console: $console)"
	local qemu=(timeout -k 10 "$BOOT_TIMEOUT" qemu-system-x86_64 -nographic -no-reboot -m 2G -smp "$SMP"
		-accel "tcg,thread=$TCG_THREAD" -cpu max -kernel "$K/vmlinuz" -initrd "$RUN/initrd.gz"
		-append "console=ttyS0 lsm=landlock,lockdown,yama,bpf panic=-1 quiet $EXTRA_APPEND")
	if [ "$VERBOSE" = 1 ]; then
		"${qemu[@]}" < /dev/null 2>&1 | tee "$console"
	else
		"${qemu[@]}" < /dev/null > "$console" 2>&1
	fi
	rc=${PIPESTATUS[0]}
	T_BOOT=$(now)
	while IFS= read -r line; do
		line=${line//$'\r'/}
		case "$line" in *"VMTEST: "*) ;; *) continue;; esac
		line=${line#*VMTEST: }
		kind=${line%% *} rest=${line#* }
		case "$kind" in
		PASS) pass=$((pass + 1)); echo "PASS $rest";;
		FAIL) fail=$((fail + 1)); echo "FAIL $rest";;
		SKIP) skip=$((skip + 1)); echo "SKIP $rest";;
		INFO) echo "info $rest";;
		DONE) done_seen=1;;
		esac
	done < "$console"
	if [ $done_seen = 0 ]; then
		fail=$((fail + 1))
		case $rc in
		124|137) echo "FAIL vmtest: guest did not finish within ${BOOT_TIMEOUT}s (qemu killed)";;
		*) echo "FAIL vmtest: guest never reported completion (qemu exit $rc: panic or crash?)";;
		esac
		echo "---- last 40 console lines ($console) ----"
		tail -n 40 "$console" | tr -d '\r' | sed 's/\x1b\[[0-9;?]*[a-zA-Z]//g; s/\x1bc//g'
		echo "----"
	elif [ $((pass + fail)) = 0 ]; then
		fail=$((fail + 1))
		echo "FAIL vmtest: the guest reported no results"
	fi
	[ $skip -gt 0 ] && say "$skip skipped"
	RESULT="$pass passed, $fail failed$([ $skip -gt 0 ] && echo ", $skip skipped")"
	[ $fail = 0 ]
}

# --------------------------------------------------------------- matrix ----
# Each kernel in its own invocation of this script (same binaries, same
# cache), its lines prefixed "[name]" so that no inner tally reads as ours,
# then a line per kernel and one tally over all of them.
run_matrix() {
	local sel out krel p f sk tp=0 tf=0 ts=0 rc=0 summary=""
	out=$(mktemp -d)
	if [ "$OFFLINE" != 1 ]; then
		exec 9> "$CACHE/.lock"
		flock -w 1800 9 || die "another vmtest holds $CACHE/.lock for over 30 min"
		apt_refresh
		flock -u 9; exec 9>&-
	fi
	for sel in $KERNELS; do
		PRIVMEM_VMTEST_SELECT=$sel PRIVMEM_VMTEST_APT_FRESH=1 PRIVMEM_VMTEST_KERNELS= KERNELS= \
			"${BASH_SOURCE[0]}" 2>&1 | tee "$out/$sel.log" | sed -u "s/^/[$sel] /"
		krel=$(sed -n 's/^vmtest: kernel \([^ ]*\) .*/\1/p' "$out/$sel.log" | head -n1)
		# the kernel's own tally: "N passed, N failed[, N skipped]" (a run with skips
		# used to read as having none, and so as a setup error)
		p=$(sed -nE 's/^([0-9]+) passed, ([0-9]+) failed(, [0-9]+ skipped)?$/\1/p' "$out/$sel.log" | tail -n1)
		f=$(sed -nE 's/^([0-9]+) passed, ([0-9]+) failed(, [0-9]+ skipped)?$/\2/p' "$out/$sel.log" | tail -n1)
		sk=$(sed -nE 's/^[0-9]+ passed, [0-9]+ failed, ([0-9]+) skipped$/\1/p' "$out/$sel.log" | tail -n1)
		sk=${sk:-0}
		if [ -z "$p" ]; then
			# setup error: no tally of its own; one failure for the kernel
			echo "FAIL [$sel] vmtest: $(grep -m1 '^vmtest: error:' "$out/$sel.log" || tail -n1 "$out/$sel.log")"
			p=0 f=1
		fi
		tp=$((tp + p)) tf=$((tf + f)) ts=$((ts + sk))
		summary="$summary
vmtest: matrix: $sel ${krel:-?}: $p passed, $f failed, $sk skipped"
	done
	rm -rf "$out"
	echo "${summary#?}"
	echo "$tp passed, $tf failed$([ "$ts" -gt 0 ] && echo ", $ts skipped")"
	[ "$tf" = 0 ] || rc=1
	exit $rc
}

# ----------------------------------------------------------------- main ----
[ -z "$SELECT" ] && [ -n "$KERNELS" ] && run_matrix
t=$(now)
# The kernel's cache dir: rebuilt KVMs and stock ones of the same release apart.
kdir() { if [ "$STOCK" = 1 ]; then echo "$CACHE/k/stock-$1"; else echo "$CACHE/k/$1"; fi; }
LAST=$CACHE/last-kernel
[ -n "$SELECT" ] && [ "$SELECT" != default ] && LAST=$CACHE/last-${SELECT//[^a-zA-Z0-9.+_-]/_}
exec 9> "$CACHE/.lock"
flock -w 1800 9 || die "another vmtest holds $CACHE/.lock for over 30 min"
if [ "$OFFLINE" = 1 ]; then
	[ -f "$LAST" ] || die "PRIVMEM_VMTEST_OFFLINE=1 but no kernel was fetched before ($LAST)"
	# shellcheck disable=SC1090
	. "$LAST"
	export APT_CONFIG=$APT/apt.conf
	say "offline: reusing $KREL"
elif [ -n "$PIN_KERNEL" ] && [ -f "$(kdir "$PIN_KERNEL")/.stamp-unpack" ] && [ -f "$(kdir "$PIN_KERNEL")/pkgs" ]; then
	KREL=$PIN_KERNEL; PKGS=$(cat "$(kdir "$KREL")/pkgs")
	SRCMM=$(echo "${KREL%%[-+]*}" | cut -d. -f1,2)
	KPKGVER=$(echo "$PKGS" | tr ' ' '\n' | sed -n "s/^linux-\(headers\|image\|binary\)-$KREL=//p" | head -n1)
	export APT_CONFIG=$APT/apt.conf
else
	if [ "$APT_FRESH" = 1 ] && [ -f "$APT/apt.conf" ]; then
		export APT_CONFIG=$APT/apt.conf	# the matrix driver just refreshed the lists
		MIRROR=${PRIVMEM_VMTEST_MIRROR:-$(host_mirror)}
	else
		apt_refresh
	fi
	pick_kernel
fi
K=$(kdir "$KREL")
mkdir -p "$K"
printf '%s\n' "$PKGS" > "$K/pkgs"
printf 'KREL=%q\nPKGS=%q\nSRCMM=%q\nKPKGVER=%q\n' "$KREL" "$PKGS" "$SRCMM" "$KPKGVER" > "$LAST"
touch "$K/.last-used"
if [ "$STOCK" = 1 ]; then
	say "kernel $KREL (package version $KPKGVER${LAYOUT:+, $LAYOUT layout}, stock KVM)"
else
	say "kernel $KREL (package version $KPKGVER${LAYOUT:+, $LAYOUT layout}, KVM rebuilt with SW_PROTECTED_VM)"
	ver_ge "${KREL%%[-+]*}" "$MIN_PREFERRED" ||
		say "WARNING: $KREL < $MIN_PREFERRED: no kvm_vm_set_mem_attributes tracepoint${PIN_KERNEL:+ (pinned)}"
fi
fetch_kernel
T_FETCH=$(now); T_FETCH_S=$(secs "$t" "$T_FETCH")

build_modules
T_BUILD=$(now); T_BUILD_S=$(secs "$T_FETCH" "$T_BUILD")

# PRIVMEM_VMTEST_KEEP_KERNELS=N > 0: keep the N most recently used kernels
# and drop the rest. Never by default: other runs (a matrix, other users of
# the cache) need theirs.
if [ "$KEEP_KERNELS" -gt 0 ] 2>/dev/null; then
	ls -1dt "$CACHE"/k/*/.last-used 2>/dev/null | tail -n +$((KEEP_KERNELS + 1)) | while read -r f; do
		say "pruning $(basename "$(dirname "$f")") from the cache"
		rm -rf "$(dirname "$f")"
	done
fi
flock -u 9; exec 9>&-
if [ "$FETCH_ONLY" = 1 ]; then
	say "fetched $KREL into $K (fetch ${T_FETCH_S}s, module build ${T_BUILD_S}s); not booting"
	echo "0 passed, 0 failed"
	exit 0
fi

# Per-run directory (concurrent runs share the cache, not their initramfs).
mkdir -p "$CACHE/runs"
RUN=$(mktemp -d "$CACHE/runs/$(date +%Y%m%d-%H%M%S).XXXX")
ls -1dt "$CACHE"/runs/*/ 2>/dev/null | tail -n +6 | xargs -r rm -rf
ln -sfn "$RUN" "$CACHE/last-run"
build_initramfs
T_INITRAMFS=$(now); T_INITRAMFS_S=$(secs "$T_BUILD" "$T_INITRAMFS")

boot_and_report
status=$?
rm -rf "$RUN/root"
say "timings: fetch ${T_FETCH_S}s, module build ${T_BUILD_S}s, initramfs ${T_INITRAMFS_S}s, boot+tests $(secs "$T_INITRAMFS" "$T_BOOT")s, total $(secs "$T0" "$(now)")s"
echo "$RESULT"
[ $status = 0 ] && exit 0 || exit 1
