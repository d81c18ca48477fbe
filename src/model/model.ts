// The churn-attribution model: every source's decoded record batches and the
// /proc poller's snapshots go in; who allocates entries, who holds them, how
// long they live, whose packets are dropped and when the table fills up come
// out. This class is the model's one door; behind it each module holds one
// thing:
//
//   proc/accounts.ts      every namespace's table: its readings, drops and forecast (fed here, rates from the queries)
//   model-state.ts        what the model knows, and its clock (the records' own)
//   ingest.ts             the batch loop: prefetch, per-kind dispatch, deferred counting
//   entry.ts              one entry's life: open, change, destroy, resync
//   occupancy-upkeep.ts   the live (key, state) counts kept for watched dimensions
//   counting.ts           the heavy hitters' and per-key lifetimes' counting (here or in a helper thread)
//   queries/              answers by family: ranking, occupancy, flows, lifetimes
//
// One pass over typed columns per batch; no object and no string per record
// (keys are numbers, keys.ts; flows live in typed arrays, flow-table.ts).

import type { RecordColumns } from '../records/batch.js';
import type { RecordSink } from '../records/sink.js';
import type { ProcSnapshot } from '../proc/types.js';
import { DIMENSIONS, dimIndex, type Dimension } from './keys.js';
import { adoptCounters, CountingThread, type PendingReader } from './counting.js';
import { C, COUNTERS, type CounterName } from './totals.js';
import type { Forecast } from '../forecast/forecast.js';
import { modelRates } from '../forecast/model-rates.js';
import { TableAccounts } from '../proc/accounts.js';
import { ModelState, STREAMS, type ModelOptions, type ResolvedModelOptions } from './model-state.js';
import { BatchIngest } from './ingest.js';
import { Ranking, type DropKind, type TopKQuery, type TopKResult } from './queries/ranking.js';
import { OccupancyQueries, type OccupancyResult } from './queries/occupancy.js';
import { FlowQueries, type FlowFilter, type FlowView } from './queries/flows.js';
import { lifetimeGroups, type LifetimeGroups } from './queries/lifetimes.js';
import { SamplingLog, sampleOut, type SampledWindow } from './sampling.js';
import { staleEntries, type StaleGroup } from './queries/stale.js';
import type { PodChange, PodMap, PodRecord, PodsPayload } from './pod-map.js';
import { seriesOf, type KeySeries } from './queries/series.js';
import type { StreamName } from './model-state.js';

export { DIMENSIONS, type Dimension } from './keys.js';
export type { PendingReader } from './counting.js';
export { S_ALLOC, S_DESTROY, STREAMS, LIFETIME_SAMPLE, LIFETIME_SAMPLE_ABOVE, type StreamName, type ModelOptions } from './model-state.js';
export { DROP_KINDS, type DropKind, type TopKQuery, type TopKItem, type TopKResult } from './queries/ranking.js';
export type { OccupancyResult } from './queries/occupancy.js';
export type { FlowFilter, FlowView } from './queries/flows.js';
export type { StaleGroup, StaleReason } from './queries/stale.js';
export { histogramBuckets, type LifetimeGroup, type LifetimeGroups } from './queries/lifetimes.js';
export type { KeySeries, KeySeriesItem } from './queries/series.js';
export { round } from './queries/round.js';

export class Model implements RecordSink {
  /** What the model knows (model-state.ts); written only by the ingest, read by the queries. */
  readonly state: ModelState;
  private readonly loop: BatchIngest;
  private readonly ranking: Ranking;
  private readonly occ: OccupancyQueries;
  private readonly flowQueries: FlowQueries;
  /** Every namespace's table: readings, drops, forecast (proc/accounts.ts). */
  readonly tables: TableAccounts;
  /**
   * Whether live entries' state changes reach the model (ctnetlink's UPDATE
   * events). false where only the eBPF lifecycle hooks follow entries: they
   * see births and deaths, so a live entry keeps the state it was confirmed
   * with — every TCP connection SYN_SENT — and a rule that counts established
   * entries must not read them (set from the sources: app/states-followed.ts).
   */
  statesFollowed = true;

  constructor(opts: ModelOptions = {}) {
    this.state = new ModelState(opts);
    this.tables = new TableAccounts({
      capacity: this.state.opts.historySeconds,
      clock: () => this.state.nowNs,
      rates: modelRates(this),
      goneKeepSeconds: this.state.opts.goneKeepSeconds,
      ...(opts.hostNetns !== undefined ? { hostNetns: opts.hostNetns } : {}),
    });
    this.loop = new BatchIngest(this.state);
    this.ranking = new Ranking(this.state);
    this.occ = new OccupancyQueries(this.state);
    this.flowQueries = new FlowQueries(this.state);
  }

  // ---------------------------------------------------------------- what goes in

