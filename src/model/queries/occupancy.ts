// Who holds entries now: live flows by key and by protocol/state, answered
// from the dimension's occupancy index (occupancy-indexes.ts: distinct
// (key, group) pairs, not every live flow), or from a scan where no index is
// kept.

import { DIM, dimIndex, formatKey, isPodDimension, protoName, type Dimension, type PodDimension } from '../keys.js';
import { KeyCounter } from '../heavy.js';
import { NSTATE_CODES, stateName } from '../states.js';
import { S_ALLOC, type ModelState } from '../model-state.js';
import type { TopKResult } from './ranking.js';
import { round } from './round.js';
import { ATTRIBUTION_NOTE, PodRollup } from './pods.js';
import { podOfAddress } from './ranking.js';

export type OccupancyResult = TopKResult & {
  live: number;
  states: Array<{ proto: string; state: string; count: number; share: number }>;
};

export class OccupancyQueries {
  private readonly scratch = new KeyCounter(4096);
  private readonly scratch2 = new KeyCounter(4096);
  private readonly pods: PodRollup;

  constructor(private readonly st: ModelState) {
    this.pods = new PodRollup(st.pods.map);
  }

  /**
   * Who holds entries now: live flows by key, optionally of one state and
   * protocol. Each item carries its breakdown by protocol/state; `rate` is
   * the key's allocation rate over the last 60 s.
   */
  occupancy(q: { by: Dimension; state?: number; proto?: number; limit: number }): OccupancyResult {
    const st = this.st;
    const d = dimIndex(q.by);
    const NG = 256 * NSTATE_CODES;
    const byStateArr = new Float64Array(NG);
    const wantState = q.state ?? -1;
    const wantProto = q.proto ?? -1;
    const sc = this.scratch;
    sc.clear();
    let total = 0;
    // The (key, protocol/state) pairs of the dimension: per-key totals first,
    // then the top keys' breakdowns, both from the pairs, not the flows.
    const idx = st.occupancy.index(d, st.nowNs);
    idx.forEach((k, g, n) => {
      byStateArr[g]! += n;
      const code = g % NSTATE_CODES;
      if (wantState >= 0 && code !== wantState) return;
      if (wantProto >= 0 && (g - code) / NSTATE_CODES !== wantProto) return;
      total += n;
      sc.add(k, n);
    });
    const byState = new Map<number, number>();
    for (let g = 0; g < NG; g++) if (byStateArr[g]! > 0) byState.set(g, byStateArr[g]!);
    if (isPodDimension(q.by)) return this.byPods(q.by, idx, byState, total, wantState, wantProto, q.limit);
    const top = sc.top(q.limit);
    const index = new KeyCounter(top.length + 1);
    top.forEach((t, i) => index.add(t.key, i + 1));
    const breakdown = top.map(() => new Map<number, number>());
    idx.forEach((k, g, n) => {
      const i = index.get(k);
      if (i === 0) return;
      const code = g % NSTATE_CODES;
      if (wantState >= 0 && code !== wantState) return;
      if (wantProto >= 0 && (g - code) / NSTATE_CODES !== wantProto) return;
      breakdown[i - 1]!.set(g, n);
    });
    const rateWindow = Math.min(60, st.opts.historySeconds);
    const [from, to] = st.range(rateWindow);
    const sc2 = this.scratch2;
    sc2.clear();
    st.heavy(S_ALLOC, d).collect(from, to, sc2);
    const items = top.map(({ key, count }, i) => ({
      key: formatKey(d, key, st.v6),
      count,
      rate: round(sc2.get(key) / rateWindow),
      share: total > 0 ? round(count / total) : 0,
      states: [...breakdown[i]!].sort((a, b) => b[1] - a[1]).map(([g, n]) => ({ proto: protoName(Math.floor(g / NSTATE_CODES)), state: stateName(g % NSTATE_CODES), count: n })),
      ...(d === DIM.src || d === DIM.dst ? podOfAddress(st.pods.map, key) : {}),
    }));
    return { by: q.by, window: 0, total, items, error_bound: 0, ...this.totals(byState) };
  }

