#!/bin/bash
# Prints the path of a minimal Debian root (a tarball), made with debootstrap
# for this host's suite with the given packages included, and cached under
# /var/cache/privmem-deb, keyed by suite, mirror, architecture and package
# list: made once (a minute or two), reused after.
# Usage: tests/deb/root.sh PKG...
set -euo pipefail
cache=${PRIVMEM_DEB_CACHE:-/var/cache/privmem-deb}
. /etc/os-release
suite=${VERSION_CODENAME:?no VERSION_CODENAME in /etc/os-release}
arch=$(dpkg --print-architecture)
# the mirror apt already uses for this suite (deb822 .sources first, then sources.list)
mirror=$(awk -v s="$suite" '
	/^URIs:/ { u = $2 } /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == s && u) { print u; exit } }
	/^deb[ \t]/ && $3 == s { print $2; exit }' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null || true)
[ -n "$mirror" ] || { echo "root.sh: no apt source for suite $suite" >&2; exit 1; }
pkgs=$(printf '%s\n' "$@" | sort -u | paste -sd, -)
key=$(printf '%s %s %s %s minbase\n' "$suite" "$mirror" "$arch" "$pkgs" | sha256sum | cut -c1-16)
tarball=$cache/$suite-$arch-$key.tar.gz
if [ ! -s "$tarball" ]; then
	mkdir -p "$cache"
	work=$(mktemp -d "$cache/.root-XXXXXX")
	trap 'rm -rf "$work"' EXIT
	echo "root.sh: debootstrap $suite ($arch, minbase, +$pkgs) from $mirror" >&2
	debootstrap --variant=minbase --arch="$arch" --include="$pkgs" "$suite" "$work/root" "$mirror" \
		>"$work/log" 2>&1 || { tail -20 "$work/log" >&2; exit 1; }
	rm -rf "$work/root/var/cache/apt/archives"/*.deb
	tar -C "$work/root" --numeric-owner -czf "$work/root.tar.gz" .
	mv "$work/root.tar.gz" "$tarball"	# atomic: a half-made root is never reused
fi
echo "$tarball"
