#!/bin/sh
# Idempotent: installs what privmem builds and tests with, mounts the
# pseudo file systems its hooks need. Needs root.
set -e
PKGS="build-essential clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev
libyaml-dev libjson-c-dev libncurses-dev libmicrohttpd-dev libcmocka-dev
mandoc pkg-config qemu-system-x86 busybox-static tmux xz-utils cpio systemd
flex bison dwarves bc rsync kmod libssl-dev"
# the bed's 32-bit VMM (compat ioctls): gcc -m32 -static
PKGS="$PKGS gcc-multilib"
# privmemd --metrics tests: promtool and a real prometheus, queried with curl and jq
PKGS="$PKGS prometheus curl jq"
# make fuzz: libFuzzer and the sanitizer runtimes for clang
PKGS="$PKGS libclang-rt-dev"
# make bench: the trace format against trace-cmd and perf on the same runs
PKGS="$PKGS trace-cmd linux-perf bpftrace time"
# make deb / debtest: debhelper and lintian build and lint the package,
# debootstrap makes the fresh root it is installed into
PKGS="$PKGS debhelper lintian debootstrap dpkg-dev"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "deps: installing$missing"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi
mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || true
mountpoint -q /sys/kernel/security || mount -t securityfs none /sys/kernel/security 2>/dev/null || true
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf 2>/dev/null || true
echo "deps: ok"
