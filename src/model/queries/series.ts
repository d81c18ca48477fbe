// Per-second series of the top keys of a dimension: what /v1/series answers
// and the dashboard charts. The keys are ranked over the whole window (the
// same ranking as a top-k answer over that window); each key's value in a
// second is that second's count in the heavy-hitter summaries, and "other" is
// the exact total of the second minus the keys shown. Seconds older than the
// summaries' trim age keep only their largest entries (heavy.ts), so a key
// outside those reads 0 there and its count moves to "other": every value
// is a lower bound, exact when error_bound is 0, and each second's total is
// exact.

import { dimIndex, formatKey, type Dimension } from '../keys.js';
import { KeyCounter, type WindowedHeavyHitters } from '../heavy.js';
import type { Totals } from '../totals.js';
import { STREAM_COUNTER, STREAMS, type ModelState, type StreamName } from '../model-state.js';

export interface KeySeriesItem {
  key: string;
  /** Sum over the window (equals the sum of values). */
  count: number;
  /** One value per second, oldest first. */
  values: number[];
}

export interface KeySeries {
  /** Model second (CLOCK_BOOTTIME) of the first value. */
  start_s: number;
  /** Exact count of every key, per second. */
  total: number[];
  /** total minus the keys shown, per second. */
  other: number[];
  items: KeySeriesItem[];
  /** Any key's true count in the window is at most its count + error_bound. */
  error_bound: number;
}

/**
 * The top `limit` keys of `streams` (summed) over seconds [fromSec, toSec]
 * with their per-second counts. `counters` are the Totals counters of the
 * same streams; `format` turns a numeric key into its text.
 */
export function keySeries(
  streams: readonly WindowedHeavyHitters[],
  totals: Totals,
  counters: readonly number[],
  fromSec: number,
  toSec: number,
  limit: number,
  format: (key: number) => string,
): KeySeries {
  const n = Math.max(0, toSec - fromSec + 1);
  const ranking = new KeyCounter(1024);
  let bound = 0;
  for (const h of streams) bound += h.collect(fromSec, toSec, ranking);
  const top = ranking.top(limit);
  // numeric key -> 1 + its row
  const row = new KeyCounter(top.length + 1);
  top.forEach((t, i) => row.add(t.key, i + 1));
  const values = top.map(() => new Float64Array(n));
  for (const h of streams) {
    h.forEachSecond(fromSec, toSec, (sec, key, count) => {
      const r = row.get(key);
      if (r > 0) values[r - 1]![sec - fromSec]! += count;
    });
  }
  const total = new Float64Array(n);
  for (const c of counters) {
    const s = totals.series(c, fromSec, toSec);
    for (let i = 0; i < n; i++) total[i]! += s[i]!;
  }
  const other = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    let shown = 0;
    for (const v of values) shown += v[i]!;
    other[i] = Math.max(0, total[i]! - shown);
  }
  return {
    start_s: fromSec,
    total: Array.from(total),
    other,
    items: top.map((t, i) => ({ key: format(t.key), count: t.count, values: Array.from(values[i]!) })),
    error_bound: bound,
  };
}

/**
 * The top `limit` keys of `by` in `kinds` (summed) over the `window` seconds
 * ending at second `until` (default: the current second), per second.
 */
export function seriesOf(st: ModelState, q: { by: Dimension; kinds: readonly StreamName[]; window: number; limit: number; until?: number }): KeySeries {
  const d = dimIndex(q.by);
  if (d < 0) throw new RangeError(`unknown dimension ${q.by}`);
  const to = Math.min(q.until ?? st.curSec, Math.max(st.curSec, 0));
  const from = to - Math.min(q.window, st.opts.historySeconds) + 1;
  const streams = q.kinds.map((k) => {
    const i = STREAMS.indexOf(k);
    if (i < 0) throw new RangeError(`unknown stream ${k}`);
    return i;
  });
  return keySeries(
    streams.map((i) => st.heavy(i, d)),
    st.totals,
    streams.map((i) => STREAM_COUNTER[i]!),
    from,
    to,
    q.limit,
    (k) => formatKey(d, k, st.v6),
  );
}
