// A conntrack table as the Linux 6.x kernel runs it, for the what-if
// (what-if.ts): the demand of a capture (flows that arrived, when each was
// last active, packets refused) is played against it under the settings in
// force or others. What decides drops in a table-full incident is modelled
// after net/netfilter/nf_conntrack_core.c (gc_worker is the same in 6.1 and
// 6.18):
//
// - An entry expires `timeout` after its last packet, but is only removed
//   when something walks over it: the garbage collector, a packet's lookup
//   (each new flow's packets look up a chain or two), early_drop's 8 chains,
//   or a dump of the table (ctnetlink: a resync, `conntrack -L`). All of them
//   remove the expired entries they meet, of any namespace.
// - The collector is one worker for every namespace. A cycle walks the whole
//   hash in bucket order (every entry met twice: its original and reply
//   tuples are both hashed; the order is as good as random) and keeps a
//   running mean of the live entries' time to expiry, each clamped to
//   1..300 s, starting from 100 entries at 60 s — in whole jiffies, with an
//   integer division by the count, so once the count passes an entry's
//   distance from the mean that entry no longer moves it. With short
//   timeouts the mean stalls far above them: 1-s flows at HZ 250 never bring
//   it below ~6.5 s, where a mean of real numbers would say 2 s. After 256
//   removals the worker yields for a jiffy (and the wait for a CPU: on a
//   busy machine ~10 ms, taken from the recording's own passes) and clears
//   the flag a failed allocation set; while the flag is set, it also kills
//   entries without ASSURED (or TCP ones closing) of any namespace at 95 % of
//   nf_conntrack_max or more. At the end of the hash the next cycle is due
//   the mean (clamped to 1..60 s) after this one began, or a jiffy after it
//   ended if it took longer; the timer wheel fires that late by up to its
//   level's granularity (2 s for delays over 16 s at HZ 250).
// - Measured here (6.18, HZ 250, gc_worker traced through the workqueue
//   tracepoints): one namespace of 1-s UDP flows at 100/s and 400/s, cycles
//   22.5 and 8.7 s apart (this model: 22.9 and 9.3; a mean of real numbers
//   would give 20.7 and 7.6); four namespaces at 400/s each (the what-if
//   kernel test's churn), 6.7-6.9 s (this model 6.7); with a 30-s flood of
//   3,000 entries beside them, 13.6-18.7 s; a nearly empty table, 61.4 s. A
//   cycle walked an empty hash of 262,144 buckets in 1-50 ms and removed
//   ~11,000 expired entries in 0.33-0.55 s (37-67 runs). Between cycles, a
//   steady churn's lookups removed ~100 expired entries a second per
//   namespace from a pile of ~10,000.
// - A new entry is refused when its namespace holds nf_conntrack_max (the
//   limit in force at that moment) — unless early_drop finds an entry without
//   ASSURED among the 8 hash chains after the new entry's bucket and evicts
//   it. Every entry hangs in the hash twice (original and reply tuple), so a
//   chain holds this namespace's unassured entries at 2U/buckets, and that
//   succeeds with probability 1 − e^(−16U/buckets) (measured here: 599 early
//   drops in 3,414 allocations at a full table of 3,000 unassured entries and
//   262,144 buckets, 17.5 %; the formula says 16.7 %). Expected values are
//   accumulated (no random numbers: the same input gives the same answer).
//   Expired entries met on the way go, but make room for the next packet,
//   not this one.
// - Entries alive before the capture that it never saw (phantoms) count
//   against the limit but not in the collector's mean.
//
// (Some 640 lines: one class, the table, whose arrival, early-drop walk,
// collector pass and eviction all move the same per-entry columns and
// per-namespace heaps; the demand it is fed and the what-if around it are
// in demand.ts and what-if.ts.)

