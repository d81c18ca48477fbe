// What the model knows: the state the ingest writes (ingest.ts, entry.ts) and
// the queries read (queries/). Plain data and the clock that moves it; the
// rules for changing it live in the modules that change it.
//
// The clock is the records' own (CLOCK_BOOTTIME ns): records and advance()
// move it forward, never back, so a replay answers as the live daemon would
// have at that moment.

import { GONE_KEEP_S } from '../proc/accounts.js';
import type { ProcSnapshot } from '../proc/types.js';
import { CAUSE_NAMES } from '../records/layout.js';
import { AddressTable, DIM, NDIMS } from './keys.js';
import { WindowedHeavyHitters } from './heavy.js';
import type { CountingOffload, Counters, PendingReader } from './counting.js';
import { C, Totals } from './totals.js';
import { FlowTable } from './flow-table.js';
import { Histogram, KeyedLifetimes } from './histograms.js';
import { NSTATE_CODES } from './states.js';
import { ClosedFlows } from './closed.js';
import { OccupancyIndexes } from './occupancy-upkeep.js';
import { PodAttribution } from './pod-attribution.js';

/** The windowed streams a top-k query can rank (the heavy hitters' stream index is the position here). */
export const STREAMS = ['alloc', 'destroy', 'netfilter', 'table_full', 'evicted', 'insert_failed'] as const;
export type StreamName = (typeof STREAMS)[number];
export const S_ALLOC = 0;
export const S_DESTROY = 1;
export const S_NETFILTER = 2;
export const S_TABLE_FULL = 3;
export const S_EVICTED = 4;
export const S_INSERT_FAILED = 5;
/** The totals counter of each stream. */
export const STREAM_COUNTER = [C.alloc, C.destroy, C.netfilter, C.table_full, C.evicted, C.insert_failed];

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
  /** The namespace ctscope runs in (named host among the tables; default: the first snapshot's). */
  hostNetns?: number;
  /**
   * Keep live-entry counts per (key, protocol/state) for the dimensions
   * being asked about (default true; see occupancy-upkeep.ts). false: every
   * occupancy question scans the flow table.
   */
  occupancyIndex?: boolean;
  /** Seconds (model clock) an unused occupancy index is kept (default 600). */
  occupancyIdleSeconds?: number;
  /** Seconds a gone namespace's table is kept for the record (default 300; proc/accounts.ts). */
  goneKeepSeconds?: number;
}

export type ResolvedModelOptions = Required<Omit<ModelOptions, 'hostNetns'>> & { hostNetns?: number };

export class ModelState {
  readonly opts: ResolvedModelOptions;
  readonly flows: FlowTable;
  readonly totals: Totals;
  readonly v6 = new AddressTable();
  /** Heavy hitters (index stream * NDIMS + dimension) and per-key lifetimes: counting.ts. */
  counters: Counters = { hh: [], lifetimes: [] };
  /** Set while the heavy hitters are counted in a helper thread (Model.countElsewhere()). */
  offload: CountingOffload | null = null;
  /** Who else reads the counted keys (Model.alsoReadCounted()): the replay report's whole-capture churn. */
  pendingReaders: PendingReader[] = [];
  /** Lifetimes (alloc to destroy) by proto * NSTATE_CODES + final state code. */
  readonly lifetimes = new Map<number, Histogram>();
  /** Time spent in the final state before destroy, same grouping. */
  readonly finalDwell = new Map<number, Histogram>();
  /** The same histograms, indexed by group (the ingest's lookup). */
  readonly lifetimeByGroup: (Histogram | undefined)[] = new Array(256 * NSTATE_CODES).fill(undefined);
  readonly dwellByGroup: (Histogram | undefined)[] = new Array(256 * NSTATE_CODES).fill(undefined);
  /** Destroys by cause (index: enum ctscope_cause). */
  readonly destroyCauses = new Float64Array(CAUSE_NAMES.length + 1);
  /** Netfilter drops by skb drop reason (aux). */
  readonly dropReasons = new Map<number, number>();
  /** Destroys whose entry's allocation time was unknown (not in lifetime histograms). */
  unknownLifetimes = 0;
  /** Destroys left out of the per-key lifetimes while sampling (reported with churn answers). */
  keyedLifetimesSkipped = 0;
  /** 1: every destroy feeds the per-key lifetimes; LIFETIME_SAMPLE: one in that many (see advance()). */
  lifeSample = 1;
  readonly closed: ClosedFlows;
  readonly occupancy: OccupancyIndexes;
  /** The node's pods and which of them each record and entry belongs to (pod-attribution.ts). */
  readonly pods: PodAttribution;
  hostNetns: number | undefined;
  /** Batches and records ingested. */
  batches = 0;
  records = 0;
  /** The clock (ns), its second, the start of the next second, and the first second seen. */
  nowNs = 0;
  curSec = -1;
  nextSecNs = 0;
  firstSec = -1;

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
      goneKeepSeconds: opts.goneKeepSeconds ?? GONE_KEEP_S,
    };
    this.hostNetns = opts.hostNetns;
    this.flows = new FlowTable(this.opts.maxFlows);
    this.occupancy = new OccupancyIndexes(this.flows, this.opts.occupancyIndex, this.opts.occupancyIdleSeconds * 1e9);
    this.flows.onEvict = (e) => {
      if (this.occupancy.list.length) this.occupancy.close(e);
    };
    this.pods = new PodAttribution(this.flows, this.v6, this.occupancy);
    this.totals = new Totals(this.opts.historySeconds);
    for (let i = 0; i < STREAMS.length * NDIMS; i++) {
      this.counters.hh.push(new WindowedHeavyHitters(this.heavyOptions()));
    }
    // By protocol the exact per-protocol/state histograms answer (queries/ranking.ts medianOf).
    for (let d = 0; d < NDIMS; d++) this.counters.lifetimes.push(d === DIM.proto ? null : new KeyedLifetimes());
    this.closed = new ClosedFlows(this.opts.closedFlows);
  }

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
    if (this.occupancy.list.length) this.occupancy.expire(nowNs);
  }

  /** Seconds of data the model holds (since its first record, capped by the history). */
  span(): number {
    return this.curSec < 0 ? 0 : Math.min(this.opts.historySeconds, this.curSec - this.firstSec + 1);
  }

  /** The seconds [from, to] of the last `window` seconds, the current one included. */
  range(window: number): [number, number] {
    const to = Math.max(this.curSec, 0);
    return [to - window + 1, to];
  }

  /** A /proc snapshot: the clock moves to its time if it is later (the table accounts keep the snapshots). */
  ingestProc(s: ProcSnapshot): void {
    if (this.hostNetns === undefined) this.hostNetns = s.netns;
    if (s.ts > this.nowNs) this.advance(s.ts);
  }

  heavyOptions(): { maxKeys: number; historySeconds: number } {
    return { maxKeys: this.opts.heavyKeys, historySeconds: this.opts.historySeconds };
  }

  /** The heavy hitters of a stream and dimension; throws while they are counted in a helper thread. */
  heavy(stream: number, d: number): WindowedHeavyHitters {
    this.countingHere();
    return this.counters.hh[stream * NDIMS + d]!;
  }

  countingHere(): void {
    if (this.offload) throw new Error('heavy hitters and per-key lifetimes are being counted in a helper thread until the replay ends');
  }
}
