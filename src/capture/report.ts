// The replay report: one JSON object (or its text form) answering, for a
// whole capture, who allocated entries, who held them, how long they lived,
// whose packets were dropped, what to change, and what could not be read.
//
// Most answers come from the model (src/model/model.ts) after the replay.
// Churn counts are over the whole capture, however long: the model's windows
// hold its last `historySeconds`, so ReplayTally keeps one whole-capture
// Space-Saving summary per dimension (the model's own WindowedHeavyHitters
// with a single bucket, same keys, same error bound semantics) beside it.

import type { RecordColumns } from '../records/batch.js';
import type { ProcSnapshot } from '../proc/types.js';
import { Kind, RECORD_SIZE } from '../records/layout.js';
import { addressKey, DADDR, DIM, formatKey, SADDR } from '../model/keys.js';
import { KeyCounter, WindowedHeavyHitters } from '../model/heavy.js';
import { round, type Model } from '../model/model.js';
import type { ReplayInput, ReplayProgress, ReplaySink, ReplaySummary } from './replay.js';
import type { WhatIfResult } from './what-if.js';
import { VERSION } from '../version.js';
import { advise, type Advice } from '../model/advice.js';
import { SamplingLog, type SampledWindow } from '../model/sampling.js';

const CHURN_DIMS = [
  { name: 'src', dim: DIM.src },
  { name: 'dst', dim: DIM.dst },
  { name: 'dport', dim: DIM.dport },
] as const;

interface ProcTrack {
  first: ProcSnapshot;
  last: ProcSnapshot;
  peakCount: number;
  peakTs: number;
  /** Highest count/max of any snapshot (max may change during a capture), and that max. */
  peakUtil: number;
  peakUtilMax: number;
}

/** Whole-capture tallies kept beside the model (a ReplaySink). */
export class ReplayTally implements ReplaySink {
  readonly kinds = new Float64Array(256);
  lostEvents = 0;
  firstTs: number | null = null;
  lastTs: number | null = null;
  readonly proc = new Map<number, ProcTrack>();
  trackedPeak = 0;
  trackedPeakTs = 0;
  /** The recording daemon's sampling (--max-cpu) over the whole capture, from its STATUS frames. */
  readonly sampling = new SamplingLog(Infinity);
  private readonly alloc: WindowedHeavyHitters[];
  private readonly destroy: WindowedHeavyHitters[];

  /**
   * churn: keep whole-capture churn summaries. Not needed (and skipped, it is
   * a third of the replay's own cost) when the capture is known to fit in the
   * model's windowed history: the model then answers for the whole capture.
   */
  constructor(
    private readonly model: Model,
    readonly churnEnabled = true,
    readonly heavyKeys = 65536,
  ) {
    // one bucket (second 0) for the whole capture
    // One summary for the whole capture: as many slots as keys kept, twice over
    // (not the model's eight-fold per-second working room: 3 MiB a summary, not 12).
    const opts = { maxKeys: heavyKeys, slots: 2 * heavyKeys, historySeconds: 60 };
    this.alloc = CHURN_DIMS.map(() => new WindowedHeavyHitters(opts));
    this.destroy = CHURN_DIMS.map(() => new WindowedHeavyHitters(opts));
    for (const h of [...this.alloc, ...this.destroy]) h.rollover(0);
  }

  ingest(b: RecordColumns): void {
    const n = b.length;
    if (n === 0) return;
    const kinds = this.kinds;
    const churn = this.churnEnabled;
    const bytes = b.bytes;
    const v6 = this.model.v6;
    const [aSrc, aDst, aPort] = this.alloc as [WindowedHeavyHitters, WindowedHeavyHitters, WindowedHeavyHitters];
    const [dSrc, dDst, dPort] = this.destroy as [WindowedHeavyHitters, WindowedHeavyHitters, WindowedHeavyHitters];
    for (let i = 0, o = 0; i < n; i++, o += RECORD_SIZE) {
      const k = b.kind[i]!;
      kinds[k]!++;
      if (!churn) {
        if (k === Kind.LOSS) this.lostEvents += b.aux[i]!;
      } else if (k === Kind.ALLOC) {
        const fam = b.family[i]!;
        aSrc.add(addressKey(bytes, o + SADDR, fam, v6));
        aDst.add(addressKey(bytes, o + DADDR, fam, v6));
        aPort.add(b.dport[i]!);
      } else if (k === Kind.DESTROY) {
        const fam = b.family[i]!;
        dSrc.add(addressKey(bytes, o + SADDR, fam, v6));
        dDst.add(addressKey(bytes, o + DADDR, fam, v6));
        dPort.add(b.dport[i]!);
      } else if (k === Kind.LOSS) this.lostEvents += b.aux[i]!;
    }
    const t0 = b.ts[0]!;
    const t1 = b.ts[n - 1]!;
    if (this.firstTs === null || t0 < this.firstTs) this.firstTs = t0;
    if (this.lastTs === null || t1 > this.lastTs) this.lastTs = t1;
    const live = this.model.flows.count;
    if (live > this.trackedPeak) {
      this.trackedPeak = live;
      this.trackedPeakTs = t1;
    }
  }