/** Chains early_drop walks (NF_CT_EVICTION_RANGE). */
const CHAINS = 8;
/** Chains the packets of a new flow look up (its first packet, and the reply or ICMP error that comes back): fitted to the churn's removals between cycles, see above. */
const LOOKUP_CHAINS = 2;
/** Times the collector meets each entry in its walk (both tuples are hashed). */
const GC_VISITS = 2;
/** The timer wheel's lateness as a share of its level's granularity (fitted to the cycles measured above). */
const WHEEL_LATE = 0.75;
/** Expired entries the collector removes per second when the recording does not say (257 a run, runs ~10 ms apart on a busy machine). */
export const DEFAULT_REAP_RATE = 25_000;
/** GC_SCAN_INTERVAL_MIN/MAX, the clamp of one entry's time to expiry, and the initial bias (GC_SCAN_INITIAL_COUNT entries at GC_SCAN_INTERVAL_INIT). */
const GC_MIN_S = 1;
const GC_MAX_S = 60;
const GC_CLAMP_S = 300;
const GC_BIAS_COUNT = 100;
const GC_BIAS_S = 60;
/** Seconds the early-drop walk's counts are reused for (they move slowly between passes). */
const CACHE_S = 0.05;
/** Visits a cycle adds to its running mean one by one; beyond this each stands for several (a very large table). */
const GC_MAX_VISITS = 400_000;
/** CONFIG_HZ of this machine's kernel, jiffies a second (a capture does not record it). */
export const DEFAULT_HZ = 250;
/** Seconds the worker takes to walk an empty hash of 262,144 buckets here (measured: 1-50 ms, most often ~40 ms on this loaded machine). */
const WALK_S_PER_BUCKET = 0.04 / 262_144;

export interface TableEvent {
  /** Seconds. */
  t: number;
  ns: number;
}

export interface SimStats {
  admitted: number;
  drops: number;
  earlyDrops: number;
  /** Entries the collector evicted above 95 %. */
  gcEvictions: number;
  /** Expired entries removed by passes, by early_drop walks. */
  expiredByGc: number;
  expiredByWalk: number;
  peak: number;
  /** Count × seconds (for the mean). */
  area: number;
  /** Seconds at or above 70 / 85 / 95 % of max. */
  above: [number, number, number];
}

interface NsState {
  count: number;
  /** Min-heap of live entries by expiry: (expiry, entry). */
  heapT: number[];
  heapK: number[];
  /** Live unassured entries (lazy: dead or assured ones are skipped when drawn). */
  unassured: number[];
  accEarly: number;
  accWalk: number;
  /** Live entries without ASSURED (expired ones waiting for removal included). */
  unassuredLive: number;
  /** Expired-but-not-removed entries and unassured unexpired ones, as of cacheT (recounted at most every CACHE_S). */
  cacheT: number;
  cacheExpired: number;
  cacheUnassured: number;
  /** Entries the capture could not see being made (alive before it, no dump). */
  phantom: number;
  /** Entries the collector is removing (still counted). */
  going: number;
  stats: SimStats;
  lastT: number;
}

export interface KernelTableOptions {
  /** nf_conntrack_buckets (global hash size). */
  buckets: number;
  /** The limit in force at time t. */
  maxAt(t: number): number;
  /** Passes of the collector at these times (seconds, ascending; at least one), then as the kernel would schedule them. */
  schedule: number[];
  /** Seconds the simulation starts at. */
  start: number;
  /** Entries a pass removes per second (from the recording's passes; default DEFAULT_REAP_RATE). */
  reapRate?: number;
  /** The kernel's CONFIG_HZ (default DEFAULT_HZ): the collector counts in jiffies. */
  hz?: number;
}

/** How late the timer wheel fires a delay of `d` seconds (8^level jiffies of granularity, 64 slots a level). */
export function wheelLateness(d: number, hz = DEFAULT_HZ): number {
  const jiffies = d * hz;
  let gran = 1;
  let span = 64;
  while (jiffies >= span && gran < 4096) {
    gran *= 8;
    span *= 8;
  }
  return gran > 1 ? (WHEEL_LATE * gran) / hz : 0;
}

