// Lifetime histograms with logarithmic buckets: bucket i counts lifetimes
// <= 2^i ms (i = 0..NBUCKETS-2, up to ~12 days), the last bucket the rest.
// Cheap to fill (clz32, no log), and Prometheus-ready (cumulative `le`).

import { keyHash, pow2, selectKth } from './heavy.js';

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
    this.addBucket(bucketOf(ns), ns);
  }

  /** add() with bucketOf(ns) already computed by the caller. */
  addBucket(bucket: number, ns: number): void {
    this.buckets[bucket]! += 1;
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
 * that key destroyed since it was last (re)admitted (once full, new keys are
 * admitted one time in eight) — enough for the median
 * lifetime of the heavy keys the API ranks.
 */
export class KeyedLifetimes {
  private keys: Float64Array;
  private counts: Float64Array; // 0: empty slot
  private hist: Uint16Array;
  private spareKeys: Float64Array;
  private spareCounts: Float64Array;
  private spareHist: Uint16Array;
  private readonly order: Float64Array;
  private n = 0;
  private rng = 0x2545f491;

  constructor(readonly maxKeys = 1024) {
    const cap = pow2(maxKeys * 2);
    this.keys = new Float64Array(cap);
    this.counts = new Float64Array(cap);
    this.hist = new Uint16Array(cap * NBUCKETS);
    this.spareKeys = new Float64Array(cap);
    this.spareCounts = new Float64Array(cap);
    this.spareHist = new Uint16Array(cap * NBUCKETS);
    this.order = new Float64Array(cap);
  }

  add(k: number, ns: number): void {
    this.addBucket(k, bucketOf(ns));
  }

  /** add() with the lifetime's bucket already computed (one bucketOf per destroy, not per dimension). */
  addBucket(k: number, bucket: number): void {
    const mask = this.keys.length - 1;
    let s = keyHash(k) & mask;
    while (this.counts[s] !== 0) {
      if (this.keys[s] === k) {
        this.counts[s]!++;
        const b = s * NBUCKETS + bucket;
        // u16 buckets: halve them all when one would overflow (the median holds).
        if (this.hist[b] === 0xffff) this.halve(s);
        this.hist[b]!++;
        return;
      }
      s = (s + 1) & mask;
    }
    if (this.n >= this.maxKeys) {
      // Full: admit a new key one time in eight, so a long tail of one-off
      // keys does not compact the table on every destroy, while a heavy key
      // (the ones the API ranks) gets in after a few entries.
      this.rng = (Math.imul(this.rng, 1103515245) + 12345) >>> 0;
      if ((this.rng >>> 29) !== 0) return;
      this.compact();
      this.addBucket(k, bucket);
      return;
    }
    this.keys[s] = k;
    this.counts[s] = 1;
    this.hist.fill(0, s * NBUCKETS, s * NBUCKETS + NBUCKETS);
    this.hist[s * NBUCKETS + bucket] = 1;
    this.n++;
  }

  private halve(s: number): void {
    for (let b = s * NBUCKETS; b < s * NBUCKETS + NBUCKETS; b++) this.hist[b] = this.hist[b]! >>> 1;
  }

  /** Median lifetime (seconds, bucket upper bound) of key k, null when unknown. */
  median(k: number): number | null {
    const mask = this.keys.length - 1;
    for (let s = keyHash(k) & mask; this.counts[s] !== 0; s = (s + 1) & mask) {
      if (this.keys[s] === k) {
        const h = this.hist.subarray(s * NBUCKETS, s * NBUCKETS + NBUCKETS);
        let total = 0;
        for (let b = 0; b < NBUCKETS; b++) total += h[b]!;
        return quantileOf(h, total, 0.5);
      }
    }
    return null;
  }

  private compact(): void {
    const order = this.order;
    let j = 0;
    for (let i = 0; i < this.counts.length; i++) if (this.counts[i] !== 0) order[j++] = this.counts[i]!;
    const cut = selectKth(order, j, j >> 1);
    const { keys, counts, hist } = this;
    const nk = this.spareKeys;
    const nc = this.spareCounts;
    const nh = this.spareHist;
    nc.fill(0);
    this.n = 0;
    const mask = keys.length - 1;
    for (let i = 0; i < counts.length; i++) {
      if (counts[i]! <= cut) continue;
      let s = keyHash(keys[i]!) & mask;
      while (nc[s] !== 0) s = (s + 1) & mask;
      nk[s] = keys[i]!;
      nc[s] = counts[i]!;
      for (let b = 0; b < NBUCKETS; b++) nh[s * NBUCKETS + b] = hist[i * NBUCKETS + b]!;
      this.n++;
    }
    // Slots left empty keep stale buckets: add() resets a slot's buckets when it takes it.
    this.spareKeys = keys;
    this.spareCounts = counts;
    this.spareHist = hist;
    this.keys = nk;
    this.counts = nc;
    this.hist = nh;
  }
}
