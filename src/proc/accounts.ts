// One account per conntrack table: every network namespace ctscope follows
// has its own table (count, per-CPU statistics, timeouts; nf_conntrack_max is
// global), and the one in danger is rarely the host's. Each account keeps the
// table's readings (history.ts), its drop rates, its peak (count and max of
// one moment) and its forecast (forecast/forecast.ts), and is named as an
// operator knows it. `list()` puts the most endangered first: by level, then
// drops per second, then utilization — a quiet host namespace never hides a
// full one.
//
// Identity: records and readings carry the namespace's inode, and the kernel
// reuses inodes of dead namespaces. A namespace that vanished and comes back,
// a different netns cookie on the same inode, or per-CPU counters that went
// backwards (a new namespace starts them at zero) start a new account: a
// 10-second-old namespace never inherits a dead one's history.
//
// Names: the sources know host / the /run/netns name / pid:N; others (the
// Kubernetes resolver) add theirs through addNamer(). Namers are asked in the
// order they were added, later ones overriding what earlier ones said.

import { forecastTable, LONG_WINDOW_S, SHORT_WINDOWS, type Forecast, type RecordRates, type RecordWindow } from '../forecast/forecast.js';

export type { RecordRates } from '../forecast/forecast.js';
import { TableHistory } from './history.js';
import { utilizationLevel, type Level } from './parse.js';
import type { ProcSnapshot, StatsSource } from './types.js';

/** What an operator calls a namespace. */
export interface NetnsLabel {
  /** host, the /run/netns name, pid:N, or the pod's name. */
  name: string;
  kind: 'host' | 'named' | 'process' | 'container' | 'pod' | 'unknown';
  pod?: string;
  k8s_namespace?: string;
  container?: string;
}

/** Names a namespace by inode; undefined (or fields left out): no opinion. */
export type NetnsNamer = (netns: number) => Partial<NetnsLabel> | undefined;

/** Every namespace's conntrack table, as its account keeps it (TableAccounts below). */
export interface TableView {
  /**
   * Every table, most endangered first; `window`: also the drop counters'
   * increase over its last seconds; `limit`: only the first so many (the
   * others are ordered but not described: at 1,000 tables their forecasts
   * were most of /v1/table's time).
   */
  list(window?: number, limit?: number): TableAccountView[];
  /** How many tables list() would give without a limit. */
  total?(): number;
  /** One table by inode. */
  get(netns: number, window?: number): TableAccountView | null;
  /** Latest reading of the host namespace (or of `netns`), as read. */
  snapshot(netns?: number): ProcSnapshot | null;
  /** Latest reading of every table, host first. */
  snapshots(): ProcSnapshot[];
}

export interface TableAccountView {
  netns: number;
  /** 1 for the first namespace seen on this inode, 2 for the next, … */
  generation: number;
  name: string;
  kind: NetnsLabel['kind'];
  pod?: string;
  k8s_namespace?: string;
  container?: string;
  /** CLOCK_BOOTTIME seconds of the first and latest reading. */
  first_seen_s: number;
  read_at_s: number;
  /** The namespace is gone (no longer readable); kept a while for the record. */
  gone: boolean;
  count: number;
  max: number;
  utilization: number;
  level: Level;
  buckets: number;
  /** The kernel's drops (table full), early drops and insert failures per second over the last 10 s of readings (null: not read). */
  drops_per_s: number | null;
  early_drops_per_s: number | null;
  insert_failed_per_s: number | null;
  /** The same counters' increase since the account's first reading, and the seconds that spans. */
  drops: { seconds: number; drop: number | null; early_drop: number | null; insert_failed: number | null };
  /** The reading of highest utilization: count and max of the same moment. */
  peak: { count: number; max: number; utilization: number; at_s: number } | null;
  /** The counters' increase over the window asked for in list(window) (null: not asked). */
  window: { seconds: number; drop: number | null; early_drop: number | null; insert_failed: number | null } | null;
  stats: Record<string, number>;
  stats_source: StatsSource | null;
  timeouts: Record<string, number>;
  forecast: Forecast;
}

