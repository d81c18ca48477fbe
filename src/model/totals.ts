// Exact per-second totals of every counter the model keeps, with at least the
// configured history, plus running totals since start (for /metrics counters).

import { pow2 } from './heavy.js';

export const COUNTERS = [
  'alloc',
  'destroy',
  'netfilter',
  'table_full',
  'evicted',
  'insert_failed',
  'confirm',
  'update',
  'seen',
  'lost',
  'sync_closed',
  'flows_evicted',
] as const;
export type CounterName = (typeof COUNTERS)[number];
export const C = Object.fromEntries(COUNTERS.map((n, i) => [n, i])) as { [K in CounterName]: number };
export const NCOUNTERS = COUNTERS.length;

export class Totals {
  /** Since start, by counter. */
  readonly total = new Float64Array(NCOUNTERS);
  private readonly ring: Float64Array; // slot * NCOUNTERS + counter
  private readonly ringSec: Float64Array;
  private readonly mask: number;
  private curSec = -1;

  constructor(historySeconds = 900) {
    const size = pow2(historySeconds + 2);
    this.ring = new Float64Array(size * NCOUNTERS);
    this.ringSec = new Float64Array(size).fill(-1);
    this.mask = size - 1;
  }

  rollover(sec: number): void {
    if (sec === this.curSec) return;
    const slot = sec & this.mask;
    this.ring.fill(0, slot * NCOUNTERS, slot * NCOUNTERS + NCOUNTERS);
    this.ringSec[slot] = sec;
    this.curSec = sec;
  }

  add(counter: number, v = 1): void {
    this.total[counter]! += v;
    if (this.curSec >= 0) this.ring[(this.curSec & this.mask) * NCOUNTERS + counter]! += v;
  }

  /** Sum of `counter` over seconds [fromSec, toSec]. */
  sum(counter: number, fromSec: number, toSec: number): number {
    let s = 0;
    for (let t = Math.max(fromSec, toSec - this.mask); t <= toSec; t++) {
      const slot = t & this.mask;
      if (this.ringSec[slot] === t) s += this.ring[slot * NCOUNTERS + counter]!;
    }
    return s;
  }

  /** Per-second values of `counter` over [fromSec, toSec] (0 where nothing was counted). */
  series(counter: number, fromSec: number, toSec: number): number[] {
    const out: number[] = [];
    for (let t = fromSec; t <= toSec; t++) {
      const slot = t & this.mask;
      out.push(this.ringSec[slot] === t && toSec - t <= this.mask ? this.ring[slot * NCOUNTERS + counter]! : 0);
    }
    return out;
  }
}
