// When the daemon sampled (--max-cpu): the changes of the ctnetlink filter's
// shift on the records' clock, so an answer over a window can say whether,
// and how much, what it counts was sampled. Sampling keeps 1 entry in
// 2^shift by entry id: counts of entries, their lifetimes and who holds
// them are those of the kept entries; rankings hold (every key keeps the
// same share in expectation), totals of the kernel's own counters do not
// change.

import { keptBySample } from '../records/sample.js';
import type { FlowTable } from './flow-table.js';

/**
 * The sampling was raised to 1 entry in 2^shift: the live entries the filter
 * now refuses will get no more records (not even their DESTROY), so they stop
 * being followed here too, the way an eviction removes them (occupancy kept
 * exact by the table's onEvict). Their ids are ctnetlink's (netns << 32 |
 * CTA_ID): the filter's rule applies to the low half. Returns how many.
 */
export function sampleOut(flows: FlowTable, shift: number): number {
  let n = 0;
  for (let e = 0; e < flows.end; e++) {
    if (!flows.live(e) || keptBySample(flows.idLo(e), shift)) continue;
    flows.onEvict?.(e);
    flows.remove(e);
    n++;
  }
  return n;
}

export interface SampledWindow {
  /** 1: nothing in the window was sampled; N: at most 1 entry in N was followed. */
  one_in: number;
  /** Seconds of the window during which entries were sampled. */
  sampled_seconds: number;
}

export class SamplingLog {
  /** Live entries no longer followed because the sampling was raised (sampleOut). */
  sampledOut = 0;
  /** [tsNs, shift] in time order; the shift holds until the next change. */
  private readonly changes: Array<[number, number]> = [];

  constructor(private readonly keepNs = 900e9) {}

  /** The shift in force from tsNs on. */
  set(tsNs: number, shift: number): void {
    const last = this.changes[this.changes.length - 1];
    if (last && last[1] === shift) return;
    this.changes.push([tsNs, shift]);
    // forget what no window can reach (keep the change in force at the horizon)
    while (this.changes.length > 2 && this.changes[1]![0] < tsNs - this.keepNs) this.changes.shift();
  }

  get current(): number {
    return this.changes[this.changes.length - 1]?.[1] ?? 0;
  }

  /** Sampling over (nowNs - seconds, nowNs]. */
  window(nowNs: number, seconds: number): SampledWindow {
    const from = nowNs - seconds * 1e9;
    let maxShift = 0;
    let sampledNs = 0;
    for (let i = 0; i < this.changes.length; i++) {
      const [t, shift] = this.changes[i]!;
      const end = i + 1 < this.changes.length ? this.changes[i + 1]![0] : nowNs;
      const a = Math.max(t, from);
      const b = Math.min(end, nowNs);
      if (b <= a || shift === 0) continue;
      maxShift = Math.max(maxShift, shift);
      sampledNs += b - a;
    }
    return { one_in: 2 ** maxShift, sampled_seconds: Math.round(sampledNs / 1e8) / 10 };
  }
}