const LEVEL_RANK: Record<Level, number> = { ok: 0, warn: 1, action: 2, critical: 3 };
/** Readings the drop rates are taken over, seconds. */
export const RATE_WINDOW_S = 10;
/** A namespace first read this long after the first reading of all was born while ctscope watched. */
const NEW_AFTER_S = 5;
/** A gone namespace's account is kept this long (seconds; TableAccountsOptions.goneKeepSeconds). */
export const GONE_KEEP_S = 300;
const COUNTERS = ['found', 'invalid', 'insert', 'insert_failed', 'drop', 'early_drop', 'icmp_error', 'search_restart', 'clashres'];

class Account {
  readonly history: TableHistory;
  latest: ProcSnapshot;
  /** The first reading: counters since it survive the history's ring. */
  readonly first: ProcSnapshot;
  goneAt: number | null = null;

  constructor(
    readonly netns: number,
    readonly generation: number,
    s: ProcSnapshot,
    capacity: number,
  ) {
    this.history = new TableHistory(capacity);
    this.latest = s;
    this.first = s;
    this.firstSeen = s.ts / 1e9;
    this.history.push(s);
  }
  readonly firstSeen: number;
}

/** Why this snapshot is of another namespace than the account's (null: the same one). */
function rebirth(a: Account, s: ProcSnapshot): string | null {
  if (a.goneAt !== null) return 'the namespace had vanished';
  const prev = a.latest;
  if (s.cookie && prev.cookie && s.cookie !== prev.cookie) return 'another netns cookie on this inode';
  if ((s.stats_source ?? 'proc') === (prev.stats_source ?? 'proc')) {
    for (const k of COUNTERS) {
      const x = s.stats[k];
      const y = prev.stats[k];
      if (typeof x === 'number' && typeof y === 'number' && x < y) return `its ${k} counter went back from ${y} to ${x}`;
    }
  }
  return null;
}

export interface TableAccountsOptions {
  /** Readings kept per table (default 900: 15 minutes at one a second). */
  capacity?: number;
  /** The clock answers are for (CLOCK_BOOTTIME ns); default the latest reading's. */
  clock?: () => number;
  /** Record counts for the forecast. */
  rates?: RecordRates;
  /** The namespace ctscope runs in (named host when no namer says otherwise). */
  hostNetns?: number;
  /** Seconds a gone namespace's account is kept for the record (default GONE_KEEP_S). */
  goneKeepSeconds?: number;
}

export class TableAccounts {
  private readonly accounts = new Map<number, Account>();
  private readonly namers: NetnsNamer[] = [];
  /**
   * The last generation on each inode that has an account, or had one that
   * expired less than goneKeepSeconds ago: a namespace on a recycled inode
   * while the last one is remembered is told apart; after that, nothing of
   * the inode is kept (a dense node's thousand namespaces gone leave nothing).
   */
  private readonly generations = new Map<number, { g: number; expiredAt: number | null }>();
  private latestTs = 0;
  /** When (snapshot time, ns) gone accounts were last expired. */
  private expiredAt = 0;
  /** First reading of any table (seconds): namespaces first read later were born while we watched. */
  private firstTs: number | null = null;
  hostNetns: number | undefined;
  /** Accounts of gone namespaces let go so far (their keep expired). */
  dropped = 0;
  /** New accounts started on a recycled inode, and why (the last few). */
  readonly rebirths: Array<{ netns: number; at_s: number; why: string }> = [];

  constructor(private readonly opts: TableAccountsOptions = {}) {
    this.hostNetns = opts.hostNetns;
  }

  /** Add a source of names (later ones override earlier ones). */
  addNamer(n: NetnsNamer): void {
    this.namers.push(n);
  }

  setRates(r: RecordRates): void {
    this.opts.rates = r;
  }

