// The live flow table: one entry per conntrack entry keyed by its opaque
// 64-bit id. Entries are dense and fixed-size (56 bytes, one cache line or
// two) in one ArrayBuffer, so an update touches one place in memory, not one
// per column; a separate open-addressing index (linear probing, 8 bytes a
// slot: entry number + the id's hash, backward-shift deletion, no tombstones)
// finds them. A removed entry's place goes on a free list and is the next
// insert's (in steady churn the place a destroy just left, still in cache);
// nothing else moves, so a destroy costs one probe and no copy. Iteration is
// a loop over 0..end-1 that skips free places (live(e)). At 1,000,000
// entries: 56 MB of entries + 16 MB of index + 4 MB of free list = ~79 bytes
// per flow.
//
// At `maxFlows` live entries an insert evicts the least recently seen of a
// few sampled entries (approximate LRU) and counts it.
//
// Times: `start` is CLOCK_BOOTTIME ns (f64); `last` (last record seen) and
// `since` (last state change) are u32 milliseconds after start (49 days of
// age). `last` is rounded up so that a record at or after a dump's start is
// never taken for an older one.

import { pow2, shiftsBack } from './heavy.js';
import { DIM, TWO32 } from './keys.js';
import { NSTATE_CODES } from './states.js';

/** flags field */
export const FF = {
  SRC_V6: 0x01, // src/dst hold IPv6 intern ids
  CONFIRMED: 0x02,
  START_KNOWN: 0x04, // start is the real allocation time
  OPEN_SEEN: 0x08, // opened by a dump (SEEN), not by an allocation
  OPEN_UPDATE: 0x10, // opened by an UPDATE/CONFIRM with no allocation seen
  AT_RESYNC: 0x20, // SEEN at a resync (else at start)
  RSRC_V6: 0x40, // replySrc holds an IPv6 intern id
} as const;

/** replySrc of an entry whose reply source is not known (255.255.255.255: never a pod's). */
export const NO_REPLY_SRC = 0xffffffff;

const MS = 1e6;
const SAMPLE = 8;
/** Entry size in 32-bit words (56 bytes; a multiple of 8 for the f64 start). */
export const ENTRY_WORDS = 14;
const W_IDLO = 0;
const W_IDHI = 1;
// words 2-3: start (f64 index e * 7 + 1)
const W_LAST = 4;
const W_SINCE = 5;
const W_SRC = 6;
const W_DST = 7;
const W_PORTS = 8; // sport | dport << 16
const W_NETNS = 9;
const W_MARK = 10;
const W_ZPS = 11; // zone | proto << 16 | state << 24
const W_SF = 12; // status (low 16 bits) | flags << 16
const W_HIST = 13;

export class FlowTable {
  readonly maxFlows: number;
  /** Live entries. */
  count = 0;
  /** Entries in use or free lie below `end`: iterate 0..end-1, skipping !live(e). */
  end = 0;
  /** Entries dropped because the table held maxFlows. */
  evictions = 0;
  /** Set by upsert(): whether the entry was just inserted. */
  created = false;
  /** Called with an entry about to be evicted (maxFlows reached), while its fields are still there. */
  onEvict: ((e: number) => void) | null = null;
  /**
   * Two columns beside the entries once the node has pods (enablePods(); 8
   * bytes per entry, none elsewhere): the entry's pod as attributed when it
   * was opened (src/workloads/pod-map.ts attribute(): pod id * 4 + via; the
   * `pod` dimension's key, frozen so the occupancy index stays exact), and its
   * reply source address (u32 IPv4, or an IPv6 intern id with FF.RSRC_V6):
   * where DNAT'd traffic really goes, for stale entries.
   */
  podOwner: Uint32Array | null = null;
  replySrc: Uint32Array | null = null;

