// Issue 12: lifetime percentiles with a bounded relative error. The
// histograms are log-linear (src/model/histograms.ts): p50/p90/p99 from
// /v1/lifetimes must be within 5 % of the exact order statistics, where the
// power-of-two buckets before answered 65.536 s for lifetimes of 56-60 s.
import { describe, expect, it } from 'vitest';
import { Model } from '../../src/model/model.js';
import { EXPORT_LE_SECONDS, KEYED_SCALE, LIFETIME_SCALE, exportCumulative, keyedBucket, type LogLinear } from '../../src/model/histograms.js';
import { Cause, IPS, Kind } from '../../src/records/layout.js';
import type { RecordInit } from '../../src/records/encode.js';
import { batch, SEC } from './model-batch.js';

function rng(seed: number): () => number {
  return () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
}

/** The q-quantile as the histograms define it: the ceil(q n)-th smallest. */
function exact(sorted: number[], q: number): number {
  return sorted[Math.max(1, Math.ceil(q * sorted.length)) - 1]!;
}

/** Lifetimes (ns) into a model as UDP entries that ended by timeout; returns the model. */
function modelOf(lifetimesNs: number[]): Model {
  const m = new Model();
  const end = 20 * 86400 * SEC;
  for (let i = 0; i < lifetimesNs.length; i += 4096) {
    const recs: RecordInit[] = [];
    for (const [k, life] of lifetimesNs.slice(i, i + 4096).entries()) {
      const id = BigInt(i + k + 1);
      const base = { id, src: '10.12.0.1', dst: '10.12.0.2', sport: 1 + ((i + k) % 60000), dport: 53, proto: 17, netns: 5, status: IPS.CONFIRMED };
      recs.push({ ...base, kind: Kind.ALLOC, ts: end - life, start: end - life }, { ...base, kind: Kind.DESTROY, ts: end, cause: Cause.TIMEOUT });
    }
    recs.sort((a, b) => a.ts! - b.ts!);
    m.ingest(batch(recs));
  }
  return m;
}

const workloads: Array<[string, (r: () => number) => number]> = [
  // the incident: UDP entries that lived 56-60 s (udp_timeout 30 plus the collector's lag)
  ['56-60 s', (r) => (56 + 4 * r()) * SEC],
  // log-uniform from 1.1 ms to 5 days
  ['1 ms .. 5 days', (r) => 1.1e6 * Math.exp(r() * Math.log((5 * 86400e9) / 1.1e6))],
  // two modes: DNS answered in milliseconds, TIME_WAIT at 120 s
  ['bimodal', (r) => (r() < 0.7 ? (2 + 20 * r()) * 1e6 : (120 + r()) * SEC)],
];

describe('lifetime histograms', () => {
  for (const [name, draw] of workloads) {
    it(`give p50/p90/p99 within 5 % of the exact values (${name})`, () => {
      const r = rng(name.length * 7919);
      const lifetimes = Array.from({ length: 10007 }, () => Math.round(draw(r)));
      const m = modelOf(lifetimes);
      const g = m.lifetimeGroups('proto').groups;
      expect(g).toHaveLength(1);
      const sorted = lifetimes.map((x) => x / 1e9).sort((a, b) => a - b);
      for (const [q, got] of [[0.5, g[0]!.p50_s], [0.9, g[0]!.p90_s], [0.99, g[0]!.p99_s]] as const) {
        const want = exact(sorted, q);
        expect(Math.abs(got! - want) / want, `p${q * 100}: ${got} against ${want}`).toBeLessThanOrEqual(0.05);
      }
      expect(g[0]!.count).toBe(lifetimes.length);
      // the median of the churn answers (per-key histograms, an octave's midpoint): within 50 %
      const med = m.churn({ by: 'src', window: 900, limit: 1 }).items[0]!.median_lifetime_s!;
      expect(Math.abs(med - exact(sorted, 0.5)) / exact(sorted, 0.5)).toBeLessThanOrEqual(0.5);
      // by protocol the churn answer's median is the exact histograms' (3.1 %)
      const byProto = m.churn({ by: 'proto', window: 900, limit: 1 }).items[0]!.median_lifetime_s!;
      expect(Math.abs(byProto - exact(sorted, 0.5)) / exact(sorted, 0.5)).toBeLessThanOrEqual(0.05);
    });
  }

  it('answered 65.536 s for 56-60 s before: now within 1 s of the truth', () => {
    const g = modelOf([56e9, 57e9, 58e9, 59e9, 60e9]).lifetimeGroups('proto').groups[0]!;
    expect(g.p50_s).toBeGreaterThan(57);
    expect(g.p50_s).toBeLessThan(59);
    expect(g.p99_s).toBeLessThan(61.5);
  });

  for (const [name, scale, limit] of [['exact', LIFETIME_SCALE, 1 / 32], ['per-key', KEYED_SCALE, 1 / 2]] as Array<[string, LogLinear, number]>) {
    it(`buckets hold their values with upper bounds inclusive, each value within ${(limit * 100).toFixed(1)} % of its bucket's answer (${name})`, () => {
      const r = rng(99);
      const edges: number[] = [];
      for (let i = 1; i < scale.n - 1; i++) edges.push(Math.round(scale.upper(i) * 1e9));
      const values = [...edges, ...edges.map((e) => e + 1), ...Array.from({ length: 20000 }, () => Math.round(1e6 * Math.exp(r() * Math.log(2 ** 30))))];
      for (const ns of values) {
        const b = scale.bucketOf(ns);
        const s = ns / 1e9;
        if (s <= 0.001) {
          expect(b).toBe(0);
          continue;
        }
        if (s > 2 ** 30 / 1000) {
          expect(b).toBe(scale.n - 1);
          continue;
        }
        expect(s, `${ns} ns in bucket ${b}`).toBeGreaterThan(scale.lower(b));
        expect(s).toBeLessThanOrEqual(scale.upper(b));
        expect(Math.abs(scale.value(b) - s) / s).toBeLessThanOrEqual(limit + 1e-12);
      }
      expect(scale.bucketOf(0)).toBe(0);
      expect(scale.bucketOf(1e6)).toBe(0);
      expect(scale.bucketOf(1e6 + 1)).toBe(1);
      expect(scale.bucketOf(2 ** 40 * 1e6)).toBe(scale.n - 1);
    });
  }

  it('per-key buckets are the exact ones coarsened, and /metrics bounds stay one per octave', () => {
    for (let b = 0; b < LIFETIME_SCALE.n; b++) {
      const ns = b === LIFETIME_SCALE.n - 1 ? 2 ** 31 * 1e6 : Math.round(LIFETIME_SCALE.upper(b) * 1e9);
      expect(keyedBucket(b), `bucket ${b}`).toBe(KEYED_SCALE.bucketOf(ns));
    }
    expect(EXPORT_LE_SECONDS).toEqual(Array.from({ length: 31 }, (_, i) => 2 ** i / 1000));
    const h = new Float64Array(LIFETIME_SCALE.n);
    const lives = [0.5e6, 1e6, 1.5e6, 2e6, 2.1e6, 60e9, 65.536e9, 65.537e9, 2 ** 31 * 1e6];
    for (const ns of lives) h[LIFETIME_SCALE.bucketOf(ns)]!++;
    const cum = exportCumulative(h);
    expect(cum).toHaveLength(32);
    // at every bound, the lifetimes <= it (le is inclusive), and all of them at +Inf
    EXPORT_LE_SECONDS.forEach((le, n) => expect(cum[n], `le=${le}`).toBe(lives.filter((x) => x / 1e9 <= le).length));
    expect(cum[31]).toBe(lives.length);
  });
});