  ingest(s: ProcSnapshot): void {
    if (this.hostNetns === undefined) this.hostNetns = s.netns;
    if (s.ts > this.latestTs) this.latestTs = s.ts;
    if (this.firstTs === null) this.firstTs = s.ts / 1e9;
    const a = this.accounts.get(s.netns);
    const why = a ? rebirth(a, s) : null;
    if (!a || why) {
      const g = (this.generations.get(s.netns)?.g ?? 0) + 1;
      this.generations.set(s.netns, { g, expiredAt: null });
      this.accounts.set(s.netns, new Account(s.netns, g, s, this.opts.capacity ?? 900));
      if (why) {
        this.rebirths.push({ netns: s.netns, at_s: Math.round(s.ts / 1e6) / 1e3, why });
        if (this.rebirths.length > 20) this.rebirths.shift();
      }
      return;
    }
    a.latest = s;
    a.history.push(s);
    // Gone accounts go after GONE_KEEP_S whether or not anyone lists the tables.
    if (s.ts - this.expiredAt >= 1e9) {
      this.expiredAt = s.ts;
      this.expire(this.now());
    }
  }

  /** The namespace is gone (its reader could not enter it, or no path names it). */
  vanish(netns: number, atNs: number): void {
    const a = this.accounts.get(netns);
    if (a && a.goneAt === null) {
      a.goneAt = atNs / 1e9;
      a.history.compact(); // it reads nothing more: kept for the record at its size
    }
  }

  private now(): number {
    return (this.opts.clock?.() ?? this.latestTs) / 1e9;
  }

  private expire(now: number): void {
    const keep = this.opts.goneKeepSeconds ?? GONE_KEEP_S;
    for (const [k, a] of this.accounts) {
      if (a.goneAt !== null && now - a.goneAt > keep) {
        this.accounts.delete(k);
        this.dropped++;
        const g = this.generations.get(k);
        if (g) g.expiredAt = now;
      }
    }
    for (const [k, g] of this.generations) if (g.expiredAt !== null && now - g.expiredAt > keep) this.generations.delete(k);
  }

  /** Inodes whose last generation is remembered (an account, or one expired lately). */
  remembered(): number {
    return this.generations.size;
  }

  label(netns: number): NetnsLabel {
    const a = this.accounts.get(netns);
    // 'host' only when told (a capture of older versions names nothing: its first table need not be the host's)
    let l: NetnsLabel = { name: a?.latest.name ?? (netns === this.opts.hostNetns ? 'host' : String(netns)), kind: 'unknown' };
    for (const n of this.namers) {
      const x = n(netns);
      if (x) l = { ...l, ...Object.fromEntries(Object.entries(x).filter(([, v]) => v !== undefined)) };
    }
    if (l.kind === 'unknown') l.kind = l.name === 'host' ? 'host' : /^pid:\d+$/.test(l.name) ? 'process' : l.name === String(netns) ? 'unknown' : 'named';
    return l;
  }

  /**
   * Every table, most endangered first (gone ones last); `window`: also the
   * counters' increase over its last seconds; `limit`: the first so many,
   * ordered by the same facts (danger()) before any is described.
   */
  list(window?: number, limit?: number): TableAccountView[] {
    const now = this.now();
    this.expire(now);
    const ctx = this.rateContext(now);
    const ordered = [...this.accounts.values()].map((a) => ({ a, ...danger(a) })).sort(compareDanger);
    return (limit === undefined ? ordered : ordered.slice(0, limit)).map((x) => this.view(x.a, now, ctx, window));
  }

  /** How many tables there are (gone ones kept for the record included). */
  total(): number {
    this.expire(this.now());
    return this.accounts.size;
  }

  /** One table by inode (its current account), or null. */
  get(netns: number, window?: number): TableAccountView | null {
    const a = this.accounts.get(netns);
    if (!a) return null;
    const now = this.now();
    return this.view(a, now, this.rateContext(now), window);
  }

  /** The table in most danger (null before the first reading). */
  mostEndangered(): TableAccountView | null {
    return this.list()[0] ?? null;
  }

  /** Latest snapshot of each table (as read), host first. */
  snapshots(): ProcSnapshot[] {
    return [...this.accounts.values()].sort((a, b) => (a.netns === this.hostNetns ? -1 : b.netns === this.hostNetns ? 1 : a.netns - b.netns)).map((a) => a.latest);
  }

