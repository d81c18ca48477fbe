// The churn-attribution model: every source's decoded record batches and the
// /proc poller's snapshots go in; who allocates entries, who holds them, how
// long they live, whose packets are dropped and when the table fills up come
// out. One pass over typed columns per batch; no object and no string per
// record (keys are numbers, see keys.ts; flows live in typed arrays, see
// flows.ts). The clock is the records' own (CLOCK_BOOTTIME ns): records and
// advance() move it forward, never back, so a replay answers as the live
// daemon would have at that moment.

import type { RecordColumns } from '../records/batch.js';
import type { RecordSink } from '../sources/source.js';
import type { ProcSnapshot } from '../proc/types.js';
import { CAUSE_NAMES, Cause, Flag, Kind } from '../records/layout.js';
import { parseAddress } from '../records/address.js';
import { AddressTable, DADDR, DIM, DIMENSIONS, NDIMS, SADDR, addressKey, dimIndex, formatAddressKey, formatKey, protoName, type Dimension } from './keys.js';
import { KeyCounter, WindowedHeavyHitters } from './heavy.js';
import { adoptCounters, CountingThread, countPending, CountScratch, type CountingOffload, type Counters } from './counting.js';
import { C, COUNTERS, Totals, type CounterName } from './totals.js';
import { FF, FlowTable } from './flows.js';
import { Histogram, KeyedLifetimes, NBUCKETS, BUCKET_LE_SECONDS, bucketOf, quantileOf } from './lifetimes.js';
import { IPPROTO_TCP, NSTATE_CODES, stateCode, stateName } from './states.js';
import { ClosedFlows } from './closed.js';
import { OccupancyIndex } from './occupancy.js';
import { ProcHistory, forecast, type Forecast } from './forecast.js';
import { advise, type Advice, type AdviceEnvironment } from './advice.js';

export { DIMENSIONS, type Dimension } from './keys.js';

/** The windowed streams a top-k query can rank. */
export const STREAMS = ['alloc', 'destroy', 'netfilter', 'table_full', 'evicted', 'insert_failed'] as const;
export type StreamName = (typeof STREAMS)[number];
/** Drop kinds, as /v1/drops names them. */
export const DROP_KINDS = ['table_full', 'evicted', 'insert_failed', 'netfilter'] as const;
export type DropKind = (typeof DROP_KINDS)[number];
const PACKET_DROPS_KFREE_SKB: readonly DropKind[] = ['netfilter'];
const PACKET_DROPS_LIFECYCLE: readonly DropKind[] = ['table_full', 'insert_failed'];

const S_ALLOC = 0;
const S_DESTROY = 1;
const S_NETFILTER = 2;
const S_TABLE_FULL = 3;
const S_EVICTED = 4;
const S_INSERT_FAILED = 5;
const STREAM_COUNTER = [C.alloc, C.destroy, C.netfilter, C.table_full, C.evicted, C.insert_failed];

const TWO32 = 4294967296;
/** Records whose flow-table memory is warmed at once (Model.prefetch). */
const WARM_RECORDS = 256;
/** Destroys per second above which per-key lifetimes are sampled, and the sampling (1 in N; N = 4: the id hash's top two bits). */
export const LIFETIME_SAMPLE_ABOVE = 200_000;
export const LIFETIME_SAMPLE = 4;

export interface ModelOptions {
  /** Live entries tracked at most (default 1,000,000); more evict the least recently seen. */
  maxFlows?: number;
  /** K of per-key metric series and the default query limit (default 10). */
  topK?: number;
  /** Seconds of windowed history (default 900, at least 15 minutes). */
  historySeconds?: number;
  /** Keys per second and dimension a heavy-hitter summary holds exactly (default 1024). */
  heavyKeys?: number;
  /** Recently closed flows kept for /v1/flows/:id (default 4096). */
  closedFlows?: number;
  /** The namespace whose table /v1/forecast describes by default (default: first snapshot's). */
  hostNetns?: number;
  /**
   * Keep live-entry counts per (key, protocol/state) for the dimensions
   * being asked about (default true; see occupancy.ts). false: every
   * occupancy question scans the flow table.
   */
  occupancyIndex?: boolean;
  /** Seconds (model clock) an unused occupancy index is kept (default 600). */
  occupancyIdleSeconds?: number;
}

export interface TopKQuery {
  by: Dimension;
  /** Streams summed (e.g. every drop kind); default ['alloc']. */
  kinds?: readonly StreamName[];
  /** Seconds, 1..historySeconds; the current (partial) second is included. */
  window: number;
  limit: number;
}

export interface TopKItem {
  key: string;
  /** Occurrences in the window: a lower bound, exact when error_bound is 0. */
  count: number;
  /** count / window, per second. */
  rate: number;
  /** count / total. */
  share: number;
  [extra: string]: unknown;
}

export interface TopKResult {
  by: Dimension;
  window: number;
  /** Exact total of the streams in the window, all keys. */
  total: number;
  items: TopKItem[];
  /** Any key's true count is at most its count + error_bound (0: exact). */
  error_bound: number;
}

export interface FlowFilter {
  src?: string;
  dst?: string;
  sport?: number;
  dport?: number;
  proto?: number;
  /** State code (states.ts). */
  state?: number;
  netns?: number;
  limit?: number;
}

export interface FlowView {
  id: string;
  live: boolean;
  proto: string;
  src: string;
  sport: number;
  dst: string;
  dport: number;
  netns: number;
  zone: number;
  mark: number;
  state: string;
  status: number;
  confirmed: boolean;
  /** How the model learnt of the entry. */
  opened: 'alloc' | 'seen_at_start' | 'seen_at_resync' | 'update';
  /** CLOCK_BOOTTIME seconds of the allocation (or of the first record when start_known is false). */
  start_s: number;
  start_known: boolean;
  age_s: number;
  last_seen_s_ago: number;
  state_since_s: number;
  /** Up to the last four states, oldest first. */
  states: string[];
  closed?: { at_s: number; cause: string; lifetime_s: number | null };
}

export interface LifetimeGroup {
  proto: string;
  state?: string;
  count: number;
  mean_s: number;
  p50_s: number | null;
  p90_s: number | null;
  p99_s: number | null;
  buckets: Array<{ le: number | '+Inf'; count: number }>;
}

