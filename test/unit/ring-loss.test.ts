// What an eBPF ring source loses reaches the answers: reserve failures, runs
// the kernel skipped because the program was already running on that CPU
// (bpf_prog_info.recursion_misses: a kfree_skb in a softirq that interrupted
// the drop program is not seen), records a full queue refused and batches not
// decoded are all in /v1/status's lost total, in /metrics, and — as LOSS
// records the source hands its sink — in the model's lost count, which the
// advice's "counts are lower bounds" reads. The native side's figure is read
// on the real kernel in test/kernel/drops.test.ts.

import { describe, expect, it } from 'vitest';
import { Exposition } from '../../src/metrics/exposition.js';
import { renderSourceMetrics } from '../../src/metrics/table-families.js';
import { Model } from '../../src/model/model.js';
import type { RecordColumns } from '../../src/records/batch.js';
import { Kind } from '../../src/records/layout.js';
import { LossTeller, ringSourceHealth } from '../../src/sources/bpf-ring.js';

const stats = (o: Partial<{ perCpuReserveFailed: number[]; recursionMisses: number; queueDropped: number }>) => ({
  perCpuReserveFailed: o.perCpuReserveFailed ?? [],
  recursionMisses: o.recursionMisses ?? 0,
  queueDropped: o.queueDropped ?? 0,
  delivered: 0,
  malformed: 0,
  readerError: null,
  running: true,
});

describe('a ring source\'s losses', () => {
  it.each([
    ['nothing lost', {}, 0, 0],
    ['reserve failures on two CPUs', { perCpuReserveFailed: [2, 5] }, 0, 7],
    ['runs the kernel skipped', { recursionMisses: 79 }, 0, 79],
    ['every mechanism at once', { perCpuReserveFailed: [1, 0], recursionMisses: 4, queueDropped: 3 }, 5, 13],
  ])('%s: the total counts each', (_name, s, decodeErrors, total) => {
    const h = ringSourceHealth(true, stats(s), decodeErrors);
    expect(h.lost.total).toBe(total);
    expect(h.lost.recursionMisses).toBe((s as { recursionMisses?: number }).recursionMisses ?? 0);
  });

  it('/metrics has the skipped runs per source', () => {
    const out = new Exposition();
    renderSourceMetrics(out, [{ name: 'drops', state: 'running', hook: 'tp_btf:kfree_skb', records: 10, lost: ringSourceHealth(true, stats({ recursionMisses: 79 }), 0).lost }]);
    const text = out.text();
    expect(text).toContain('ctscope_bpf_recursion_misses_total{source="drops"} 79');
    expect(text).toContain('ctscope_records_lost_total{source="drops"} 79');
  });

  it('new losses become LOSS records: the model counts each once', () => {
    const model = new Model();
    const seen: number[] = [];
    const sink = {
      ingest(b: RecordColumns) {
        for (let i = 0; i < b.length; i++) if (b.kind[i] === Kind.LOSS) seen.push(b.aux[i]!);
        model.ingest(b);
      },
    };
    const teller = new LossTeller(sink);
    const t0 = 1_000e9;
    expect(teller.tell(0, t0)).toBeNull();
    expect(teller.tell(5, t0 + 1e9)).toBeNull();
    expect(teller.tell(5, t0 + 2e9)).toBeNull(); // nothing new: no record
    expect(teller.tell(12, t0 + 3e9)).toBeNull();
    expect(seen).toEqual([5, 7]);
    expect(model.counter('lost')).toBe(12);
    expect(model.windowSum('lost', 60)).toBe(12);
  });

  it('a sink that throws is told, not thrown through', () => {
    const teller = new LossTeller({
      ingest() {
        throw new Error('full');
      },
    });
    expect(teller.tell(3, 1e9)).toBe('full');
  });
});