  /** Latest snapshot of one table, or null. */
  snapshot(netns?: number): ProcSnapshot | null {
    const n = netns ?? this.hostNetns;
    return n === undefined ? null : (this.accounts.get(n)?.latest ?? null);
  }

  /** One table's readings over time (the dashboard's per-second series), or null. */
  history(netns: number): TableHistory | null {
    return this.accounts.get(netns)?.history ?? null;
  }

  /** Inodes with an account. */
  namespaces(): number[] {
    return [...this.accounts.keys()];
  }

  // Record counts are asked once per window per question, for every namespace.
  private rateContext(now: number): RateContext {
    const r = this.opts.rates;
    const cache = new Map<number, ReturnType<RecordRates['counts']>>();
    return {
      now,
      counts: (seconds: number) => {
        if (!r) return null;
        const k = Math.max(1, Math.ceil(seconds));
        let c = cache.get(k);
        if (!c) cache.set(k, (c = r.counts(k)));
        return c;
      },
      lost: (seconds: number) => (r ? r.lost(Math.max(1, Math.ceil(seconds))) : 0),
      has: r !== undefined,
    };
  }

  private view(a: Account, now: number, ctx: RateContext, window?: number): TableAccountView {
    const s = a.latest;
    const h = a.history;
    const d = danger(a);
    const rate = (k: 'drop' | 'early_drop' | 'insert_failed') => rateOf(h, k);
    const total = (k: 'drop' | 'early_drop' | 'insert_failed', seconds = Infinity) => h.delta(k, seconds)?.increase ?? (typeof s.stats[k] === 'number' ? 0 : null);
    const last = h.last()?.t ?? s.ts / 1e9;
    const label = this.label(a.netns);
    return {
      netns: a.netns,
      generation: a.generation,
      ...label,
      first_seen_s: round3(a.firstSeen),
      read_at_s: round3(s.ts / 1e9),
      gone: a.goneAt !== null,
      count: s.count,
      max: s.max,
      utilization: d.utilization,
      level: d.level,
      buckets: s.buckets,
      drops_per_s: d.drops_per_s,
      early_drops_per_s: rate('early_drop'),
      insert_failed_per_s: rate('insert_failed'),
      drops: { seconds: round3(s.ts / 1e9 - a.firstSeen), drop: since(a.first, s, 'drop'), early_drop: since(a.first, s, 'early_drop'), insert_failed: since(a.first, s, 'insert_failed') },
      window:
        window === undefined
          ? null
          : { seconds: round3(Math.min(window, last - (h.n ? h.at(0).t : last))), drop: total('drop', window), early_drop: total('early_drop', window), insert_failed: total('insert_failed', window) },
      peak: h.peak ? { count: h.peak.count, max: h.peak.max, utilization: h.peak.max > 0 ? Math.round((h.peak.count / h.peak.max) * 1e6) / 1e6 : 0, at_s: round3(h.peak.t) } : null,
      stats: s.stats,
      stats_source: Object.keys(s.stats).length ? (s.stats_source ?? 'proc') : null,
      timeouts: s.timeouts,
      forecast: this.forecast(a, now, ctx),
    };
  }