export interface ModelReport {
  span_s: number;
  window_s: number;
  records: number;
  totals: Record<CounterName, number>;
  live_flows: number;
  churn: { src: TopKResult; dst: TopKResult; dport: TopKResult };
  occupancy: { src: TopKResult; dport: TopKResult };
  drops: { src: TopKResult; dport: TopKResult };
  lifetimes: ReturnType<Model['lifetimeGroups']>;
  forecast: Forecast | null;
  advice: Advice[];
}

export class Model implements RecordSink {
  readonly opts: Required<Omit<ModelOptions, 'hostNetns'>> & { hostNetns?: number };
  readonly flows: FlowTable;
  readonly totals: Totals;
  readonly v6 = new AddressTable();
  /** Heavy hitters (index stream * NDIMS + dimension) and per-key lifetimes: counting.ts. */
  private counters: Counters = { hh: [], lifetimes: [] };
  /** Set while the heavy hitters are counted in a helper thread (countElsewhere()). */
  private offload: CountingOffload | null = null;
  /** Lifetimes (alloc to destroy) by proto * NSTATE_CODES + final state code. */
  readonly lifetimes = new Map<number, Histogram>();
  /** Time spent in the final state before destroy, same grouping. */
  readonly finalDwell = new Map<number, Histogram>();
  private readonly lifetimeByGroup: (Histogram | undefined)[] = new Array(256 * NSTATE_CODES).fill(undefined);
  private readonly dwellByGroup: (Histogram | undefined)[] = new Array(256 * NSTATE_CODES).fill(undefined);
  /** Destroys by cause (index: enum ctscope_cause). */
  readonly destroyCauses = new Float64Array(CAUSE_NAMES.length + 1);
  /** Netfilter drops by skb drop reason (aux). */
  readonly dropReasons = new Map<number, number>();
  /** Destroys whose entry's allocation time was unknown (not in lifetime histograms). */
  unknownLifetimes = 0;
  readonly closed: ClosedFlows;
  readonly proc = new Map<number, ProcHistory>();
  private hostNetns: number | undefined;
  /** Batches and records ingested. */
  batches = 0;
  records = 0;
  nowNs = 0;
  private curSec = -1;
  private nextSecNs = 0;
  /** Record (index in the current batch) whose keys the pending column keysAt holds, -1 none. */
  private keysOf = -1;
  private keysAt = 0;
  private readonly countScratch = new CountScratch(STREAMS.length);
  /** 1: every destroy feeds the per-key lifetimes; LIFETIME_SAMPLE: one in that many (see advance()). */
  private lifeSample = 1;
  /** Destroys left out of the per-key lifetimes while sampling (reported with churn answers). */
  keyedLifetimesSkipped = 0;
  private readonly scratch = new KeyCounter(4096);
  private readonly scratch2 = new KeyCounter(4096);
  private firstSec = -1;
  /** Occupancy indexes by dimension, and the list of those that exist (see occupancy.ts). */
  private readonly occ: (OccupancyIndex | undefined)[] = new Array(NDIMS).fill(undefined);
  private occList: OccupancyIndex[] = [];

  constructor(opts: ModelOptions = {}) {
    this.opts = {
      maxFlows: opts.maxFlows ?? 1_000_000,
      topK: opts.topK ?? 10,
      historySeconds: Math.max(60, opts.historySeconds ?? 900),
      heavyKeys: opts.heavyKeys ?? 1024,
      closedFlows: opts.closedFlows ?? 4096,
      hostNetns: opts.hostNetns,
      occupancyIndex: opts.occupancyIndex ?? true,
      occupancyIdleSeconds: opts.occupancyIdleSeconds ?? 600,
    };
    this.hostNetns = opts.hostNetns;
    this.flows = new FlowTable(this.opts.maxFlows);
    this.flows.onEvict = (e) => {
      if (this.occList.length) this.occClose(e);
    };
    this.totals = new Totals(this.opts.historySeconds);
    for (let i = 0; i < STREAMS.length * NDIMS; i++) {
      this.counters.hh.push(new WindowedHeavyHitters(this.heavyOptions()));
    }
    // By protocol the exact per-protocol/state histograms answer (medianOf).
    for (let d = 0; d < NDIMS; d++) this.counters.lifetimes.push(d === DIM.proto ? null : new KeyedLifetimes());
    this.closed = new ClosedFlows(this.opts.closedFlows);
  }

  // ---------------------------------------------------------------- clock

  /** Move the clock to nowNs (CLOCK_BOOTTIME); never backwards. */
  advance(nowNs: number): void {
    if (nowNs < this.nowNs && this.curSec >= 0) return;
    this.nowNs = nowNs;
    const sec = Math.floor(nowNs / 1e9);
    if (sec === this.curSec) return;
    // Per-key lifetimes cost a table update per dimension and destroy, the
    // largest share of the ingest at millions of records/s: a second that
    // saw more than LIFETIME_SAMPLE_ABOVE destroys makes the next sample them.
    const prev = this.curSec >= 0 && sec === this.curSec + 1 ? this.totals.sum(C.destroy, this.curSec, this.curSec) : 0;
    this.lifeSample = prev > LIFETIME_SAMPLE_ABOVE ? LIFETIME_SAMPLE : 1;
    this.curSec = sec;
    this.nextSecNs = (sec + 1) * 1e9;
    if (this.firstSec < 0) this.firstSec = sec;
    this.totals.rollover(sec);
    if (this.offload) this.offload.rollover(sec);
    else for (const h of this.counters.hh) h.rollover(sec);
    if (this.occList.length) this.expireOccupancy();
  }

  /** Seconds of data the model holds (since its first record, capped by the history). */
  span(): number {
    return this.curSec < 0 ? 0 : Math.min(this.opts.historySeconds, this.curSec - this.firstSec + 1);
  }

  // ---------------------------------------------------------------- ingest