  status(ts: number, _sources: unknown, samplingShift?: number): void {
    if (samplingShift !== undefined) this.sampling.set(ts, samplingShift);
  }

  ingestProc(s: ProcSnapshot): void {
    const util = s.max > 0 ? s.count / s.max : 0;
    const t = this.proc.get(s.netns);
    if (!t) this.proc.set(s.netns, { first: s, last: s, peakCount: s.count, peakTs: s.ts, peakUtil: util, peakUtilMax: s.max });
    else {
      t.last = s;
      if (s.count > t.peakCount) {
        t.peakCount = s.count;
        t.peakTs = s.ts;
      }
      if (util > t.peakUtil) {
        t.peakUtil = util;
        t.peakUtilMax = s.max;
      }
    }
  }

  /** Whole-capture top keys of one churn dimension. */
  churn(which: number, limit: number, seconds: number): { items: ChurnItem[]; total: number; error_bound: number } {
    const dim = CHURN_DIMS[which]!.dim;
    const a = new KeyCounter(1024);
    const d = new KeyCounter(1024);
    const bound = this.alloc[which]!.collect(0, 0, a);
    this.destroy[which]!.collect(0, 0, d);
    const total = this.kinds[Kind.ALLOC]!;
    const items = a.top(limit).map(({ key, count }) => ({
      key: formatKey(dim, key, this.model.v6),
      count,
      rate: seconds > 0 ? round(count / seconds) : count,
      share: total > 0 ? round(count / total) : 0,
      destroyed: d.get(key),
    }));
    return { items, total, error_bound: bound };
  }
}

export interface ChurnItem {
  key: string;
  count: number;
  rate: number;
  share: number;
  destroyed: number;
  median_lifetime_s?: number | null;
}


export interface ReplayReport {
  ctscope: string;
  input: {
    files: string[];
    format: string;
    origin: string | null;
    host: string | null;
    kernel: string | null;
    /** detail: what a source could not see (its blind spots), as it said when recording. */
    sources: Array<{ name: string; hook: string | null; detail?: string }>;
    started_at: string | null;
    ended_at: string | null;
    duration_s: number;
  };
  partial: { partial: boolean; detail: string | null; problem_count: number; problems: Array<{ file: string; offset?: number; line?: number; message: string }> };
  /** Present when the recording daemon sampled (--max-cpu): at most 1 entry in one_in followed, for sampled_seconds of the capture. */
  sampling?: SampledWindow;
  records: Record<string, number>;
  churn: { window_s: number; whole_capture: true; error_bound: { src: number; dst: number; dport: number }; src: ChurnItem[]; dst: ChurnItem[]; dport: ChurnItem[] };
  occupancy: {
    tracked_at_end: number;
    tracked_peak: number;
    tracked_peak_at: string | null;
    by_src: unknown[];
    by_dport: unknown[];
    states: unknown[];
    kernel: Array<{ netns: number; max: number; peak_count: number; peak_at: string | null; peak_utilization: number | null; peak_utilization_max: number; last_count: number }>;
  };
  drops: {
    total: number;
    by_kind: Record<string, number>;
    by_src: unknown[];
    window_s: number;
    kernel: Array<{ netns: number; drop: number | null; early_drop: number | null; insert_failed: number | null }>;
  };
  lifetimes: unknown;
  advice: Advice[];
  unparsed: { count: number; first_lines: Array<{ line: number; text: string; why: string }> };
  notices?: { count: number; first: Array<{ line: number; text: string }> };
  what_if?: WhatIfResult;
  /** How the replay ran: its wall time, and the threads it used (1, or with the reading and/or counting helpers). */
  replay: { wall_s: number; records_per_s: number; threads: number };
}

