// Reads the kernel's own conntrack figures: for the host namespace from
// /proc directly, for other namespaces through the addon's readInNetns (a
// thread that joins the namespace), because /proc/sys/net and /proc/net are
// per namespace. node_exporter only ever sees the host namespace.
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

const SYSCTL_DIR = '/proc/sys/net/netfilter';

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

function readOrNull(p: string): string | null {
  try {
    return fs.readFileSync(p, 'utf8');
  } catch {
    return null;
  }
}

/** One read of the host namespace (this process's namespace). */
export function readHostSnapshot(mode: StatsMode = 'auto'): ProcSnapshot {
  const netns = fs.statSync('/proc/self/ns/net').ino;
  const tfiles = timeoutSysctls();
  const s = snapshotFromTexts(netns, boottimeNs(), {
    count: readOrNull(`${SYSCTL_DIR}/nf_conntrack_count`),
    max: readOrNull(`${SYSCTL_DIR}/nf_conntrack_max`),
    buckets: readOrNull(`${SYSCTL_DIR}/nf_conntrack_buckets`),
    stat: readOrNull('/proc/net/stat/nf_conntrack'),
    timeouts: tfiles.map((f) => [f, readOrNull(`${SYSCTL_DIR}/${f}`)]),
  });
  return withStats(s, null, mode);
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
}

/** Polls the host namespace (and any others it is given) on an interval. */
export class ProcPoller {
  private timer: NodeJS.Timeout | null = null;
  private latest = new Map<number, ProcSnapshot>();
  private hostInode = 0;
  lastError: string | null = null;

  constructor(private readonly opts: ProcPollerOptions) {}

  start(): void {
    this.poll();
    this.timer = setInterval(() => this.poll(), this.opts.intervalMs);
    this.timer.unref();
  }

  stop(): void {
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

  poll(): void {
    const mode = this.opts.stats ?? 'auto';
    const names = this.opts.names?.();
    try {
      const h = this.identify(readHostSnapshot(mode), null);
      this.hostInode = h.netns;
      const name = names?.get(h.netns) ?? 'host';
      const s = { ...h, name };
      this.latest.set(h.netns, s);
      this.opts.onSnapshot(s);
      this.lastError = null;
    } catch (e) {
      this.lastError = (e as Error).message;
      this.opts.onError?.(e as Error);
    }
    const others = this.opts.namespaces?.() ?? new Map<number, string>();
    for (const [ino, p] of others) {
      if (ino === this.hostInode) continue;
      try {
        const s0 = this.identify(readNetnsSnapshot(p, mode), p);
        const name = names?.get(ino);
        const s = name ? { ...s0, name } : s0;
        this.latest.set(ino, s);
        this.opts.onSnapshot(s);
      } catch {
        this.gone(ino); // vanished namespace
      }
    }
    for (const ino of [...this.latest.keys()]) {
      if (ino !== this.hostInode && !others.has(ino)) this.gone(ino);
    }
  }

  private gone(ino: number): void {
    if (this.latest.delete(ino)) this.opts.onVanish?.(ino, boottimeNs());
    this.cookies.delete(ino);
  }

  /**
   * The namespace's cookie: read when its inode is first seen or the path
   * that opens it changed (a process exited, or a new namespace took a dead
   * one's inode), kept otherwise; a snapshot read over ctnetlink has it already.
   */
  private identify(s: ProcSnapshot, nsPath: string | null): ProcSnapshot {
    const known = this.cookies.get(s.netns);
    if (s.cookie) {
      this.cookies.set(s.netns, { path: nsPath, cookie: s.cookie });
      return s;
    }
    if (known && known.path === nsPath) return known.cookie ? { ...s, cookie: known.cookie } : s;
    let cookie: string | null = null;
    try {
      cookie = ctnetlinkInfo(nsPath, false).cookie;
    } catch {
      /* entered a moment ago; gone now: the next poll says so */
    }
    this.cookies.set(s.netns, { path: nsPath, cookie });
    return cookie ? { ...s, cookie } : s;
  }

  private readonly cookies = new Map<number, { path: string | null; cookie: string | null }>();
}