  ingest(b: RecordColumns): void {
    const n = b.length;
    const bytes = b.bytes;
    this.batches++;
    this.records += n;
    if (n > this.pendCap) this.growPending(n);
    this.keysOf = -1;
    for (let i = 0, o = 0; i < n; i++, o += 160) {
      // Warm the flow table for the next WARM_RECORDS records (few enough
      // that what is warmed is still in cache when they are walked).
      if (i % WARM_RECORDS === 0) this.prefetch(b, i, Math.min(n, i + WARM_RECORDS));
      const ts = b.ts[i]!;
      if (ts > this.nowNs || this.curSec < 0) {
        if (ts >= this.nextSecNs || this.curSec < 0) {
          // Counts pending for the current second go in before it is frozen.
          this.flush();
          this.advance(ts);
        } else this.nowNs = ts;
      }
      const kind = b.kind[i]!;
      switch (kind) {
        case Kind.ALLOC:
          this.count(b, i, o, S_ALLOC);
          this.totals.add(C.alloc);
          this.open(b, i, o, 0);
          break;
        case Kind.DESTROY:
          this.count(b, i, o, S_DESTROY);
          this.totals.add(C.destroy);
          this.destroy(b, i, o);
          break;
        case Kind.UPDATE:
        case Kind.CONFIRM:
          this.totals.add(kind === Kind.UPDATE ? C.update : C.confirm);
          this.change(b, i, o, kind === Kind.CONFIRM);
          break;
        case Kind.SEEN:
          this.totals.add(C.seen);
          this.open(b, i, o, b.cause[i] === Cause.AT_RESYNC ? FF.OPEN_SEEN | FF.AT_RESYNC : FF.OPEN_SEEN);
          break;
        case Kind.DROP: {
          this.count(b, i, o, S_NETFILTER);
          this.totals.add(C.netfilter);
          const r = b.aux[i]!;
          this.dropReasons.set(r, (this.dropReasons.get(r) ?? 0) + 1);
          break;
        }
        case Kind.TABLE_FULL:
          this.count(b, i, o, S_TABLE_FULL);
          this.totals.add(C.table_full);
          break;
        case Kind.EVICT:
          this.count(b, i, o, S_EVICTED);
          this.totals.add(C.evicted);
          break;
        case Kind.INSERT_FAILED:
          this.count(b, i, o, S_INSERT_FAILED);
          this.totals.add(C.insert_failed);
          break;
        case Kind.LOSS:
          this.totals.add(C.lost, b.aux[i]!);
          break;
        case Kind.SYNC:
          this.sync(b.netns[i]!, b.start[i]!, b.cause[i]!, ts);
          break;
        default:
          break;
      }
    }
    this.flush();
  }

  /** Warm the flow table's memory for the lifecycle records of b[from, to) (FlowTable.warm). */
  private prefetch(b: RecordColumns, from: number, to: number): void {
    const bytes = b.bytes;
    const kind = b.kind;
    const hashes = this.hashes;
    let m = 0;
    for (let i = from, o = from * 160; i < to; i++, o += 160) {
      const k = kind[i]!;
      if (k === Kind.ALLOC || k === Kind.DESTROY || k === Kind.UPDATE || k === Kind.CONFIRM) hashes[m++] = FlowTable.hash(idLo(bytes, o), idHi(bytes, o));
    }
    this.sink ^= this.flows.warm(hashes, m);
  }
  private readonly hashes = new Uint32Array(WARM_RECORDS);
  private sink = 0;

  // Counting is deferred to the end of the batch (or of the second) and done
  // one dimension at a time: each heavy-hitter table then stays in cache for
  // a whole run of keys instead of eight tables being touched per record.
  private pendCap = 0;
  private pendN = 0;
  private pendKeys = new Float64Array(0); // d * pendCap + j
  private pendStream = new Uint8Array(0);
  private lifeN = 0;
  private lifeAt = new Uint32Array(0); // the pending column of the destroy's keys
  private lifeBucket = new Uint8Array(0); // bucketOf(lifetime), computed once per destroy

  private growPending(n: number): void {
    this.flush();
    this.pendCap = Math.max(n, 1024);
    this.pendKeys = new Float64Array(NDIMS * this.pendCap);
    this.pendStream = new Uint8Array(this.pendCap);
    this.lifeAt = new Uint32Array(this.pendCap);
    this.lifeBucket = new Uint8Array(this.pendCap);
  }

  private flush(): void {
    const n = this.pendN;
    const m = this.lifeN;
    if (n === 0 && m === 0) return;
    // Counted one dimension at a time (countPending), here or in a helper thread.
    if (this.offload) this.offload.count(this.pendKeys, this.pendCap, this.pendStream, n, this.lifeAt, this.lifeBucket, m);
    else countPending(this.counters, this.pendKeys, this.pendCap, this.pendStream, n, this.lifeAt, this.lifeBucket, m, this.countScratch);
    this.pendN = 0;
    this.lifeN = 0;
  }

  /**
   * The dimension keys of record i, written straight into the next pending
   * column (counted into `stream` at the next flush); this.keysAt is that
   * column, which create() and destroy() read the address keys from.
   */
  private count(b: RecordColumns, i: number, o: number, stream: number): void {
    const j = this.pendN++;
    const cap = this.pendCap;
    const keys = this.pendKeys;
    const fam = b.family[i]!;
    this.keysOf = i;
    this.keysAt = j;
    const src = addressKey(b.bytes, o + SADDR, fam, this.v6);
    const dport = b.dport[i]!;
    keys[DIM.src * cap + j] = src;
    keys[DIM.dst * cap + j] = addressKey(b.bytes, o + DADDR, fam, this.v6);
    keys[DIM.dport * cap + j] = dport;
    keys[DIM.proto * cap + j] = b.proto[i]!;
    keys[DIM.netns * cap + j] = b.netns[i]!;
    keys[DIM.zone * cap + j] = b.zone[i]!;
    keys[DIM.mark * cap + j] = b.mark[i]!;
    keys[DIM.src_dport * cap + j] = src * 65536 + dport;
    this.pendStream[j] = stream;
  }

  /** ALLOC (flags 0) or SEEN: the entry is alive. */
  private open(b: RecordColumns, i: number, o: number, openFlags: number): void {
    const ft = this.flows;
    const ts = b.ts[i]!;
    const s = ft.upsert(idLo(b.bytes, o), idHi(b.bytes, o));
    if (s < 0) return;
    if (ft.created) {
      const st = b.start[i]!;
      const known = st > 0 && (openFlags === 0 || (b.flags[i]! & Flag.HAS_START) !== 0);
      this.create(b, i, o, s, openFlags | (known ? FF.START_KNOWN : 0), known ? st : ts, ts);
    } else {
      this.setState(b, i, s, ts);
      ft.touch(s, ts);
    }
  }