export interface ReportInputs {
  model: Model;
  tally: ReplayTally;
  input: ReplayInput;
  summary: ReplaySummary;
  progress: ReplayProgress;
  whatIf?: WhatIfResult;
  limit?: number;
  /** Threads the replay ran on (default 1). */
  threads?: number;
}

export function buildReport(x: ReportInputs): ReplayReport {
  const { model, tally, input, summary, progress } = x;
  const limit = x.limit ?? 10;
  const t0 = tally.firstTs ?? 0;
  const t1 = tally.lastTs ?? t0;
  const seconds = Math.max(0, (t1 - t0) / 1e9);
  const wall = (ts: number | null) => (ts === null ? null : new Date((ts + input.bootBaseNs) / 1e6).toISOString());
  const k = tally.kinds;
  const drops = { table_full: k[Kind.TABLE_FULL]!, evicted: k[Kind.EVICT]!, insert_failed: k[Kind.INSERT_FAILED]!, netfilter: k[Kind.DROP]! };
  const dropTotal = drops.table_full + drops.evicted + drops.insert_failed + drops.netfilter;
  const records: Record<string, number> = {
    total: progress.records,
    alloc: k[Kind.ALLOC]!,
    destroy: k[Kind.DESTROY]!,
    update: k[Kind.UPDATE]!,
    confirm: k[Kind.CONFIRM]!,
    seen_at_start: k[Kind.SEEN]!,
    drops: dropTotal,
    ...drops,
    loss_records: k[Kind.LOSS]!,
    lost_events: tally.lostEvents,
    sync: k[Kind.SYNC]!,
  };
  let other = progress.records;
  for (const kk of [Kind.ALLOC, Kind.DESTROY, Kind.UPDATE, Kind.CONFIRM, Kind.SEEN, Kind.TABLE_FULL, Kind.EVICT, Kind.INSERT_FAILED, Kind.DROP, Kind.LOSS, Kind.SYNC]) other -= k[kk]!;
  if (other > 0) records.other = other;

  // churn, whole capture; the model adds median lifetimes where its window covers the capture
  const span = model.span();
  const covers = span >= Math.ceil(seconds) + 1;
  const churnOf = (i: number, by: 'src' | 'dst' | 'dport') => {
    if (!tally.churnEnabled) {
      // the model's window spans the whole capture
      const m = model.churn({ by, window: Math.max(1, span), limit });
      const total = k[Kind.ALLOC]!;
      return {
        total,
        error_bound: m.error_bound,
        items: m.items.map((it) => ({
          key: it.key,
          count: it.count,
          rate: seconds > 0 ? round(it.count / seconds) : it.count,
          share: total > 0 ? round(it.count / total) : 0,
          destroyed: Number(it.destroyed ?? 0),
          median_lifetime_s: (it.median_lifetime_s as number | null | undefined) ?? null,
        })),
      };
    }
    const c = tally.churn(i, limit, seconds);
    if (covers) {
      const m = model.churn({ by, window: span, limit: Math.max(limit * 4, 100) });
      const med = new Map(m.items.map((it) => [it.key, it.median_lifetime_s as number | null]));
      for (const it of c.items) if (med.has(it.key)) it.median_lifetime_s = med.get(it.key) ?? null;
    }
    return c;
  };
  const cs = churnOf(0, 'src');
  const cd = churnOf(1, 'dst');
  const cp = churnOf(2, 'dport');

  const occSrc = model.occupancy({ by: 'src', limit });
  const occPort = model.occupancy({ by: 'dport', limit });
  const kernel = [...tally.proc.entries()].map(([netns, t]) => ({
    netns,
    max: t.last.max,
    peak_count: t.peakCount,
    peak_at: wall(t.peakTs),
    peak_utilization: t.peakUtilMax > 0 ? round(t.peakUtil) : null,
    peak_utilization_max: t.peakUtilMax,
    last_count: t.last.count,
  }));
  const delta = (t: ProcTrack, key: string) => (key in t.last.stats && key in t.first.stats ? t.last.stats[key]! - t.first.stats[key]! : null);
  const dropsWindow = Math.max(1, Math.min(span, model.opts.historySeconds));
  const dropBySrc = model.drops({ by: 'src', window: dropsWindow, limit });

  const imp = summary.import;
  const sampled = tally.sampling.window(t1, seconds + 1);
  const report: ReplayReport = {
    ctscope: VERSION,
    input: {
      files: summary.files,
      format: summary.format,
      origin: input.header?.origin ?? (summary.format === 'conntrack-text' ? 'conntrack text' : null),
      host: input.header?.host ?? null,
      kernel: input.header?.kernel ?? null,
      sources: (input.header?.sources ?? []).map((s) => ({ name: s.name, hook: s.hook, ...(s.detail ? { detail: s.detail } : {}) })),
      started_at: wall(tally.firstTs),
      ended_at: wall(tally.lastTs),
      duration_s: round(seconds),
    },
    partial: {
      partial: summary.partial,
      detail: summary.detail,
      problem_count: summary.problems.length + (imp ? Math.max(0, imp.unparsed.count - imp.unparsed.first_lines.length) : 0),
      problems: summary.problems.slice(0, 20),
    },
    ...(sampled.one_in > 1 ? { sampling: sampled } : {}),
    records,
    churn: {
      window_s: round(seconds),
      whole_capture: true,
      error_bound: { src: cs.error_bound, dst: cd.error_bound, dport: cp.error_bound },
      src: cs.items,
      dst: cd.items,
      dport: cp.items,
    },
    occupancy: {
      tracked_at_end: occSrc.live,
      tracked_peak: Math.max(tally.trackedPeak, occSrc.live),
      tracked_peak_at: wall(tally.trackedPeak >= occSrc.live ? tally.trackedPeakTs : tally.lastTs),
      by_src: occSrc.items,
      by_dport: occPort.items,
      states: occSrc.states,
      kernel,
    },
    drops: {
      total: dropTotal,
      by_kind: drops,
      by_src: dropBySrc.items,
      window_s: dropsWindow,
      kernel: [...tally.proc.entries()].map(([netns, t]) => ({ netns, drop: delta(t, 'drop'), early_drop: delta(t, 'early_drop'), insert_failed: delta(t, 'insert_failed') })),
    },
    lifetimes: model.lifetimeGroups('state'),
    advice: [],
    unparsed: { count: imp?.unparsed.count ?? 0, first_lines: imp?.unparsed.first_lines ?? [] },
    ...(imp && imp.notices.count > 0 ? { notices: { count: imp.notices.count, first: imp.notices.first.map((n) => ({ line: n.line, text: n.text })) } } : {}),
    ...(x.whatIf ? { what_if: x.whatIf } : {}),
    replay: {
      wall_s: round(progress.wallMs / 1000),
      records_per_s: progress.wallMs > 0 ? Math.round(progress.records / (progress.wallMs / 1000)) : 0,
      threads: x.threads ?? 1,
    },
  };
  // the model's advice (timeouts, table size, NOTRACK, connection reuse) over
  // its last window; the recording host's memory is unknown here, so defaults
  report.advice = [...adviseFromReport(report), ...advise(model, {}).advice];
  return report;
}

