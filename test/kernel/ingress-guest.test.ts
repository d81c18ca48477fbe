// The ingress counter on the kernels of the guest matrix
// (scripts/guest/kernels.txt; Debian 12's 6.1 has no tcx): 'auto' falls back
// to a legacy clsact filter, SYN and new-UDP-flow arrivals equal nft's
// counter and conntrack's entries with both UDP judges (conntrack lookup,
// LRU), and close() leaves no filter of ours. The scenario itself is
// test/kernel/ingress-guest.scenario.mjs. Runs in the kernel tier because it
// belongs with the other ingress tests; it needs no kernel lock (the guest
// has its own kernel).
import { describe, expect, it } from 'vitest';

import { guestSupport, kernelPackages, runInGuest } from '../../scripts/guest/harness.mjs';
import { cannotRun } from '../helpers/requires.js';

const support = guestSupport();
const skip = cannotRun(support);
const kernels: string[] = support.ok ? kernelPackages() : ['(none)'];

interface ScenarioRun {
  variant: string;
  chosen: string;
  tcxProbe: boolean;
  hook: string;
  error?: string;
  filtersAttached: number;
  arrivals: { tcpSyn: number; udpNew: number };
  nftSyn: number;
  conntrackUdp: number;
  closeErrors: string[];
  filtersAfter: number;
  clsactKept: boolean;
}

describe.skipIf(skip).each(kernels)('ingress counter in a guest running %s', (kernel) => {
  it('falls back to a legacy filter, counts like nft and conntrack, leaves nothing', async () => {
    const r = (await runInGuest({
      kernel,
      command: 'node test/kernel/ingress-guest.scenario.mjs',
      timeoutMs: 5 * 60_000,
      snapshot: ['build/Release/ctscope.node', 'bpf/.output'],
    })) as { output: string; release: string; exitCode: number };
    const line = r.output.split('\n').reverse().find((l) => l.startsWith('{"release"'));
    expect(line, `scenario output:\n${r.output}`).toBeDefined();
    const res = JSON.parse(line!) as { release: string; runs: ScenarioRun[] };
    console.info(`guest ${res.release}: ${JSON.stringify(res.runs.map((x) => [x.variant, x.chosen, x.hook, x.arrivals, x.nftSyn, x.conntrackUdp]))}`);
    expect(res.runs.map((x) => x.variant)).toEqual(['auto', 'lru']);
    for (const run of res.runs) {
      expect(run.error, run.error).toBeUndefined();
      // tcx arrived in 6.6; the guest matrix kernels are older
      expect(run.hook).toBe(/^[0-5]\.|^6\.[0-5]\./.test(res.release) ? 'tc-clsact' : 'tcx');
      expect(run.filtersAttached).toBe(run.hook === 'tc-clsact' ? 1 : 0);
      expect(run.tcxProbe).toBe(run.hook === 'tcx');
      expect(run.nftSyn).toBe(211);
      expect(run.conntrackUdp).toBe(14);
      expect(run.arrivals).toEqual({ tcpSyn: run.nftSyn, udpNew: run.conntrackUdp });
      expect(run.closeErrors).toEqual([]);
      expect(run.filtersAfter).toBe(0);
    }
    expect(res.runs[1]!.chosen).toBe('lru');
  }, 6 * 60_000);
});
