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
import { Kind } from '../records/layout.js';
import { DIM, formatKey } from '../model/keys.js';
import { KeyCounter, WindowedHeavyHitters } from '../model/heavy.js';
import { round, S_ALLOC, S_DESTROY, type Model, type PendingReader } from '../model/model.js';
import type { ReplayInput, ReplayProgress, ReplaySink, ReplaySummary } from './replay.js';
import type { WhatIfResult } from './what-if.js';
import { VERSION } from '../version.js';
import { advise, adviceWindow } from '../advice/engine.js';
import { captureEnvironment } from '../advice/environment.js';
import type { AdviceItem } from '../advice/types.js';
import { SamplingLog, type SampledWindow } from '../model/sampling.js';

const CHURN_DIMS = [
  { name: 'src', dim: DIM.src },
  { name: 'dst', dim: DIM.dst },
  { name: 'dport', dim: DIM.dport },
] as const;

/**
 * Whole-capture tallies kept beside the model (a ReplaySink). It reads no
 * record itself: the kinds from the decoded column, the churn keys as the
 * model computed them (Model.alsoReadCounted: its pending columns), lost
 * events from the model's totals.
 */
export class ReplayTally implements ReplaySink, PendingReader {
  readonly kinds = new Float64Array(256);
  firstTs: number | null = null;
  lastTs: number | null = null;
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
   * Made before the model's first record (it reads the model's keys from then on).
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
    if (churnEnabled) model.alsoReadCounted(this);
  }

  /** Events the sources lost (their LOSS records), as the model counted them. */
  get lostEvents(): number {
    return this.model.counter('lost');
  }

  /** The model's keys of the records it counted (model/counting.ts PendingReader): allocations and destroys by src, dst, dport. */
  readPending(keys: Float64Array, stride: number, streams: Uint8Array, n: number): void {
    const [aSrc, aDst, aPort] = this.alloc as [WindowedHeavyHitters, WindowedHeavyHitters, WindowedHeavyHitters];
    const [dSrc, dDst, dPort] = this.destroy as [WindowedHeavyHitters, WindowedHeavyHitters, WindowedHeavyHitters];
    const src = DIM.src * stride;
    const dst = DIM.dst * stride;
    const port = DIM.dport * stride;
    for (let j = 0; j < n; j++) {
      const s = streams[j]!;
      if (s === S_ALLOC) {
        aSrc.add(keys[src + j]!);
        aDst.add(keys[dst + j]!);
        aPort.add(keys[port + j]!);
      } else if (s === S_DESTROY) {
        dSrc.add(keys[src + j]!);
        dDst.add(keys[dst + j]!);
        dPort.add(keys[port + j]!);
      }
    }
  }

  ingest(b: RecordColumns): void {
    const n = b.length;
    if (n === 0) return;
    const kinds = this.kinds;
    const kind = b.kind;
    for (let i = 0; i < n; i++) kinds[kind[i]!]!++;
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
    /** The capture's /proc readings (none: no kernel figures, no forecast, no table advice). */
    proc_readings: number;
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
    /** Each table as the kernel counted it (the capture's /proc readings): its peak, count and max of one reading. */
    kernel: Array<{ netns: number; name: string; max: number; peak_count: number | null; peak_max: number | null; peak_at: string | null; peak_utilization: number | null; last_count: number }>;
  };
  drops: {
    total: number;
    by_kind: Record<string, number>;
    by_src: unknown[];
    window_s: number;
    kernel: Array<{ netns: number; name: string; drop: number | null; early_drop: number | null; insert_failed: number | null; stats_source: string | null }>;
  };
  lifetimes: unknown;
  advice: AdviceItem[];
  /** What this input's format cannot carry (a conntrack -E text: no drops, no kernel readings): figures shown as 0 or absent there are unknown, not zero. */
  cannot_carry: string[];
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
  // The kernel's own figures, per table, from the model's table accounts
  // (the capture's /proc readings): peaks pair a count with the max of the
  // same reading; drop counters are their increase over the capture.
  const tables = model.tables.list().sort((a, b) => a.netns - b.netns);
  const kernel = tables.map((t) => ({
    netns: t.netns,
    name: t.name,
    max: t.max,
    peak_count: t.peak?.count ?? null,
    peak_max: t.peak?.max ?? null,
    peak_at: t.peak ? wall(t.peak.at_s * 1e9) : null,
    peak_utilization: t.peak && t.peak.max > 0 ? t.peak.utilization : null,
    last_count: t.count,
  }));
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
      proc_readings: summary.procSnapshots,
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
      kernel: tables.map((t) => ({ netns: t.netns, name: t.name, drop: t.drops.drop, early_drop: t.drops.early_drop, insert_failed: t.drops.insert_failed, stats_source: t.stats_source })),
    },
    lifetimes: model.lifetimeGroups('state'),
    advice: [],
    cannot_carry: formatLimits(summary.format, summary.procSnapshots),
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
  // The same engine as the live /v1/advice, over the same model and tables,
  // judging the same window; the recording host's entry size and memory as
  // the capture recorded them, else the defaults (the evidence says which).
  const window = adviceWindow(model);
  report.advice = advise({
    model,
    tables: model.tables.list(window),
    environment: captureEnvironment(input.header?.host_facts ?? null),
    window,
    input: { partial: report.partial.partial, detail: report.partial.detail, problems: report.partial.problem_count },
  }).advice;
  return report;
}