  private forecast(a: Account, now: number, ctx: RateContext): Forecast {
    const h = a.history;
    const s = a.latest;
    const since = h.since ?? s.ts / 1e9;
    const evidence = Math.max(0, now - since);
    let records: { windows: RecordWindow[]; long: RecordWindow | null } | null = null;
    let why: string | undefined;
    if (!ctx.has) why = 'no record source';
    else if (a.goneAt !== null) why = 'the namespace is gone';
    else {
      const longS = Math.min(LONG_WINDOW_S, evidence);
      const lost = ctx.lost(Math.max(longS, 1));
      const windows: RecordWindow[] = [];
      for (const w of SHORT_WINDOWS) {
        const c = ctx.counts(Math.min(w, Math.max(1, evidence)));
        if (c) windows.push({ window: w, seconds: Math.min(c.seconds, Math.max(evidence, 0.001)), alloc: c.alloc.get(a.netns) ?? 0, destroy: c.destroy.get(a.netns) ?? 0 });
      }
      const lc = longS >= 1 ? ctx.counts(longS) : null;
      const long = lc ? { window: Math.round(longS), seconds: Math.min(lc.seconds, Math.max(evidence, 0.001)), alloc: lc.alloc.get(a.netns) ?? 0, destroy: lc.destroy.get(a.netns) ?? 0 } : null;
      // No record of this namespace while its count moves: no source covers it.
      const seen = windows.some((w) => w.alloc + w.destroy > 0) || (long !== null && long.alloc + long.destroy > 0);
      const moved = h.evidence(RATE_WINDOW_S).some((p) => p.count !== s.count);
      if (lost > 0) why = `${lost} records lost in the last ${Math.round(longS)} s`;
      else if (!seen && moved) why = 'no record of this namespace while its count moves (not followed by a record source?)';
      else records = { windows, long };
    }
    return forecastTable({
      netns: a.netns,
      now_s: Math.max(now, s.ts / 1e9),
      count: s.count,
      max: s.max,
      at_s: s.ts / 1e9,
      samples: h.evidence(LONG_WINDOW_S),
      since_s: since,
      reset: h.reset,
      dropping: h.dropping(),
      records,
      ...(why ? { records_why: why } : {}),
      // Born while we watched: it allocated nothing before its first reading.
      new_namespace: a.generation > 1 || (this.firstTs !== null && a.firstSeen - this.firstTs > NEW_AFTER_S),
      timeouts: s.timeouts,
    });
  }
}

/** A counter's rate over the last RATE_WINDOW_S of readings (null: not read). */
function rateOf(h: TableHistory, k: 'drop' | 'early_drop' | 'insert_failed'): number | null {
  const d = h.delta(k, RATE_WINDOW_S);
  return d ? round3(d.increase / d.seconds) : null;
}

/** What an account is ordered by (compareDanger), as its view says it. */
function danger(a: Account): DangerFacts & { gone: boolean; drops_per_s: number | null } {
  const s = a.latest;
  const util = s.max > 0 ? s.count / s.max : 0;
  return { netns: a.netns, gone: a.goneAt !== null, level: utilizationLevel(util), utilization: Math.round(util * 1e6) / 1e6, drops_per_s: rateOf(a.history, 'drop') };
}

interface RateContext {
  now: number;
  has: boolean;
  counts(seconds: number): ReturnType<RecordRates['counts']> | null;
  lost(seconds: number): number;
}

/** A counter's increase between two readings of one table (null where either lacks it). */
function since(a: ProcSnapshot, b: ProcSnapshot, k: string): number | null {
  const x = a.stats[k];
  const y = b.stats[k];
  return typeof x === 'number' && typeof y === 'number' ? Math.max(0, y - x) : null;
}

/** What a table is ordered by: an account, or one second of its readings (the event stream's ticks). */
export type DangerFacts = Pick<TableAccountView, 'netns' | 'level' | 'utilization'> & { gone?: boolean; drops_per_s?: number | null };

/**
 * Most endangered first: live before gone, then level, drops per second,
 * utilization, inode (a stable order). The one order of tables: /v1/table,
 * /v1/series/tables, the event stream's ticks, top's headline.
 */
export function compareDanger(a: DangerFacts, b: DangerFacts): number {
  if (Boolean(a.gone) !== Boolean(b.gone)) return a.gone ? 1 : -1;
  const l = LEVEL_RANK[b.level] - LEVEL_RANK[a.level];
  if (l !== 0) return l;
  const d = (b.drops_per_s ?? 0) - (a.drops_per_s ?? 0);
  if (d !== 0) return d;
  return b.utilization - a.utilization || a.netns - b.netns;
}

/** A table's name as its account says it (the sources' name for its namespace, or a namer's), null when nothing names it. */
export function tableName(tables: Pick<TableAccounts, 'label'>, netns: number): string | null {
  const l = tables.label(netns);
  return l.kind === 'unknown' ? null : l.name;
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
