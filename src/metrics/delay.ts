// How stale the API is: per source, the delay from a record's timestamp
// (CLOCK_BOOTTIME at emission: in the kernel for eBPF records, at receipt on
// the reader thread for ctnetlink) to the moment its batch reached the model.
// Counted per record into fixed buckets, so the p99 an operator reads off
// /metrics is the records', not the batches'.

import type { RecordColumns } from '../records/batch.js';
import type { RecordSink } from '../records/sink.js';
import type { Exposition } from './exposition.js';

/** Upper bounds in seconds; the last bucket is +Inf. */
export const DELAY_LE_SECONDS = [0.001, 0.002, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.05, 0.1, 0.25, 1, 5] as const;
const LE_NS = DELAY_LE_SECONDS.map((s) => s * 1e9);

export class DelayHistogram {
  readonly buckets = new Float64Array(DELAY_LE_SECONDS.length + 1);
  count = 0;
  sumNs = 0;

  /** Records of `b` against `nowNs`; records stamped 0 (none of ours) are left out. */
  observe(b: RecordColumns, nowNs: number): void {
    const ts = b.ts;
    for (let i = 0; i < b.length; i++) {
      const t = ts[i]!;
      if (t === 0) continue;
      const d = nowNs > t ? nowNs - t : 0;
      let k = 0;
      while (k < LE_NS.length && d > LE_NS[k]!) k++;
      this.buckets[k]!++;
      this.count++;
      this.sumNs += d;
    }
  }

  /** The smallest bucket bound under which at least `q` of the records fell (null: none yet; Infinity: beyond the last). */
  quantileBound(q: number): number | null {
    if (this.count === 0) return null;
    const want = q * this.count;
    let acc = 0;
    for (let k = 0; k < LE_NS.length; k++) {
      acc += this.buckets[k]!;
      if (acc >= want) return DELAY_LE_SECONDS[k]!;
    }
    return Infinity;
  }
}

/** A sink that times each batch, then hands it on. */
export class DelayTap implements RecordSink {
  readonly histogram = new DelayHistogram();
  constructor(
    private readonly next: RecordSink,
    private readonly now: () => number,
  ) {}

  ingest(b: RecordColumns): void {
    this.histogram.observe(b, this.now());
    this.next.ingest(b);
  }
}

export function writeDelayMetrics(out: Exposition, bySource: ReadonlyMap<string, DelayHistogram>): void {
  if (bySource.size === 0) return;
  out.family('ctscope_record_delay_seconds', 'histogram', 'Delay from a record\'s timestamp (kernel emission for eBPF, receipt for ctnetlink) to its batch reaching the model, per record.');
  for (const [source, h] of bySource) {
    let acc = 0;
    for (let k = 0; k < DELAY_LE_SECONDS.length; k++) {
      acc += h.buckets[k]!;
      out.sample('ctscope_record_delay_seconds_bucket', acc, { source, le: String(DELAY_LE_SECONDS[k]) });
    }
    out.sample('ctscope_record_delay_seconds_bucket', h.count, { source, le: '+Inf' });
    out.sample('ctscope_record_delay_seconds_sum', h.sumNs / 1e9, { source });
    out.sample('ctscope_record_delay_seconds_count', h.count, { source });
  }
}
