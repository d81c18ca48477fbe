// Windowed heavy hitters for one stream (allocations, destroys, drops of one
// kind) in one dimension, in bounded memory.
//
// Each second has its own summary: an open-addressing table of at most
// `maxKeys` keys with exact counts while it has room. When it fills up, the
// keys at or below the median count are dropped and the summary's `floor`
// grows by that median count (a batched Space-Saving / Misra-Gries step).
// Invariant for every key k of a second s:  c_s(k) <= true_s(k) <= c_s(k) + floor_s
// (c_s(k) = 0 when k is not in the summary). A window query sums the summaries
// of its seconds, so a key's reported count is a lower bound and its true
// count is at most count + sum(floor_s): that sum is the error bound the API
// reports. When no second overflowed the bound is 0 and the counts are exact.
//
// Finished seconds are frozen into one packed Float64Array each
// ([floor, k0, c0, k1, c1, ...]); seconds older than `trimAfter` are trimmed
// to `trimKeys` entries (floor grows by the largest count dropped), which
// bounds both the memory of 15 minutes of history and the cost of a query.

export interface HeavyHitterOptions {
  /** Keys a second's summary holds before it compacts (default 1024). */
  maxKeys?: number;
  /** Seconds of history kept (default 900). */
  historySeconds?: number;
  /** Age in seconds after which a frozen second is trimmed (default 60). */
  trimAfter?: number;
  /** Entries a trimmed second keeps (default 128). */
  trimKeys?: number;
}

