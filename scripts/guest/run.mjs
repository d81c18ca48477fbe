#!/usr/bin/env node
// Runs a command on a guest kernel of the matrix (see harness.mjs):
//   node scripts/guest/run.mjs [--kernel PKG] [--timeout SECONDS] [--snapshot] [--verbose] -- COMMAND...
//     --snapshot: run against a copy of the addon, bpf/.output and dist taken now
//   node scripts/guest/run.mjs --fetch      fetch and prepare every kernel of kernels.txt
//   node scripts/guest/run.mjs --list       print kernels.txt resolved to versioned packages
// Exit code: the command's, or 2 when the guest could not run it.
import { GuestError, guestSupport, kernelPackages, prepareKernel, resolvePackage, runInGuest } from './harness.mjs';

const argv = process.argv.slice(2);
const sep = argv.indexOf('--');
const flags = sep < 0 ? argv : argv.slice(0, sep);
const command = sep < 0 ? '' : argv.slice(sep + 1).join(' ');
const flag = (name) => {
  const i = flags.indexOf(name);
  return i < 0 ? undefined : flags[i + 1];
};
const usage = 'usage: run.mjs [--kernel PKG] [--timeout SECONDS] [--snapshot] [--verbose] -- COMMAND | --fetch | --list';
const log = (l) => process.stderr.write(`${l}\n`);

try {
  if (flags.includes('--help')) {
    console.log(usage);
  } else if (flags.includes('--list')) {
    for (const p of kernelPackages()) console.log(`${p}\t${resolvePackage(p)}`);
  } else if (flags.includes('--fetch')) {
    const s = guestSupport();
    if (!s.ok) throw new GuestError(s.why);
    for (const p of kernelPackages()) {
      const k = prepareKernel(p, { log });
      console.log(`${p}\t${k.pkg}\t${k.release}\t${k.modules.length} boot modules`);
    }
  } else {
    if (!command) throw new GuestError(`no command\n${usage}`);
    const timeout = Number(flag('--timeout') ?? 300);
    if (!Number.isFinite(timeout) || timeout <= 0) throw new GuestError(`--timeout must be a positive number of seconds`);
    const verbose = flags.includes('--verbose');
    const r = await runInGuest({
      kernel: flag('--kernel') ?? kernelPackages()[0],
      command,
      timeoutMs: timeout * 1000,
      snapshot: flags.includes('--snapshot') ? ['build/Release/ctscope.node', 'bpf/.output', 'dist'] : [],
      log,
      onConsole: verbose ? (c) => process.stderr.write(c) : undefined,
    });
    if (!verbose) process.stdout.write(r.output);
    log(`guest ${r.release}: exit ${r.exitCode}, command reached after ${r.bootMs} ms, total ${r.durationMs} ms, out: ${r.outDir}`);
    process.exitCode = r.exitCode;
  }
} catch (err) {
  if (!(err instanceof GuestError)) throw err;
  log(`ctscope guest: ${err.message}`);
  process.exitCode = 2;
}
