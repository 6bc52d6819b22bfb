#!/bin/bash
# make deb: builds privmem's .deb with debhelper (debian/) from a copy of
# the tree under build/deb, so that dpkg-buildpackage's products (written to
# the parent of the source directory) stay inside build/, then runs lintian
# on it: no errors and no warnings, or the build fails.
set -euo pipefail
cd "$(dirname "$0")/../.."
top=$PWD
out=$top/build/deb
ver=$(dpkg-parsechangelog -l debian/changelog -S Version)
src=$out/src/privmem-$ver

rm -rf "$out/src"
mkdir -p "$src"
# what git tracks or would track, as it is in the work tree (uncommitted edits included)
git ls-files -z --cached --others --exclude-standard |
	tar --null --ignore-failed-read -T - -cf - 2>/dev/null | tar -C "$src" -xf -
(cd "$src" && dpkg-buildpackage -b -us -uc -j2 >"$out/build.log" 2>&1) || {
	tail -40 "$out/build.log"
	echo "deb: dpkg-buildpackage failed (log: $out/build.log)" >&2
	exit 1
}
deb=$(ls "$out"/src/privmem_"$ver"_*.deb)
cp "$deb" "$out/"
changes=$(ls "$out"/src/privmem_"$ver"_*.changes)
echo "deb: built $out/$(basename "$deb")"
# --fail-on: any error or warning tag fails; overrides (debian/*.lintian-overrides) say why
lintian --fail-on error,warning --display-info --tag-display-limit 0 "$changes" | tee "$out/lintian.log"
echo "deb: lintian clean"