/** Recommendations with their evidence, from what the replay observed. */
export function adviseFromReport(r: ReplayReport): Advice[] {
  const out: Advice[] = [];
  if (r.partial.partial) {
    out.push({
      id: 'partial-input',
      severity: 'warn',
      title: 'The input was not read completely',
      recommendation: 'Figures below cover what could be read; see partial.problems for what was lost and where.',
      evidence: { detail: r.partial.detail, problems: r.partial.problem_count },
    });
  }
  const allocs = r.records.alloc ?? 0;
  const top = r.churn.src[0];
  if (top && allocs >= 100 && top.share >= 0.5) {
    out.push({
      id: 'top-allocator',
      severity: 'warn',
      title: `${top.key} made ${Math.round(top.share * 100)} % of all allocations`,
      recommendation: `Look at ${top.key}: a client opening a new connection per request (no keep-alive / connection reuse) or a scan fills the table fastest.`,
      evidence: { src: top.key, allocations: top.count, share: top.share, rate_per_s: top.rate },
    });
  }
  if (r.drops.total > 0) {
    out.push({
      id: 'drops',
      severity: 'action',
      title: `${r.drops.total} packets were dropped by conntrack (${Object.entries(r.drops.by_kind)
        .filter(([, n]) => n > 0)
        .map(([k, n]) => `${k} ${n}`)
        .join(', ')})`,
      recommendation: 'Raise nf_conntrack_max (and nf_conntrack_buckets) or cut the churn of the top allocators; --what-if max=N shows what a limit would have changed.',
      evidence: { by_kind: r.drops.by_kind, top_sources: r.drops.by_src.slice(0, 3) },
    });
  }
  for (const k of r.occupancy.kernel) {
    if (k.peak_utilization !== null && k.peak_utilization >= 0.85) {
      out.push({
        id: 'table-near-full',
        severity: k.peak_utilization >= 0.95 ? 'action' : 'warn',
        title: `The table of netns ${k.netns} reached ${Math.round(k.peak_utilization * 100)} % of nf_conntrack_max`,
        recommendation: 'Raise nf_conntrack_max before it fills, or reduce churn; entries cost about 320 bytes each (slab object plus hash bucket share).',
        evidence: k,
      });
    }
  }
  const lost = (r.records.lost_events ?? 0) + (r.records.loss_records ?? 0);
  if (lost > 0) {
    out.push({
      id: 'lost-events',
      severity: 'warn',
      title: 'The source lost events during the capture',
      recommendation: 'Counts are lower bounds. For conntrack -E, raise its buffer (-b) or use ctscope record, which resyncs after overruns.',
      evidence: { loss_records: r.records.loss_records, lost_events: r.records.lost_events },
    });
  }
  return out;
}

