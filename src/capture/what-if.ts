// What-if: play a capture's demand against a model of the kernel's table
// (kernel-table.ts) under the settings in force and under others, next to
// what the recording says happened.
//
// The demand (demand.ts) is what arrived, whatever the table did with it:
// every flow the kernel admitted and every packet it refused for want of
// room; what the what-if changes is read by what-if-spec.ts. When a flow was
// last active is what a timeout counts from: its last event, or —
// for a flow the collector removed at a pass well after its last event plus
// its timeout — later activity the events did not show, placed between the
// two passes around its expiry. The collector's passes are seen in the
// recording as bursts of destroys; the first anchors the model's schedule.
// Flows a user deleted or a resync found gone keep their actual end.
//
// Played under the settings in force, the model should reproduce the
// recorded drops: how far it is (baseline_error) says how far to trust the
// what-if. T comes from the records themselves (ctnetlink and conntrack -E
// print the timeout just set with each NEW/UPDATE), else from the capture's
// /proc snapshots, else kernel defaults; the limit in force at each moment
// from the snapshots.

import type { ProcSnapshot } from '../proc/types.js';
import { UserError } from '../errors.js';
import { DEFAULT_REAP_RATE, KernelTable, type SimStats } from './kernel-table.js';
import { E_ASSURED, E_CLOSING, E_LOST, E_NATURAL, E_OPEN, E_SEEN, E_USER, type DemandCollector } from './demand.js';
import { KERNEL_DEFAULT_TIMEOUTS, TIMEOUT_KEYS, type WhatIfSpec } from './what-if-spec.js';
import { observedPasses, reapRate } from './passes.js';

export interface SimSummary {
  max: number | null;
  peak: number;
  mean: number;
  /** Seconds with the table at or above 70/85/95 % of max (null without a max). */
  seconds_above: { '70': number; '85': number; '95': number } | null;
  drops: number;
  early_drops: number;
  /** Entries the collector evicted from a table at 95 % or more. */
  gc_evictions: number;
}

export interface WhatIfNetns {
  netns: number;
  name: string | null;
  flows: number;
  refused: number;
  /** What the recording says: the kernel's own counters and readings. */
  recorded: { max: number | null; peak_count: number | null; drops: number | null; drop_records: number; early_drops: number | null };
  /** The model under the settings in force. */
  baseline: SimSummary;
  /** Drops: the mean over first passes of the collector spread over its interval, and their range. */
  what_if: SimSummary & { drops_range: [number, number] };
  /** (baseline − recorded) / recorded: how far the model was from what happened (null: nothing to compare). */
  baseline_error: { drops: number | null; peak: number | null };
}

export interface LagStats {
  n: number;
  p50: number;
  p90: number;
  mean: number;
}

export interface WhatIfResult {
  spec: { timeouts: Record<string, number>; netns?: Record<string, Record<string, number>>; max: number | null };
  /** Timeout per class the capture actually ran with, and where each came from. */
  actual_timeouts: Record<string, { seconds: number; from: 'records' | 'proc' | 'kernel default' }>;
  duration_seconds: number;
  entries: number;
  refused_arrivals: number;
  /** The collector: passes seen in the recording and in the model, and how long expired entries waited for it. */
  gc: { buckets: number; /** Entries a pass removes per second, and whence. */ reap_rate_per_s: number; reap_rate_from: 'recording' | 'default'; recorded_passes: number; baseline_passes: number; /** The first passes, seconds from the start. */ recorded_pass_s: number[]; baseline_pass_s: number[]; recorded_lag_s: LagStats | null; baseline_lag_s: LagStats | null };
  by_netns: WhatIfNetns[];
  notes: string[];
}

function lagStats(lags: number[]): LagStats | null {
  if (!lags.length) return null;
  lags.sort((a, b) => a - b);
  const q = (p: number) => Math.round(lags[Math.min(lags.length - 1, Math.floor(p * lags.length))]! * 100) / 100;
  return { n: lags.length, p50: q(0.5), p90: q(0.9), mean: Math.round((lags.reduce((a, b) => a + b, 0) / lags.length) * 100) / 100 };
}

/**
 * The longest recording the model runs over. It plays the collector's passes
 * one by one (at least one a minute), so its time and memory grow with the
 * span, not the records: one damaged timestamp (2^64 ns is 584 years after
 * boot) made a few records run until the heap ran out.
 */
export const MAX_SPAN_S = 31 * 86400;