  /** A new entry from record i: its tuple, state and times in one go. */
  private create(b: RecordColumns, i: number, o: number, s: number, flags: number, startNs: number, ts: number): void {
    const fam = b.family[i]!;
    // Records counted by count() (ALLOC) have their address keys already.
    const cap = this.pendCap;
    const src = this.keysOf === i ? this.pendKeys[DIM.src * cap + this.keysAt]! : addressKey(b.bytes, o + SADDR, fam, this.v6);
    const dst = this.keysOf === i ? this.pendKeys[DIM.dst * cap + this.keysAt]! : addressKey(b.bytes, o + DADDR, fam, this.v6);
    const v6 = src >= TWO32;
    const proto = b.proto[i]!;
    const state = b.state[i]!;
    const status = b.status[i]!;
    this.flows.init(s, v6 ? src - TWO32 : src, v6 ? dst - TWO32 : dst, b.sport[i]!, b.dport[i]!, b.netns[i]!, b.mark[i]!, b.zone[i]!, proto, state, status, flags | (v6 ? FF.SRC_V6 : 0), startNs, stateCode(proto, state, status), ts);
    if (this.occList.length) this.occOpen(s);
  }

  /** UPDATE / CONFIRM: state or status changed. */
  private change(b: RecordColumns, i: number, o: number, confirm: boolean): void {
    const ft = this.flows;
    const ts = b.ts[i]!;
    const s = ft.upsert(idLo(b.bytes, o), idHi(b.bytes, o));
    if (s < 0) return;
    if (ft.created) {
      const st = b.start[i]!;
      const known = st > 0 && (b.flags[i]! & Flag.HAS_START) !== 0;
      this.create(b, i, o, s, FF.OPEN_UPDATE | (known ? FF.START_KNOWN : 0) | (confirm ? FF.CONFIRMED : 0), known ? st : ts, ts);
      return;
    }
    this.setState(b, i, s, ts);
    if (confirm) ft.setFlags(s, ft.flags(s) | FF.CONFIRMED);
    ft.touch(s, ts);
  }

  private setState(b: RecordColumns, i: number, s: number, ts: number): void {
    const ft = this.flows;
    const proto = ft.proto(s);
    // A message without protocol info (state 0) keeps the TCP state we know.
    const st = b.state[i]!;
    if (st !== 0 || proto !== IPPROTO_TCP) ft.setState(s, st);
    const status = b.status[i]!;
    if (status !== 0) ft.setStatus(s, status);
    const code = stateCode(proto, ft.state(s), ft.status(s));
    const was = ft.stateCode(s);
    if (code !== was) {
      if (this.occList.length) this.occMove(s, proto * NSTATE_CODES + was, proto * NSTATE_CODES + code);
      ft.setHist(s, (ft.hist(s) << 8) | code);
      ft.setSince(s, ts);
    }
  }

  private destroy(b: RecordColumns, i: number, o: number): void {
    const ft = this.flows;
    const ts = b.ts[i]!;
    const cause = b.cause[i]!;
    this.destroyCauses[cause < this.destroyCauses.length ? cause : 0]! += 1;
    const s = ft.find(idLo(b.bytes, o), idHi(b.bytes, o));
    let proto = b.proto[i]!;
    let code: number;
    let start = b.start[i]!;
    let known = start > 0 && (b.flags[i]! & Flag.HAS_START) !== 0;
    let since = start;
    if (s >= 0) {
      this.setState(b, i, s, ts);
      proto = ft.proto(s);
      code = ft.hist(s) & 0xff;
      if (ft.flags(s) & FF.START_KNOWN) {
        start = ft.start(s);
        known = true;
      }
      since = ft.sinceNs(s);
    } else {
      code = stateCode(proto, b.state[i]!, b.status[i]!);
    }
    let lifetime = -1;
    if (known && ts >= start) {
      lifetime = ts - start;
      const g = proto * NSTATE_CODES + code;
      let h = this.lifetimeByGroup[g];
      if (!h) this.lifetimes.set(g, (h = this.lifetimeByGroup[g] = new Histogram()));
      const bucket = bucketOf(lifetime);
      h.addBucket(bucket, lifetime);
      // Per-key lifetimes (the median in churn answers): every destroy, or
      // under heavy load one in LIFETIME_SAMPLE chosen by the entry's id (an
      // unbiased sample of every key). The histograms above stay exact.
      if (this.lifeSample === 1 || (Math.imul(idLo(b.bytes, o), 0x9e3779b1) >>> 30) === 0) {
        const j = this.lifeN++;
        this.lifeAt[j] = this.keysAt;
        this.lifeBucket[j] = bucket;
      } else this.keyedLifetimesSkipped++;
    } else {
      this.unknownLifetimes++;
    }
    if (s >= 0) {
      if (ts >= since) {
        const g = proto * NSTATE_CODES + code;
        let h = this.dwellByGroup[g];
        if (!h) this.finalDwell.set(g, (h = this.dwellByGroup[g] = new Histogram()));
        h.add(ts - since);
      }
      this.closed.push(ft, s, ts, cause, lifetime);
      if (this.occList.length) this.occClose(s);
      ft.remove(s);
    }
  }

  // ---------------------------------------------------------------- occupancy indexes

  private group(s: number): number {
    return this.flows.proto(s) * NSTATE_CODES + this.flows.stateCode(s);
  }

  private occOpen(s: number): void {
    const g = this.group(s);
    for (const x of this.occList) x.inc(this.flowKey(s, x.dim), g);
  }

  private occClose(s: number): void {
    const g = this.group(s);
    for (const x of this.occList) x.dec(this.flowKey(s, x.dim), g);
  }

  private occMove(s: number, from: number, to: number): void {
    for (const x of this.occList) {
      const k = this.flowKey(s, x.dim);
      x.dec(k, from);
      x.inc(k, to);
    }
  }

  /** One scan of the table into a new index of dimension d. */
  private scanIndex(d: number): OccupancyIndex {
    const x = new OccupancyIndex(d, 1024);
    const ft = this.flows;
    for (let s = 0; s < ft.end; s++) if (ft.live(s)) x.inc(this.flowKey(s, d), this.group(s));
    return x;
  }

  /**
   * The index of dimension d: kept up to date from the first question on
   * (built then by one scan), or, with indexes off, a scan made for this
   * question only.
   */
  private occupancyIndex(d: number): OccupancyIndex {
    if (!this.opts.occupancyIndex) return this.scanIndex(d);
    let x = this.occ[d];
    if (!x) {
      x = this.occ[d] = this.scanIndex(d);
      this.occList = this.occ.filter((o): o is OccupancyIndex => o !== undefined);
    }
    x.lastUsedNs = this.nowNs;
    return x;
  }

  private expireOccupancy(): void {
    const idle = this.opts.occupancyIdleSeconds * 1e9;
    let dropped = false;
    for (const x of this.occList) {
      if (this.nowNs - x.lastUsedNs > idle) {
        this.occ[x.dim] = undefined;
        dropped = true;
      }
    }
    if (dropped) this.occList = this.occ.filter((o): o is OccupancyIndex => o !== undefined);
  }