/** A stable pseudo-random place in the hash for tuple v (an integer mix: the same input, the same walk). */
function tupleHash(v: number): number {
  let h = Math.imul(v ^ 0x9e3779b9, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** One simulated table per namespace, one collector for all. */
export class KernelTable {
  private readonly ns: NsState[] = [];
  // entries
  private expiry = new Float64Array(1024);
  private nsOf = new Int32Array(1024);
  private flags = new Uint8Array(1024); // 1 alive, 2 assured, 4 early-droppable by the collector
  /** When each entry was removed (NaN: alive). */
  private endAt = new Float64Array(1024);
  private n = 0;
  /** Set by a failed allocation; the worker's next run then kills droppable entries of tables at 95 % or more. */
  private gcFlag = false;
  /** When the worker runs next (the next cycle, or the rest of this one after a yield). */
  nextPass: number;
  /** When each cycle began. */
  readonly passes: number[] = [];
  /** Entries the worker is removing (still counted until their time): a min-heap of (time, entry). */
  private dyingT: number[] = [];
  private dyingK: number[] = [];
  /** The cycle under way: its walk (tuples in hash order), how far it got, its running mean (jiffies) and count. */
  private cycle: { start: number; order: Int32Array; i: number; m: number; c: number; weight: number } | null = null;
  private readonly hz: number;
  private readonly expiredMax: number;
  /** Seconds to walk the whole hash, and a yield's (a jiffy, then the wait for the CPU). */
  private readonly walkS: number;
  private readonly yieldS: number;
  private scheduled: number[];

  constructor(private readonly o: KernelTableOptions) {
    this.nextPass = o.schedule[0]!;
    this.scheduled = o.schedule.slice(1);
    this.hz = o.hz ?? DEFAULT_HZ;
    this.expiredMax = Math.floor(64_000 / this.hz);
    this.walkS = o.buckets * WALK_S_PER_BUCKET;
    this.yieldS = Math.max(1 / this.hz, (this.expiredMax + 1) / (o.reapRate ?? DEFAULT_REAP_RATE));
  }

  private nsState(ns: number): NsState {
    let s = this.ns[ns];
    if (!s) {
      s = this.ns[ns] = { count: 0, heapT: [], heapK: [], unassured: [], accEarly: 0, accWalk: 0, unassuredLive: 0, cacheT: -Infinity, cacheExpired: 0, cacheUnassured: 0, phantom: 0, going: 0, stats: { admitted: 0, drops: 0, earlyDrops: 0, gcEvictions: 0, expiredByGc: 0, expiredByWalk: 0, peak: 0, area: 0, above: [0, 0, 0] }, lastT: this.o.start };
    }
    return s;
  }

  stats(ns: number): SimStats {
    return this.nsState(ns).stats;
  }

  count(ns: number): number {
    const s = this.nsState(ns);
    return s.count + s.phantom;
  }

  /** Entries alive before the capture that it cannot see (keeps the count next to the kernel's). */
  addPhantom(ns: number, n: number, t: number): void {
    const s = this.nsState(ns);
    this.account(s, t);
    s.phantom += n;
  }

  removePhantom(ns: number, t: number): void {
    const s = this.nsState(ns);
    if (s.phantom <= 0) return;
    this.account(s, t);
    s.phantom--;
  }

  /** Run the collector's passes, and the removals they make, due by time t. */
  advance(t: number): void {
    for (;;) {
      const d = this.dyingT.length ? this.dyingT[0]! : Infinity;
      if (d <= t && d <= this.nextPass) {
        const k = this.dyingK[0]!;
        heapPop(this.dyingT, this.dyingK);
        if (!(this.flags[k]! & 1)) continue; // removed meanwhile (a user's delete)
        const s = this.nsState(this.nsOf[k]!);
        this.account(s, d);
        this.kill(k, s, d);
        continue;
      }
      if (this.nextPass <= t) {
        this.slice(this.nextPass);
        continue;
      }
      break;
    }
  }

  /**
   * A new entry in namespace `ns` at time t, expiring at `expiry` (last
   * packet + timeout). Returns its index, or -1 when refused (a drop).
   */
  arrive(ns: number, t: number, expiry: number, assured: boolean, gcDroppable: boolean): number {
    this.advance(t);
    const s = this.nsState(ns);
    this.account(s, t);
    // the packet's lookup walks a chain, removing the expired entries it meets
    this.walk(t, LOOKUP_CHAINS);
    const max = this.o.maxAt(t);
    if (max > 0 && s.count + s.phantom >= max) {
      // early_drop: expired entries on the way are removed, of whatever
      // namespace (room for the next packet, not this one)...
      this.walk(t, CHAINS);
      // ...and an unassured one evicted makes room for this one.
      s.accEarly += 1 - Math.exp((-CHAINS * 2 * s.cacheUnassured) / this.o.buckets);
      if (s.accEarly >= 1 && this.evictUnassured(s, t)) {
        s.accEarly -= 1;
        s.cacheUnassured = Math.max(0, s.cacheUnassured - 1);
        s.stats.earlyDrops++;
      } else {
        s.stats.drops++;
        this.gcFlag = true;
        return -1;
      }
    }
    const k = this.add(ns, expiry, assured, gcDroppable);
    s.count++;
    s.stats.admitted++;
    if (s.count + s.phantom > s.stats.peak) s.stats.peak = s.count + s.phantom;
    return k;
  }

  /**
   * A walk of `chains` hash chains (a lookup, early_drop) at t: the expired
   * entries of any namespace it meets are removed (expected values: each
   * expired entry hangs in two chains of `buckets`).
   */
  private walk(t: number, chains: number): void {
    for (const o of this.ns) {
      if (!o) continue;
      if (t - o.cacheT >= CACHE_S) this.recount(o, t);
      if (o.cacheExpired === 0) continue;
      o.accWalk += (chains * 2 * o.cacheExpired) / this.o.buckets;
      while (o.accWalk >= 1 && this.popExpired(o, t)) {
        o.accWalk -= 1;
        o.cacheExpired = Math.max(0, o.cacheExpired - 1);
        o.stats.expiredByWalk++;
      }
      if (o.accWalk >= 1) o.accWalk = 0;
    }
  }

  /**
   * A dump of the table at t (ctnetlink, as a resync or `conntrack -L` asks
   * for): it walks every bucket and removes the expired entries it meets, of
   * every namespace. Returns how many.
   */
  dump(t: number): number {
    this.advance(t);
    let n = 0;
    for (const s of this.ns) {
      if (!s) continue;
      this.account(s, t);
      while (this.popExpired(s, t)) n++;
      s.cacheT = -Infinity;
    }
    return n;
  }

  /** A packet of a live entry: its expiry moves to `expiry`. */
  refresh(k: number, t: number, expiry: number): boolean {
    if (!(this.flags[k]! & 1) || this.expiry[k]! <= t) return false;
    if (expiry > this.expiry[k]!) {
      this.expiry[k] = expiry;
      const s = this.nsState(this.nsOf[k]!);
      heapPush(s.heapT, s.heapK, expiry, k); // the old heap slot is skipped when popped (expiry no longer matches)
    }
    return true;
  }

  /** The entry is removed by someone else (a user's delete, a flush) at t. */
  remove(k: number, t: number): void {
    if (!(this.flags[k]! & 1)) return;
    const s = this.nsState(this.nsOf[k]!);
    this.account(s, t);
    this.kill(k, s, t);
  }

  /** When entry k was removed (NaN while alive). */
  removedAt(k: number): number {
    return this.endAt[k]!;
  }

  /** When entry k expires. */
  expiresAt(k: number): number {
    return this.expiry[k]!;
  }

  alive(k: number): boolean {
    return (this.flags[k]! & 1) !== 0;
  }

  /** Close the books at t: the remaining passes and the time integrals. */
  finish(t: number): void {
    this.advance(t);
    for (const s of this.ns) if (s) this.account(s, t);
  }

  // ---------------------------------------------------------------- collector

  /** Start a cycle at g: the walk's order is fixed now (what arrives later is not met). */
  private startCycle(g: number): void {
    this.passes.push(g);
    for (const s of this.ns) {
      if (!s) continue;
      this.account(s, g);
      s.cacheT = -Infinity;
    }
    // every live entry, both tuples, in hash order (a stable pseudo-random place per tuple)
    const live: number[] = [];
    for (const s of this.ns) {
      if (!s) continue;
      for (let j = 0; j < s.heapK.length; j++) {
        const k = s.heapK[j]!;
        if (this.flags[k]! & 1 && !(this.flags[k]! & 8) && this.expiry[k] === s.heapT[j]) live.push(k);
      }
    }
    const V = live.length * GC_VISITS;
    const bin = new Int32Array(V + 1);
    const at = new Int32Array(V);
    for (let i = 0; i < live.length; i++) {
      for (let d = 0; d < GC_VISITS; d++) {
        const v = live[i]! * GC_VISITS + d;
        const b = Math.floor((tupleHash(v) / 4294967296) * V);
        at[i * GC_VISITS + d] = b;
        bin[b + 1]!++;
      }
    }
    for (let b = 0; b < V; b++) bin[b + 1]! += bin[b]!;
    const order = new Int32Array(V);
    for (let i = 0; i < live.length; i++) for (let d = 0; d < GC_VISITS; d++) order[bin[at[i * GC_VISITS + d]!]!++] = live[i]! * GC_VISITS + d;
    this.cycle = { start: g, order, i: 0, m: GC_BIAS_S * this.hz, c: GC_BIAS_COUNT, weight: Math.max(1, Math.ceil(V / GC_MAX_VISITS)) };
  }

  /**
   * One run of the worker at time t: it walks on from where the last stopped,
   * removing what has expired, adding what has not to the running mean, and
   * (when a failed allocation set the flag) killing droppable entries of any
   * table at 95 % of max or more; after GC_SCAN_EXPIRED_MAX removals it
   * yields for a jiffy (and clears the flag), at the end of the hash it sets
   * the next cycle.
   */
  private slice(t: number): void {
    if (!this.cycle) this.startCycle(t);
    const cy = this.cycle!;
    const V = cy.order.length;
    const step = V > 0 ? this.walkS / V : 0;
    const max = this.o.maxAt(t);
    const max95 = this.gcFlag && max > 0 ? Math.floor(max / 100) * 95 : 0;
    const hz = this.hz;
    let removed = 0;
    const i0 = cy.i;
    let now = t;
    for (; cy.i < V; cy.i++) {
      const k = Math.floor(cy.order[cy.i]! / GC_VISITS);
      const f = this.flags[k]!;
      if (!(f & 1) || f & 8) continue; // gone, or already going
      if (removed > this.expiredMax) {
        // yield: the next run a jiffy (and the wait for the CPU) later, the flag cleared
        this.gcFlag = false;
        this.nextPass = now + this.yieldS;
        return;
      }
      now = t + (cy.i + 1 - i0) * step;
      const s = this.ns[this.nsOf[k]!]!;
      if (this.expiry[k]! <= now) {
        this.dying(k, s, now);
        s.stats.expiredByGc++;
        removed++;
        continue;
      }
      if (cy.i % cy.weight === 0) {
        // the kernel's running mean, in whole jiffies (its integer division stalls it once the count is large)
        const e = Math.min(GC_CLAMP_S * hz, Math.max(GC_MIN_S * hz, Math.round((this.expiry[k]! - now) * hz)));
        cy.c += cy.weight;
        cy.m += cy.weight * Math.trunc((e - cy.m) / cy.c);
      }
      if (max95 > 0 && s.count + s.phantom - s.going >= max95 && (!(f & 2) || f & 4)) {
        this.dying(k, s, now);
        s.stats.gcEvictions++;
        removed++;
      }
    }
    // the end of the hash: the next cycle after the mean, less this one's duration
    now = t + (V - i0) * step;
    this.cycle = null;
    this.gcFlag = false;
    const mean = Math.min(GC_MAX_S, Math.max(GC_MIN_S, cy.m / hz));
    const took = Math.max(now - cy.start, 1 / hz);
    const delay = mean > took ? mean - took : 1 / hz;
    this.nextPass = this.scheduled.length ? Math.max(this.scheduled.shift()!, now) : now + delay + wheelLateness(delay, hz);
    this.compact();
  }

  /** Entry k is being removed by the collector at t (counted until then). */
  private dying(k: number, s: NsState, t: number): void {
    this.flags[k] = this.flags[k]! | 8;
    s.going++;
    heapPush(this.dyingT, this.dyingK, t, k);
  }

  // ---------------------------------------------------------------- entries

  private add(ns: number, expiry: number, assured: boolean, gcDroppable: boolean): number {
    if (this.n === this.expiry.length) this.grow();
    const k = this.n++;
    this.expiry[k] = expiry;
    this.nsOf[k] = ns;
    this.flags[k] = 1 | (assured ? 2 : 0) | (gcDroppable ? 4 : 0);
    this.endAt[k] = NaN;
    const s = this.nsState(ns);
    heapPush(s.heapT, s.heapK, expiry, k);
    if (!assured) {
      s.unassured.push(k);
      s.unassuredLive++;
    }
    s.cacheT = -Infinity;
    return k;
  }

  private kill(k: number, s: NsState, t: number): void {
    this.endAt[k] = t;
    if (this.flags[k]! & 8) s.going--;
    if (!(this.flags[k]! & 2)) s.unassuredLive--;
    this.flags[k] = this.flags[k]! & ~1;
    s.count--;
  }

  /**
   * Take an unassured entry that is alive and not going off the list, drawn
   * by a fixed pseudo-random sequence (the hash order is as good as random for
   * age); entries `skip` refuses leave the list too (-1: none left).
   */
  private drawUnassured(s: NsState, skip?: (k: number) => boolean): number {
    const u = s.unassured;
    while (u.length) {
      const i = (this.pick = (this.pick * 1103515245 + 12345) >>> 0) % u.length;
      const k = u[i]!;
      u[i] = u[u.length - 1]!;
      u.pop();
      if (!(this.flags[k]! & 1) || this.flags[k]! & 2 || this.flags[k]! & 8) continue;
      if (skip?.(k)) continue;
      return k;
    }
    return -1;
  }

  /** Remove the earliest-expiring entry if it expired by t. */
  private popExpired(s: NsState, t: number): boolean {
    while (s.heapT.length) {
      const e = s.heapT[0]!;
      const k = s.heapK[0]!;
      if (!(this.flags[k]! & 1) || this.expiry[k] !== e) {
        heapPop(s.heapT, s.heapK);
        continue;
      }
      if (e > t) return false;
      heapPop(s.heapT, s.heapK);
      this.kill(k, s, t);
      return true;
    }
    return false;
  }

  /** Count the expired entries awaiting removal, and the unassured ones not expired (walks the due part of the heap). */
  private recount(s: NsState, t: number): void {
    let expired = 0;
    let expiredUnassured = 0;
    const stack = [0];
    while (stack.length) {
      const i = stack.pop()!;
      if (i >= s.heapT.length || s.heapT[i]! > t) continue;
      const k = s.heapK[i]!;
      if (this.flags[k]! & 1 && this.expiry[k] === s.heapT[i]) {
        expired++;
        if (!(this.flags[k]! & 2)) expiredUnassured++;
      }
      stack.push(2 * i + 1, 2 * i + 2);
    }
    s.cacheT = t;
    s.cacheExpired = expired;
    s.cacheUnassured = Math.max(0, s.unassuredLive - expiredUnassured);
  }

  /** early_drop: evict one unassured entry that has not expired (an expired one is the collector's). */
  private evictUnassured(s: NsState, t: number): boolean {
    const k = this.drawUnassured(s, (k) => this.expiry[k]! <= t);
    if (k < 0) return false;
    this.kill(k, s, t);
    return true;
  }
  private pick = 1;

  private account(s: NsState, t: number): void {
    const dt = t - s.lastT;
    if (dt <= 0) return;
    const c = s.count + s.phantom;
    s.stats.area += c * dt;
    const max = this.o.maxAt(t);
    if (max > 0) {
      if (c >= 0.7 * max) s.stats.above[0] += dt;
      if (c >= 0.85 * max) s.stats.above[1] += dt;
      if (c >= 0.95 * max) s.stats.above[2] += dt;
    }
    s.lastT = t;
  }

  private grow(): void {
    const m = this.expiry.length * 2;
    const e = new Float64Array(m);
    e.set(this.expiry);
    this.expiry = e;
    const ns = new Int32Array(m);
    ns.set(this.nsOf);
    this.nsOf = ns;
    const f = new Uint8Array(m);
    f.set(this.flags);
    this.flags = f;
    const x = new Float64Array(m);
    x.set(this.endAt);
    this.endAt = x;
  }

  /** Entries are never renumbered (callers hold indices): only the heaps are pruned when mostly stale. */
  private compact(): void {
    for (const s of this.ns) {
      if (!s || s.heapT.length < 4 * (s.count + 64)) continue;
      const t: number[] = [];
      const k: number[] = [];
      for (let i = 0; i < s.heapT.length; i++) {
        const x = s.heapK[i]!;
        if (this.flags[x]! & 1 && this.expiry[x] === s.heapT[i]) heapPush(t, k, s.heapT[i]!, x);
      }
      s.heapT = t;
      s.heapK = k;
    }
  }
}

function heapPush(a: number[], b: number[], t: number, k: number): void {
  let i = a.length;
  a.push(t);
  b.push(k);
  while (i > 0) {
    const p = (i - 1) >> 1;
    if (a[p]! <= t) break;
    a[i] = a[p]!;
    b[i] = b[p]!;
    i = p;
  }
  a[i] = t;
  b[i] = k;
}

function heapPop(a: number[], b: number[]): void {
  const lt = a.pop()!;
  const lk = b.pop()!;
  const n = a.length;
  if (n === 0) return;
  let i = 0;
  for (;;) {
    const l = 2 * i + 1;
    if (l >= n) break;
    const r = l + 1;
    const m = r < n && a[r]! < a[l]! ? r : l;
    if (a[m]! >= lt) break;
    a[i] = a[m]!;
    b[i] = b[m]!;
    i = m;
  }
  a[i] = lt;
  b[i] = lk;
}
