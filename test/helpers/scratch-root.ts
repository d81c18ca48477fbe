// A scratch root made of this machine: an overlay with / as its lower layer
// and a directory in /dev/shm (another file system, so the layers do not
// overlap) as the upper one, with /proc, /sys, /dev and /run/netns bound in.
// `dpkg -i` there installs for real — users, files, the dpkg database — and
// every change lands in the upper directory; the host is untouched. Each
// command gets its own private mount namespace; the upper layer persists
// between commands until remove().

import fs from 'node:fs';

const SETUP = String.raw`
set -e
t=$1; shift
mkdir -p "$t/up" "$t/work" "$t/root"
mount -t overlay ctscope-scratch -o "lowerdir=/,upperdir=$t/up,workdir=$t/work" "$t/root"
for d in proc sys dev run/netns; do mount --rbind "/$d" "$t/root/$d"; done
exec chroot "$t/root" "$@"
`;

export class ScratchRoot {
  private constructor(readonly dir: string) {}

  static create(): ScratchRoot {
    return new ScratchRoot(fs.mkdtempSync('/dev/shm/ctscope-root-'));
  }

  /** argv running cmd chrooted in the scratch root (cmd's paths are the root's). */
  argv(cmd: string[]): string[] {
    return ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', SETUP, 'scratch-root', this.dir, ...cmd];
  }

  remove(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
