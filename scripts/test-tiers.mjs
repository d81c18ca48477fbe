// What the kernel tier of the suite needs from this machine, checked the same
// way by the runner (scripts/run-tests.mjs) and by the tests
// (test/helpers/lab.ts). A requirement that is not met says why and of which
// kind it is: 'machine' (this machine cannot: not root, no BTF) or 'setup'
// (scripts/setup.sh --test provides it: a tool, a module, a build) — a CI run,
// which has run the set-up, fails on a 'setup' skip.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

function has(cmd) {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Can this process run kernel tests (root, BTF, netns, nft, conntrack, nf_conntrack)? */
export function kernelTier() {
  if (process.getuid?.() !== 0) return { ok: false, kind: 'machine', why: 'kernel tests need root (run: sudo npm test)' };
  if (!fs.existsSync('/sys/kernel/btf/vmlinux')) return { ok: false, kind: 'machine', why: 'kernel has no BTF (/sys/kernel/btf/vmlinux)' };
  for (const tool of ['ip', 'nft', 'conntrack']) {
    if (!has(tool)) return { ok: false, kind: 'setup', why: `${tool} is not installed (scripts/setup.sh --test installs it)` };
  }
  if (!fs.existsSync('/proc/sys/net/netfilter/nf_conntrack_max')) {
    return { ok: false, kind: 'setup', why: 'nf_conntrack is not loaded (modprobe nf_conntrack; scripts/setup.sh does)' };
  }
  return { ok: true };
}
