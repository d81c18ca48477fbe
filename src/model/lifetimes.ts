// Lifetime histograms with logarithmic buckets: bucket i counts lifetimes
// <= 2^i ms (i = 0..NBUCKETS-2, up to ~12 days), the last bucket the rest.
// Cheap to fill (clz32, no log), and Prometheus-ready (cumulative `le`).

import { keyHash, pow2 } from './heavy.js';

export const NBUCKETS = 32;
/** Upper bounds in seconds of the finite buckets. */
export const BUCKET_LE_SECONDS: readonly number[] = Array.from({ length: NBUCKETS - 1 }, (_, i) => 2 ** i / 1000);

export function bucketOf(ns: number): number {
  const ms = Math.ceil(ns / 1e6);
  if (ms <= 1) return 0;
  if (ms >= 2 ** 30) return ms <= 2 ** 30 ? 30 : NBUCKETS - 1;
  return 32 - Math.clz32(ms - 1);
}

export class Histogram {
  readonly buckets = new Float64Array(NBUCKETS);
  count = 0;
  sumSeconds = 0;

  add(ns: number): void {
    this.buckets[bucketOf(ns)]! += 1;
    this.count++;
    this.sumSeconds += ns / 1e9;
  }

  /** The q-quantile in seconds: the upper bound of the bucket that holds it. */
  quantile(q: number): number | null {
    return quantileOf(this.buckets, this.count, q);
  }
}

export function quantileOf(buckets: ArrayLike<number>, count: number, q: number): number | null {
  if (count === 0) return null;
  const rank = Math.max(1, Math.ceil(q * count));
  let acc = 0;
  for (let i = 0; i < NBUCKETS; i++) {
    acc += buckets[i]!;
    if (acc >= rank) return i < NBUCKETS - 1 ? BUCKET_LE_SECONDS[i]! : Infinity;
  }
  return null;
}

/**
 * Lifetime histograms per key of one dimension, bounded: at most `maxKeys`
 * keys; when full, the keys with the fewest lifetimes (at or below the
 * median) are forgotten. A key's histogram therefore covers the entries of
 * that key destroyed since it was last (re)admitted — enough for the median
 * lifetime of the heavy keys the API ranks.
 */
export class KeyedLifetimes {
  private keys: Float64Array;
  private counts: Float64Array; // 0: empty slot
  private hist: Uint32Array;
  private n = 0;

  constructor(readonly maxKeys = 2048) {
    const cap = pow2(maxKeys * 2);
    this.keys = new Float64Array(cap);
    this.counts = new Float64Array(cap);
    this.hist = new Uint32Array(cap * NBUCKETS);
  }

  add(k: number, ns: number): void {
    const mask = this.keys.length - 1;
    let s = keyHash(k) & mask;
    while (this.counts[s] !== 0) {
      if (this.keys[s] === k) {
        this.counts[s]!++;
        this.hist[s * NBUCKETS + bucketOf(ns)]!++;
        return;
      }
      s = (s + 1) & mask;
    }
    if (this.n >= this.maxKeys) {
      this.compact();
      this.add(k, ns);
      return;
    }
    this.keys[s] = k;
    this.counts[s] = 1;
    this.hist[s * NBUCKETS + bucketOf(ns)] = 1;
    this.n++;
  }

  /** Median lifetime (seconds, bucket upper bound) of key k, null when unknown. */
  median(k: number): number | null {
    const mask = this.keys.length - 1;
    for (let s = keyHash(k) & mask; this.counts[s] !== 0; s = (s + 1) & mask) {
      if (this.keys[s] === k) return quantileOf(this.hist.subarray(s * NBUCKETS, s * NBUCKETS + NBUCKETS), this.counts[s]!, 0.5);
    }
    return null;
  }

  private compact(): void {
    const order = Array.from(this.counts.filter((c) => c !== 0)).sort((a, b) => a - b);
    const cut = order[Math.floor(order.length / 2)]!;
    const { keys, counts, hist } = this;
    this.keys = new Float64Array(keys.length);
    this.counts = new Float64Array(counts.length);
    this.hist = new Uint32Array(hist.length);
    this.n = 0;
    const mask = keys.length - 1;
    for (let i = 0; i < counts.length; i++) {
      if (counts[i]! <= cut) continue;
      let s = keyHash(keys[i]!) & mask;
      while (this.counts[s] !== 0) s = (s + 1) & mask;
      this.keys[s] = keys[i]!;
      this.counts[s] = counts[i]!;
      this.hist.set(hist.subarray(i * NBUCKETS, i * NBUCKETS + NBUCKETS), s * NBUCKETS);
      this.n++;
    }
  }
}
