// Lifetime histograms with log-linear buckets: every octave (2^k, 2^(k+1)]
// ms, k = 0..29 (1 ms to ~12 days), is cut into equal linear parts, so a
// bucket is never wider than 1/parts of its lower bound, and a quantile
// answered with its bucket's midpoint is off by at most 1/(2 x parts) of the
// true value: 16 parts (3.1 %) for the exact histograms per protocol and
// state (/v1/lifetimes, /metrics). The per-key ones behind the churn answers'
// medians keep one part per octave (answered by its midpoint: within 50 %):
// they are 4,096 keys in each of 8 dimensions, filled from the ingest's
// counting, and 4 parts per octave (4 x the bytes a key holds, a wider fill on
// each newcomer to a set) cost 10-20 % of the model's ingest in
// bench/model-ingest.mjs --paired (BENCHMARKS.md). Lifetimes up to 1 ms share
// one bucket (reported as 1 ms); beyond 2^30 ms, one open bucket.
//
// Filling costs an integer division and a clz32, no logarithm. The bounds of
// both scales include every power of two in ms, which are the `le` bounds
// /metrics and /v1/lifetimes' `buckets` show (one per octave, as before:
// Prometheus bounds stay few and the Grafana heatmap keeps its rows).

import { WAYS, keyHash, pow2 } from './heavy.js';

/** Octaves of the finite buckets above 1 ms: (2^k, 2^(k+1)] ms, k = 0..OCTAVES-1. */
const OCTAVES = 30;
const TWO32 = 4294967296;
/** 2^k, k = 0..OCTAVES. */
const POW2: readonly number[] = Array.from({ length: OCTAVES + 1 }, (_, k) => 2 ** k);

/** A log-linear scale: `2^bits` linear parts per octave. */
export class LogLinear {
  readonly parts: number;
  /** Buckets: [0, 1 ms], the octaves' parts, (2^30 ms, inf). */
  readonly n: number;
  /** Nanoseconds of one part of the first octave (1/parts ms). */
  private readonly unitNs: number;

  constructor(readonly bits: number) {
    this.parts = 1 << bits;
    this.n = 2 + OCTAVES * this.parts;
    this.unitNs = 1e6 / this.parts;
  }

  /**
   * The bucket of a lifetime of `ns` nanoseconds; upper bounds inclusive (a
   * lifetime of exactly 2 ms is in the bucket that ends at 2 ms, as le=0.002).
   */
  bucketOf(ns: number): number {
    // u: the lifetime in parts of the first octave, rounded up; every bound is
    // a whole number of them, so u <= bound exactly when ns <= bound.
    const u = Math.ceil(ns / this.unitNs);
    const parts = this.parts;
    if (u <= parts) return 0;
    const v = u - 1; // v < bound <=> u <= bound
    if (v >= POW2[OCTAVES]! * parts) return this.n - 1;
    // floor(log2 v) >= bits: the octave k and the part of it
    if (v < TWO32) {
      const k = 31 - Math.clz32(v) - this.bits;
      return 1 + k * parts + (v >>> k) - parts;
    }
    const k = 63 - Math.clz32(Math.floor(v / TWO32)) - this.bits;
    return 1 + k * parts + Math.floor(v / POW2[k]!) - parts;
  }

  /** Upper bound of bucket i, seconds (Infinity for the last). */
  upper(i: number): number {
    if (i === 0) return 0.001;
    if (i >= this.n - 1) return Infinity;
    const k = Math.floor((i - 1) / this.parts);
    const j = (i - 1) % this.parts;
    return (POW2[k]! * (this.parts + j + 1)) / this.parts / 1000;
  }

  /** Lower bound of bucket i, seconds. */
  lower(i: number): number {
    return i === 0 ? 0 : this.upper(i - 1);
  }

  /**
   * What bucket i says of a lifetime in it: the midpoint (within 1/(2 x parts)
   * of any value in the bucket), 1 ms for the first bucket, Infinity for the last.
   */
  value(i: number): number {
    if (i === 0) return 0.001;
    if (i >= this.n - 1) return Infinity;
    return (this.lower(i) + this.upper(i)) / 2;
  }

  /** The bucket of this scale that holds bucket i of a finer scale `from` (the same octaves). */
  coarsen(i: number, from: LogLinear): number {
    if (i === 0) return 0;
    if (i >= from.n - 1) return this.n - 1;
    return 1 + ((i - 1) >> (from.bits - this.bits));
  }
}

