// Windowed heavy hitters for one stream (allocations, destroys, drops of one
// kind) in one dimension, in bounded memory and bounded time per record.
//
// The current second is a set-associative table: a key hashes to one set of
// WAYS slots, and each set is its own Space-Saving summary. A key already in
// its set is counted; a new key takes a free way; when the set is full it
// takes the way with the smallest count m, counts on from m, and carries m
// as its error. So an add is one pass over one set, whatever the number of
// distinct keys: no table-wide compaction (the earlier design compacted the
// whole table every few hundred new keys once it was full: 50 ns per add on
// a 10,000-source stream). Space-Saving's guarantee, per set: a key in the
// summary was seen at least count - error times and at most count times; a
// key not in it at most the count it was evicted with. `floor` is the
// largest error handed out this second, so for every key k of a second s:
//   c_s(k) <= true_s(k) <= c_s(k) + floor_s   (c_s = count - error; 0 when absent).
// A window query sums the summaries of its seconds, so a key's reported count
// is a lower bound and its true count is at most count + sum(floor_s): that
// sum is the error bound the API reports. When no set overflowed the bound is
// 0 and the counts are exact.
//
// Finished seconds are frozen into one packed Float64Array each
// ([floor, k0, c0, k1, c1, ...]) holding at most `maxKeys` entries (the
// largest; the floor grows by the largest count dropped); seconds older than
// `trimAfter` are trimmed to `trimKeys` entries the same way, which bounds
// both the memory of 15 minutes of history and the cost of a query.

export interface HeavyHitterOptions {
  /** Keys a finished second keeps (default 1024). */
  maxKeys?: number;
  /** Keys the current second holds (default 8 x maxKeys), in sets of WAYS. */
  slots?: number;
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

/**
 * A scratch accumulator: number key -> sum, open addressing, reused across
 * queries. Key and sum side by side ([k0, s0, k1, s1, ...]) so a probe reads
 * one cache line; a slot is free while its sum is 0 (adding 0 is a no-op).
 */
export class KeyCounter {
  private slots: Float64Array;
  private mask: number;
  size = 0;

  constructor(capacity = 1024) {
    const cap = pow2(capacity * 2);
    this.slots = new Float64Array(2 * cap);
    this.mask = cap - 1;
  }

  clear(): void {
    if (this.size === 0) return;
    this.slots.fill(0);
    this.size = 0;
  }

  add(k: number, v: number): void {
    if (v === 0) return;
    const slots = this.slots;
    const mask = this.mask;
    for (let s = keyHash(k) & mask; ; s = (s + 1) & mask) {
      const sum = slots[2 * s + 1]!;
      if (sum === 0) break;
      if (slots[2 * s] === k) {
        slots[2 * s + 1] = sum + v;
        return;
      }
    }
    let s = keyHash(k) & mask;
    while (slots[2 * s + 1] !== 0) s = (s + 1) & mask;
    slots[2 * s] = k;
    slots[2 * s + 1] = v;
    if (++this.size * 2 > mask + 1) this.grow();
  }

  get(k: number): number {
    const slots = this.slots;
    const mask = this.mask;
    for (let s = keyHash(k) & mask; slots[2 * s + 1] !== 0; s = (s + 1) & mask) if (slots[2 * s] === k) return slots[2 * s + 1]!;
    return 0;
  }

  private grow(): void {
    const old = this.slots;
    this.slots = new Float64Array(old.length * 2);
    this.mask = old.length - 1;
    this.size = 0;
    for (let i = 0; i < old.length; i += 2) if (old[i + 1] !== 0) this.add(old[i]!, old[i + 1]!);
  }

  /** Call f(key, sum) for every entry (no iterator objects). */
  forEach(f: (key: number, sum: number) => void): void {
    const slots = this.slots;
    for (let i = 0; i < slots.length; i += 2) if (slots[i + 1] !== 0) f(slots[i]!, slots[i + 1]!);
  }