  /** Dimensions with an occupancy index now, and dec() calls that found nothing (always 0 unless a path is wrong). */
  occupancyIndexes(): { dims: Dimension[]; perDim: Array<{ dim: Dimension; pairs: number }>; pairs: number; bytes: number; misses: number } {
    return {
      dims: this.occList.map((x) => DIMENSIONS[x.dim]!),
      perDim: this.occList.map((x) => ({ dim: DIMENSIONS[x.dim]!, pairs: x.size })),
      pairs: this.occList.reduce((a, x) => a + x.size, 0),
      bytes: this.occList.reduce((a, x) => a + x.bytes(), 0),
      misses: this.occList.reduce((a, x) => a + x.misses, 0),
    };
  }

  /** SYNC: entries of `netns` with no record since `sinceNs` are gone. */
  private sync(netns: number, sinceNs: number, cause: number, ts: number): void {
    const ft = this.flows;
    let closed = 0;
    for (let s = 0; s < ft.end; s++) {
      if (ft.live(s) && ft.netns(s) === netns && ft.lastNs(s) < sinceNs) {
        this.closed.push(ft, s, ts, cause, ft.flags(s) & FF.START_KNOWN ? ts - ft.start(s) : -1);
        if (this.occList.length) this.occClose(s);
        ft.remove(s);
        closed++;
      }
    }
    if (closed) {
      this.destroyCauses[cause < this.destroyCauses.length ? cause : 0]! += closed;
      this.totals.add(C.sync_closed, closed);
    }
  }

  // ---------------------------------------------------------------- /proc

  ingestProc(s: ProcSnapshot): void {
    if (this.hostNetns === undefined) this.hostNetns = s.netns;
    let h = this.proc.get(s.netns);
    if (!h) this.proc.set(s.netns, (h = new ProcHistory(this.opts.historySeconds)));
    h.push(s);
    if (s.ts > this.nowNs) this.advance(s.ts);
  }

  /** Latest snapshot of the host namespace (or of `netns`). */
  snapshot(netns?: number): ProcSnapshot | null {
    const n = netns ?? this.hostNetns;
    return n === undefined ? null : (this.proc.get(n)?.latest ?? null);
  }

  // ---------------------------------------------------------------- queries

  private range(window: number): [number, number] {
    const to = Math.max(this.curSec, 0);
    return [to - window + 1, to];
  }

  /** Flow-table counters the model keeps; evictions from its own cap included. */
  counter(name: CounterName): number {
    if (name === 'flows_evicted') return this.flows.evictions;
    return this.totals.total[C[name]]!;
  }

  /** Sum of a counter over the last `window` seconds. */
  windowSum(name: CounterName, window: number): number {
    const [from, to] = this.range(window);
    return this.totals.sum(C[name], from, to);
  }

  topK(q: TopKQuery): TopKResult {
    const d = dimIndex(q.by);
    if (d < 0) throw new RangeError(`unknown dimension ${q.by}`);
    const kinds = q.kinds ?? ['alloc'];
    const window = Math.min(q.window, this.opts.historySeconds);
    const [from, to] = this.range(window);
    const sc = this.scratch;
    sc.clear();
    let bound = 0;
    let total = 0;
    for (const kind of kinds) {
      const st = STREAMS.indexOf(kind);
      if (st < 0) throw new RangeError(`unknown stream ${kind}`);
      bound += this.heavy(st, d).collect(from, to, sc);
      total += this.totals.sum(STREAM_COUNTER[st]!, from, to);
    }
    const items = sc.top(q.limit).map(({ key, count }) => this.item(d, key, count, window, total));
    return { by: q.by, window, total, items, error_bound: bound };
  }

  private item(d: number, key: number, count: number, window: number, total: number): TopKItem {
    return { key: formatKey(d, key, this.v6), count, rate: round(count / window), share: total > 0 ? round(count / total) : 0 };
  }

  /** Top allocators, with destroys and median lifetime per key. */
  churn(q: { by: Dimension; window: number; limit: number }): TopKResult {
    const r = this.topK({ ...q, kinds: ['alloc'] });
    const d = dimIndex(q.by);
    const [from, to] = this.range(r.window);
    const sc = this.scratch2;
    sc.clear();
    const bound = this.heavy(S_DESTROY, d).collect(from, to, sc);
    // Re-rank on the numeric keys the items came from.
    const top = this.scratchTop(d, q.limit);
    r.items = top.map(({ key, count }) => ({
      ...this.item(d, key, count, r.window, r.total),
      destroyed: sc.get(key),
      median_lifetime_s: this.medianOf(d, key),
    }));
    (r as TopKResult & { destroyed_error_bound: number }).destroyed_error_bound = bound;
    (r as TopKResult & { median_lifetime_skipped: number }).median_lifetime_skipped = this.keyedLifetimesSkipped;
    return r;
  }

  private scratchTop(_d: number, limit: number) {
    return this.scratch.top(limit);
  }

  /** Drops of the given kinds (default all) ranked by key. */
  /**
   * Drops of `kinds`; by default packets dropped, each counted once (see
   * packetDropKinds). Evictions are entries, not packets: asked for by name.
   */
  drops(q: { by: Dimension; window: number; limit: number; kinds?: readonly DropKind[] }): TopKResult {
    return this.topK({ by: q.by, window: q.window, limit: q.limit, kinds: q.kinds && q.kinds.length ? q.kinds : this.packetDropKinds() });
  }

  /**
   * The kinds whose sum counts each dropped packet once. kfree_skb (kind
   * netfilter) sees every netfilter drop, the packets refused for a full
   * table or a lost insert included, so where it reports it alone counts;
   * adding the lifecycle's table_full and insert_failed records of the same
   * packets would count them twice. Without it, those two are the drops.
   */
  packetDropKinds(): readonly DropKind[] {
    return this.counter('netfilter') > 0 ? PACKET_DROPS_KFREE_SKB : PACKET_DROPS_LIFECYCLE;
  }