  // Slot s: index[2s] = entry + 1 (0: empty), index[2s + 1] = the id's hash,
  // side by side so a probe reads one cache line.
  private index: Uint32Array;
  private imask: number;
  private u32: Uint32Array;
  private f64: Float64Array;
  private capEntries: number;
  private free: Uint32Array;
  private nfree = 0;
  private rng = 0x12345678;
  // Index slot of the entry the last find()/upsert() returned: remove() right
  // after needs no second probe.
  private lastEntry = -1;
  private lastSlot = -1;

  constructor(maxFlows = 1_000_000, initialCapacity = 1 << 12) {
    this.maxFlows = Math.max(1, maxFlows);
    this.capEntries = Math.min(this.maxFlows, initialCapacity);
    const buf = new ArrayBuffer(this.capEntries * ENTRY_WORDS * 4);
    this.u32 = new Uint32Array(buf);
    this.f64 = new Float64Array(buf);
    this.free = new Uint32Array(this.capEntries);
    const icap = pow2(Math.ceil((this.capEntries * 4) / 3) + 1);
    this.index = new Uint32Array(2 * icap);
    this.imask = icap - 1;
  }

  /** Bytes held: entries + index + free list. */
  bytes(): number {
    return this.u32.byteLength + this.index.byteLength + this.free.byteLength;
  }

  /** Whether place e (< end) holds a live entry. */
  live(e: number): boolean {
    const w = e * ENTRY_WORDS;
    return (this.u32[w]! | this.u32[w + 1]!) !== 0;
  }

