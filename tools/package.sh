#!/usr/bin/env bash
# Build the Debian package: tools/package.sh [OUTDIR]
#
# Copies the source tree (the files git knows, committed or not) to
# OUTDIR/src/sluice-VERSION, runs dpkg-buildpackage there (debian/ holds
# control, rules, changelog, postinst, postrm) and leaves
# OUTDIR/sluice_VERSION_amd64.deb; the last line printed is its path.
# OUTDIR defaults to build/package. Needs dpkg-dev, debhelper and the
# Build-Depends of debian/control (tools/dev.sh installs them).
#
# Environment: DEB_BUILD_OPTIONS as dpkg-buildpackage reads it (e.g.
# nocheck to skip the unit tests, parallel=2).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$(realpath -m "${1:-build/package}")
VERSION=$(dpkg-parsechangelog -S Version)
ARCH=$(dpkg-architecture -qDEB_HOST_ARCH)
SRC=$OUT/src/sluice-$VERSION

if [ "$(sed -n "s/^  version: '\(.*\)',$/\1/p" meson.build)" != "${VERSION%%-*}" ]; then
	echo "package.sh: debian/changelog ($VERSION) and meson.build disagree on the version" >&2
	exit 1
fi
rm -rf "$OUT/src"
mkdir -p "$SRC"
# tracked and new files, not ignored ones (no build trees, no node_modules)
git ls-files -z --cached --others --exclude-standard |
	while IFS= read -r -d '' f; do
		[ -e "$f" ] && printf '%s\0' "$f"
	done | tar --null -T - -cf - | tar -xf - -C "$SRC"

export DEB_BUILD_OPTIONS=${DEB_BUILD_OPTIONS:-parallel=$(nproc)}
(cd "$SRC" && dpkg-buildpackage -us -uc -b) >"$OUT/build.log" 2>&1 || {
	tail -n 60 "$OUT/build.log" >&2
	echo "package.sh: dpkg-buildpackage failed; full log in $OUT/build.log" >&2
	exit 1
}
DEB=$OUT/sluice_${VERSION}_${ARCH}.deb
mv "$OUT/src/sluice_${VERSION}_${ARCH}.deb" "$DEB"
rm -f "$OUT"/src/*.buildinfo "$OUT"/src/*.changes "$OUT"/src/*.ddeb "$OUT"/src/*-dbgsym_*.deb
rm -rf "$SRC"
echo "$DEB"