  /** Occupancy by pod, k8s_namespace or workload: the `pod` index's keys summed into groups (queries/pods.ts). */
  private byPods(
    by: PodDimension,
    idx: ReturnType<ModelState['occupancy']['index']>,
    byState: Map<number, number>,
    total: number,
    wantState: number,
    wantProto: number,
    limit: number,
  ): OccupancyResult {
    const st = this.st;
    const groups = this.pods.group(by, this.scratch).slice(0, limit);
    const at = new Map(groups.map((x, i) => [x.g, i]));
    const breakdown = groups.map(() => new Map<number, number>());
    idx.forEach((k, g, n) => {
      const i = at.get(this.pods.groupOf(by, k));
      if (i === undefined) return;
      const code = g % NSTATE_CODES;
      if (wantState >= 0 && code !== wantState) return;
      if (wantProto >= 0 && (g - code) / NSTATE_CODES !== wantProto) return;
      breakdown[i]!.set(g, (breakdown[i]!.get(g) ?? 0) + n);
    });
    const rateWindow = Math.min(60, st.opts.historySeconds);
    const [from, to] = st.range(rateWindow);
    const sc2 = this.scratch2;
    sc2.clear();
    st.heavy(S_ALLOC, DIM.pod).collect(from, to, sc2);
    const items = groups.map((x, i) => ({
      key: this.pods.key(by, x.g),
      count: x.count,
      rate: round(x.codes.reduce((a, c) => a + sc2.get(c), 0) / rateWindow),
      share: total > 0 ? round(x.count / total) : 0,
      states: [...breakdown[i]!].sort((a, b) => b[1] - a[1]).map(([g, n]) => ({ proto: protoName(Math.floor(g / NSTATE_CODES)), state: stateName(g % NSTATE_CODES), count: n })),
      ...this.pods.extras(by, x),
    }));
    return { by, window: 0, total, items, error_bound: 0, attribution: ATTRIBUTION_NOTE, ...this.totals(byState) };
  }

  private totals(byState: Map<number, number>): { live: number; states: OccupancyResult['states'] } {
    const st = this.st;
    const live = st.flows.count;
    const states = [...byState]
      .sort((a, b) => b[1] - a[1])
      .map(([g, n]) => ({ proto: protoName(Math.floor(g / NSTATE_CODES)), state: stateName(g % NSTATE_CODES), count: n, share: live > 0 ? round(n / live) : 0 }));
    return { live, states };
  }

  /**
   * For /metrics: the top `limit` holders in each of `dims`, and the live
   * entries by protocol/state code; from the dimensions' occupancy indexes
   * (a pass over the table for the states when no dimension is asked).
   */
  summary(dims: readonly Dimension[], limit: number): { tops: Map<Dimension, Array<{ key: string; count: number }>>; states: Map<number, number> } {
    const st = this.st;
    const ft = st.flows;
    const ds = dims.map((d) => dimIndex(d));
    const NG = 256 * NSTATE_CODES;
    const byState = new Float64Array(NG);
    const tops = new Map<Dimension, Array<{ key: string; count: number }>>();
    ds.forEach((d, j) => {
      const c = new KeyCounter(1024);
      st.occupancy.index(d, st.nowNs).forEach((k, g, n) => {
        c.add(k, n);
        if (j === 0) byState[g]! += n;
      });
      const by = dims[j]!;
      if (isPodDimension(by)) tops.set(by, this.pods.group(by, c).slice(0, limit).map((x) => ({ key: this.pods.key(by, x.g), count: x.count })));
      else tops.set(by, c.top(limit).map((t) => ({ key: formatKey(d, t.key, st.v6), count: t.count })));
    });
    if (ds.length === 0) {
      for (let s = 0; s < ft.end; s++) if (ft.live(s)) byState[ft.group(s)]! += 1;
    }
    const states = new Map<number, number>();
    for (let g = 0; g < NG; g++) if (byState[g]! > 0) states.set(g, byState[g]!);
    return { tops, states };
  }

  /** Live entries by protocol and state code: Map(proto * NSTATE_CODES + code -> count). */
  liveStates(): Map<number, number> {
    const ft = this.st.flows;
    const m = new Map<number, number>();
    for (let s = 0; s < ft.end; s++) {
      if (!ft.live(s)) continue;
      const g = ft.group(s);
      m.set(g, (m.get(g) ?? 0) + 1);
    }
    return m;
  }

  /**
   * For the given keys of dimension `by`: live entries by protocol number
   * (from the dimension's occupancy index, else one pass over the table).
   */
  liveProtocols(by: Dimension, keys: readonly string[]): Map<string, Map<number, number>> {
    const st = this.st;
    const d = dimIndex(by);
    const wanted = new Map(keys.map((k, i) => [k, i]));
    const counts = keys.map(() => new Map<number, number>());
    // Numeric key -> 1 + its index in `keys`, or -1: one format per distinct key.
    const seen = new KeyCounter(1024);
    const add = (k: number, proto: number, n: number) => {
      let w = seen.get(k);
      if (w === 0) {
        const i = wanted.get(isPodDimension(by) ? this.pods.key(by, this.pods.groupOf(by, k)) : formatKey(d, k, st.v6));
        seen.add(k, (w = i === undefined ? -1 : i + 1));
      }
      if (w < 0) return;
      const m = counts[w - 1]!;
      m.set(proto, (m.get(proto) ?? 0) + n);
    };
    // From the dimension's occupancy index when one is kept, else from a scan
    // made for this question (it does not keep one: each costs the ingest).
    (st.occupancy.kept(d) ?? st.occupancy.scan(d)).forEach((k, g, n) => add(k, Math.floor(g / NSTATE_CODES), n));
    const out = new Map<string, Map<number, number>>();
    keys.forEach((k, i) => {
      if (counts[i]!.size) out.set(k, counts[i]!);
    });
    return out;
  }
}
