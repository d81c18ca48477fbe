// The kernel-matrix harness itself (scripts/guest/harness.mjs): a command's
// exit code, output and results come back; a bad package name, a missing
// snapshot path and a hung command fail with a message saying what happened.

import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

import { guestSupport, kernelPackages, moduleLoadOrder, prepareKernel, runInGuest } from '../../scripts/guest/harness.mjs';
import { cannotRun } from '../helpers/requires.js';

const support = guestSupport();
const skip = cannotRun(support);
const kernel = support.ok ? kernelPackages()[0]! : '';

describe.skipIf(skip)('guest harness', () => {
  it('resolves the meta package, fetches and orders modules by modules.dep', () => {
    const k = prepareKernel(kernel);
    expect(k.pkg).toMatch(/^linux-image-\d/);
    const order = k.modules.map((m) => path.basename(m, '.ko'));
    // dependencies before their users (9p needs netfs and 9pnet; nft_ct needs nf_tables and nf_conntrack)
    for (const [dep, user] of [['virtio_ring', 'virtio_pci'], ['9pnet', '9p'], ['netfs', '9p'], ['nf_tables', 'nft_ct'], ['nf_conntrack', 'nft_ct'], ['nf_defrag_ipv4', 'nf_conntrack']]) {
      expect(order.indexOf(dep!), `${dep} in ${order.join(',')}`).toBeGreaterThanOrEqual(0);
      expect(order.indexOf(dep!)).toBeLessThan(order.indexOf(user!));
    }
    expect(() => moduleLoadOrder(path.join(k.dir, 'lib/modules', k.release), ['no_such_module'])).toThrow(/module 'no_such_module' is neither in modules.dep nor built in/);
  }, 120_000);

  it('runs a command on the guest kernel and brings back its exit code, output and results', async () => {
    const r = await runInGuest({
      kernel,
      command: 'uname -r; echo "{\\"pid1\\": \\"$(cat /proc/1/comm)\\"}" > "$CTSCOPE_GUEST_OUT/results.json"; test -w /work && exit 9; exit 7',
      timeoutMs: 120_000,
    });
    expect(r.exitCode).toBe(7); // and the host tree is read-only in the guest
    expect(r.output.trim()).toBe(r.release);
    expect(r.release).not.toBe(fs.readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim());
    expect(r.results).toEqual({ pid1: 'init' });
    console.log(`guest ${r.release}: command reached after ${r.bootMs} ms`);
  }, 150_000);

  it('stops a command that runs past its time limit, saying so', async () => {
    await expect(runInGuest({ kernel, command: 'sleep 600', timeoutMs: 15_000 })).rejects.toThrow(/timed out after 15000 ms \((command was running|still booting)\): sleep 600/);
  }, 60_000);

  it('refuses bad input before booting', async () => {
    await expect(runInGuest({ kernel: 'linux-image-$(reboot)', command: 'true' })).rejects.toThrow(/bad kernel package name/);
    await expect(runInGuest({ kernel, command: 'true', snapshot: ['no/such/file'] })).rejects.toThrow(/snapshot path 'no\/such\/file' does not exist/);
    await expect(runInGuest({ kernel, command: '' })).rejects.toThrow(/no command/);
  });
});
