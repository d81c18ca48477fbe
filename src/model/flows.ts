// The live flow table: one slot per conntrack entry keyed by its opaque
// 64-bit id, as columns of typed arrays (linear probing, backward-shift
// deletion, no tombstones). About 55 bytes of columns per slot; the table
// doubles up to the capacity `maxFlows` needs at a load factor <= 0.5..0.75.
// At `maxFlows` live entries an insert evicts the least recently seen of a
// few sampled entries (approximate LRU) and counts it.
//
// Times: `start` is CLOCK_BOOTTIME ns (f64); `last` (last record seen) and
// `since` (last state change) are u32 milliseconds after start, so they fit
// 49 days of entry age. `last` is rounded up so that a record at or after a
// dump's start is never taken for an older one.

import { pow2 } from './heavy.js';

/** flags column */
export const FF = {
  SRC_V6: 0x01, // src/dst columns hold IPv6 intern ids
  CONFIRMED: 0x02,
  START_KNOWN: 0x04, // start is the real allocation time
  OPEN_SEEN: 0x08, // opened by a dump (SEEN), not by an allocation
  OPEN_UPDATE: 0x10, // opened by an UPDATE/CONFIRM with no allocation seen
  AT_RESYNC: 0x20, // SEEN at a resync (else at start)
} as const;

const MS = 1e6;
const SAMPLE = 8;

export class FlowTable {
  readonly maxFlows: number;
  private readonly maxCap: number;
  cap: number;
  mask: number;
  count = 0;
  /** Entries dropped because the table was at maxFlows. */
  evictions = 0;

  idLo!: Uint32Array;
  idHi!: Uint32Array;
  start!: Float64Array;
  last!: Uint32Array;
  since!: Uint32Array;
  src!: Uint32Array;
  dst!: Uint32Array;
  sport!: Uint16Array;
  dport!: Uint16Array;
  netns!: Uint32Array;
  mark!: Uint32Array;
  zone!: Uint16Array;
  proto!: Uint8Array;
  state!: Uint8Array;
  status!: Uint16Array;
  flags!: Uint8Array;
  /** Last four state codes, newest in the low byte (see stateCode). */
  hist!: Uint32Array;

  private rng = 0x12345678;

  constructor(maxFlows = 1_000_000, initialCapacity = 1 << 14) {
    this.maxFlows = Math.max(1, maxFlows);
    this.maxCap = pow2(Math.ceil(this.maxFlows / 0.75));
    this.cap = Math.min(this.maxCap, pow2(initialCapacity));
    this.mask = this.cap - 1;
    this.alloc(this.cap);
  }

  private alloc(cap: number): void {
    this.idLo = new Uint32Array(cap);
    this.idHi = new Uint32Array(cap);
    this.start = new Float64Array(cap);
    this.last = new Uint32Array(cap);
    this.since = new Uint32Array(cap);
    this.src = new Uint32Array(cap);
    this.dst = new Uint32Array(cap);
    this.sport = new Uint16Array(cap);
    this.dport = new Uint16Array(cap);
    this.netns = new Uint32Array(cap);
    this.mark = new Uint32Array(cap);
    this.zone = new Uint16Array(cap);
    this.proto = new Uint8Array(cap);
    this.state = new Uint8Array(cap);
    this.status = new Uint16Array(cap);
    this.flags = new Uint8Array(cap);
    this.hist = new Uint32Array(cap);
  }

  /** Bytes of the columns (the table's memory). */
  bytes(): number {
    return this.cap * 55;
  }

