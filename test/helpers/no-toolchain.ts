// A machine without a compiler, made from this one: a private mount namespace
// where every header directory and compiler, assembler, linker and make is
// hidden (an empty read-only tmpfs over the directories, /dev/null over the
// binaries). What runs inside cannot compile anything, so a package that
// works there needs no toolchain on the node. The script checks its own work
// and refuses to run the command if any tool is still found on PATH.

const HIDE = String.raw`
set -e
for d in /usr/include /usr/local/include /usr/lib/gcc /usr/libexec/gcc /usr/lib/llvm-*; do
  if [ -d "$d" ]; then mount -t tmpfs -o ro,size=4k,mode=755 ctscope-no-toolchain "$d"; fi
done
for f in /usr/bin/clang* /usr/bin/llc* /usr/bin/llvm-* /usr/bin/gcc* /usr/bin/g++* /usr/bin/cc /usr/bin/c++ /usr/bin/cpp* \
         /usr/bin/*-linux-gnu-gcc* /usr/bin/*-linux-gnu-g++* /usr/bin/*-linux-gnu-cpp* /usr/bin/*-linux-gnu-ld* /usr/bin/*-linux-gnu-as \
         /usr/bin/make /usr/bin/ld /usr/bin/ld.bfd /usr/bin/ld.gold /usr/bin/as; do
  # (not ld.so: that is the dynamic loader.) A symlink to a tool already
  # hidden resolves to /dev/null itself.
  if [ -e "$f" ] && [ ! -c "$f" ]; then mount --bind /dev/null "$f"; fi
done
for t in clang clang-14 gcc g++ cc c++ cpp make llc ld as; do
  if command -v "$t" >/dev/null 2>&1; then echo "no-toolchain: $t is still on PATH" >&2; exit 97; fi
done
if [ -n "$(ls -A /usr/include)" ]; then echo "no-toolchain: /usr/include is still visible" >&2; exit 97; fi
exec "$@"
`;

/** argv running `cmd` where no compiler, header or make can be found. */
export function withoutToolchain(cmd: string[]): string[] {
  return ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', HIDE, 'no-toolchain', ...cmd];
}
