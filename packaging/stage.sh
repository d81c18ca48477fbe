#!/usr/bin/env bash
# The installed package tree both the .deb and the image ship: the npm
# package (tarball) installed as npm installs it for users — production
# dependencies from the npm registry, the prebuilt addon, the BPF objects —
# then trimmed of what only a local build of the addon would use (the
# prebuild fits: both targets are Debian 12 amd64 with libbpf1).
#   packaging/stage.sh CTSCOPE.tgz DEST     -> DEST/usr/lib/ctscope, DEST/usr/bin/ctscope
set -euo pipefail
tgz=$(readlink -f "$1")
dest=$2
[ -f "$tgz" ] || { echo "stage.sh: no tarball $1" >&2; exit 2; }
npmdir=$(mktemp -d)
trap 'rm -rf "$npmdir"' EXIT
# --ignore-scripts: nothing to build (the prebuild is in the package), and no
# dependency's install script runs on the packaging machine.
npm install -g --prefix "$npmdir" --ignore-scripts --omit=dev --prefer-offline \
  --no-audit --no-fund --loglevel=error "$tgz" >/dev/null
pkg="$npmdir/lib/node_modules/ctscope"
[ -f "$pkg/prebuilds/linux-x64/ctscope.napi.glibc.node" ] || { echo "stage.sh: the tarball has no linux-x64 prebuild" >&2; exit 1; }
rm -rf "$pkg/native" "$pkg/binding.gyp" "$pkg/scripts" "$pkg"/bpf/*.h "$pkg/node_modules/node-addon-api"
# What no dependency loads at run time: tests, docs, examples, type
# declarations and source maps (a third of node_modules).
find "$pkg/node_modules" -depth \( -type d \( -name test -o -name tests -o -name __tests__ -o -name docs -o -name example -o -name examples \
  -o -name benchmark -o -name benchmarks -o -name .github -o -name @types \) -prune -exec rm -rf {} + \) -o \
  \( -type f \( -name '*.md' -o -name '*.map' -o -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.ts' -o -name '.npmignore' \
  -o -name '.eslintrc*' -o -name '.travis.yml' -o -name 'tsconfig*.json' \) -delete \)
mkdir -p "$dest/usr/lib" "$dest/usr/bin"
rm -rf "$dest/usr/lib/ctscope"
mv "$pkg" "$dest/usr/lib/ctscope"
ln -sfn ../lib/ctscope/bin/ctscope.js "$dest/usr/bin/ctscope"