  /** The `limit` largest entries, largest first (ties: smaller key first). */
  top(limit: number): Array<{ key: number; count: number }> {
    const out: Array<{ key: number; count: number }> = [];
    if (limit <= 0 || this.size === 0) return out;
    const slots = this.slots;
    // Select the cut first so that only about `limit` objects are made.
    let cut = -Infinity;
    if (this.size > limit) {
      if (this.sel.length < this.size) this.sel = new Float64Array(slots.length / 2);
      let j = 0;
      for (let i = 1; i < slots.length; i += 2) if (slots[i] !== 0) this.sel[j++] = slots[i]!;
      cut = selectKth(this.sel, j, j - limit);
    }
    for (let i = 0; i < slots.length; i += 2) if (slots[i + 1] !== 0 && slots[i + 1]! >= cut) out.push({ key: slots[i]!, count: slots[i + 1]! });
    out.sort((a, b) => b.count - a.count || a.key - b.key);
    if (out.length > limit) out.length = limit;
    return out;
  }

  private sel = new Float64Array(0);
}

/**
 * Backward-shift deletion in a linear-probing table: whether the entry at
 * slot j, whose home slot is `home`, moves back into the hole at `hole`
 * (its probe chain passes through the hole). Shared by the flow index and
 * the occupancy indexes.
 */
export function shiftsBack(home: number, hole: number, j: number): boolean {
  return hole <= j ? home <= hole || home > j : home <= hole && home > j;
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

/** Ways per set of the current second's table. */
export const WAYS = 8;

/** All of a WindowedHeavyHitters, as plain data (structured-cloneable: it crosses threads). */
export interface HeavyState {
  maxKeys: number;
  trimAfter: number;
  trimKeys: number;
  keys: Float64Array;
  counts: Float64Array;
  errs: Float64Array;
  setMask: number;
  touched: Uint32Array;
  isTouched: Uint8Array;
  nTouched: number;
  lastSlot: number;
  floor: number;
  curSec: number;
  ring: Float64Array[];
  ringSec: Float64Array;
  mask: number;
  overflows: number;
}

export class WindowedHeavyHitters {
  readonly maxKeys: number;
  private readonly trimAfter: number;
  private readonly trimKeys: number;
  // the current second: set t holds slots t*WAYS .. t*WAYS+WAYS-1; count 0 = free
  private readonly keys: Float64Array;
  private readonly counts: Float64Array;
  // count - errs = occurrences certainly seen; errs > 0 only for a key that took a full set's smallest way
  private readonly errs: Float64Array;
  private readonly setMask: number;
  // sets holding anything this second (cleared and frozen from this list, not by a full scan)
  private readonly touched: Uint32Array;
  private readonly isTouched: Uint8Array;
  private nTouched = 0;
  private lastSlot = 0;
  private floor = 0;
  private curSec = -1;
  // frozen seconds
  private readonly ring: Float64Array[];
  private readonly ringSec: Float64Array;
  private readonly mask: number;
  /** Overflows (a new key took a full set's smallest way) since start. */
  overflows = 0;

  constructor(opts: HeavyHitterOptions = {}) {
    this.maxKeys = Math.max(4, opts.maxKeys ?? 1024);
    const sets = pow2(Math.max(1, Math.ceil((opts.slots ?? 8 * this.maxKeys) / WAYS)));
    this.keys = new Float64Array(sets * WAYS);
    this.counts = new Float64Array(sets * WAYS);
    this.errs = new Float64Array(sets * WAYS);
    this.setMask = sets - 1;
    this.touched = new Uint32Array(sets);
    this.isTouched = new Uint8Array(sets);
    const hist = opts.historySeconds ?? 900;
    const ringSize = pow2(hist + 2);
    this.ring = new Array<Float64Array>(ringSize).fill(EMPTY);
    this.ringSec = new Float64Array(ringSize).fill(-1);
    this.mask = ringSize - 1;
    this.trimAfter = opts.trimAfter ?? 60;
    this.trimKeys = opts.trimKeys ?? 128;
  }

  /** The whole state (for a helper thread to hand its summaries back: counting.ts). */
  state(): HeavyState {
    const { maxKeys, trimAfter, trimKeys, keys, counts, errs, setMask, touched, isTouched, nTouched, lastSlot, floor, curSec, ring, ringSec, mask, overflows } = this;
    return { maxKeys, trimAfter, trimKeys, keys, counts, errs, setMask, touched, isTouched, nTouched, lastSlot, floor, curSec, ring, ringSec, mask, overflows };
  }

  /** A summary continuing from `s` (state() of another, possibly in another thread). */
  static fromState(s: HeavyState): WindowedHeavyHitters {
    const h = new WindowedHeavyHitters({ maxKeys: s.maxKeys, slots: WAYS, historySeconds: 1 });
    Object.assign(h, s);
    return h;
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
    const set = keyHash(k) & this.setMask;
    const base = set * WAYS;
    // One pass: the key's way, else a free way, else the smallest count.
    let free = -1;
    let min = Infinity;
    let minAt = base;
    for (let i = base; i < base + WAYS; i++) {
      const c = counts[i]!;
      if (c === 0) {
        if (free < 0) free = i;
      } else if (keys[i] === k) {
        counts[i] = c + v;
        this.lastSlot = i;
        return;
      } else if (c < min) {
        min = c;
        minAt = i;
      }
    }
    this.place(k, v, set, free, minAt, min);
  }

  // A new key's way; out of add() so that add() stays small enough for the
  // compiler to inline into the model's counting loop.
  private place(k: number, v: number, set: number, free: number, minAt: number, min: number): void {
    if (free >= 0) {
      if (!this.isTouched[set]) {
        this.isTouched[set] = 1;
        this.touched[this.nTouched++] = set;
      }
      this.keys[free] = k;
      this.counts[free] = v;
      this.errs[free] = 0;
      this.lastSlot = free;
      return;
    }
    // Full set (Space-Saving within the set): the newcomer takes the way of
    // the smallest count and inherits that count as its error.
    this.overflows++;
    this.keys[minAt] = k;
    this.counts[minAt] = min + v;
    this.errs[minAt] = min;
    if (min > this.floor) this.floor = min;
    this.lastSlot = minAt;
  }

  /** Move to second `sec`: the current summary is frozen under its second. */
  rollover(sec: number): void {
    if (sec === this.curSec) return;
    if (this.curSec >= 0 && this.nTouched > 0) {
      const slot = this.curSec & this.mask;
      this.ring[slot] = this.freeze();
      this.ringSec[slot] = this.curSec;
    }
    // Trim the seconds that crossed the trim age since the last rollover.
    if (this.curSec >= 0) {
      const from = Math.max(this.curSec - this.trimAfter, sec - this.trimAfter - this.mask);
      for (let s = from; s < sec - this.trimAfter; s++) this.trim(s);
    }
    this.curSec = sec;
  }

  /**
   * Pack the current second (its largest maxKeys entries) and clear it.
   * Only the packed second is allocated, at its final size: packing all of a
   * full second (8 x maxKeys entries, 128 KiB) and then cutting it, as this
   * did, gave the garbage collector megabytes a second at 100,000 records/s
   * (one such second per stream and dimension).
   */
  private freeze(): Float64Array {
    const { keys, counts, errs, touched } = this;
    let n = 0;
    for (let t = 0; t < this.nTouched; t++) {
      const base = touched[t]! * WAYS;
      for (let i = base; i < base + WAYS; i++) if (counts[i] !== 0) n++;
    }
    // More entries than a second keeps: the cut, as keepLargest() makes it.
    let cut = -Infinity;
    let kept = n;
    if (n > this.maxKeys) {
      const order = scratch(n);
      let m = 0;
      for (let t = 0; t < this.nTouched; t++) {
        const base = touched[t]! * WAYS;
        for (let i = base; i < base + WAYS; i++) if (counts[i] !== 0) order[m++] = counts[i]! - errs[i]!;
      }
      cut = selectKth(order, n, n - this.maxKeys - 1);
      kept = 0;
      for (let t = 0; t < this.nTouched; t++) {
        const base = touched[t]! * WAYS;
        for (let i = base; i < base + WAYS; i++) if (counts[i] !== 0 && counts[i]! - errs[i]! > cut) kept++;
      }
    }
    const packed = new Float64Array(1 + 2 * kept);
    packed[0] = cut === -Infinity ? this.floor : this.floor + cut;
    let j = 1;
    for (let t = 0; t < this.nTouched; t++) {
      const set = touched[t]!;
      const base = set * WAYS;
      for (let i = base; i < base + WAYS; i++) {
        if (counts[i] !== 0) {
          const c = counts[i]! - errs[i]!;
          if (c > cut) {
            packed[j++] = keys[i]!;
            packed[j++] = c;
          }
          counts[i] = 0;
        }
      }
      this.isTouched[set] = 0;
    }
    this.nTouched = 0;
    this.floor = 0;
    return packed;
  }

  private trim(sec: number): void {
    const slot = sec & this.mask;
    if (this.ringSec[slot] !== sec) return;
    const p = this.ring[slot]!;
    if ((p.length - 1) / 2 > this.trimKeys) this.ring[slot] = keepLargest(p, this.trimKeys);
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
        for (let t = 0; t < this.nTouched; t++) {
          const base = this.touched[t]! * WAYS;
          for (let i = base; i < base + WAYS; i++) if (this.counts[i] !== 0) into.add(this.keys[i]!, this.counts[i]! - this.errs[i]!);
        }
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
        const base = (keyHash(k) & this.setMask) * WAYS;
        for (let i = base; i < base + WAYS; i++) if (this.counts[i] !== 0 && this.keys[i] === k) sum += this.counts[i]! - this.errs[i]!;
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

  /**
   * Call f(second, key, count) for every entry of seconds [fromSec, toSec]
   * (counts as collect() sums them), and floor(second, floor) once per
   * second held: the per-second view behind /v1/series.
   */
  forEachSecond(fromSec: number, toSec: number, f: (sec: number, key: number, count: number) => void, floor?: (sec: number, floor: number) => void): void {
    const lo = Math.max(fromSec, toSec - this.mask);
    for (let s = lo; s <= toSec; s++) {
      if (s === this.curSec) {
        floor?.(s, this.floor);
        for (let t = 0; t < this.nTouched; t++) {
          const base = this.touched[t]! * WAYS;
          for (let i = base; i < base + WAYS; i++) if (this.counts[i] !== 0) f(s, this.keys[i]!, this.counts[i]! - this.errs[i]!);
        }
        continue;
      }
      const slot = s & this.mask;
      if (this.ringSec[slot] !== s) continue;
      const p = this.ring[slot]!;
      floor?.(s, p[0]!);
      for (let i = 1; i < p.length; i += 2) f(s, p[i]!, p[i + 1]!);
    }
  }

  /** Bytes held by the frozen history (for stats and the memory benchmark). */
  historyBytes(): number {
    let b = 0;
    for (const p of this.ring) b += p.byteLength;
    return b;
  }
}

/**
 * The `keep` largest entries of a packed second ([floor, k0, c0, ...]); the
 * floor grows by the largest count dropped, so the invariant still holds.
 */
function keepLargest(p: Float64Array, keep: number): Float64Array {
  const n = (p.length - 1) / 2;
  const order = scratch(n);
  for (let i = 0; i < n; i++) order[i] = p[2 + 2 * i]!;
  // Keep the entries strictly above the cut; dropped ones add their largest count.
  const cut = selectKth(order, n, n - keep - 1);
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
  return q;
}

// One scratch array for the cuts of freeze() and keepLargest() (the model's
// thread, or the counting thread's own copy of this module): reused, so
// cutting a second allocates nothing but its result.
let scratchArr = new Float64Array(1024);
function scratch(n: number): Float64Array {
  if (scratchArr.length < n) scratchArr = new Float64Array(pow2(n));
  return scratchArr;
}
