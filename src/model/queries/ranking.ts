// Rankings over a window: the top keys of a dimension in one or more streams
// (allocations, destroys, each kind of drop) from the per-second heavy
// hitters, with the exact totals beside them and the error bound every answer
// carries; churn adds each key's destroys and median lifetime.

import { dimIndex, formatKey, type Dimension } from '../keys.js';
import { KeyCounter } from '../heavy.js';
import { C } from '../totals.js';
import { NBUCKETS, quantileOf } from '../histograms.js';
import { NSTATE_CODES } from '../states.js';
import { S_DESTROY, STREAM_COUNTER, STREAMS, type ModelState, type StreamName } from '../model-state.js';
import { round } from './round.js';

/** Drop kinds, as /v1/drops names them. */
export const DROP_KINDS = ['table_full', 'evicted', 'insert_failed', 'netfilter'] as const;
export type DropKind = (typeof DROP_KINDS)[number];
const PACKET_DROPS_KFREE_SKB: readonly DropKind[] = ['netfilter'];
const PACKET_DROPS_LIFECYCLE: readonly DropKind[] = ['table_full', 'insert_failed'];

export interface TopKQuery {
  by: Dimension;
  /** Streams summed (e.g. every drop kind); default ['alloc']. */
  kinds?: readonly StreamName[];
  /** Seconds, 1..historySeconds; the current (partial) second is included. */
  window: number;
  limit: number;
}

export interface TopKItem {
  key: string;
  /** Occurrences in the window: a lower bound, exact when error_bound is 0. */
  count: number;
  /** count / window, per second. */
  rate: number;
  /** count / total. */
  share: number;
  [extra: string]: unknown;
}

export interface TopKResult {
  by: Dimension;
  window: number;
  /** Exact total of the streams in the window, all keys. */
  total: number;
  items: TopKItem[];
  /** Any key's true count is at most its count + error_bound (0: exact). */
  error_bound: number;
}

export class Ranking {
  private readonly scratch = new KeyCounter(4096);
  private readonly scratch2 = new KeyCounter(4096);

  constructor(private readonly st: ModelState) {}

  topK(q: TopKQuery): TopKResult {
    const st = this.st;
    const d = dimIndex(q.by);
    if (d < 0) throw new RangeError(`unknown dimension ${q.by}`);
    const kinds = q.kinds ?? ['alloc'];
    const window = Math.min(q.window, st.opts.historySeconds);
    const [from, to] = st.range(window);
    const sc = this.scratch;
    sc.clear();
    let bound = 0;
    let total = 0;
    for (const kind of kinds) {
      const s = STREAMS.indexOf(kind);
      if (s < 0) throw new RangeError(`unknown stream ${kind}`);
      bound += st.heavy(s, d).collect(from, to, sc);
      total += st.totals.sum(STREAM_COUNTER[s]!, from, to);
    }
    const items = sc.top(q.limit).map(({ key, count }) => this.item(d, key, count, window, total));
    return { by: q.by, window, total, items, error_bound: bound };
  }

  /** Top allocators, with destroys and median lifetime per key. */
  churn(q: { by: Dimension; window: number; limit: number }): TopKResult {
    const r = this.topK({ ...q, kinds: ['alloc'] });
    const d = dimIndex(q.by);
    const [from, to] = this.st.range(r.window);
    const sc = this.scratch2;
    sc.clear();
    const bound = this.st.heavy(S_DESTROY, d).collect(from, to, sc);
    // Re-rank on the numeric keys the items came from (topK left them in scratch).
    const top = this.scratch.top(q.limit);
    r.items = top.map(({ key, count }) => ({
      ...this.item(d, key, count, r.window, r.total),
      destroyed: sc.get(key),
      median_lifetime_s: this.medianOf(d, key),
    }));
    (r as TopKResult & { destroyed_error_bound: number }).destroyed_error_bound = bound;
    (r as TopKResult & { median_lifetime_skipped: number }).median_lifetime_skipped = this.st.keyedLifetimesSkipped;
    return r;
  }

  /**
   * Drops of `kinds`; by default packets dropped, each counted once (see
   * packetDropKinds). Evictions are entries, not packets: asked for by name.
   */
  drops(q: { by: Dimension; window: number; limit: number; kinds?: readonly DropKind[] }): TopKResult {
    return this.topK({ by: q.by, window: q.window, limit: q.limit, kinds: q.kinds && q.kinds.length ? q.kinds : this.packetDropKinds() });
  }

  /**
   * The kinds whose sum counts each dropped packet once. kfree_skb (kind
   * netfilter) sees every netfilter drop, the packets refused for a full
   * table or a lost insert included, so where it reports it alone counts;
   * adding the lifecycle's table_full and insert_failed records of the same
   * packets would count them twice. Without it, those two are the drops.
   */
  packetDropKinds(): readonly DropKind[] {
    return this.st.totals.total[C.netfilter]! > 0 ? PACKET_DROPS_KFREE_SKB : PACKET_DROPS_LIFECYCLE;
  }

  /** Median lifetime (s) of the entries of one key of dimension d, from the per-key histograms. */
  medianOf(d: number, key: number): number | null {
    const st = this.st;
    st.countingHere();
    const kl = st.counters.lifetimes[d];
    if (kl) return kl.median(key);
    // A protocol's lifetimes are in the exact per-protocol/state histograms.
    const sum = new Float64Array(NBUCKETS);
    let n = 0;
    for (let code = 0; code < NSTATE_CODES; code++) {
      const h = st.lifetimeByGroup[key * NSTATE_CODES + code];
      if (!h) continue;
      for (let b = 0; b < NBUCKETS; b++) sum[b]! += h.buckets[b]!;
      n += h.count;
    }
    return quantileOf(sum, n, 0.5);
  }

  private item(d: number, key: number, count: number, window: number, total: number): TopKItem {
    return { key: formatKey(d, key, this.st.v6), count, rate: round(count / window), share: total > 0 ? round(count / total) : 0 };
  }
}