  /** One decoded batch, in the records' order. */
  ingest(b: RecordColumns): void {
    this.loop.ingest(b);
  }

  /** A /proc snapshot of one namespace: the clock, and that namespace's table account. */
  ingestProc(s: ProcSnapshot): void {
    this.state.ingestProc(s);
    this.tables.ingest(s);
  }

  /** Move the clock to nowNs (CLOCK_BOOTTIME); never backwards. */
  advance(nowNs: number): void {
    this.state.advance(nowNs);
  }

  /** The node's pods now (one poll of the workload resolver); entries with no pod that one owns get it. */
  syncPods(pods: PodRecord[], nowNs: number): PodChange {
    return this.state.pods.sync(pods, nowNs);
  }

  /** A replay's PODS frame: the pods as the recording daemon saw them, in file order. */
  pods(p: PodsPayload): void {
    this.state.pods.apply(p, p.ts, p.full);
  }

  /** The node's pods, live and recently deleted. */
  get podMap(): PodMap {
    return this.state.pods.map;
  }

  // ---------------------------------------------------------------- what the model holds

  get opts(): ResolvedModelOptions {
    return this.state.opts;
  }
  get flows() {
    return this.state.flows;
  }
  get totals() {
    return this.state.totals;
  }
  get v6() {
    return this.state.v6;
  }
  /** Lifetimes (alloc to destroy) by proto * NSTATE_CODES + final state code. */
  get lifetimes() {
    return this.state.lifetimes;
  }
  /** Time spent in the final state before destroy, same grouping. */
  get finalDwell() {
    return this.state.finalDwell;
  }
  /** Destroys by cause (index: enum ctscope_cause). */
  get destroyCauses() {
    return this.state.destroyCauses;
  }
  /** Netfilter drops by skb drop reason (aux). */
  get dropReasons() {
    return this.state.dropReasons;
  }
  /** Destroys whose entry's allocation time was unknown (not in lifetime histograms). */
  get unknownLifetimes(): number {
    return this.state.unknownLifetimes;
  }
  /** Destroys left out of the per-key lifetimes while sampling (reported with churn answers). */
  get keyedLifetimesSkipped(): number {
    return this.state.keyedLifetimesSkipped;
  }
  get closed() {
    return this.state.closed;
  }
  get batches(): number {
    return this.state.batches;
  }
  get records(): number {
    return this.state.records;
  }
  get nowNs(): number {
    return this.state.nowNs;
  }

  /** When the live daemon followed only a sample of the entries (--max-cpu): set through setSampling, read by the answers. */
  readonly sampling = new SamplingLog();

  /**
   * From tsNs on, 1 entry in 2^shift is followed (the live daemon's budget
   * changed it, or a replay read the change from its capture). A raise stops
   * following the live entries the kernel filter now refuses: they will get
   * no more records, not even their DESTROY.
   */
  setSampling(tsNs: number, shift: number): void {
    const previous = this.sampling.current;
    this.sampling.set(tsNs, shift);
    if (shift > previous) this.sampling.sampledOut += sampleOut(this.state.flows, shift);
  }

  /** How much of the last `seconds` (model clock) was sampled; seconds = 0: now. */
  sampled(seconds: number): SampledWindow {
    return this.sampling.window(this.state.nowNs, Math.max(seconds, 1e-9));
  }

  /** Seconds of data the model holds (since its first record, capped by the history). */
  span(): number {
    return this.state.span();
  }

  /** Latest snapshot of the host namespace (or of `netns`). */
  snapshot(netns?: number): ProcSnapshot | null {
    return this.tables.snapshot(netns ?? this.state.hostNetns);
  }

  /** Namespaces with /proc snapshots. */
  namespaces(): number[] {
    return this.tables.namespaces();
  }

  /** Flow-table counters the model keeps; evictions from its own cap included. */
  counter(name: CounterName): number {
    if (name === 'flows_evicted') return this.state.flows.evictions;
    return this.state.totals.total[C[name]]!;
  }

  /** Sum of a counter over the last `window` seconds. */
  windowSum(name: CounterName, window: number): number {
    const [from, to] = this.state.range(window);
    return this.state.totals.sum(C[name], from, to);
  }

  // ---------------------------------------------------------------- queries

  /** Entries pointing at deleted pods, and destinations only unanswered UDP went to (queries/stale.ts). */
  stale(opts: { unrepliedMinAgeS: number }): StaleGroup[] {
    return staleEntries(this.state, { ...opts, repliesKnown: this.statesFollowed });
  }

  topK(q: TopKQuery): TopKResult {
    return this.ranking.topK(q);
  }

  /** Top allocators, with destroys and median lifetime per key. */
  churn(q: { by: Dimension; window: number; limit: number }): TopKResult {
    return this.ranking.churn(q);
  }

