// Reads the kernel's own conntrack figures of every namespace ctscope follows,
// because /proc/sys/net and /proc/net are per namespace (node_exporter only
// ever sees the host's). The poller reads through the addon's readNetnsBatch:
// one thread per poll enters each namespace in turn and reads its files, off
// the JavaScript thread, which only parses what comes back. What a poll reads
// is bounded (read-plan.ts): the host and at most a few hundred namespaces a
// tick, their count, max and statistics; the timeouts and buckets seldom.
// readNetnsSnapshot, one namespace read at once on the calling thread, serves
// scripts and tests.
//
// Where /proc/net/stat/nf_conntrack does not exist (a kernel built without
// CONFIG_NF_CONNTRACK_PROCFS), the same per-CPU statistics come over ctnetlink
// (the addon's conntrackStats) under the same column names, and the snapshot
// says so (stats_source). The namespace's cookie is read when an inode is
// first seen and whenever the path that opens it changes, so a new namespace
// on a recycled inode is told apart (proc/accounts.ts).

import fs from 'node:fs';
import { loadAddon } from '../native/addon.js';
import { boottimeNs } from '../native/addon.js';
import { parseConntrackStat, parseSysctlInt, timeoutKey } from './parse.js';
import type { ProcSnapshot } from './types.js';
import { UserError } from '../errors.js';
import type { NetnsJob, NetnsResult } from '../native/surface.js';
import { ReadPlan, type PlannedRead, type ReadPlanOptions, type Staleness } from './read-plan.js';

const SYSCTL_DIR = '/proc/sys/net/netfilter';
/** What every poll reads of a namespace, in this order: count, max, the per-CPU statistics. */
const FAST_FILES = [`${SYSCTL_DIR}/nf_conntrack_count`, `${SYSCTL_DIR}/nf_conntrack_max`, '/proc/thread-self/net/stat/nf_conntrack'];
/** FAST_FILES' statistics: where it cannot be read, the statistics come over ctnetlink. */
const STAT_FILE = 2;

/** Where per-CPU statistics are read from: /proc where it exists (auto), or always over ctnetlink. */
export type StatsMode = 'auto' | 'ctnetlink';

/** Statistics over ctnetlink and/or the cookie of a namespace (null: the host's). */
export function ctnetlinkInfo(nsPath: string | null, wantStats: boolean): { cookie: string | null; stats: Record<string, number> | null; error?: string } {
  return loadAddon().conntrackStats(nsPath, wantStats);
}

/** Fill a snapshot's statistics over ctnetlink when /proc had none (or when asked to). */
function withStats(s: ProcSnapshot, nsPath: string | null, mode: StatsMode): ProcSnapshot {
  if (mode === 'auto' && Object.keys(s.stats).length > 0) return { ...s, stats_source: 'proc' };
  const info = ctnetlinkInfo(nsPath, true);
  if (info.stats) return { ...s, stats: info.stats, stats_source: 'ctnetlink', ...(info.cookie ? { cookie: info.cookie } : {}) };
  return { ...s, stats: mode === 'auto' ? s.stats : {} };
}

/** The timeout sysctl file names present on this kernel (same in every namespace). */
export function timeoutSysctls(dir = SYSCTL_DIR): string[] {
  try {
    return fs
      .readdirSync(dir)
      .filter((f) => timeoutKey(f) !== null)
      .sort();
  } catch {
    return [];
  }
}

/** nf_conntrack is not there to read. */
export class ProcUnavailableError extends UserError {}

/** Build a snapshot from the texts of the files (null where unreadable). */
export function snapshotFromTexts(
  netns: number,
  ts: number,
  texts: { count: string | null; max: string | null; buckets: string | null; stat: string | null; timeouts: [string, string | null][] },
): ProcSnapshot {
  if (texts.count === null) {
    throw new ProcUnavailableError('nf_conntrack is not loaded (no /proc/sys/net/netfilter/nf_conntrack_count)');
  }
  const timeouts: Record<string, number> = {};
  for (const [file, text] of texts.timeouts) {
    const key = timeoutKey(file);
    if (key && text !== null) timeouts[key] = parseSysctlInt(text, file);
  }
  return {
    ts,
    netns,
    count: parseSysctlInt(texts.count, 'nf_conntrack_count'),
    max: texts.max === null ? 0 : parseSysctlInt(texts.max, 'nf_conntrack_max'),
    buckets: texts.buckets === null ? 0 : parseSysctlInt(texts.buckets, 'nf_conntrack_buckets'),
    stats: texts.stat === null ? {} : parseConntrackStat(texts.stat),
    timeouts,
  };
}