  /** Key of live flow slot s in dimension d. */
  private flowKey(s: number, d: number): number {
    const ft = this.flows;
    switch (d) {
      case DIM.src:
        return ft.flags(s) & FF.SRC_V6 ? TWO32 + ft.src(s) : ft.src(s);
      case DIM.dst:
        return ft.flags(s) & FF.SRC_V6 ? TWO32 + ft.dst(s) : ft.dst(s);
      case DIM.dport:
        return ft.dport(s);
      case DIM.proto:
        return ft.proto(s);
      case DIM.netns:
        return ft.netns(s);
      case DIM.zone:
        return ft.zone(s);
      case DIM.mark:
        return ft.mark(s);
      default:
        return (ft.flags(s) & FF.SRC_V6 ? TWO32 + ft.src(s) : ft.src(s)) * 65536 + ft.dport(s);
    }
  }

  private flowState(s: number): number {
    return this.flows.stateCode(s);
  }

  /**
   * Who holds entries now: live flows by key, optionally of one state and
   * protocol. Each item carries its breakdown by protocol/state; `rate` is
   * the key's allocation rate over the last 60 s.
   */
  occupancy(q: { by: Dimension; state?: number; proto?: number; limit: number }): TopKResult & {
    live: number;
    states: Array<{ proto: string; state: string; count: number; share: number }>;
  } {
    const d = dimIndex(q.by);
    const ft = this.flows;
    const NG = 256 * NSTATE_CODES;
    const byStateArr = new Float64Array(NG);
    const wantState = q.state ?? -1;
    const wantProto = q.proto ?? -1;
    const sc = this.scratch;
    sc.clear();
    let total = 0;
    // The (key, protocol/state) pairs of the dimension: per-key totals first,
    // then the top keys' breakdowns, both from the pairs, not the flows.
    const idx = this.occupancyIndex(d);
    idx.forEach((k, g, n) => {
      byStateArr[g]! += n;
      const code = g % NSTATE_CODES;
      if (wantState >= 0 && code !== wantState) return;
      if (wantProto >= 0 && (g - code) / NSTATE_CODES !== wantProto) return;
      total += n;
      sc.add(k, n);
    });
    const byState = new Map<number, number>();
    for (let g = 0; g < NG; g++) if (byStateArr[g]! > 0) byState.set(g, byStateArr[g]!);
    const top = sc.top(q.limit);
    const index = new KeyCounter(top.length + 1);
    top.forEach((t, i) => index.add(t.key, i + 1));
    const breakdown = top.map(() => new Map<number, number>());
    idx.forEach((k, g, n) => {
      const i = index.get(k);
      if (i === 0) return;
      const code = g % NSTATE_CODES;
      if (wantState >= 0 && code !== wantState) return;
      if (wantProto >= 0 && (g - code) / NSTATE_CODES !== wantProto) return;
      breakdown[i - 1]!.set(g, n);
    });
    const rateWindow = Math.min(60, this.opts.historySeconds);
    const [from, to] = this.range(rateWindow);
    const sc2 = this.scratch2;
    sc2.clear();
    this.heavy(S_ALLOC, d).collect(from, to, sc2);
    const items = top.map(({ key, count }, i) => ({
      key: formatKey(d, key, this.v6),
      count,
      rate: round(sc2.get(key) / rateWindow),
      share: total > 0 ? round(count / total) : 0,
      states: [...breakdown[i]!].sort((a, b) => b[1] - a[1]).map(([g, n]) => ({ proto: protoName(Math.floor(g / NSTATE_CODES)), state: stateName(g % NSTATE_CODES), count: n })),
    }));
    const live = ft.count;
    const states = [...byState]
      .sort((a, b) => b[1] - a[1])
      .map(([g, n]) => ({ proto: protoName(Math.floor(g / NSTATE_CODES)), state: stateName(g % NSTATE_CODES), count: n, share: live > 0 ? round(n / live) : 0 }));
    return { by: q.by, window: 0, total, items, error_bound: 0, live, states };
  }

  /**
   * For /metrics: the top `limit` holders in each of `dims`, and the live
   * entries by protocol/state code; from the dimensions' occupancy indexes
   * (a pass over the table for the states when no dimension is asked).
   */
  occupancySummary(dims: readonly Dimension[], limit: number): { tops: Map<Dimension, Array<{ key: string; count: number }>>; states: Map<number, number> } {
    const ft = this.flows;
    const ds = dims.map((d) => dimIndex(d));
    const NG = 256 * NSTATE_CODES;
    const byState = new Float64Array(NG);
    const tops = new Map<Dimension, Array<{ key: string; count: number }>>();
    ds.forEach((d, j) => {
      const c = new KeyCounter(1024);
      this.occupancyIndex(d).forEach((k, g, n) => {
        c.add(k, n);
        if (j === 0) byState[g]! += n;
      });
      tops.set(dims[j]!, c.top(limit).map((t) => ({ key: formatKey(d, t.key, this.v6), count: t.count })));
    });
    if (ds.length === 0) {
      for (let s = 0; s < ft.end; s++) if (ft.live(s)) byState[ft.proto(s) * NSTATE_CODES + ft.stateCode(s)]! += 1;
    }
    const states = new Map<number, number>();
    for (let g = 0; g < NG; g++) if (byState[g]! > 0) states.set(g, byState[g]!);
    return { tops, states };
  }

  /** Live entries by protocol and state code: Map(proto * NSTATE_CODES + code -> count). */
  liveStates(): Map<number, number> {
    const ft = this.flows;
    const m = new Map<number, number>();
    for (let s = 0; s < ft.end; s++) {
      if (!ft.live(s)) continue;
      const g = ft.proto(s) * NSTATE_CODES + this.flowState(s);
      m.set(g, (m.get(g) ?? 0) + 1);
    }
    return m;
  }

  /**
   * For the given keys of dimension `by`: live entries by protocol number
   * (from the dimension's occupancy index, else one pass over the table).
   */
  liveProtocols(by: Dimension, keys: readonly string[]): Map<string, Map<number, number>> {
    const d = dimIndex(by);
    const wanted = new Map(keys.map((k, i) => [k, i]));
    const counts = keys.map(() => new Map<number, number>());
    // Numeric key -> 1 + its index in `keys`, or -1: one format per distinct key.
    const seen = new KeyCounter(1024);
    const add = (k: number, proto: number, n: number) => {
      let w = seen.get(k);
      if (w === 0) {
        const i = wanted.get(formatKey(d, k, this.v6));
        seen.add(k, (w = i === undefined ? -1 : i + 1));
      }
      if (w < 0) return;
      const m = counts[w - 1]!;
      m.set(proto, (m.get(proto) ?? 0) + n);
    };
    // From the dimension's occupancy index when one is kept, else from a scan
    // made for this question (it does not keep one: each costs the ingest).
    (this.occ[d] ?? this.scanIndex(d)).forEach((k, g, n) => add(k, Math.floor(g / NSTATE_CODES), n));
    const out = new Map<string, Map<number, number>>();
    keys.forEach((k, i) => {
      if (counts[i]!.size) out.set(k, counts[i]!);
    });
    return out;
  }

