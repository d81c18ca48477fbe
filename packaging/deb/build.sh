#!/usr/bin/env bash
# Builds the Debian package with dpkg-deb: /usr/lib/ctscope (the npm package
# as installed, packaging/stage.sh), /usr/bin/ctscope, the hardened unit in
# /lib/systemd/system and a `ctscope` system user (created by postinst). The
# service is not enabled: `systemctl enable --now ctscope` when wanted.
#   packaging/deb/build.sh [CTSCOPE.tgz] [OUTDIR]   (default: npm pack; build/packages)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$(mkdir -p "${2:-$root/build/packages}" && cd "${2:-$root/build/packages}" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

tgz=${1:-}
if [ -z "$tgz" ]; then
  (cd "$root" && npm pack --pack-destination "$work" --loglevel=error >/dev/null)
  tgz=$(ls "$work"/ctscope-*.tgz)
fi
tgz=$(readlink -f "$tgz")

pkg="$work/pkg"
"$root/packaging/stage.sh" "$tgz" "$pkg"
version=$(node -p "require('$pkg/usr/lib/ctscope/package.json').version")
install -D -m 0644 "$root/share/systemd/ctscope.service" "$pkg/lib/systemd/system/ctscope.service"
install -D -m 0644 "$root/packaging/deb/copyright" "$pkg/usr/share/doc/ctscope/copyright"

# Depends: what the addon links (dpkg-shlibdeps reads it the way Debian's own
# packages are built) and Node >= 20 (the nodejs package provides /usr/bin/node).
shl="$work/shlibs"
mkdir -p "$shl/debian"
printf 'Source: ctscope\n\nPackage: ctscope\nArchitecture: amd64\n' > "$shl/debian/control"
libs=$(cd "$shl" && dpkg-shlibdeps -O "$pkg/usr/lib/ctscope/prebuilds/linux-x64/ctscope.napi.glibc.node" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[ -n "$libs" ] || { echo "deb/build.sh: dpkg-shlibdeps found no dependencies" >&2; exit 1; }

mkdir -p "$pkg/DEBIAN"
size=$(du -sk --exclude=DEBIAN "$pkg" | cut -f1)
cat > "$pkg/DEBIAN/control" <<CONTROL
Package: ctscope
Version: $version
Architecture: amd64
Maintainer: ctscope maintainers <ctscope@localhost>
Installed-Size: $size
Depends: nodejs (>= 20), $libs, passwd
Section: net
Priority: optional
Description: conntrack table-full attribution (eBPF + ctnetlink)
 When a node logs "nf_conntrack: table full, dropping packet", ctscope tells
 who is filling the conntrack table, how fast, with what kind of flows, and
 whose packets are being dropped: live over HTTP and Prometheus, and
 afterwards from a capture file. The daemon runs as the unprivileged user
 ctscope with only the capabilities it needs (ctscope.service).
CONTROL
install -m 0755 "$root/packaging/deb/postinst" "$root/packaging/deb/prerm" "$root/packaging/deb/postrm" "$pkg/DEBIAN/"
(cd "$pkg" && find . -path ./DEBIAN -prune -o -type f -print0 | sort -z | xargs -0 md5sum | sed 's| \./| |') > "$pkg/DEBIAN/md5sums"

deb="$out/ctscope_${version}_amd64.deb"
dpkg-deb --root-owner-group -Zxz --build "$pkg" "$deb" >/dev/null
echo "$deb"