/** One read of the namespace at nsPath (e.g. /run/netns/x, /proc/PID/ns/net). */
export function readNetnsSnapshot(nsPath: string, mode: StatsMode = 'auto'): ProcSnapshot {
  const netns = fs.statSync(nsPath).ino;
  const tfiles = timeoutSysctls();
  const files = [
    `${SYSCTL_DIR}/nf_conntrack_count`,
    `${SYSCTL_DIR}/nf_conntrack_max`,
    `${SYSCTL_DIR}/nf_conntrack_buckets`,
    '/proc/thread-self/net/stat/nf_conntrack',
    ...tfiles.map((f) => `${SYSCTL_DIR}/${f}`),
  ];
  const texts = loadAddon().readInNetns(nsPath, files);
  const s = snapshotFromTexts(netns, boottimeNs(), {
    count: texts[0] ?? null,
    max: texts[1] ?? null,
    buckets: texts[2] ?? null,
    stat: texts[3] ?? null,
    timeouts: tfiles.map((f, i) => [f, texts[4 + i] ?? null]),
  });
  return withStats(s, nsPath, mode);
}

export interface ProcPollerOptions {
  intervalMs: number;
  /** Namespaces to read besides the host one: inode -> path. */
  namespaces?: () => Map<number, string>;
  /** What each namespace is called (host, /run/netns name, pid:N), stored in its snapshots. */
  names?: () => ReadonlyMap<number, string>;
  onSnapshot: (s: ProcSnapshot) => void;
  /** A namespace could not be read any more, or no path names it: it is gone. */
  onVanish?: (netns: number, atNs: number) => void;
  onError?: (e: Error) => void;
  /** Per-CPU statistics from /proc where it exists (default), or always over ctnetlink. */
  stats?: StatsMode;
  /** How many namespaces a tick reads and how often the timeouts (read-plan.ts). */
  plan?: ReadPlanOptions;
  /** What reads the namespaces (default: the addon's readNetnsBatch, on a thread of its own). */
  read?: (jobs: NetnsJob[]) => Promise<NetnsResult[]>;
  /** Whether the count and max may be asked over ctnetlink (default ctnetlinkPresent(), asked again every 30 s). */
  ctnetlink?: () => boolean;
}

/**
 * What a poll reads of one namespace: the files, and the statistics over
 * ctnetlink when /proc has none. With `ctCount`, the count and max are asked
 * over ctnetlink (files 0 and 1 are read only where that fails): opening
 * anything under /proc/sys/net costs the kernel a walk of one directory
 * entry per namespace, which at 1,000 namespaces was most of the daemon's
 * idle CPU.
 */
export function readJob(r: PlannedRead, timeoutFiles: string[], mode: StatsMode, ctCount = true): NetnsJob {
  const files = r.full ? [...FAST_FILES, `${SYSCTL_DIR}/nf_conntrack_buckets`, ...timeoutFiles.map((f) => `${SYSCTL_DIR}/${f}`)] : FAST_FILES;
  return { path: r.path, files, cookie: r.cookie, ctStats: mode === 'ctnetlink' ? 'always' : STAT_FILE, ...(ctCount ? { ctCount: [0, 1] as [number, number] } : {}) };
}

/**
 * Whether asking ctnetlink loads nothing: ctnetlink is built in (a kernel
 * without loadable modules) or its module is loaded already. A ctnetlink
 * request where the module is not loaded would have the kernel load it, and
 * the poller changes nothing on the node it watches: it reads the files then.
 */
export function ctnetlinkPresent(procModules = '/proc/modules', sysModule = '/sys/module/nf_conntrack_netlink'): boolean {
  return !fs.existsSync(procModules) || fs.existsSync(sysModule);
}

/**
 * Polls the host namespace and the others it is given, on an interval. The
 * reading is done by the addon on a thread of its own (readNetnsBatch), so
 * the JavaScript thread only parses; a tick whose reads are still out when
 * the next is due is skipped (counted in lateTicks), never queued.
 */
export class ProcPoller {
  private timer: NodeJS.Timeout | null = null;
  private latest = new Map<number, ProcSnapshot>();
  private readonly cookies = new Map<number, string | null>();
  private readonly plan: ReadPlan;
  private readonly hostInode = fs.statSync('/proc/self/ns/net').ino;
  private readonly timeoutFiles = timeoutSysctls();
  private inFlight: Promise<void> | null = null;
  private ctCount: { ok: boolean; at: number } | null = null;
  private stopped = false;
  lastError: string | null = null;
  /** Ticks skipped because the previous one's reads were still out. */
  lateTicks = 0;
  /** Namespaces read, and reads taken, since start. */
  reads = 0;