/** What a conntrack -E / -L text cannot carry, said in the report so 0 is not read as none. */
export function formatLimits(format: string, procReadings: number): string[] {
  const out: string[] = [];
  if (format === 'conntrack-text') {
    out.push('drops: conntrack -E prints no refused packets, so no drop, early-drop or insert-failure figure can be known from it');
    out.push('entry lifetimes of flows that began before the text starts (unless a conntrack -L dump comes first)');
    out.push('events conntrack -E lost itself (it says "We have hit ENOBUFS" on its stderr, which is not in the file)');
  }
  if (procReadings === 0) out.push("the kernel's own figures (count, max, per-CPU statistics): no /proc readings, so no table level, forecast or table-size advice");
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
    const who = k.name === String(k.netns) ? `netns ${k.netns}` : `${k.name} (netns ${k.netns})`;
    L.push(
      `  kernel, ${who}: ${k.peak_count !== null ? `peak ${k.peak_count} of ${k.peak_max}${k.peak_utilization !== null ? ` (${pct(k.peak_utilization)})` : ''}${k.peak_at ? ` at ${k.peak_at}` : ''}; ` : ''}${k.last_count} of ${k.max} at the end`,
    );
  }
  L.push('');
  const noDrops = r.cannot_carry.some((c) => c.startsWith('drops'));
  if (noDrops) L.push('Drops: unknown — this input cannot carry them (see below)');
  else L.push(`Drops: ${r.drops.total}${r.drops.total ? ` (${Object.entries(r.drops.by_kind).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(', ')})` : ''}`);
  for (const k of r.drops.kernel) {
    if (k.drop === null) continue;
    const who = k.name === String(k.netns) ? `netns ${k.netns}` : `${k.name} (netns ${k.netns})`;
    L.push(`  kernel, ${who}: drop ${k.drop}, early_drop ${k.early_drop ?? '?'}, insert_failed ${k.insert_failed ?? '?'}${k.stats_source === 'ctnetlink' ? ' (from ctnetlink: no /proc/net/stat/nf_conntrack on that kernel)' : ''}`);
  }
  const lt = r.lifetimes as { groups: Array<{ proto: string; state?: string; count: number; p50_s: number | null; p90_s: number | null }> };
  L.push('');
  L.push('Lifetimes (allocation to destroy), by final state');
  if (!lt.groups.length) L.push('  (no entry both allocated and destroyed in the capture)');
  for (const g of lt.groups.slice(0, 10)) {
    L.push(`  ${`${g.proto} ${g.state ?? ''}`.padEnd(24)} ${g.count.toLocaleString('en-US').padStart(10)}  p50 ${g.p50_s === null ? '-' : fixed(g.p50_s, 1)} s  p90 ${g.p90_s === null ? '-' : fixed(g.p90_s, 1)} s`);
  }
  if (r.what_if) L.push(...formatWhatIf(r.what_if));
  L.push('');
  L.push('Advice');
  if (!r.advice.length) L.push('  nothing stands out');
  for (const a of r.advice) {
    L.push(`  [${a.level}] ${a.title}`);
    L.push(`         ${a.detail}`);
    L.push(`         → ${a.action}`);
  }
  if (r.cannot_carry.length) {
    L.push('');
    L.push(`What ${r.input.format === 'conntrack-text' ? 'conntrack text' : 'this input'} cannot carry (unknown, not zero):`);
    for (const c of r.cannot_carry) L.push(`  - ${c}`);
  }
  if (r.unparsed.count > 0) {
    L.push('');
    L.push(`Unparsed lines: ${r.unparsed.count}`);
    for (const u of r.unparsed.first_lines.slice(0, 10)) L.push(`  line ${u.line}: ${u.why}: ${u.text.slice(0, 120)}`);
  }
  return `${L.join('\n')}\n`;
}