  static hash(lo: number, hi: number): number {
    let h = Math.imul(lo ^ Math.imul(hi, 0x9e3779b1), 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    return h ^ (h >>> 16);
  }

  /** Slot of id (lo, hi), or -1. */
  find(lo: number, hi: number): number {
    const { idLo, idHi, mask } = this;
    for (let s = FlowTable.hash(lo, hi) & mask; ; s = (s + 1) & mask) {
      const l = idLo[s]!;
      const h = idHi[s]!;
      if (l === lo && h === hi) return s;
      if (l === 0 && h === 0) return -1;
    }
  }

  /**
   * Slot for id (lo, hi), inserting an empty entry when absent. `created` is
   * set to whether it was inserted. Ids (0, 0) are not stored: returns -1.
   */
  upsert(lo: number, hi: number, nowNs: number): number {
    if (lo === 0 && hi === 0) return -1;
    let s = this.find(lo, hi);
    if (s >= 0) {
      this.created = false;
      return s;
    }
    if (this.count >= this.maxFlows) {
      this.evictOne(nowNs);
    } else if ((this.count + 1) * 4 > this.cap * 3 && this.cap < this.maxCap) {
      this.grow();
    }
    const mask = this.mask;
    s = FlowTable.hash(lo, hi) & mask;
    while (this.idLo[s] !== 0 || this.idHi[s] !== 0) s = (s + 1) & mask;
    this.idLo[s] = lo;
    this.idHi[s] = hi;
    this.start[s] = 0;
    this.last[s] = 0;
    this.since[s] = 0;
    this.src[s] = 0;
    this.dst[s] = 0;
    this.sport[s] = 0;
    this.dport[s] = 0;
    this.netns[s] = 0;
    this.mark[s] = 0;
    this.zone[s] = 0;
    this.proto[s] = 0;
    this.state[s] = 0;
    this.status[s] = 0;
    this.flags[s] = 0;
    this.hist[s] = 0;
    this.count++;
    this.created = true;
    return s;
  }

  created = false;

  /** Record that slot s was seen at nowNs. */
  touch(s: number, nowNs: number): void {
    const d = Math.ceil((nowNs - this.start[s]!) / MS);
    this.last[s] = d <= 0 ? 0 : d > 0xffffffff ? 0xffffffff : d;
  }

  lastNs(s: number): number {
    return this.start[s]! + this.last[s]! * MS;
  }

  sinceNs(s: number): number {
    return this.start[s]! + this.since[s]! * MS;
  }

  setSince(s: number, nowNs: number): void {
    const d = Math.floor((nowNs - this.start[s]!) / MS);
    this.since[s] = d <= 0 ? 0 : d > 0xffffffff ? 0xffffffff : d;
  }

  private evictOne(nowNs: number): void {
    let best = -1;
    let bestLast = Infinity;
    let seen = 0;
    this.rng = (Math.imul(this.rng, 1103515245) + 12345) >>> 0;
    for (let s = this.rng & this.mask, n = 0; seen < SAMPLE && n < this.cap; s = (s + 1) & this.mask, n++) {
      if (this.idLo[s] === 0 && this.idHi[s] === 0) continue;
      seen++;
      const l = this.lastNs(s);
      if (l < bestLast) {
        bestLast = l;
        best = s;
      }
    }
    void nowNs;
    if (best >= 0) {
      this.remove(best);
      this.evictions++;
    }
  }

  /** Delete slot s (backward-shift: keeps every probe chain intact). */
  remove(s: number): void {
    const mask = this.mask;
    let hole = s;
    let j = s;
    for (;;) {
      j = (j + 1) & mask;
      const lo = this.idLo[j]!;
      const hi = this.idHi[j]!;
      if (lo === 0 && hi === 0) break;
      const home = FlowTable.hash(lo, hi) & mask;
      // Move j into the hole when its home is not in (hole, j] (cyclically).
      if (hole <= j ? home <= hole || home > j : home <= hole && home > j) {
        this.move(j, hole);
        hole = j;
      }
    }
    this.idLo[hole] = 0;
    this.idHi[hole] = 0;
    this.count--;
  }

  private move(from: number, to: number): void {
    this.idLo[to] = this.idLo[from]!;
    this.idHi[to] = this.idHi[from]!;
    this.start[to] = this.start[from]!;
    this.last[to] = this.last[from]!;
    this.since[to] = this.since[from]!;
    this.src[to] = this.src[from]!;
    this.dst[to] = this.dst[from]!;
    this.sport[to] = this.sport[from]!;
    this.dport[to] = this.dport[from]!;
    this.netns[to] = this.netns[from]!;
    this.mark[to] = this.mark[from]!;
    this.zone[to] = this.zone[from]!;
    this.proto[to] = this.proto[from]!;
    this.state[to] = this.state[from]!;
    this.status[to] = this.status[from]!;
    this.flags[to] = this.flags[from]!;
    this.hist[to] = this.hist[from]!;
  }

  private grow(): void {
    const old = {
      idLo: this.idLo,
      idHi: this.idHi,
      start: this.start,
      last: this.last,
      since: this.since,
      src: this.src,
      dst: this.dst,
      sport: this.sport,
      dport: this.dport,
      netns: this.netns,
      mark: this.mark,
      zone: this.zone,
      proto: this.proto,
      state: this.state,
      status: this.status,
      flags: this.flags,
      hist: this.hist,
    };
    const oldCap = this.cap;
    this.cap *= 2;
    this.mask = this.cap - 1;
    this.alloc(this.cap);
    for (let i = 0; i < oldCap; i++) {
      const lo = old.idLo[i]!;
      const hi = old.idHi[i]!;
      if (lo === 0 && hi === 0) continue;
      let s = FlowTable.hash(lo, hi) & this.mask;
      while (this.idLo[s] !== 0 || this.idHi[s] !== 0) s = (s + 1) & this.mask;
      this.idLo[s] = lo;
      this.idHi[s] = hi;
      this.start[s] = old.start[i]!;
      this.last[s] = old.last[i]!;
      this.since[s] = old.since[i]!;
      this.src[s] = old.src[i]!;
      this.dst[s] = old.dst[i]!;
      this.sport[s] = old.sport[i]!;
      this.dport[s] = old.dport[i]!;
      this.netns[s] = old.netns[i]!;
      this.mark[s] = old.mark[i]!;
      this.zone[s] = old.zone[i]!;
      this.proto[s] = old.proto[i]!;
      this.state[s] = old.state[i]!;
      this.status[s] = old.status[i]!;
      this.flags[s] = old.flags[i]!;
      this.hist[s] = old.hist[i]!;
    }
  }

  live(s: number): boolean {
    return this.idLo[s] !== 0 || this.idHi[s] !== 0;
  }
}