  /** Median lifetime (s) of the entries of one key, from the per-key histograms. */
  medianLifetime(by: Dimension, key: number): number | null {
    return this.medianOf(dimIndex(by), key);
  }

  private medianOf(d: number, key: number): number | null {
    this.countingHere();
    const kl = this.counters.lifetimes[d];
    if (kl) return kl.median(key);
    // A protocol's lifetimes are in the exact per-protocol/state histograms.
    const sum = new Float64Array(NBUCKETS);
    let n = 0;
    for (let code = 0; code < NSTATE_CODES; code++) {
      const h = this.lifetimeByGroup[key * NSTATE_CODES + code];
      if (!h) continue;
      for (let b = 0; b < NBUCKETS; b++) sum[b]! += h.buckets[b]!;
      n += h.count;
    }
    return quantileOf(sum, n, 0.5);
  }

  /** Live flows matching the filter, oldest first. */
  listFlows(f: FlowFilter): { total: number; flows: FlowView[] } {
    const ft = this.flows;
    const src = f.src !== undefined ? this.addressFilter(f.src) : undefined;
    const dst = f.dst !== undefined ? this.addressFilter(f.dst) : undefined;
    const limit = f.limit ?? 100;
    const hits: number[] = [];
    let total = 0;
    for (let s = 0; s < ft.end; s++) {
      if (!ft.live(s)) continue;
      if (f.proto !== undefined && ft.proto(s) !== f.proto) continue;
      if (f.sport !== undefined && ft.sport(s) !== f.sport) continue;
      if (f.dport !== undefined && ft.dport(s) !== f.dport) continue;
      if (f.netns !== undefined && ft.netns(s) !== f.netns) continue;
      if (f.state !== undefined && this.flowState(s) !== f.state) continue;
      if (src !== undefined && this.flowKey(s, DIM.src) !== src) continue;
      if (dst !== undefined && this.flowKey(s, DIM.dst) !== dst) continue;
      total++;
      hits.push(s);
    }
    hits.sort((a, b) => ft.start(a) - ft.start(b));
    if (hits.length > limit) hits.length = limit;
    return { total, flows: hits.map((s) => this.liveView(s)) };
  }

  private addressFilter(text: string): number {
    const p = parseAddress(text);
    if (!p) throw new RangeError(`'${text}' is not an IPv4 or IPv6 address`);
    return this.v6.lookup(p.bytes, p.family === 6);
  }

  private liveView(s: number): FlowView {
    const ft = this.flows;
    const now = this.nowNs;
    const fl = ft.flags(s);
    const start = ft.start(s);
    return {
      id: ((BigInt(ft.idHi(s)) << 32n) | BigInt(ft.idLo(s))).toString(),
      live: true,
      proto: protoName(ft.proto(s)),
      src: formatAddressKey(this.flowKey(s, DIM.src), this.v6),
      sport: ft.sport(s),
      dst: formatAddressKey(this.flowKey(s, DIM.dst), this.v6),
      dport: ft.dport(s),
      netns: ft.netns(s),
      zone: ft.zone(s),
      mark: ft.mark(s),
      state: stateName(this.flowState(s)),
      status: ft.status(s),
      confirmed: (fl & FF.CONFIRMED) !== 0,
      opened: openedName(fl),
      start_s: round(start / 1e9),
      start_known: (fl & FF.START_KNOWN) !== 0,
      age_s: round(Math.max(0, now - start) / 1e9),
      last_seen_s_ago: round(Math.max(0, now - ft.lastNs(s)) / 1e9),
      state_since_s: round(Math.max(0, now - ft.sinceNs(s)) / 1e9),
      states: histNames(ft.hist(s)),
    };
  }

  /** One entry (live, or among the recently closed) by its id. */
  flow(id: bigint): FlowView | null {
    const lo = Number(id & 0xffffffffn);
    const hi = Number((id >> 32n) & 0xffffffffn);
    const s = this.flows.find(lo, hi);
    if (s >= 0 && (lo !== 0 || hi !== 0)) return this.liveView(s);
    const c = this.closed.find(lo, hi);
    if (c < 0) return null;
    const cl = this.closed;
    const fl = cl.flags[c]!;
    const srcKey = fl & FF.SRC_V6 ? TWO32 + cl.src[c]! : cl.src[c]!;
    const dstKey = fl & FF.SRC_V6 ? TWO32 + cl.dst[c]! : cl.dst[c]!;
    const end = cl.end[c]!;
    return {
      id: id.toString(),
      live: false,
      proto: protoName(cl.proto[c]!),
      src: formatAddressKey(srcKey, this.v6),
      sport: cl.sport[c]!,
      dst: formatAddressKey(dstKey, this.v6),
      dport: cl.dport[c]!,
      netns: cl.netns[c]!,
      zone: cl.zone[c]!,
      mark: cl.mark[c]!,
      state: stateName(cl.hist[c]! & 0xff),
      status: cl.status[c]!,
      confirmed: (fl & FF.CONFIRMED) !== 0,
      opened: openedName(fl),
      start_s: round(cl.start[c]! / 1e9),
      start_known: (fl & FF.START_KNOWN) !== 0,
      age_s: round(Math.max(0, end - cl.start[c]!) / 1e9),
      last_seen_s_ago: round(Math.max(0, this.nowNs - end) / 1e9),
      state_since_s: round(Math.max(0, end - cl.since[c]!) / 1e9),
      states: histNames(cl.hist[c]!),
      closed: { at_s: round(end / 1e9), cause: CAUSE_NAMES[cl.cause[c]!] ?? 'unknown', lifetime_s: cl.lifetime[c]! >= 0 ? round(cl.lifetime[c]! / 1e9) : null },
    };
  }