export function keyHash(k: number): number {
  const lo = k >>> 0;
  const hi = (k / 4294967296) >>> 0;
  let h = Math.imul(lo ^ Math.imul(hi, 0x9e3779b1), 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** A scratch accumulator: number key -> sum, open addressing, reused across queries. */
export class KeyCounter {
  keys: Float64Array;
  sums: Float64Array;
  used: Uint8Array;
  size = 0;

  constructor(capacity = 1024) {
    const cap = pow2(capacity * 2);
    this.keys = new Float64Array(cap);
    this.sums = new Float64Array(cap);
    this.used = new Uint8Array(cap);
  }

  clear(): void {
    if (this.size === 0) return;
    this.used.fill(0);
    this.size = 0;
  }

  add(k: number, v: number): void {
    const mask = this.keys.length - 1;
    let s = keyHash(k) & mask;
    while (this.used[s]) {
      if (this.keys[s] === k) {
        this.sums[s]! += v;
        return;
      }
      s = (s + 1) & mask;
    }
    this.used[s] = 1;
    this.keys[s] = k;
    this.sums[s] = v;
    if (++this.size * 2 > this.keys.length) this.grow();
  }

  get(k: number): number {
    const mask = this.keys.length - 1;
    for (let s = keyHash(k) & mask; this.used[s]; s = (s + 1) & mask) if (this.keys[s] === k) return this.sums[s]!;
    return 0;
  }

  private grow(): void {
    const { keys, sums, used } = this;
    const cap = keys.length * 2;
    this.keys = new Float64Array(cap);
    this.sums = new Float64Array(cap);
    this.used = new Uint8Array(cap);
    this.size = 0;
    for (let i = 0; i < keys.length; i++) if (used[i]) this.add(keys[i]!, sums[i]!);
  }

  /** The `limit` largest entries, largest first (ties: smaller key first). */
  top(limit: number): Array<{ key: number; count: number }> {
    const out: Array<{ key: number; count: number }> = [];
    if (limit <= 0 || this.size === 0) return out;
    // Select the cut first so that only about `limit` objects are made.
    let cut = -Infinity;
    if (this.size > limit) {
      if (this.sel.length < this.size) this.sel = new Float64Array(this.keys.length);
      let j = 0;
      for (let i = 0; i < this.keys.length; i++) if (this.used[i]) this.sel[j++] = this.sums[i]!;
      cut = selectKth(this.sel, j, j - limit);
    }
    for (let i = 0; i < this.keys.length; i++) if (this.used[i] && this.sums[i]! >= cut) out.push({ key: this.keys[i]!, count: this.sums[i]! });
    out.sort((a, b) => b.count - a.count || a.key - b.key);
    if (out.length > limit) out.length = limit;
    return out;
  }

  private sel = new Float64Array(0);

  *entries(): IterableIterator<[number, number]> {
    for (let i = 0; i < this.keys.length; i++) if (this.used[i]) yield [this.keys[i]!, this.sums[i]!];
  }
}

export function pow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

const EMPTY = new Float64Array(1);

/** The k-th smallest (0-based) of a[0..n), reordering a (Hoare quickselect). */
export function selectKth(a: Float64Array, n: number, k: number): number {
  let lo = 0;
  let hi = n - 1;
  while (lo < hi) {
    const pivot = a[(lo + hi) >> 1]!;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i]! < pivot) i++;
      while (a[j]! > pivot) j--;
      if (i <= j) {
        const t = a[i]!;
        a[i] = a[j]!;
        a[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return a[k]!;
  }
  return a[k]!;
}

export class WindowedHeavyHitters {
  readonly maxKeys: number;
  private readonly trimAfter: number;
  private readonly trimKeys: number;
  // the current second
  private keys: Float64Array;
  private counts: Float64Array;
  private spareKeys: Float64Array;
  private spareCounts: Float64Array;
  private readonly order: Float64Array;
  private n = 0;
  private lastSlot = 0;
  private floor = 0;
  private curSec = -1;
  // frozen seconds
  private readonly ring: Float64Array[];
  private readonly ringSec: Float64Array;
  private readonly mask: number;
  /** Compactions done (a second overflowed). */
  compactions = 0;

  constructor(opts: HeavyHitterOptions = {}) {
    this.maxKeys = Math.max(4, opts.maxKeys ?? 1024);
    const cap = pow2(this.maxKeys * 2);
    this.keys = new Float64Array(cap);
    this.counts = new Float64Array(cap);
    this.spareKeys = new Float64Array(cap);
    this.spareCounts = new Float64Array(cap);
    this.order = new Float64Array(this.maxKeys);
    const hist = opts.historySeconds ?? 900;
    const ringSize = pow2(hist + 2);
    this.ring = new Array<Float64Array>(ringSize).fill(EMPTY);
    this.ringSec = new Float64Array(ringSize).fill(-1);
    this.mask = ringSize - 1;
    this.trimAfter = opts.trimAfter ?? 60;
    this.trimKeys = opts.trimKeys ?? 128;
  }

  /** Count `v` occurrences of key `k` in the current second. */
  add(k: number, v = 1): void {
    const keys = this.keys;
    const counts = this.counts;
    // Runs of one key (a storm's source, the one netns) skip the hash.
    const l = this.lastSlot;
    if (keys[l] === k && counts[l] !== 0) {
      counts[l] = counts[l]! + v;
      return;
    }
    const mask = keys.length - 1;
    let s = keyHash(k) & mask;
    for (;;) {
      const c = counts[s]!;
      if (c === 0) break;
      if (keys[s] === k) {
        counts[s] = c + v;
        this.lastSlot = s;
        return;
      }
      s = (s + 1) & mask;
    }
    if (this.n >= this.maxKeys) {
      this.compact();
      this.add(k, v);
      return;
    }
    keys[s] = k;
    counts[s] = v;
    this.lastSlot = s;
    this.n++;
  }

  /** Move to second `sec`: the current summary is frozen under its second. */
  rollover(sec: number): void {
    if (sec === this.curSec) return;
    if (this.curSec >= 0 && (this.n > 0 || this.floor > 0)) {
      const packed = new Float64Array(1 + 2 * this.n);
      packed[0] = this.floor;
      let j = 1;
      for (let i = 0; i < this.keys.length; i++) {
        if (this.counts[i] !== 0) {
          packed[j++] = this.keys[i]!;
          packed[j++] = this.counts[i]!;
        }
      }
      const slot = this.curSec & this.mask;
      this.ring[slot] = packed;
      this.ringSec[slot] = this.curSec;
      this.counts.fill(0);
      this.n = 0;
      this.floor = 0;
    }
    // Trim the seconds that crossed the trim age since the last rollover.
    if (this.curSec >= 0) {
      const from = Math.max(this.curSec - this.trimAfter, sec - this.trimAfter - this.mask);
      for (let s = from; s < sec - this.trimAfter; s++) this.trim(s);
    }
    this.curSec = sec;
  }

  private trim(sec: number): void {
    const slot = sec & this.mask;
    if (this.ringSec[slot] !== sec) return;
    const p = this.ring[slot]!;
    const n = (p.length - 1) / 2;
    if (n <= this.trimKeys) return;
    const order = new Float64Array(n);
    for (let i = 0; i < n; i++) order[i] = p[2 + 2 * i]!;
    order.sort();
    // Keep the entries strictly above the cut; dropped ones add their largest count.
    const cut = order[n - this.trimKeys - 1]!;
    let kept = 0;
    for (let i = 0; i < n; i++) if (p[2 + 2 * i]! > cut) kept++;
    const q = new Float64Array(1 + 2 * kept);
    q[0] = p[0]! + cut;
    let j = 1;
    for (let i = 0; i < n; i++) {
      if (p[2 + 2 * i]! > cut) {
        q[j++] = p[1 + 2 * i]!;
        q[j++] = p[2 + 2 * i]!;
      }
    }
    this.ring[slot] = q;
  }

  /** Drop every key at or below the median count; the floor grows by it. */
  private compact(): void {
    this.compactions++;
    const n = this.n;
    const order = this.order;
    let j = 0;
    for (let i = 0; i < this.counts.length; i++) if (this.counts[i] !== 0) order[j++] = this.counts[i]!;
    const cut = selectKth(order, n, n >> 1);
    // Re-insert the survivors into the spare arrays, then swap (no allocation).
    const keys = this.keys;
    const counts = this.counts;
    const nk = this.spareKeys;
    const nc = this.spareCounts;
    nc.fill(0);
    this.n = 0;
    const mask = keys.length - 1;
    for (let i = 0; i < counts.length; i++) {
      const c = counts[i]!;
      if (c > cut) {
        let s = keyHash(keys[i]!) & mask;
        while (nc[s] !== 0) s = (s + 1) & mask;
        nk[s] = keys[i]!;
        nc[s] = c;
        this.n++;
      }
    }
    this.spareKeys = keys;
    this.spareCounts = counts;
    this.keys = nk;
    this.counts = nc;
    this.floor += cut;
  }

  /**
   * Add the counts of seconds [fromSec, toSec] into `into`; returns the sum of
   * the floors of those seconds (the error bound of every key's count).
   */
  collect(fromSec: number, toSec: number, into: KeyCounter): number {
    let bound = 0;
    const lo = Math.max(fromSec, toSec - this.mask);
    for (let s = lo; s <= toSec; s++) {
      if (s === this.curSec) {
        bound += this.floor;
        for (let i = 0; i < this.counts.length; i++) if (this.counts[i] !== 0) into.add(this.keys[i]!, this.counts[i]!);
        continue;
      }
      const slot = s & this.mask;
      if (this.ringSec[slot] !== s) continue;
      const p = this.ring[slot]!;
      bound += p[0]!;
      for (let i = 1; i < p.length; i += 2) into.add(p[i]!, p[i + 1]!);
    }
    return bound;
  }

  /** Count of one key over [fromSec, toSec] (lower bound, as collect()). */
  countOf(k: number, fromSec: number, toSec: number): number {
    let sum = 0;
    const lo = Math.max(fromSec, toSec - this.mask);
    for (let s = lo; s <= toSec; s++) {
      if (s === this.curSec) {
        const mask = this.keys.length - 1;
        for (let i = keyHash(k) & mask; this.counts[i] !== 0; i = (i + 1) & mask) {
          if (this.keys[i] === k) {
            sum += this.counts[i]!;
            break;
          }
        }
        continue;
      }
      const slot = s & this.mask;
      if (this.ringSec[slot] !== s) continue;
      const p = this.ring[slot]!;
      for (let i = 1; i < p.length; i += 2) {
        if (p[i] === k) {
          sum += p[i + 1]!;
          break;
        }
      }
    }
    return sum;
  }

  /** Bytes held by the frozen history (for stats and the memory benchmark). */
  historyBytes(): number {
    let b = 0;
    for (const p of this.ring) b += p.byteLength;
    return b;
  }
}
