// Time to full: when will nf_conntrack_count reach nf_conntrack_max at the
// current pace? Two views of the pace: the trend of the kernel's count
// (least squares over the recent /proc snapshots) and the net allocation
// rate the records show (allocations - destroys). The trend is the answer
// (it is the kernel's own figure); the net rate corroborates it. Confidence
// grows with the fit (R²), the number of samples and the agreement of the two.

import type { ProcSnapshot } from '../proc/types.js';

/** A bounded history of one namespace's snapshots. */
export class ProcHistory {
  readonly ts: Float64Array;
  readonly count: Float64Array;
  n = 0;
  private head = 0;
  latest: ProcSnapshot | null = null;
  /** Highest count seen. */
  peak = 0;

  constructor(readonly capacity = 900) {
    this.ts = new Float64Array(capacity);
    this.count = new Float64Array(capacity);
  }

  push(s: ProcSnapshot): void {
    if (this.latest && s.ts < this.latest.ts) return;
    this.latest = s;
    if (s.count > this.peak) this.peak = s.count;
    this.ts[this.head] = s.ts;
    this.count[this.head] = s.count;
    this.head = (this.head + 1) % this.capacity;
    if (this.n < this.capacity) this.n++;
  }

  /** Samples newer than sinceNs, oldest first. */
  since(sinceNs: number): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    for (let k = this.n; k >= 1; k--) {
      const i = (this.head - k + this.capacity) % this.capacity;
      if (this.ts[i]! >= sinceNs) out.push([this.ts[i]!, this.count[i]!]);
    }
    return out;
  }
}

export interface Forecast {
  netns: number;
  count: number;
  max: number;
  utilization: number;
  /** Entries per second from the count trend (null with < 3 samples). */
  trend_per_s: number | null;
  /** Allocations minus destroys per second from the records (null without records). */
  net_alloc_rate_per_s: number | null;
  /** Seconds until count reaches max at the trend (null: not growing). */
  time_to_full_s: number | null;
  /** Seconds of data the trend is fitted on: a forecast beyond a few horizons is a guess. */
  horizon_s: number;
  samples: number;
  r2: number | null;
  /** 0..1 */
  confidence: number;
  level: 'none' | 'low' | 'medium' | 'high';
  basis: string;
}

/** Fit window of the trend. */
export const FORECAST_WINDOW_S = 300;

export function forecast(h: ProcHistory, netRate: number | null, nowNs: number): Forecast | null {
  const last = h.latest;
  if (!last) return null;
  const pts = h.since(Math.max(last.ts, nowNs) - FORECAST_WINDOW_S * 1e9);
  const n = pts.length;
  let slope: number | null = null;
  let r2: number | null = null;
  let horizon = 0;
  if (n >= 3) {
    const t0 = pts[0]![0];
    let sx = 0, sy = 0, sxx = 0, sxy = 0, syy = 0;
    for (const [t, c] of pts) {
      const x = (t - t0) / 1e9;
      sx += x;
      sy += c;
      sxx += x * x;
      sxy += x * c;
      syy += c * c;
    }
    const vx = sxx - (sx * sx) / n;
    const vy = syy - (sy * sy) / n;
    const cxy = sxy - (sx * sy) / n;
    horizon = (pts[n - 1]![0] - t0) / 1e9;
    if (vx > 0) {
      slope = cxy / vx;
      r2 = vy > 0 ? (cxy * cxy) / (vx * vy) : 1;
    }
  }
  const room = Math.max(0, last.max - last.count);
  const pace = slope ?? null;
  let ttf: number | null = null;
  if (pace !== null && pace > 1e-9) ttf = room / pace;
  if (room === 0 && last.max > 0) ttf = 0;
  let confidence = 0;
  let basis = 'not enough /proc samples (need 3)';
  if (slope !== null && r2 !== null) {
    confidence = r2 * Math.min(1, n / 30);
    basis = `least-squares trend of nf_conntrack_count over ${n} samples in ${horizon.toFixed(0)} s`;
    if (netRate !== null) {
      const scale = Math.max(Math.abs(slope), Math.abs(netRate), 1);
      const agreement = Math.max(0, 1 - Math.abs(slope - netRate) / scale);
      confidence *= 0.5 + 0.5 * agreement;
      basis += `; net allocation rate from records ${netRate.toFixed(2)}/s ${agreement > 0.7 ? 'agrees' : 'disagrees'}`;
    }
    // Far beyond the data it is fitted on, a line says little.
    if (ttf !== null && horizon > 0 && ttf > 10 * horizon) confidence *= 0.5;
  }
  confidence = Math.round(confidence * 1000) / 1000;
  return {
    netns: last.netns,
    count: last.count,
    max: last.max,
    utilization: last.max > 0 ? Math.round((last.count / last.max) * 1e6) / 1e6 : 0,
    trend_per_s: slope === null ? null : Math.round(slope * 1000) / 1000,
    net_alloc_rate_per_s: netRate === null ? null : Math.round(netRate * 1000) / 1000,
    time_to_full_s: ttf === null ? null : Math.round(ttf * 10) / 10,
    horizon_s: Math.round(horizon * 10) / 10,
    samples: n,
    r2: r2 === null ? null : Math.round(r2 * 1000) / 1000,
    confidence,
    level: slope === null ? 'none' : confidence >= 0.7 ? 'high' : confidence >= 0.4 ? 'medium' : 'low',
    basis,
  };
}