  /** Lifetime histograms grouped by protocol, or by protocol and final state. */
  lifetimeGroups(by: 'proto' | 'state'): { by: 'proto' | 'state'; unknown_start: number; groups: LifetimeGroup[] } {
    const groups = new Map<number, Histogram>();
    for (const [g, h] of this.lifetimes) {
      const key = by === 'proto' ? Math.floor(g / NSTATE_CODES) * NSTATE_CODES : g;
      let m = groups.get(key);
      if (!m) groups.set(key, (m = new Histogram()));
      for (let i = 0; i < NBUCKETS; i++) m.buckets[i]! += h.buckets[i]!;
      m.count += h.count;
      m.sumSeconds += h.sumSeconds;
    }
    const out: LifetimeGroup[] = [...groups]
      .sort((a, b) => b[1].count - a[1].count)
      .map(([g, h]) => {
        const lg: LifetimeGroup = {
          proto: protoName(Math.floor(g / NSTATE_CODES)),
          count: h.count,
          mean_s: h.count ? round(h.sumSeconds / h.count) : 0,
          p50_s: finite(h.quantile(0.5)),
          p90_s: finite(h.quantile(0.9)),
          p99_s: finite(h.quantile(0.99)),
          buckets: histogramBuckets(h.buckets),
        };
        if (by === 'state') lg.state = stateName(g % NSTATE_CODES);
        return lg;
      });
    return { by, unknown_start: this.unknownLifetimes, groups: out };
  }

  /** Time-to-full forecast for the host namespace (or `netns`). */
  forecast(netns?: number): Forecast | null {
    const n = netns ?? this.hostNetns;
    if (n === undefined) return null;
    const h = this.proc.get(n);
    if (!h) return null;
    const span = Math.min(300, this.span());
    const net = span > 0 ? (this.windowSum('alloc', span) - this.windowSum('destroy', span) - this.windowSum('sync_closed', span)) / span : null;
    return forecast(h, net, this.nowNs);
  }

  /**
   * Everything a report needs in one call (the replayer's report, a support
   * bundle): churn by src/dst/dport, occupancy by src/dport, drops by src and
   * dport, lifetimes by final state, the forecast and the advice. `window`
   * defaults to all the history the model holds.
   */
  report(opts: { limit?: number; window?: number; environment?: AdviceEnvironment } = {}): ModelReport {
    const limit = opts.limit ?? this.opts.topK;
    const window = Math.max(1, Math.min(opts.window ?? this.span(), this.opts.historySeconds));
    return {
      span_s: this.span(),
      window_s: window,
      records: this.records,
      totals: Object.fromEntries(COUNTERS.map((c) => [c, this.counter(c)])) as Record<CounterName, number>,
      live_flows: this.flows.count,
      churn: {
        src: this.churn({ by: 'src', window, limit }),
        dst: this.churn({ by: 'dst', window, limit }),
        dport: this.churn({ by: 'dport', window, limit }),
      },
      occupancy: { src: this.occupancy({ by: 'src', limit }), dport: this.occupancy({ by: 'dport', limit }) },
      drops: { src: this.drops({ by: 'src', window, limit }), dport: this.drops({ by: 'dport', window, limit }) },
      lifetimes: this.lifetimeGroups('state'),
      forecast: this.forecast(),
      advice: advise(this, opts.environment ?? {}).advice,
    };
  }

  /** Namespaces with /proc snapshots. */
  namespaces(): number[] {
    return [...this.proc.keys()];
  }

  // ---------------------------------------------------------------- counting elsewhere

  /**
   * Count the heavy hitters and per-key lifetimes in a helper thread from now on (counting.ts), for
   * a replay that is only asked at its end; false when no helper can start
   * (the model then counts as usual). Until countHere(), ranking and
   * lifetime queries throw: the tables are in the helper.
   */
  countElsewhere(): boolean {
    if (this.offload || this.records > 0) throw new Error('countElsewhere() must come before the first record');
    const t = CountingThread.start(this.counters, STREAMS.length, this.heavyOptions());
    this.offload = t;
    return t !== null;
  }

  /** Take the helper's tables back (after the last record); a no-op when counting here. */
  async countHere(): Promise<void> {
    const o = this.offload;
    if (!o) return;
    this.flush();
    try {
      this.counters = adoptCounters(await o.finish());
    } finally {
      this.offload = null;
    }
  }

  /** Stop a helper without taking its summaries (the replay failed or was stopped). */
  stopCounting(): void {
    this.offload?.close();
  }

  private heavyOptions(): { maxKeys: number; historySeconds: number } {
    return { maxKeys: this.opts.heavyKeys, historySeconds: this.opts.historySeconds };
  }

  private heavy(stream: number, d: number): WindowedHeavyHitters {
    this.countingHere();
    return this.counters.hh[stream * NDIMS + d]!;
  }

  private countingHere(): void {
    if (this.offload) throw new Error('heavy hitters and per-key lifetimes are being counted in a helper thread until the replay ends');
  }

  /** Per-dimension memory the windowed summaries hold (bytes). */
  historyBytes(): number {
    let b = 0;
    for (const h of this.counters.hh) b += h.historyBytes();
    return b;
  }

  static counterNames(): readonly CounterName[] {
    return COUNTERS;
  }

  static dimensions(): readonly Dimension[] {
    return DIMENSIONS;
  }
}

function idLo(b: Uint8Array, o: number): number {
  return (b[o + 8]! | (b[o + 9]! << 8) | (b[o + 10]! << 16) | (b[o + 11]! << 24)) >>> 0;
}

function idHi(b: Uint8Array, o: number): number {
  return (b[o + 12]! | (b[o + 13]! << 8) | (b[o + 14]! << 16) | (b[o + 15]! << 24)) >>> 0;
}

export function round(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}

function finite(x: number | null): number | null {
  return x === null || !Number.isFinite(x) ? null : x;
}

function openedName(fl: number): FlowView['opened'] {
  if (fl & FF.OPEN_SEEN) return fl & FF.AT_RESYNC ? 'seen_at_resync' : 'seen_at_start';
  if (fl & FF.OPEN_UPDATE) return 'update';
  return 'alloc';
}

function histNames(h: number): string[] {
  const out: string[] = [];
  let seen = false;
  for (let i = 3; i >= 0; i--) {
    const c = (h >>> (i * 8)) & 0xff;
    if (c !== 0 || seen || i === 0) {
      seen = true;
      out.push(stateName(c));
    }
  }
  return out;
}

export function histogramBuckets(b: ArrayLike<number>): Array<{ le: number | '+Inf'; count: number }> {
  const out: Array<{ le: number | '+Inf'; count: number }> = [];
  let acc = 0;
  for (let i = 0; i < NBUCKETS; i++) {
    acc += b[i]!;
    if (b[i] === 0 && i < NBUCKETS - 1) continue;
    out.push({ le: i < NBUCKETS - 1 ? BUCKET_LE_SECONDS[i]! : '+Inf', count: acc });
  }
  return out;
}