/** The what-if for a person: per table, what was recorded, the model under the settings in force, and under the what-if. */
export function formatWhatIf(w: WhatIfResult): string[] {
  const L: string[] = [''];
  const spec = Object.entries(w.spec.timeouts)
    .map(([k, v]) => `${k}=${v}`)
    .concat(Object.entries(w.spec.netns ?? {}).flatMap(([n, t]) => Object.entries(t).map(([k, v]) => `${n}/${k}=${v}`)))
    .concat(w.spec.max ? [`max=${w.spec.max}`] : [])
    .join(',');
  L.push(`What-if ${spec || '(the settings in force)'}: ${w.entries.toLocaleString('en-US')} flows and ${w.refused_arrivals.toLocaleString('en-US')} refused packets over ${fixed(w.duration_seconds, 1)} s`);
  const lag = (x: WhatIfResult['gc']['recorded_lag_s']) => (x ? `median ${fixed(x.p50, 1)} s, p90 ${fixed(x.p90, 1)} s (${x.n})` : 'n/a');
  L.push(`  garbage collector: ${w.gc.recorded_passes} passes recorded, ${w.gc.baseline_passes} modelled; expired entries waited ${lag(w.gc.recorded_lag_s)} recorded, ${lag(w.gc.baseline_lag_s)} modelled`);
  const n0 = (x: number | null | undefined) => (x === null || x === undefined ? '?' : x.toLocaleString('en-US'));
  const above = (o: { seconds_above: { '70': number; '85': number; '95': number } | null }) => (o.seconds_above ? `${fixed(o.seconds_above['70'], 0)}/${fixed(o.seconds_above['85'], 0)}/${fixed(o.seconds_above['95'], 0)} s` : 'n/a');
  const err = (e: number | null) => (e === null ? '' : ` (${e >= 0 ? '+' : ''}${fixed(e * 100, 0)} %)`);
  for (const n of w.by_netns) {
    if (n.flows === 0 && n.refused === 0) continue;
    const r = n.recorded;
    const b = n.baseline;
    const x = n.what_if;
    L.push(`  ${n.name ? `${n.name} (netns ${n.netns})` : `netns ${n.netns}`}`.padEnd(34) + 'recorded'.padEnd(16) + 'model, as set'.padEnd(22) + 'model, what-if');
    L.push(`    max`.padEnd(34) + n0(r.max).padEnd(16) + n0(b.max).padEnd(22) + n0(x.max));
    L.push(`    peak`.padEnd(34) + n0(r.peak_count).padEnd(16) + `${n0(b.peak)}${err(n.baseline_error.peak)}`.padEnd(22) + n0(x.peak));
    const range = x.drops_range[0] !== x.drops_range[1] ? ` (${n0(x.drops_range[0])}..${n0(x.drops_range[1])})` : '';
    L.push(`    drops`.padEnd(34) + `${n0(r.drops ?? r.drop_records)}`.padEnd(16) + `${n0(b.drops)}${err(n.baseline_error.drops)}`.padEnd(22) + `${n0(x.drops)}${range}`);
    L.push(`    early drops`.padEnd(34) + n0(r.early_drops).padEnd(16) + n0(b.early_drops).padEnd(22) + n0(x.early_drops));
    L.push(`    ≥70/85/95 %`.padEnd(34) + ''.padEnd(16) + above(b).padEnd(22) + above(x));
    if (n.baseline_error.drops !== null && (r.drops ?? 0) > 0)
      L.push(`    the model under the settings in force is ${fixed(Math.abs(n.baseline_error.drops) * 100, 0)} % from the recorded drops: read the what-if with that margin`);
  }
  for (const note of w.notes) L.push(`  note: ${note}`);
  return L;
}
