// Rankings over a window: the top keys of a dimension in one or more streams
// (allocations, destroys, each kind of drop) from the per-second heavy
// hitters, with the exact totals beside them and the error bound every answer
// carries; churn adds each key's destroys and median lifetime.

import { DIM, dimIndex, formatKey, isPodDimension, type Dimension, type PodDimension } from '../keys.js';
import { KeyCounter } from '../heavy.js';
import { C } from '../totals.js';
import { KEYED_BUCKETS, KEYED_SCALE, NBUCKETS, quantileOf } from '../histograms.js';
import { NSTATE_CODES } from '../states.js';
import { S_DESTROY, STREAM_COUNTER, STREAMS, type ModelState, type StreamName } from '../model-state.js';
import { round } from './round.js';
import { ATTRIBUTION_NOTE, PodRollup, type PodGroup } from './pods.js';
import type { PodMap } from '../pod-map.js';

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
  /** By pod, k8s_namespace or workload: how an entry's pod is found. */
  attribution?: string;
}

/** `pod` (NAMESPACE/POD) of an address that is a pod's, or was one's that is gone (with pod_deleted). */
export function podOfAddress(map: PodMap, key: number): { pod?: string; pod_deleted?: boolean } {
  if (map.empty) return {};
  const live = map.podOfAddress(key);
  if (live) return { pod: map.formatPod(live.id) };
  const gone = map.gonePodOfAddress(key);
  return gone ? { pod: map.formatPod(gone.id), pod_deleted: true } : {};
}

export class Ranking {
  private readonly scratch = new KeyCounter(4096);
  private readonly scratch2 = new KeyCounter(4096);
  private readonly pods: PodRollup;
  /** The groups of the last answer by a pod dimension (churn adds to them). */
  private lastGroups: PodGroup[] = [];

  constructor(private readonly st: ModelState) {
    this.pods = new PodRollup(st.pods.map);
  }

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
    if (isPodDimension(q.by)) return this.podAnswer(q.by, window, total, bound, q.limit);
    const items = sc.top(q.limit).map(({ key, count }) => this.item(d, key, count, window, total));
    return { by: q.by, window, total, items, error_bound: bound };
  }

  /** An answer by pod, k8s_namespace or workload: the `pod` keys of the scratch summed into groups (queries/pods.ts). */
  private podAnswer(by: PodDimension, window: number, total: number, bound: number, limit: number): TopKResult {
    const groups = this.pods.group(by, this.scratch);
    this.lastGroups = groups.slice(0, limit);
    const items = this.lastGroups.map((x) => ({
      key: this.pods.key(by, x.g),
      count: x.count,
      rate: round(x.count / window),
      share: total > 0 ? round(x.count / total) : 0,
      ...this.pods.extras(by, x),
    }));
    return { by, window, total, items, error_bound: bound * PodRollup.widest(groups), attribution: ATTRIBUTION_NOTE };
  }

  /** Top allocators, with destroys and median lifetime per key. */
  churn(q: { by: Dimension; window: number; limit: number }): TopKResult {
    const r = this.topK({ ...q, kinds: ['alloc'] });
    const d = dimIndex(q.by);
    const [from, to] = this.st.range(r.window);
    const sc = this.scratch2;
    sc.clear();
    const bound = this.st.heavy(S_DESTROY, d).collect(from, to, sc);
    if (isPodDimension(q.by)) {
      r.items = r.items.map((it, i) => {
        const codes = this.lastGroups[i]!.codes;
        return { ...it, destroyed: codes.reduce((a, c) => a + sc.get(c), 0), median_lifetime_s: this.medianOfKeys(DIM.pod, codes) };
      });
      (r as TopKResult & { destroyed_error_bound: number }).destroyed_error_bound = bound;
      (r as TopKResult & { median_lifetime_skipped: number }).median_lifetime_skipped = this.st.keyedLifetimesSkipped;
      return r;
    }
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

  /** Median lifetime (s) of the entries of several keys of dimension d together (a pod's ways of being found). */
  private medianOfKeys(d: number, keys: number[]): number | null {
    const kl = this.st.counters.lifetimes[d];
    if (!kl) return null;
    this.st.countingHere();
    const sum = new Float64Array(KEYED_BUCKETS);
    let any = false;
    for (const k of keys) any = kl.addInto(k, sum) || any;
    if (!any) return null;
    let n = 0;
    for (let b = 0; b < KEYED_BUCKETS; b++) n += sum[b]!;
    return quantileOf(sum, n, 0.5, KEYED_SCALE);
  }

  private item(d: number, key: number, count: number, window: number, total: number): TopKItem {
    const it: TopKItem = { key: formatKey(d, key, this.st.v6), count, rate: round(count / window), share: total > 0 ? round(count / total) : 0 };
    if (d === DIM.src || d === DIM.dst) Object.assign(it, podOfAddress(this.st.pods.map, key));
    return it;
  }
}
