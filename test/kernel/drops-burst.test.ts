// A burst of netfilter drops well above what the timer alone would drain
// between two ticks: with the default settings nothing is lost, and every
// drop is one record (nft's rule counter is the kernel's figure).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

import { Lab, kernelTier, withKernelLock } from '../helpers/lab.js';

import type { RecordColumns } from '../../src/records/batch.js';
import { DropSource } from '../../src/sources/bpf-drops.js';

import { all, built, cannotRun } from '../helpers/requires.js';

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), 'drops-fixtures');
const skip = cannotRun(all(kernelTier(), built('drops')));

const BURST = 30011;

describe.skipIf(skip)('drops: a burst', () => {
  it(`delivers ${BURST} drops in batches with nothing lost`, async () => {
    await withKernelLock(async () => {
      const lab = await Lab.create('drb');
      const source = new DropSource();
      try {
        await lab.nft(lab.server, 'table inet ctsb { chain pre { type filter hook prerouting priority 0; udp dport 9 counter drop; }; }');
        await lab.exec(lab.client, ['ping', '-c', '1', '-W', '2', lab.serverAddress]);
        const netns = lab.netnsInode(lab.server);
        let records = 0;
        let batches = 0;
        await source.start({
          ingest(c: RecordColumns) {
            batches++;
            for (let i = 0; i < c.length; i++) if (c.netns[i] === netns) records++;
          },
        });
        const t0 = Date.now();
        await lab.exec(lab.client, ['python3', path.join(fixtures, 'flows.py'), 'udp-same', lab.clientAddress, lab.serverAddress, '9', String(BURST)]);
        const sendMs = Date.now() - t0;
        const ruleset = JSON.stringify(await lab.nftJson(lab.server));
        const dropped = Number(/"counter":\s*\{\s*"packets":\s*(\d+)/.exec(ruleset)![1]);
        const end = Date.now() + 5000;
        while (records < dropped && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
        const st = source.status();
        console.info(`burst: ${dropped} dropped in ${sendMs} ms, ${records} records in ${batches} batches, lost ${st.lost.total}`);
        expect(dropped).toBeGreaterThan(BURST * 0.9);
        expect(records).toBe(dropped);
        expect(st.lost.total).toBe(0);
        // batches, not one call per record
        expect(batches).toBeLessThan(records / 10);
      } finally {
        await source.stop();
        await lab.destroy();
      }
    });
  }, 60_000);
});