  constructor(private readonly opts: ProcPollerOptions) {
    this.plan = new ReadPlan(opts.plan);
  }

  start(): void {
    this.stopped = false;
    this.tick();
    this.timer = setInterval(() => this.tick(), this.opts.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Latest host snapshot (null before the first successful read). */
  host(): ProcSnapshot | null {
    return this.latest.get(this.hostInode) ?? null;
  }

  /** Latest snapshot of a namespace by inode. */
  get(netns: number): ProcSnapshot | null {
    return this.latest.get(netns) ?? null;
  }

  all(): ProcSnapshot[] {
    return [...this.latest.values()];
  }

  /** How old the readings may be (/v1/status). */
  staleness(): Staleness {
    return this.plan.staleness(Date.now());
  }

  /** The interval's poll: started unless the previous one is still out (then counted in lateTicks). */
  tick(): void {
    if (this.inFlight) {
      this.lateTicks++;
      return;
    }
    this.inFlight = this.poll().finally(() => (this.inFlight = null));
  }

  /** One poll: the host and this tick's share of the others, read off this thread. */
  async poll(): Promise<void> {
    const mode = this.opts.stats ?? 'auto';
    const others = this.opts.namespaces?.() ?? new Map<number, string>();
    for (const ino of this.plan.sync(this.hostInode, others)) this.gone(ino);
    const planned = this.plan.next(Date.now());
    let results: NetnsResult[];
    try {
      const now = Date.now();
      if (!this.ctCount || now - this.ctCount.at >= 30_000) this.ctCount = { ok: (this.opts.ctnetlink ?? ctnetlinkPresent)(), at: now };
      const ctCount = this.ctCount.ok;
      const jobs = planned.map((r) => readJob(r, this.timeoutFiles, mode, ctCount));
      results = await (this.opts.read ? this.opts.read(jobs) : loadAddon().readNetnsBatch(jobs));
    } catch (e) {
      this.lastError = (e as Error).message;
      this.opts.onError?.(e as Error);
      return;
    }
    if (this.stopped) return;
    const names = this.opts.names?.();
    const now = Date.now();
    planned.forEach((r, i) => {
      const host = r.path === null;
      try {
        const s = this.snapshot(r, results[i]!, mode);
        this.plan.done(r, now);
        const name = names?.get(r.netns) ?? (host ? 'host' : undefined);
        const named = name ? { ...s, name } : s;
        this.latest.set(r.netns, named);
        this.reads++;
        this.opts.onSnapshot(named);
        if (host) this.lastError = null;
      } catch (e) {
        if (host) {
          this.lastError = (e as Error).message;
          this.opts.onError?.(e as Error);
        } else {
          this.plan.forget(r.netns);
          this.gone(r.netns); // vanished namespace
        }
      }
    });
  }

  /** A read's texts as a snapshot; the timeouts and buckets of the last full read where this one was not. */
  private snapshot(r: PlannedRead, res: NetnsResult, mode: StatsMode): ProcSnapshot {
    if (res.error !== null) throw new Error(`cannot enter network namespace ${r.path ?? 'of this process'}: ${res.error}`);
    const t = res.texts;
    const prev = this.latest.get(r.netns);
    let s = snapshotFromTexts(r.netns, res.ts, {
      count: t[0] ?? null,
      max: t[1] ?? null,
      stat: t[2] ?? null,
      buckets: r.full ? (t[3] ?? null) : null,
      timeouts: r.full ? this.timeoutFiles.map((f, k) => [f, t[4 + k] ?? null]) : [],
    });
    if (!r.full && prev) s = { ...s, buckets: prev.buckets, timeouts: prev.timeouts };
    if (mode === 'auto' && Object.keys(s.stats).length > 0) s = { ...s, stats_source: 'proc' };
    else if (res.stats) s = { ...s, stats: res.stats, stats_source: 'ctnetlink' };
    else if (mode !== 'auto') s = { ...s, stats: {} };
    if (r.cookie || res.cookie !== null) this.cookies.set(r.netns, res.cookie);
    const cookie = this.cookies.get(r.netns);
    return cookie ? { ...s, cookie } : s;
  }

  private gone(ino: number): void {
    if (this.latest.delete(ino)) this.opts.onVanish?.(ino, boottimeNs());
    this.cookies.delete(ino);
  }
}
