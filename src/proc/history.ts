// One table's readings over time: the kernel's count, max and drop counters
// per /proc (or ctnetlink) reading, in a ring of fixed size, and where the
// evidence for a forecast begins. The evidence restarts at a discontinuity:
// a change of nf_conntrack_max (a new limit makes the old room meaningless),
// or the count falling to a tenth of what it was (a flush: a line through it
// would say the table is shrinking for minutes afterwards). A garbage-collector
// pass also drops the count, by up to the share of entries that had expired,
// which is why only a fall to a tenth counts.

import type { ProcSnapshot } from './types.js';

/** A reading as the forecast and the rates need it. */
export interface Reading {
  t: number;
  count: number;
  max: number;
  drop: number;
  early_drop: number;
  insert_failed: number;
}

export interface Discontinuity {
  at_s: number;
  why: string;
}

/** A count this far below the previous reading (share of it) is a flush, not a gc pass. */
const FLUSH_SHARE = 0.1;
/** ...when the previous reading held at least this many entries. */
const FLUSH_MIN = 50;
/** Slots a new history starts with (a minute at one reading a second). */
const FIRST_SIZE = 64;

export class TableHistory {
  private t: Float64Array;
  private count: Float64Array;
  private max: Float64Array;
  private drop: Float64Array;
  private early: Float64Array;
  private insFail: Float64Array;
  /** Slots allocated: grows by doubling up to capacity, so a short-lived namespace never holds 15 minutes' worth. */
  private size: number;
  private head = 0;
  n = 0;
  /** Evidence for the forecast starts here (seconds). */
  since: number | null = null;
  reset: Discontinuity | null = null;
  /** The reading of highest utilization, its count and max of one moment. */
  peak: { count: number; max: number; t: number } | null = null;

  constructor(readonly capacity = 900) {
    this.size = Math.min(capacity, FIRST_SIZE);
    this.t = new Float64Array(this.size);
    this.count = new Float64Array(this.size);
    this.max = new Float64Array(this.size);
    this.drop = new Float64Array(this.size);
    this.early = new Float64Array(this.size);
    this.insFail = new Float64Array(this.size);
  }

  /** Slots allocated now (at most capacity). */
  get allocated(): number {
    return this.size;
  }

  /** Re-allocate to `size` slots (>= n), the readings kept in order from slot 0. */
  private resize(size: number): void {
    const cols = [this.t, this.count, this.max, this.drop, this.early, this.insFail].map((a) => {
      const b = new Float64Array(size);
      for (let k = 0; k < this.n; k++) b[k] = a[(this.head - this.n + k + this.size * 2) % this.size]!;
      return b;
    });
    [this.t, this.count, this.max, this.drop, this.early, this.insFail] = cols as [Float64Array, Float64Array, Float64Array, Float64Array, Float64Array, Float64Array];
    this.size = size;
    this.head = this.n % size;
  }

  /** Give back the slots no reading uses (a gone namespace's history grows no more). */
  compact(): void {
    if (this.size > Math.max(this.n, 1)) this.resize(Math.max(this.n, 1));
  }

  last(): Reading | null {
    return this.n ? this.at(this.n - 1) : null;
  }

  /** The k-th reading kept, oldest first. */
  at(k: number): Reading {
    const i = (this.head - this.n + k + this.size * 2) % this.size;
    return { t: this.t[i]!, count: this.count[i]!, max: this.max[i]!, drop: this.drop[i]!, early_drop: this.early[i]!, insert_failed: this.insFail[i]! };
  }

  push(s: ProcSnapshot): void {
    const t = s.ts / 1e9;
    const prev = this.last();
    if (prev && t <= prev.t) return;
    const stat = (k: string) => (typeof s.stats[k] === 'number' ? s.stats[k]! : NaN);
    if (prev) {
      if (s.max !== prev.max) this.restart(t, `nf_conntrack_max changed from ${prev.max} to ${s.max}`);
      else if (prev.count >= FLUSH_MIN && s.count <= prev.count * FLUSH_SHARE) this.restart(t, `the count fell from ${prev.count} to ${s.count} (a flush?)`);
    }
    if (this.since === null) this.since = t;
    if (this.n === this.size && this.size < this.capacity) this.resize(Math.min(this.capacity, this.size * 2));
    const i = this.head;
    this.t[i] = t;
    this.count[i] = s.count;
    this.max[i] = s.max;
    this.drop[i] = stat('drop');
    this.early[i] = stat('early_drop');
    this.insFail[i] = stat('insert_failed');
    this.head = (this.head + 1) % this.size;
    if (this.n < this.size) this.n++;
    const util = s.max > 0 ? s.count / s.max : 0;
    if (!this.peak || util > (this.peak.max > 0 ? this.peak.count / this.peak.max : 0)) this.peak = { count: s.count, max: s.max, t };
  }

  private restart(t: number, why: string): void {
    this.since = t;
    this.reset = { at_s: Math.round(t * 1000) / 1000, why };
  }

  /** Readings since the evidence began and at most `seconds` old, oldest first. */
  evidence(seconds: number): Array<{ t: number; count: number }> {
    const out: Array<{ t: number; count: number }> = [];
    const last = this.last();
    if (!last || this.since === null) return out;
    const from = Math.max(this.since, last.t - seconds);
    for (let k = 0; k < this.n; k++) {
      const r = this.at(k);
      if (r.t >= from) out.push({ t: r.t, count: r.count });
    }
    return out;
  }

  /**
   * How a counter moved over the last `seconds` of readings: the increase and
   * the seconds it spans (null without two readings with the counter).
   */
  delta(key: 'drop' | 'early_drop' | 'insert_failed', seconds: number): { increase: number; seconds: number } | null {
    const last = this.last();
    if (!last || !Number.isFinite(last[key])) return null;
    let first: Reading | null = null;
    for (let k = this.n - 1; k >= 0; k--) {
      const r = this.at(k);
      if (last.t - r.t > seconds) break;
      if (Number.isFinite(r[key])) first = r;
    }
    if (!first || first.t === last.t) return null;
    return { increase: Math.max(0, last[key] - first[key]), seconds: last.t - first.t };
  }

  /** The drop counter rose between the last two readings. */
  dropping(): boolean {
    if (this.n < 2) return false;
    const a = this.at(this.n - 2);
    const b = this.at(this.n - 1);
    return Number.isFinite(a.drop) && Number.isFinite(b.drop) && b.drop > a.drop;
  }
}