  static hash(lo: number, hi: number): number {
    let h = Math.imul(lo ^ Math.imul(hi, 0x9e3779b1), 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    return (h ^ (h >>> 16)) >>> 0;
  }

  /**
   * Touch the memory that find/upsert of the ids with these hashes
   * (FlowTable.hash) will read: first every index slot, then every entry the
   * slots name. Nothing in one iteration waits for another's loads, so the
   * CPU keeps many cache misses in flight at once, where a record-by-record
   * pass waits for each in turn (on a table larger than the caches, most of
   * a lookup's cost). Returns a value only so the loads are not optimised away.
   */
  warm(hashes: Uint32Array, n: number): number {
    const { index, imask, u32 } = this;
    let sink = 0;
    for (let j = 0; j < n; j++) sink ^= index[2 * (hashes[j]! & imask)]!;
    for (let j = 0; j < n; j++) {
      const x = index[2 * (hashes[j]! & imask)]!;
      if (x !== 0) sink ^= u32[(x - 1) * ENTRY_WORDS]!;
    }
    return sink;
  }

  /** Entry of id (lo, hi), or -1. */
  find(lo: number, hi: number): number {
    const h = FlowTable.hash(lo, hi);
    const { index, imask, u32 } = this;
    for (let s = h & imask; ; s = (s + 1) & imask) {
      const x = index[2 * s]!;
      if (x === 0) return -1;
      if (index[2 * s + 1] === h) {
        const w = (x - 1) * ENTRY_WORDS;
        if (u32[w] === lo && u32[w + 1] === hi) {
          this.lastEntry = x - 1;
          this.lastSlot = s;
          return x - 1;
        }
      }
    }
  }

  /**
   * Entry for id (lo, hi), inserting a zeroed one when absent (`created`
   * tells which). Id 0 (none) is not stored: returns -1.
   */
  upsert(lo: number, hi: number): number {
    if (lo === 0 && hi === 0) return -1;
    // One hash and one probe for both the lookup and the insert: the empty
    // slot that ends a miss is where the new entry goes, unless eviction or
    // growth below rearranges the index first.
    const h = FlowTable.hash(lo, hi);
    const { index, imask } = this;
    let u = this.u32;
    let s = h & imask;
    for (;; s = (s + 1) & imask) {
      const x = index[2 * s]!;
      if (x === 0) break;
      if (index[2 * s + 1] === h) {
        const w = (x - 1) * ENTRY_WORDS;
        if (u[w] === lo && u[w + 1] === hi) {
          this.created = false;
          this.lastEntry = x - 1;
          this.lastSlot = s;
          return x - 1;
        }
      }
    }
    let moved = false;
    if (this.count >= this.maxFlows) {
      this.evictOne();
      moved = true;
    }
    let n: number;
    if (this.nfree > 0) n = this.free[--this.nfree]!;
    else {
      if (this.end >= this.capEntries) this.growEntries();
      n = this.end++;
    }
    if ((this.count + 1) * 4 > (this.imask + 1) * 3) {
      this.growIndex();
      moved = true;
    }
    this.count++;
    const w = n * ENTRY_WORDS;
    u = this.u32;
    u[w + W_IDLO] = lo;
    u[w + W_IDHI] = hi;
    for (let k = 2; k < ENTRY_WORDS; k++) u[w + k] = 0;
    if (moved) s = this.place(n, h);
    else {
      index[2 * s] = n + 1;
      index[2 * s + 1] = h;
    }
    this.created = true;
    this.lastEntry = n;
    this.lastSlot = s;
    return n;
  }

  private place(e: number, h: number): number {
    const { index, imask } = this;
    let s = h & imask;
    while (index[2 * s] !== 0) s = (s + 1) & imask;
    index[2 * s] = e + 1;
    index[2 * s + 1] = h;
    return s;
  }

  private slotOf(e: number): number {
    if (e === this.lastEntry) return this.lastSlot;
    const w = e * ENTRY_WORDS;
    const h = FlowTable.hash(this.u32[w]!, this.u32[w + 1]!);
    for (let s = h & this.imask; ; s = (s + 1) & this.imask) if (this.index[2 * s] === e + 1) return s;
  }

  /** Remove entry e (live); its place goes on the free list, nothing else moves. */
  remove(e: number): void {
    // Index: backward-shift deletion keeps every probe chain intact.
    const { index, imask } = this;
    let hole = this.slotOf(e);
    this.lastEntry = -1;
    let j = hole;
    for (;;) {
      j = (j + 1) & imask;
      if (index[2 * j] === 0) break;
      const home = index[2 * j + 1]! & imask;
      if (shiftsBack(home, hole, j)) {
        index[2 * hole] = index[2 * j]!;
        index[2 * hole + 1] = index[2 * j + 1]!;
        hole = j;
      }
    }
    index[2 * hole] = 0;
    const w = e * ENTRY_WORDS;
    this.u32[w + W_IDLO] = 0;
    this.u32[w + W_IDHI] = 0;
    this.count--;
    if (e === this.end - 1) this.end--;
    else this.free[this.nfree++] = e;
  }

  private evictOne(): void {
    let best = -1;
    let bestLast = Infinity;
    for (let k = 0, tries = 0; k < SAMPLE && tries < 4 * SAMPLE; tries++) {
      this.rng = (Math.imul(this.rng, 1103515245) + 12345) >>> 0;
      const e = this.rng % this.end;
      if (!this.live(e)) continue;
      k++;
      const l = this.lastNs(e);
      if (l < bestLast) {
        bestLast = l;
        best = e;
      }
    }
    if (best < 0) for (let e = 0; e < this.end && best < 0; e++) if (this.live(e)) best = e;
    if (best >= 0) {
      this.onEvict?.(best);
      this.remove(best);
      this.evictions++;
    }
  }

  /** Start keeping the pod columns (entries already there: no pod, reply source unknown). */
  enablePods(): void {
    if (this.podOwner) return;
    this.podOwner = new Uint32Array(this.capEntries);
    this.replySrc = new Uint32Array(this.capEntries).fill(NO_REPLY_SRC);
  }

  /** The pod columns of entry e, set as it is opened (and by a re-attribution). */
  setPod(e: number, owner: number, replySrc: number): void {
    this.podOwner![e] = owner;
    this.replySrc![e] = replySrc;
  }

  /** The reply source's address key of entry e (IPv4 u32 or TWO32 + intern id); -1 when unknown. */
  replySrcKey(e: number): number {
    const r = this.replySrc ? this.replySrc[e]! : NO_REPLY_SRC;
    if (this.flags(e) & FF.RSRC_V6) return TWO32 + r;
    return r === NO_REPLY_SRC ? -1 : r;
  }

  private growEntries(): void {
    this.capEntries = Math.min(this.maxFlows, this.capEntries * 2);
    if (this.podOwner) {
      const o = new Uint32Array(this.capEntries);
      o.set(this.podOwner);
      this.podOwner = o;
      const r = new Uint32Array(this.capEntries).fill(NO_REPLY_SRC);
      r.set(this.replySrc!);
      this.replySrc = r;
    }
    const buf = new ArrayBuffer(this.capEntries * ENTRY_WORDS * 4);
    const u32 = new Uint32Array(buf);
    u32.set(this.u32.subarray(0, this.end * ENTRY_WORDS));
    this.u32 = u32;
    this.f64 = new Float64Array(buf);
    const free = new Uint32Array(this.capEntries);
    free.set(this.free.subarray(0, this.nfree));
    this.free = free;
  }

  private growIndex(): void {
    const old = this.index;
    this.index = new Uint32Array(old.length * 2);
    this.imask = this.index.length / 2 - 1;
    for (let s = 0; s < old.length; s += 2) if (old[s] !== 0) this.place(old[s]! - 1, old[s + 1]!);
  }

  // ---- fields of entry e
  idLo(e: number): number {
    return this.u32[e * ENTRY_WORDS + W_IDLO]!;
  }
  idHi(e: number): number {
    return this.u32[e * ENTRY_WORDS + W_IDHI]!;
  }
  start(e: number): number {
    return this.f64[e * (ENTRY_WORDS / 2) + 1]!;
  }

  src(e: number): number {
    return this.u32[e * ENTRY_WORDS + W_SRC]!;
  }
  dst(e: number): number {
    return this.u32[e * ENTRY_WORDS + W_DST]!;
  }
  sport(e: number): number {
    return this.u32[e * ENTRY_WORDS + W_PORTS]! & 0xffff;
  }
  dport(e: number): number {
    return this.u32[e * ENTRY_WORDS + W_PORTS]! >>> 16;
  }
  netns(e: number): number {
    return this.u32[e * ENTRY_WORDS + W_NETNS]!;
  }
  mark(e: number): number {
    return this.u32[e * ENTRY_WORDS + W_MARK]!;
  }
  zone(e: number): number {
    return this.u32[e * ENTRY_WORDS + W_ZPS]! & 0xffff;
  }
  proto(e: number): number {
    return (this.u32[e * ENTRY_WORDS + W_ZPS]! >>> 16) & 0xff;
  }
  state(e: number): number {
    return this.u32[e * ENTRY_WORDS + W_ZPS]! >>> 24;
  }
  status(e: number): number {
    return this.u32[e * ENTRY_WORDS + W_SF]! & 0xffff;
  }
  flags(e: number): number {
    return this.u32[e * ENTRY_WORDS + W_SF]! >>> 16;
  }
  hist(e: number): number {
    return this.u32[e * ENTRY_WORDS + W_HIST]!;
  }
  /** Current state code (states.ts): the newest byte of the history. */
  stateCode(e: number): number {
    return this.u32[e * ENTRY_WORDS + W_HIST]! & 0xff;
  }

  /** Protocol/state group of entry e: proto * NSTATE_CODES + state code (the occupancy indexes' groups). */
  group(e: number): number {
    return this.proto(e) * NSTATE_CODES + this.stateCode(e);
  }

  /** Key of entry e in dimension d (keys.ts: IPv6 addresses as TWO32 + intern id). */
  key(e: number, d: number): number {
    switch (d) {
      case DIM.src:
        return this.flags(e) & FF.SRC_V6 ? TWO32 + this.src(e) : this.src(e);
      case DIM.dst:
        return this.flags(e) & FF.SRC_V6 ? TWO32 + this.dst(e) : this.dst(e);
      case DIM.dport:
        return this.dport(e);
      case DIM.proto:
        return this.proto(e);
      case DIM.netns:
        return this.netns(e);
      case DIM.zone:
        return this.zone(e);
      case DIM.mark:
        return this.mark(e);
      case DIM.pod:
        return this.podOwner ? this.podOwner[e]! : 0;
      default:
        return (this.flags(e) & FF.SRC_V6 ? TWO32 + this.src(e) : this.src(e)) * 65536 + this.dport(e);
    }
  }

  /**
   * Every field of entry e at once (just created): one write per word
   * instead of a read-modify-write per field.
   */
  init(e: number, src: number, dst: number, sport: number, dport: number, netns: number, mark: number, zone: number, proto: number, state: number, status: number, flags: number, startNs: number, hist: number, nowNs: number): void {
    const w = e * ENTRY_WORDS;
    const u = this.u32;
    this.f64[e * (ENTRY_WORDS / 2) + 1] = startNs;
    const d = (nowNs - startNs) / MS;
    u[w + W_LAST] = d <= 0 ? 0 : d >= 0xffffffff ? 0xffffffff : Math.ceil(d);
    u[w + W_SINCE] = d <= 0 ? 0 : d >= 0xffffffff ? 0xffffffff : Math.floor(d);
    u[w + W_SRC] = src;
    u[w + W_DST] = dst;
    u[w + W_PORTS] = (sport | (dport << 16)) >>> 0;
    u[w + W_NETNS] = netns;
    u[w + W_MARK] = mark;
    u[w + W_ZPS] = ((zone & 0xffff) | (proto << 16) | (state << 24)) >>> 0;
    u[w + W_SF] = ((status & 0xffff) | (flags << 16)) >>> 0;
    u[w + W_HIST] = hist >>> 0;
  }

  setState(e: number, state: number): void {
    const w = e * ENTRY_WORDS + W_ZPS;
    this.u32[w] = ((this.u32[w]! & 0xffffff) | (state << 24)) >>> 0;
  }
  setMark(e: number, mark: number): void {
    this.u32[e * ENTRY_WORDS + W_MARK] = mark >>> 0;
  }
  setStatus(e: number, status: number): void {
    const w = e * ENTRY_WORDS + W_SF;
    this.u32[w] = ((this.u32[w]! & 0xffff0000) | (status & 0xffff)) >>> 0;
  }
  setFlags(e: number, flags: number): void {
    const w = e * ENTRY_WORDS + W_SF;
    this.u32[w] = ((this.u32[w]! & 0xffff) | (flags << 16)) >>> 0;
  }
  setHist(e: number, h: number): void {
    this.u32[e * ENTRY_WORDS + W_HIST] = h >>> 0;
  }

  /** Record that entry e was seen at nowNs. */
  touch(e: number, nowNs: number): void {
    const d = Math.ceil((nowNs - this.start(e)) / MS);
    this.u32[e * ENTRY_WORDS + W_LAST] = d <= 0 ? 0 : d > 0xffffffff ? 0xffffffff : d;
  }
  lastNs(e: number): number {
    return this.start(e) + this.u32[e * ENTRY_WORDS + W_LAST]! * MS;
  }
  sinceNs(e: number): number {
    return this.start(e) + this.u32[e * ENTRY_WORDS + W_SINCE]! * MS;
  }
  setSince(e: number, nowNs: number): void {
    const d = Math.floor((nowNs - this.start(e)) / MS);
    this.u32[e * ENTRY_WORDS + W_SINCE] = d <= 0 ? 0 : d > 0xffffffff ? 0xffffffff : d;
  }
}