/** Run the model over what `c` collected, under the settings in force and under `spec`. */
export function simulate(c: DemandCollector, spec: WhatIfSpec): WhatIfResult {
  c.close();
  const span = c.lastTs - c.firstTs;
  if (span > MAX_SPAN_S) {
    throw new UserError(`--what-if: the records' timestamps span ${Math.round(span / 86400).toLocaleString('en-US')} days (a damaged timestamp?); the what-if runs over ${MAX_SPAN_S / 86400} days at most`);
  }
  const notes: string[] = [];
  // actual timeouts per class: records > proc > defaults
  const procTimeouts: Record<string, number> = {};
  const snaps: ProcSnapshot[] = [];
  for (const a of c.procs.values()) snaps.push(...a);
  snaps.sort((a, b) => a.ts - b.ts);
  for (const s of snaps) Object.assign(procTimeouts, s.timeouts);
  const actualT: number[] = [];
  const actualTimeouts: WhatIfResult['actual_timeouts'] = {};
  TIMEOUT_KEYS.forEach((k, i) => {
    const learned = c.learned[i];
    const proc = procTimeouts[k];
    const [seconds, from] = learned !== undefined ? [learned, 'records' as const] : proc !== undefined ? [proc, 'proc' as const] : [KERNEL_DEFAULT_TIMEOUTS[k], 'kernel default' as const];
    actualT[i] = seconds;
    actualTimeouts[k] = { seconds, from };
  });
  if (c.truncatedFlows > 0) notes.push(`${c.truncatedFlows} flows beyond the ${c.maxFlows} simulated were left out`);

  // the limit in force, and the hash size
  const maxSeries = snaps.filter((s) => s.max > 0).map((s) => [s.ts / 1e9, s.max] as const);
  const buckets = snaps.find((s) => s.buckets > 0)?.buckets ?? 0;
  if (!buckets) notes.push('nf_conntrack_buckets unknown (no /proc snapshot): early drop modelled with 65,536 buckets');
  const maxAt = (t: number): number => {
    if (!maxSeries.length) return 0;
    let lo = 0;
    let hi = maxSeries.length - 1;
    if (t < maxSeries[0]![0]) return maxSeries[0]![1];
    while (lo < hi) {
      const m = (lo + hi + 1) >> 1;
      if (maxSeries[m]![0] <= t) lo = m;
      else hi = m - 1;
    }
    return maxSeries[lo]![1];
  };
  if (!maxSeries.length && !spec.max) notes.push('nf_conntrack_max unknown (no /proc snapshot in the capture): no drops can be modelled; pass max=N');

  // when each flow was last active
  // a namespace's own timeout for a class (the sysctls are per namespace): its records', its /proc snapshots', else the capture's
  const procByNs = new Map<number, Record<string, number>>();
  for (const s of snaps) {
    const i = c.nsIndex.get(s.netns)!;
    procByNs.set(i, { ...procByNs.get(i), ...s.timeouts });
  }
  const nsT = (ns: number, cls: number): number => c.learnedByNs[ns]?.[cls] ?? procByNs.get(ns)?.[TIMEOUT_KEYS[cls]!] ?? actualT[cls]!;
  const tOf = (k: number) => (c.tLast.a[k]! > 0 ? c.tLast.a[k]! : nsT(c.ns.a[k]!, c.cls.a[k]!));
  const seenPasses = observedPasses(c, tOf);
  const passes = seenPasses.map((p) => p.start);
  const reap = reapRate(seenPasses);
  const last = new Float64Array(c.n);
  const recordedLags: number[] = [];
  const lastPass = passes.length ? passes[passes.length - 1]! : -Infinity;
  for (let k = 0; k < c.n; k++) {
    const f = c.flags.a[k]!;
    const T = tOf(k);
    const ev = c.lastEvent.a[k]!;
    if (f & E_SEEN) {
      last[k] = ev - T; // its expiry was known from the dump
      continue;
    }
    last[k] = ev;
    if (f & E_OPEN) {
      if (lastPass + 0 > ev + T) last[k] = lastPass - T; // alive after a pass it would have expired before
      continue;
    }
    if (!(f & E_NATURAL)) continue;
    const end = c.end.a[k]!;
    if (end + 0.5 < ev + T) continue; // removed before its expiry: evicted; the model decides
    // the pass that removed it, and the one before
    let lo = 0;
    let hi = passes.length - 1;
    let p = -1;
    while (lo <= hi) {
      const m = (lo + hi) >> 1;
      if (passes[m]! <= end + 0.3) {
        p = m;
        lo = m + 1;
      } else hi = m - 1;
    }
    const prev = p > 0 ? passes[p - 1]! : -Infinity;
    if (ev + T > prev) recordedLags.push(end - (ev + T));
    else if (p >= 0) last[k] = Math.max(ev, (prev + passes[p]!) / 2 - T); // active after its last event
  }

  // the model, under a timeout per class
  const t0 = c.firstTs;
  const t1 = c.lastTs;
  const nns = c.nsInode.length;
  // A flow first seen in a dump (its making not in the capture: before it, or
  // its event lost) was there by its last packet (its expiry less its timeout).
  const arrival = (k: number) => (c.flags.a[k]! & E_SEEN ? Math.max(t0, last[k]!) : c.start.a[k]!);
  /** The namespace of the refused packet being played (its timeouts may be its own). */
  let refusedNsNow = 0;
  const run = (T: (cls: number, k: number) => number, limit: (t: number) => number, schedule: number[]) => {
    const table = new KernelTable({ buckets: buckets || 65536, maxAt: limit, schedule, start: t0, ...(reap ? { reapRate: reap } : {}) });
    // events: flows arrive, user deletes end, refused packets retry, unseen entries go, dumps walk the table
    type Ev = { t: number; kind: 0 | 1 | 2 | 3 | 4 | 5; i: number };
    const evs: Ev[] = [];
    for (let k = 0; k < c.n; k++) {
      evs.push({ t: arrival(k), kind: 0, i: k });
      if (c.flags.a[k]! & (E_USER | E_LOST)) evs.push({ t: c.end.a[k]!, kind: 1, i: k });
    }
    for (let j = 0; j < c.refusedTs.length; j++) if (refusedKept[j]) evs.push({ t: c.refusedTs[j]!, kind: 2, i: j });
    for (let j = 0; j < c.unknownEndTs.length; j++) evs.push({ t: c.unknownEndTs[j]!, kind: 3, i: j });
    for (const [inode, list] of c.procs) if (list.length) evs.push({ t: list[0]!.ts / 1e9, kind: 4, i: c.nsIndex.get(inode)! });
    for (let j = 0; j < c.dumpEnd.length; j++) evs.push({ t: c.dumpEnd[j]!, kind: 5, i: j });
    evs.sort((a, b) => a.t - b.t || a.kind - b.kind);
    const slot = new Int32Array(c.n).fill(-1);
    const tuples = new Map<string, number>();
    for (const e of evs) {
      if (e.kind === 0) {
        const k = e.i;
        const expiry = Math.max(e.t + 1e-3, last[k]! + T(c.cls.a[k]!, k));
        const f = c.flags.a[k]!;
        slot[k] = table.arrive(c.ns.a[k]!, e.t, expiry, (f & E_ASSURED) !== 0, (f & 128) !== 0);
      } else if (e.kind === 1) {
        if (slot[e.i]! >= 0) table.remove(slot[e.i]!, e.t);
      } else if (e.kind === 2) {
        const j = e.i;
        const key = `${c.refusedNs[j]}|${c.refusedTuple[j]}`;
        refusedNsNow = c.refusedNs[j]!;
        const expiry = e.t + T(c.refusedCls[j]!, -1);
        const have = tuples.get(key);
        if (have !== undefined && table.refresh(have, e.t, expiry)) continue;
        const k = table.arrive(c.refusedNs[j]!, e.t, expiry, false, false);
        if (k >= 0) tuples.set(key, k);
        else tuples.delete(key);
      } else if (e.kind === 3) {
        table.removePhantom(c.unknownEndNs[e.i]!, e.t);
      } else if (e.kind === 5) {
        table.dump(e.t);
      } else {
        // entries alive before the capture that it cannot see: the kernel's count minus ours
        const inode = c.nsInode[e.i]!;
        const first = c.procs.get(inode)![0]!;
        const gap = first.count - table.count(e.i);
        if (gap > 0) table.addPhantom(e.i, gap, e.t);
      }
    }
    table.finish(t1);
    return { table, slot };
  };

  // refused packets: at most as many per namespace as the kernel counted drops
  // (drop records also carry packets other netfilter rules dropped)
  const refusedKept = new Uint8Array(c.refusedTs.length).fill(1);
  const recorded = new Map<number, WhatIfNetns['recorded']>();
  for (let ns = 0; ns < nns; ns++) {
    const inode = c.nsInode[ns]!;
    const list = c.procs.get(inode) ?? [];
    const first = list[0];
    const lastS = list[list.length - 1];
    const delta = (key: string) => (first && lastS && key in lastS.stats && key in first.stats ? lastS.stats[key]! - first.stats[key]! : null);
    const drops = delta('drop');
    const idx = c.refusedNs.map((n, j) => (n === ns ? j : -1)).filter((j) => j >= 0);
    if (drops !== null && idx.length > drops * 1.02 + 2) {
      for (const j of idx.slice(drops)) refusedKept[j] = 0;
      notes.push(`netns ${inode}: ${idx.length} drop records, the kernel counted ${drops} conntrack drops: the first ${drops} taken as refused flows (the rest were dropped by other rules)`);
    }
    recorded.set(ns, {
      max: list.length ? Math.min(...list.map((s) => s.max).filter((m) => m > 0)) : null,
      peak_count: list.length ? Math.max(...list.map((s) => s.count)) : null,
      drops,
      drop_records: idx.length,
      early_drops: delta('early_drop'),
    });
  }

  const actualOf = (cls: number, k: number) => (k >= 0 && c.tLast.a[k]! > 0 ? c.tLast.a[k]! : nsT(k >= 0 ? c.ns.a[k]! : refusedNsNow, cls));
  // The baseline's collector starts at the first pass the recording shows.
  const base = run(actualOf, maxAt, [passes.length ? passes[0]! : t0 + GC_MAX_S]);
  // Under other settings the collector keeps the recording's time until the
  // first flow the settings change arrives (till then both tables are the
  // same), then its own. Without a pass recorded before that, when it first
  // comes is anyone's guess (a pass up to a minute before set it): the
  // what-if is then run with first passes spread over that interval, and the
  // drops are given as their mean and range.
  // per namespace (index): the timeouts the what-if sets, by class
  const overriddenBy: (number | undefined)[][] = c.nsInode.map((inode, i) => {
    const names = new Set([String(inode), ...(c.procs.get(inode) ?? []).map((p) => p.name).filter((x): x is string => !!x)]);
    const own = Object.entries(spec.netns ?? {}).filter(([n]) => names.has(n)).map(([, t]) => t);
    void i;
    return TIMEOUT_KEYS.map((key) => own.find((t) => t[key] !== undefined)?.[key] ?? spec.timeouts[key]);
  });
  for (const n of Object.keys(spec.netns ?? {})) {
    if (!c.nsInode.some((inode) => String(inode) === n || (c.procs.get(inode) ?? []).some((p) => p.name === n))) notes.push(`the what-if names namespace '${n}', which the capture does not hold`);
  }
  const nsOfFlow = (k: number) => (k >= 0 ? c.ns.a[k]! : refusedNsNow);
  const overrideOf = (cls: number, k: number) => overriddenBy[nsOfFlow(k)]?.[cls];
  const wT = (cls: number, k: number) => overrideOf(cls, k) ?? actualOf(cls, k);
  const wMax = spec.max ? () => spec.max! : maxAt;
  let diverge = spec.max ? t0 : Infinity;
  for (let k = 0; k < c.n; k++) {
    const o = overrideOf(c.cls.a[k]!, k);
    if (o !== undefined && o !== actualOf(c.cls.a[k]!, k)) diverge = Math.min(diverge, arrival(k));
  }
  for (let j = 0; j < c.refusedTs.length; j++) if (overriddenBy[c.refusedNs[j]!]?.[c.refusedCls[j]!] !== undefined) diverge = Math.min(diverge, c.refusedTs[j]!);
  const followed = passes.filter((p) => p <= diverge);
  const first = firstInterval(c, last, wT, t0);
  const phases = followed.length ? 1 : c.n > 1_000_000 ? 3 : PHASES;
  const runs = Array.from({ length: phases }, (_, j) => run(wT, wMax, followed.length ? followed : [t0 + ((j + 0.5) / phases) * first]));
  if (Object.keys(spec.timeouts).length > 0 || Object.keys(spec.netns ?? {}).length > 0) {
    let moved = 0;
    for (let k = 0; k < c.n; k++) if (overrideOf(c.cls.a[k]!, k) !== undefined) moved++;
    if (moved === 0 && !c.refusedCls.some((cl, j) => overriddenBy[c.refusedNs[j]!]?.[cl] !== undefined)) notes.push('no flow ended in a state whose timeout the what-if changes');
  }

  // how long expired flows waited for the collector, in the model (same flows as recordedLags)
  const baseLags: number[] = [];
  for (let k = 0; k < c.n; k++) {
    const s = base.slot[k]!;
    if (s < 0 || !(c.flags.a[k]! & E_NATURAL) || c.flags.a[k]! & E_SEEN) continue;
    const end = base.table.removedAt(s);
    const exp = base.table.expiresAt(s);
    if (Number.isFinite(end) && end >= exp) baseLags.push(end - exp);
  }

  const summary = (st: SimStats, max: number | null, dur: number): SimSummary => ({
    max,
    peak: st.peak,
    mean: Math.round((dur > 0 ? st.area / dur : 0) * 10) / 10,
    seconds_above: max ? { '70': round1(st.above[0]), '85': round1(st.above[1]), '95': round1(st.above[2]) } : null,
    drops: st.drops,
    early_drops: st.earlyDrops,
    gc_evictions: st.gcEvictions,
  });
  const dur = Math.max(0, t1 - t0);
  const rel = (a: number, b: number | null) => (b === null || b === 0 ? (a === 0 && b === 0 ? 0 : null) : Math.round(((a - b) / b) * 1000) / 1000);
  const byNetns: WhatIfNetns[] = [];
  for (let ns = 0; ns < nns; ns++) {
    const inode = c.nsInode[ns]!;
    const rec = recorded.get(ns)!;
    let flows = 0;
    for (let k = 0; k < c.n; k++) if (c.ns.a[k] === ns) flows++;
    const b = summary(base.table.stats(ns), rec.max, dur);
    // the run whose drops are nearest the mean stands for the others
    const drops = runs.map((r) => r.table.stats(ns).drops);
    const mean = drops.reduce((a, b) => a + b, 0) / drops.length;
    const near = drops.reduce((bi, d, i) => (Math.abs(d - mean) < Math.abs(drops[bi]! - mean) ? i : bi), 0);
    const w = { ...summary(runs[near]!.table.stats(ns), spec.max ?? rec.max, dur), drops: Math.round(mean), drops_range: [Math.min(...drops), Math.max(...drops)] as [number, number] };
    const list = c.procs.get(inode) ?? [];
    byNetns.push({
      netns: inode,
      name: list.find((s) => s.name)?.name ?? null,
      flows,
      refused: c.refusedNs.filter((n, j) => n === ns && refusedKept[j]).length,
      recorded: rec,
      baseline: b,
      what_if: w,
      baseline_error: { drops: rel(b.drops, rec.drops ?? (rec.drop_records || null)), peak: rel(b.peak, rec.peak_count) },
    });
  }
  byNetns.sort((a, b) => (b.recorded.drops ?? b.recorded.drop_records) - (a.recorded.drops ?? a.recorded.drop_records) || (b.recorded.peak_count ?? 0) - (a.recorded.peak_count ?? 0));
  if (c.refusedTs.length === 0 && byNetns.every((n) => !n.recorded.drops)) notes.push('the capture holds no drop records (a text import or a source without the drop hook cannot see refused packets): the what-if cannot add the demand they were');
  return {
    spec: { timeouts: { ...spec.timeouts }, ...(spec.netns ? { netns: spec.netns as Record<string, Record<string, number>> } : {}), max: spec.max ?? null },
    actual_timeouts: actualTimeouts,
    duration_seconds: round1(dur),
    entries: c.n,
    refused_arrivals: c.refusedTs.length,
    gc: { buckets: buckets || 65536, reap_rate_per_s: Math.round(reap ?? DEFAULT_REAP_RATE), reap_rate_from: reap ? 'recording' : 'default', recorded_passes: passes.length, baseline_passes: base.table.passes.length, recorded_pass_s: passes.slice(0, 12).map((x) => round1(x - t0)), baseline_pass_s: base.table.passes.slice(0, 12).map((x) => round1(x - t0)), recorded_lag_s: lagStats(recordedLags), baseline_lag_s: lagStats(baseLags) },
    by_netns: byNetns,
    notes,
  };
}

/** First passes the what-if is run with (spread over the collector's interval). */
const PHASES = 8;
/** GC_SCAN_INTERVAL_MAX, seconds. */
const GC_MAX_S = 60;

/**
 * The collector's interval when the capture began, under the what-if's
 * timeouts: the mean time to expiry of what was alive then (each clamped to
 * 1..300 s, with 100 entries at 60 s), clamped to 1..60 s.
 */
function firstInterval(c: DemandCollector, last: Float64Array, T: (cls: number, k: number) => number, t0: number): number {
  let sum = 100 * 60;
  let n = 100;
  for (let k = 0; k < c.n; k++) {
    if (!(c.flags.a[k]! & E_SEEN)) continue;
    sum += Math.min(300, Math.max(1, last[k]! + T(c.cls.a[k]!, k) - t0));
    n++;
  }
  return Math.min(GC_MAX_S, Math.max(1, sum / n));
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}
