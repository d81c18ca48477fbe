// Per-second series of one namespace's conntrack table from its readings
// (proc/history.ts, kept by the table's account): utilization, and the kernel's drop, early_drop and insert_failed
// counters as rates. What the dashboard draws per table and /v1/series/tables
// answers. Seconds without a sample are null (a gap, not a zero); a counter
// that went backwards (a namespace recreated under the same inode) gives
// null for that second rather than a negative rate.

import { utilizationLevel, type Level } from '../proc/parse.js';
import type { Reading, TableHistory } from '../proc/history.js';

export interface TableSeries {
  netns: number;
  /** The latest sample. */
  count: number;
  max: number;
  utilization: number;
  level: Level;
  /** Kernel drops (the drop column) in the last 60 s of samples. */
  drops_60s: number;
  /** One value per second from start_s, oldest first; null: no sample in that second. */
  count_series: Array<number | null>;
  max_series: Array<number | null>;
  utilization_series: Array<number | null>;
  drop_per_s: Array<number | null>;
  early_drop_per_s: Array<number | null>;
  insert_failed_per_s: Array<number | null>;
}

/** The kernel's counters drawn as rates, in the order of the series below. */
const COUNTERS = ['drop', 'early_drop', 'insert_failed'] as const;

/** The series of `h` over seconds [fromSec, toSec] (model clock); null without a reading. */
export function tableSeries(netns: number, h: TableHistory, fromSec: number, toSec: number): TableSeries | null {
  const last = h.last();
  if (!last) return null;
  const n = Math.max(0, toSec - fromSec + 1);
  const count = new Array<number | null>(n).fill(null);
  const maxes = new Array<number | null>(n).fill(null);
  const util = new Array<number | null>(n).fill(null);
  const rates = COUNTERS.map(() => new Array<number | null>(n).fill(null));
  // A reading's rates are taken against the last reading of an earlier second
  // (several readings in one second: the last one speaks for it).
  let prev: Reading | null = null;
  let lastInSec: Reading | null = null;
  let sec = -Infinity;
  let recent: Reading | null = null;
  for (let k = 0; k < h.n; k++) {
    const r = h.at(k);
    if (!recent && r.t >= last.t - 60) recent = r;
    if (r.t < fromSec - 1) continue;
    const s = Math.floor(r.t);
    if (s !== sec) {
      prev = lastInSec;
      sec = s;
    }
    lastInSec = r;
    if (s < fromSec || s > toSec) continue;
    const j = s - fromSec;
    count[j] = r.count;
    maxes[j] = r.max;
    util[j] = r.max > 0 ? round(r.count / r.max) : null;
    if (!prev) continue;
    const dt = r.t - prev.t;
    COUNTERS.forEach((c, i) => {
      const d = r[c] - prev![c];
      rates[i]![j] = Number.isFinite(d) && d >= 0 && dt > 0 ? round(d / dt) : null;
    });
  }
  const drops = recent ? last.drop - recent.drop : 0;
  const utilization = last.max > 0 ? last.count / last.max : 0;
  return {
    netns,
    count: last.count,
    max: last.max,
    utilization: round(utilization),
    level: utilizationLevel(utilization),
    drops_60s: Number.isFinite(drops) && drops > 0 ? drops : 0,
    count_series: count,
    max_series: maxes,
    utilization_series: util,
    drop_per_s: rates[0]!,
    early_drop_per_s: rates[1]!,
    insert_failed_per_s: rates[2]!,
  };
}

function round(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}
