// The collector's passes as a recording shows them (what-if.ts anchors its
// model's schedule on the first, and reads the speed of removal from them):
// gc_worker removes what has expired in dense bursts of runs a jiffy apart,
// which the events show as destroys close together — unlike the lookups'
// steady trickle of expired entries, a resync's dump (it removes the expired
// entries it walks over) or a batch of events read late.

import { E_NATURAL, E_SEEN, type DemandCollector } from './demand.js';

/**
 * A pass removes entries fast: each run of the worker takes up to 256 in a
 * few milliseconds. A destroy is part of a burst when at least PASS_DENSE
 * destroys fall within PASS_WINDOW_S of it; lookups and early-drop walks
 * remove expired entries one at a time, at a few hundred a second.
 */
const PASS_WINDOW_S = 0.01;
const PASS_DENSE = 20;
/** Dense destroys this close together are one pass: its runs are a jiffy and the wait for a CPU apart. */
const PASS_SLICE_GAP_S = 0.1;
/**
 * A burst is a pass when it removed at least PASS_MIN expired entries and at
 * least PASS_SHARE of those waiting when it began (a pass walks the whole
 * hash: what had expired goes; a batch of events read late only looks
 * dense), or at least PASS_TRIM that had not expired (an eviction down to
 * 95 % of max).
 */
const PASS_MIN = 10;
const PASS_SHARE = 0.5;
const PASS_TRIM = 50;
/**
 * Bursts closer than this are one pass (GC_SCAN_INTERVAL_MIN): a pass that
 * removes many entries does it in runs a few milliseconds apart.
 */
const PASS_MERGE_S = 1;
/** Destroys this close to a dump of the table (a resync) are the dump's: it removes the expired entries it walks over. */
const DUMP_PAD_S = 0.02;

/**
 * Collector passes in a recording: dense bursts of destroys (none a user's,
 * none during a dump of the table) that took most of the entries then
 * waiting past their expiry, or evicted many that had not expired.
 */
export function observedPasses(c: DemandCollector, timeoutOf: (k: number) => number): PassSeen[] {
  const dumps: Array<[number, number]> = c.dumpStart.map((s, i) => [s - DUMP_PAD_S, c.dumpEnd[i]! + DUMP_PAD_S]);
  dumps.sort((a, b) => a[0] - b[0]);
  const inDump = (t: number): boolean => {
    let lo = 0;
    let hi = dumps.length - 1;
    let p = -1;
    while (lo <= hi) {
      const m = (lo + hi) >> 1;
      if (dumps[m]![0] <= t) {
        p = m;
        lo = m + 1;
      } else hi = m - 1;
    }
    // windows overlap (a resync dumps every namespace at once): look back over those that began earlier
    for (let j = p; j >= 0 && j > p - 64; j--) if (dumps[j]![1] >= t) return true;
    return false;
  };
  const ev: Array<[number, boolean]> = [];
  // the entries waiting past their expiry at any moment: expired before their end, not yet ended
  const expiries: number[] = [];
  const ends: number[] = [];
  for (let k = 0; k < c.n; k++) {
    const f = c.flags.a[k]!;
    if (!(f & E_NATURAL)) continue;
    const expiry = f & E_SEEN ? c.lastEvent.a[k]! : c.lastEvent.a[k]! + timeoutOf(k);
    const end = c.end.a[k]!;
    const expired = end + 0.5 >= expiry;
    if (expired) {
      expiries.push(expiry);
      ends.push(end);
    }
    if (!inDump(end)) ev.push([end, expired]);
  }
  ev.sort((a, b) => a[0] - b[0]);
  expiries.sort((a, b) => a - b);
  ends.sort((a, b) => a - b);
  const waiting = (t: number) => upperBound(expiries, t) - upperBound(ends, t);
  // dense destroys
  const dense = new Uint8Array(ev.length);
  for (let i = 0, j = 0; i < ev.length; i++) {
    while (ev[i]![0] - ev[j]![0] > PASS_WINDOW_S) j++;
    if (i - j + 1 >= PASS_DENSE) dense.fill(1, j, i + 1);
  }
  const out: PassSeen[] = [];
  let start = NaN;
  let lastT = -Infinity;
  let expired = 0;
  let size = 0;
  const close = () => {
    if (size === 0) return;
    const pool = waiting(start - 1e-6);
    if (!((expired >= PASS_MIN && expired >= PASS_SHARE * pool) || size - expired >= PASS_TRIM)) return;
    const prev = out[out.length - 1];
    if (prev && start - prev.start < PASS_MERGE_S) {
      // the same pass, continued
      prev.end = lastT;
      prev.removed += size;
      return;
    }
    out.push({ start, end: lastT, removed: size });
  };
  for (let i = 0; i < ev.length; i++) {
    if (!dense[i]) continue;
    const [t, x] = ev[i]!;
    if (t - lastT > PASS_SLICE_GAP_S) {
      close();
      start = t;
      size = expired = 0;
    }
    size++;
    if (x) expired++;
    lastT = t;
  }
  close();
  return out;
}

/** How many of the ascending `a` are ≤ x. */
function upperBound(a: readonly number[], x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const m = (lo + hi) >> 1;
    if (a[m]! <= x) lo = m + 1;
    else hi = m;
  }
  return lo;
}

/** A pass of the collector seen in a recording: when it began and ended, and how many entries it removed. */
export interface PassSeen {
  start: number;
  end: number;
  removed: number;
}

/** How fast passes remove entries (per second): the median over passes that removed at least 512. */
export function reapRate(passes: readonly PassSeen[]): number | null {
  const r = passes.filter((p) => p.removed >= 512 && p.end > p.start).map((p) => p.removed / (p.end - p.start));
  if (!r.length) return null;
  r.sort((a, b) => a - b);
  return r[Math.floor(r.length / 2)]!;
}
