// How long entries lived: the exact lifetime histograms (allocation to
// destroy) grouped by protocol, or by protocol and final state.

import { protoName } from '../keys.js';
import { EXPORT_LE_SECONDS, Histogram, NBUCKETS, exportCumulative } from '../histograms.js';
import { NSTATE_CODES, stateName } from '../states.js';
import type { ModelState } from '../model-state.js';
import { round } from './round.js';

export interface LifetimeGroup {
  proto: string;
  state?: string;
  count: number;
  mean_s: number;
  p50_s: number | null;
  p90_s: number | null;
  p99_s: number | null;
  buckets: Array<{ le: number | '+Inf'; count: number }>;
}

export interface LifetimeGroups {
  by: 'proto' | 'state';
  /** Destroys whose allocation time was unknown (in no histogram). */
  unknown_start: number;
  groups: LifetimeGroup[];
}

/** Lifetime histograms grouped by protocol, or by protocol and final state. */
export function lifetimeGroups(st: ModelState, by: 'proto' | 'state'): LifetimeGroups {
  const groups = new Map<number, Histogram>();
  for (const [g, h] of st.lifetimes) {
    const key = by === 'proto' ? Math.floor(g / NSTATE_CODES) * NSTATE_CODES : g;
    let m = groups.get(key);
    if (!m) groups.set(key, (m = new Histogram()));
    for (let i = 0; i < NBUCKETS; i++) m.buckets[i]! += h.buckets[i]!;
    m.count += h.count;
    m.sumSeconds += h.sumSeconds;
  }
  const out: LifetimeGroup[] = [...groups]
    .sort((a, b) => b[1].count - a[1].count)
    .map(([g, h]) => {
      const lg: LifetimeGroup = {
        proto: protoName(Math.floor(g / NSTATE_CODES)),
        count: h.count,
        mean_s: h.count ? round(h.sumSeconds / h.count) : 0,
        p50_s: finite(h.quantile(0.5)),
        p90_s: finite(h.quantile(0.9)),
        p99_s: finite(h.quantile(0.99)),
        buckets: histogramBuckets(h.buckets),
      };
      if (by === 'state') lg.state = stateName(g % NSTATE_CODES);
      return lg;
    });
  return { by, unknown_start: st.unknownLifetimes, groups: out };
}

/**
 * Cumulative buckets (Prometheus style) at one bound per octave, as /metrics
 * has them; octaves with nothing in them left out, except +Inf. The
 * percentiles are taken from the finer buckets underneath.
 */
export function histogramBuckets(b: ArrayLike<number>): Array<{ le: number | '+Inf'; count: number }> {
  const cum = exportCumulative(b);
  const out: Array<{ le: number | '+Inf'; count: number }> = [];
  for (let n = 0; n < cum.length; n++) {
    const inf = n === cum.length - 1;
    if (!inf && cum[n] === (n > 0 ? cum[n - 1] : 0)) continue;
    out.push({ le: inf ? '+Inf' : EXPORT_LE_SECONDS[n]!, count: cum[n]! });
  }
  return out;
}

function finite(x: number | null): number | null {
  return x === null || !Number.isFinite(x) ? null : x;
}