  /** Drops of `kinds`; by default packets dropped, each counted once (packetDropKinds). */
  drops(q: { by: Dimension; window: number; limit: number; kinds?: readonly DropKind[] }): TopKResult {
    return this.ranking.drops(q);
  }

  /** The drop kinds whose sum counts each dropped packet once (queries/ranking.ts). */
  packetDropKinds(): readonly DropKind[] {
    return this.ranking.packetDropKinds();
  }

  /**
   * Per-second counts of the top `limit` keys of `by` over the `window`
   * seconds ending at second `until` (default: the current second), with the
   * exact per-second total (queries/series.ts).
   */
  series(q: { by: Dimension; kinds: readonly StreamName[]; window: number; limit: number; until?: number }): KeySeries {
    return seriesOf(this.state, q);
  }

  /** Median lifetime (s) of the entries of one key, from the per-key histograms. */
  medianLifetime(by: Dimension, key: number): number | null {
    return this.ranking.medianOf(dimIndex(by), key);
  }

  /** Who holds entries now, by key, with each key's protocol/state breakdown. */
  occupancy(q: { by: Dimension; state?: number; proto?: number; limit: number }): OccupancyResult {
    return this.occ.occupancy(q);
  }

  /** For /metrics: the top holders in each of `dims`, and the live entries by protocol/state. */
  occupancySummary(dims: readonly Dimension[], limit: number): ReturnType<OccupancyQueries['summary']> {
    return this.occ.summary(dims, limit);
  }

  /** Live entries by protocol and state code: Map(proto * NSTATE_CODES + code -> count). */
  liveStates(): Map<number, number> {
    return this.occ.liveStates();
  }

  /** For the given keys of dimension `by`: live entries by protocol number. */
  liveProtocols(by: Dimension, keys: readonly string[]): Map<string, Map<number, number>> {
    return this.occ.liveProtocols(by, keys);
  }

  /** Dimensions with an occupancy index now, and their sizes (occupancy-upkeep.ts). */
  occupancyIndexes(): ReturnType<ModelState['occupancy']['stats']> {
    return this.state.occupancy.stats();
  }

  /** Live flows matching the filter, oldest first. */
  listFlows(f: FlowFilter): { total: number; flows: FlowView[] } {
    return this.flowQueries.list(f);
  }

  /** Recently closed entries matching the filter, newest first (`state`: the one they ended in). */
  listClosed(f: FlowFilter): { total: number; flows: FlowView[] } {
    return this.flowQueries.closed(f);
  }

  /** One entry (live, or among the recently closed) by its id. */
  flow(id: bigint): FlowView | null {
    return this.flowQueries.byId(id);
  }

  /** Lifetime histograms grouped by protocol, or by protocol and final state. */
  lifetimeGroups(by: 'proto' | 'state'): LifetimeGroups {
    return lifetimeGroups(this.state, by);
  }

  /** Time-to-full forecast of a namespace's table (default: the table in most danger). */
  forecast(netns?: number): Forecast | null {
    return (netns === undefined ? this.tables.mostEndangered() : this.tables.get(netns))?.forecast ?? null;
  }

  // ---------------------------------------------------------------- counting elsewhere

  /**
   * Hand the keys of every counted record (allocations, destroys, drops: the
   * pending columns, counting.ts) to `r` as well, from the next record on: a
   * consumer that counts them otherwise (the replay report's whole-capture
   * churn) reads the model's keys instead of reading records again.
   */
  alsoReadCounted(r: PendingReader): void {
    this.state.pendingReaders.push(r);
  }

  /**
   * Count the heavy hitters and per-key lifetimes in a helper thread from now on (counting.ts), for
   * a replay that is only asked at its end; false when no helper can start
   * (the model then counts as usual). Until countHere(), ranking and
   * lifetime queries throw: the tables are in the helper.
   */
  countElsewhere(): boolean {
    const st = this.state;
    if (st.offload || st.records > 0) throw new Error('countElsewhere() must come before the first record');
    const t = CountingThread.start(st.counters, STREAMS.length, st.heavyOptions());
    st.offload = t;
    return t !== null;
  }

  /** Take the helper's tables back (after the last record); a no-op when counting here. */
  async countHere(): Promise<void> {
    const st = this.state;
    const o = st.offload;
    if (!o) return;
    this.loop.flush();
    try {
      st.counters = adoptCounters(await o.finish());
    } finally {
      st.offload = null;
    }
  }

  /** Stop a helper without taking its summaries (the replay failed or was stopped). */
  stopCounting(): void {
    this.state.offload?.close();
  }

  /** Per-dimension memory the windowed summaries hold (bytes). */
  historyBytes(): number {
    let b = 0;
    for (const h of this.state.counters.hh) b += h.historyBytes();
    return b;
  }

  static counterNames(): readonly CounterName[] {
    return COUNTERS;
  }

  static dimensions(): readonly Dimension[] {
    return DIMENSIONS;
  }
}
