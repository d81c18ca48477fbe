// Lifetime histograms with logarithmic buckets: bucket i counts lifetimes
// <= 2^i ms (i = 0..NBUCKETS-2, up to ~12 days), the last bucket the rest.
// Cheap to fill (clz32, no log), and Prometheus-ready (cumulative `le`).

import { WAYS, keyHash, pow2 } from './heavy.js';

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
 * Lifetime histograms per key of one dimension, bounded, at a constant cost
 * per destroy: a set-associative table (a key hashes to one set of WAYS
 * ways). A key in its set gains credit; a new key takes a free way; in a
 * full set the way with the least credit loses one, and makes room (its
 * histogram forgotten) when it reaches zero. Credit saturates at CREDIT_MAX,
 * so a key that went quiet yields its way after at most that many newcomers
 * to its set, while a heavy key (the ones the API ranks) keeps its place. A
 * key's histogram therefore covers the entries of that key destroyed since
 * it was last admitted — enough for the median lifetime of the heavy keys.
 */
export class KeyedLifetimes {
  private readonly keys: Float64Array;
  private readonly credit: Float64Array; // 0: free way
  private readonly hist: Uint16Array;
  private readonly setMask: number;

  constructor(readonly maxKeys = 4096) {
    const sets = pow2(Math.max(1, Math.ceil(maxKeys / WAYS)));
    this.setMask = sets - 1;
    this.keys = new Float64Array(sets * WAYS);
    this.credit = new Float64Array(sets * WAYS);
    this.hist = new Uint16Array(sets * WAYS * NBUCKETS);
  }

  add(k: number, ns: number): void {
    this.addBucket(k, bucketOf(ns));
  }

  /** The whole state (for a helper thread to hand its histograms back: counting.ts). */
  state(): KeyedLifetimesState {
    const { maxKeys, keys, credit, hist, setMask, lastWay } = this;
    return { maxKeys, keys, credit, hist, setMask, lastWay };
  }

  /** Histograms continuing from `s` (state() of another, possibly in another thread). */
  static fromState(s: KeyedLifetimesState): KeyedLifetimes {
    return Object.assign(new KeyedLifetimes(WAYS), s);
  }

  /** add() with the lifetime's bucket already computed (one bucketOf per destroy, not per dimension). */
  addBucket(k: number, bucket: number): void {
    const { keys, credit } = this;
    // Runs of one key (the one netns, zone 0, no mark) skip the hash.
    let i = this.lastWay;
    if (keys[i] === k && credit[i] !== 0) {
      this.count(i, bucket);
      return;
    }
    const base = (keyHash(k) & this.setMask) * WAYS;
    // One pass: the key's way, else a free way, else the least credit.
    let free = -1;
    let min = Infinity;
    let minAt = base;
    for (i = base; i < base + WAYS; i++) {
      const c = credit[i]!;
      if (c === 0) {
        if (free < 0) free = i;
      } else if (keys[i] === k) {
        this.lastWay = i;
        this.count(i, bucket);
        return;
      } else if (c < min) {
        min = c;
        minAt = i;
      }
    }
    this.admit(k, bucket, free, minAt);
  }

  /**
   * counts[b] lifetimes of key k in bucket b, when k holds a way: the same as
   * that many addBucket() calls made bucket by bucket, in one pass. False
   * (nothing added) when k holds none: admitting it is addBucket()'s business.
   */
  addCounts(k: number, counts: Float64Array): boolean {
    const i = this.wayOf(k);
    if (i < 0) return false;
    let total = 0;
    for (let b = 0; b < NBUCKETS; b++) {
      let c = counts[b]!;
      total += c;
      // u16 buckets, halved when one would overflow, as count() does one at a time
      while (c > 0) {
        const at = i * NBUCKETS + b;
        const room = 0xffff - this.hist[at]!;
        if (room === 0) {
          this.halve(i);
          continue;
        }
        const add = Math.min(room, c);
        this.hist[at]! += add;
        c -= add;
      }
    }
    this.credit[i] = Math.min(CREDIT_MAX, this.credit[i]! + total);
    this.lastWay = i;
    return true;
  }

  private wayOf(k: number): number {
    const base = (keyHash(k) & this.setMask) * WAYS;
    for (let i = base; i < base + WAYS; i++) if (this.credit[i] !== 0 && this.keys[i] === k) return i;
    return -1;
  }

  // Out of addBucket() to keep it small enough to inline (as WindowedHeavyHitters.place).
  private admit(k: number, bucket: number, free: number, minAt: number): void {
    if (free < 0) {
      if (--this.credit[minAt]! !== 0) return;
      free = minAt;
    }
    this.keys[free] = k;
    this.credit[free] = 1;
    this.hist.fill(0, free * NBUCKETS, free * NBUCKETS + NBUCKETS);
    this.hist[free * NBUCKETS + bucket] = 1;
    this.lastWay = free;
  }

  private lastWay = 0;

  private count(i: number, bucket: number): void {
    const c = this.credit[i]!;
    if (c < CREDIT_MAX) this.credit[i] = c + 1;
    const b = i * NBUCKETS + bucket;
    // u16 buckets: halve them all when one would overflow (the median holds).
    if (this.hist[b] === 0xffff) this.halve(i);
    this.hist[b]!++;
  }

  private halve(i: number): void {
    for (let b = i * NBUCKETS; b < i * NBUCKETS + NBUCKETS; b++) this.hist[b] = this.hist[b]! >>> 1;
  }

  /** Add key k's histogram into `into` (NBUCKETS); false when k holds no way. */
  addInto(k: number, into: Float64Array): boolean {
    const i = this.wayOf(k);
    if (i < 0) return false;
    for (let b = 0; b < NBUCKETS; b++) into[b]! += this.hist[i * NBUCKETS + b]!;
    return true;
  }

  /** Median lifetime (seconds, bucket upper bound) of key k, null when unknown. */
  median(k: number): number | null {
    const i = this.wayOf(k);
    if (i < 0) return null;
    const h = this.hist.subarray(i * NBUCKETS, i * NBUCKETS + NBUCKETS);
    let total = 0;
    for (let b = 0; b < NBUCKETS; b++) total += h[b]!;
    return quantileOf(h, total, 0.5);
  }
}

/** All of a KeyedLifetimes, as plain data (structured-cloneable). */
export interface KeyedLifetimesState {
  maxKeys: number;
  keys: Float64Array;
  credit: Float64Array;
  hist: Uint16Array;
  setMask: number;
  lastWay: number;
}

/** Credit a key's way can hold (see KeyedLifetimes). */
const CREDIT_MAX = 1024;