/** The exact histograms' scale: 16 parts per octave (quantiles within 3.1 %). */
export const LIFETIME_SCALE = new LogLinear(4);
/** The per-key histograms' scale: one part per octave (medians within 50 %), 32 buckets. */
export const KEYED_SCALE = new LogLinear(0);
export const NBUCKETS = LIFETIME_SCALE.n;
export const KEYED_BUCKETS = KEYED_SCALE.n;

/** The `le` bounds (seconds) /metrics and /v1/lifetimes show: one per octave, 1 ms .. 2^30 ms. */
export const EXPORT_LE_SECONDS: readonly number[] = Array.from({ length: OCTAVES + 1 }, (_, i) => 2 ** i / 1000);

/** A lifetime's bucket in the exact histograms. */
export function bucketOf(ns: number): number {
  return LIFETIME_SCALE.bucketOf(ns);
}

/** The per-key bucket of an exact histogram's bucket. */
export function keyedBucket(bucket: number): number {
  return KEYED_SCALE.coarsen(bucket, LIFETIME_SCALE);
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

  /** The q-quantile in seconds: the midpoint of the bucket that holds it (within 3.1 %). */
  quantile(q: number): number | null {
    return quantileOf(this.buckets, this.count, q);
  }
}

/** The q-quantile (seconds) of histogram `buckets` of `scale`: its bucket's value(). */
export function quantileOf(buckets: ArrayLike<number>, count: number, q: number, scale: LogLinear = LIFETIME_SCALE): number | null {
  if (count === 0) return null;
  const rank = Math.max(1, Math.ceil(q * count));
  let acc = 0;
  for (let i = 0; i < scale.n; i++) {
    acc += buckets[i]!;
    if (acc >= rank) return scale.value(i);
  }
  return null;
}

/**
 * Cumulative counts of an exact histogram at each EXPORT_LE_SECONDS bound,
 * then the total (+Inf): octave n ends at bucket n x parts.
 */
export function exportCumulative(buckets: ArrayLike<number>): number[] {
  const out: number[] = [];
  let acc = 0;
  let i = 0;
  for (let n = 0; n <= OCTAVES; n++) {
    const last = n * LIFETIME_SCALE.parts;
    for (; i <= last; i++) acc += buckets[i]!;
    out.push(acc);
  }
  for (; i < NBUCKETS; i++) acc += buckets[i]!;
  out.push(acc);
  return out;
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
    this.hist = new Uint16Array(sets * WAYS * KEYED_BUCKETS);
  }

  add(k: number, ns: number): void {
    this.addBucket(k, KEYED_SCALE.bucketOf(ns));
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

  /** add() with the lifetime's KEYED_SCALE bucket already computed (once per destroy, not per dimension). */
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
    for (let b = 0; b < KEYED_BUCKETS; b++) {
      let c = counts[b]!;
      total += c;
      // u16 buckets, halved when one would overflow, as count() does one at a time
      while (c > 0) {
        const at = i * KEYED_BUCKETS + b;
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
    this.hist.fill(0, free * KEYED_BUCKETS, free * KEYED_BUCKETS + KEYED_BUCKETS);
    this.hist[free * KEYED_BUCKETS + bucket] = 1;
    this.lastWay = free;
  }

  private lastWay = 0;

  private count(i: number, bucket: number): void {
    const c = this.credit[i]!;
    if (c < CREDIT_MAX) this.credit[i] = c + 1;
    const b = i * KEYED_BUCKETS + bucket;
    // u16 buckets: halve them all when one would overflow (the median holds).
    if (this.hist[b] === 0xffff) this.halve(i);
    this.hist[b]!++;
  }

  private halve(i: number): void {
    for (let b = i * KEYED_BUCKETS; b < i * KEYED_BUCKETS + KEYED_BUCKETS; b++) this.hist[b] = this.hist[b]! >>> 1;
  }

  /** Add key k's histogram into `into` (KEYED_BUCKETS); false when k holds no way. */
  addInto(k: number, into: Float64Array): boolean {
    const i = this.wayOf(k);
    if (i < 0) return false;
    for (let b = 0; b < KEYED_BUCKETS; b++) into[b]! += this.hist[i * KEYED_BUCKETS + b]!;
    return true;
  }

  /** Median lifetime (seconds, its octave's midpoint: within 50 %) of key k, null when unknown. */
  median(k: number): number | null {
    const i = this.wayOf(k);
    if (i < 0) return null;
    const h = this.hist.subarray(i * KEYED_BUCKETS, i * KEYED_BUCKETS + KEYED_BUCKETS);
    let total = 0;
    for (let b = 0; b < KEYED_BUCKETS; b++) total += h[b]!;
    return quantileOf(h, total, 0.5, KEYED_SCALE);
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