const pct = (x: number) => `${(x * 100).toFixed(1)} %`;

/** The report for a person. */
/** A number for a person: `digits` decimals, thousands separated. */
function fixed(x: number, digits: number): string {
  return x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function formatReportText(r: ReplayReport): string {
  const L: string[] = [];
  const i = r.input;
  L.push(`ctscope ${r.ctscope} replay of ${i.files.join(', ')} (${i.format}${i.origin ? `, ${i.origin}` : ''})`);
  if (i.host || i.kernel) L.push(`  recorded on ${i.host ?? '?'} (kernel ${i.kernel ?? '?'})${i.sources.length ? `, sources: ${i.sources.map((s) => `${s.name}${s.hook ? ` [${s.hook}]` : ''}`).join(', ')}` : ''}`);
  L.push(
    `  ${i.started_at ?? '?'} .. ${i.ended_at ?? '?'} (${fixed(i.duration_s, 1)} s), replayed in ${fixed(r.replay.wall_s, 2)} s (${r.replay.records_per_s.toLocaleString('en-US')} records/s, ${r.replay.threads} thread${r.replay.threads === 1 ? '' : 's'})`,
  );
  if (r.partial.partial) {
    L.push('');
    L.push(`PARTIAL: ${r.partial.detail}`);
    for (const p of r.partial.problems.slice(0, 5)) L.push(`  ${p.file}${p.offset !== undefined ? ` @${p.offset}` : ''}: ${p.message}`);
    if (r.partial.problem_count > 5) L.push(`  … ${r.partial.problem_count - 5} more`);
  }
  if (r.sampling) {
    L.push('');
    L.push(
      `SAMPLED: the recording daemon was over its CPU budget (--max-cpu) for ${fixed(r.sampling.sampled_seconds, 1)} s and followed as few as 1 conntrack entry in ${r.sampling.one_in} (chosen by entry id) meanwhile: counts, holders and lifetimes below are of that sample; the kernel's figures (/proc) are whole`,
    );
  }
  L.push('');
  L.push('Records');
  const rec = Object.entries(r.records).filter(([, n]) => n > 0);
  L.push(`  ${rec.map(([k, n]) => `${k} ${n.toLocaleString('en-US')}`).join(', ')}`);
  const table = (title: string, items: ChurnItem[], bound: number) => {
    L.push('');
    L.push(`${title}${bound > 0 ? ` (counts may be low by up to ${bound})` : ''}`);
    if (!items.length) L.push('  (none)');
    for (const it of items) {
      L.push(
        `  ${it.key.padEnd(40)} ${it.count.toLocaleString('en-US').padStart(10)}  ${pct(it.share).padStart(7)}  ${fixed(it.rate, 1).padStart(10)}/s  destroyed ${it.destroyed.toLocaleString('en-US')}${it.median_lifetime_s != null ? `  median life ${fixed(it.median_lifetime_s, 1)} s` : ''}`,
      );
    }
  };
  table('Allocations by source', r.churn.src, r.churn.error_bound.src);
  table('Allocations by destination', r.churn.dst, r.churn.error_bound.dst);
  table('Allocations by destination port', r.churn.dport, r.churn.error_bound.dport);
  L.push('');
  L.push(`Occupancy: ${r.occupancy.tracked_at_end} entries tracked at the end, peak ${r.occupancy.tracked_peak}${r.occupancy.tracked_peak_at ? ` at ${r.occupancy.tracked_peak_at}` : ''}`);
  for (const s of (r.occupancy.states as Array<{ proto: string; state: string; count: number; share: number }>).slice(0, 8)) {
    L.push(`  ${`${s.proto} ${s.state}`.padEnd(24)} ${String(s.count).padStart(10)}  ${pct(s.share).padStart(7)}`);
  }
  for (const k of r.occupancy.kernel) {
    L.push(
      `  kernel, netns ${k.netns}: peak ${k.peak_count}, max ${k.max}${k.peak_utilization !== null ? `; highest utilization ${pct(k.peak_utilization)} of max ${k.peak_utilization_max}` : ''}; ${k.last_count} at the end`,
    );
  }
  L.push('');
  L.push(`Drops: ${r.drops.total}${r.drops.total ? ` (${Object.entries(r.drops.by_kind).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(', ')})` : ''}`);
  for (const k of r.drops.kernel) if (k.drop !== null) L.push(`  kernel, netns ${k.netns}: drop ${k.drop}, early_drop ${k.early_drop ?? '?'}, insert_failed ${k.insert_failed ?? '?'}`);
  const lt = r.lifetimes as { groups: Array<{ proto: string; state?: string; count: number; p50_s: number | null; p90_s: number | null }> };
  L.push('');
  L.push('Lifetimes (allocation to destroy), by final state');
  if (!lt.groups.length) L.push('  (no entry both allocated and destroyed in the capture)');
  for (const g of lt.groups.slice(0, 10)) {
    L.push(`  ${`${g.proto} ${g.state ?? ''}`.padEnd(24)} ${g.count.toLocaleString('en-US').padStart(10)}  p50 ${g.p50_s === null ? '-' : fixed(g.p50_s, 1)} s  p90 ${g.p90_s === null ? '-' : fixed(g.p90_s, 1)} s`);
  }
  if (r.what_if) {
    const w = r.what_if;
    L.push('');
    L.push(`What-if ${Object.entries(w.spec.timeouts).map(([k, v]) => `${k}=${v}`).concat(w.spec.max ? [`max=${w.spec.max}`] : []).join(',')} (${w.entries} entries over ${round(w.duration_seconds)} s)`);
    for (const n of w.by_netns) {
      const a = n.actual;
      const b = n.what_if;
      const above = (o: { seconds_above: typeof a.seconds_above }) => (o.seconds_above ? `${round(o.seconds_above['70'])}/${round(o.seconds_above['85'])}/${round(o.seconds_above['95'])} s` : 'n/a');
      L.push(`  netns ${n.netns}`.padEnd(20) + 'actual'.padEnd(26) + 'what-if');
      L.push(`    max             ${String(a.max ?? '?').padEnd(26)}${b.max ?? '?'}`);
      L.push(`    peak            ${String(a.peak).padEnd(26)}${b.peak}`);
      L.push(`    mean            ${String(round(a.mean)).padEnd(26)}${round(b.mean)}`);
      L.push(`    ≥70/85/95 %     ${above(a).padEnd(26)}${above(b)}`);
      L.push(`    drops           ${String(Math.max(a.drops, a.kernel_drops ?? 0)).padEnd(26)}${b.drops + (a.drops - b.avoided_drops)} (avoided ${b.avoided_drops})`);
      L.push(`    evictions       ${String(a.evictions).padEnd(26)}${b.evictions}`);
    }
    for (const note of w.notes) L.push(`  note: ${note}`);
  }
  L.push('');
  L.push('Advice');
  if (!r.advice.length) L.push('  nothing stands out');
  for (const a of r.advice) {
    L.push(`  [${a.severity}] ${a.title}`);
    L.push(`         ${a.recommendation}`);
  }
  if (r.unparsed.count > 0) {
    L.push('');
    L.push(`Unparsed lines: ${r.unparsed.count}`);
    for (const u of r.unparsed.first_lines.slice(0, 10)) L.push(`  line ${u.line}: ${u.why}: ${u.text.slice(0, 120)}`);
  }
  return `${L.join('\n')}\n`;
}
