// The lab itself: namespaces come up joined, and destroy() leaves nothing and
// restores nf_conntrack_max.
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Lab, kernelTier, withKernelLock } from '../helpers/lab.js';
import { cannotRun } from '../helpers/requires.js';

const tier = kernelTier();
const skip = cannotRun(tier);

describe.skipIf(skip)('lab', () => {
  it('joins two namespaces, and destroy() restores nf_conntrack_max and removes them', async () => {
    await withKernelLock(async () => {
      const before = fs.readFileSync('/proc/sys/net/netfilter/nf_conntrack_max', 'utf8').trim();
      const lab = await Lab.create('labt');
      try {
        lab.setConntrackMax(1009);
        expect(fs.readFileSync('/proc/sys/net/netfilter/nf_conntrack_max', 'utf8').trim()).toBe('1009');
        const { stdout } = await lab.exec(lab.client, ['ping', '-c', '1', '-W', '2', lab.serverAddress]);
        expect(stdout).toMatch(/1 received/);
        expect(lab.netnsInode(lab.client)).toBeGreaterThan(0);
        expect(lab.netnsInode(lab.client)).not.toBe(lab.netnsInode(lab.server));
      } finally {
        await lab.destroy();
      }
      expect(fs.readFileSync('/proc/sys/net/netfilter/nf_conntrack_max', 'utf8').trim()).toBe(before);
      expect(fs.existsSync('/run/netns/labt-c')).toBe(false);
    });
    // The lock may be held by another test run on the machine; the test itself takes < 1 s.
  }, 10 * 60_000);
});
