// Reads the kernel's own conntrack figures: for the host namespace from
// /proc directly, for other namespaces through the addon's readInNetns (a
// thread that joins the namespace), because /proc/sys/net and /proc/net are
// per namespace. node_exporter only ever sees the host namespace.

import fs from 'node:fs';
import { loadAddon } from '../native/addon.js';
import { boottimeNs } from '../native/addon.js';
import { parseConntrackStat, parseSysctlInt, timeoutKey } from './parse.js';
import type { ProcSnapshot } from './types.js';
import { UserError } from '../errors.js';

const SYSCTL_DIR = '/proc/sys/net/netfilter';

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
export function readHostSnapshot(): ProcSnapshot {
  const netns = fs.statSync('/proc/self/ns/net').ino;
  const tfiles = timeoutSysctls();
  return snapshotFromTexts(netns, boottimeNs(), {
    count: readOrNull(`${SYSCTL_DIR}/nf_conntrack_count`),
    max: readOrNull(`${SYSCTL_DIR}/nf_conntrack_max`),
    buckets: readOrNull(`${SYSCTL_DIR}/nf_conntrack_buckets`),
    stat: readOrNull('/proc/net/stat/nf_conntrack'),
    timeouts: tfiles.map((f) => [f, readOrNull(`${SYSCTL_DIR}/${f}`)]),
  });
}

/** One read of the namespace at nsPath (e.g. /run/netns/x, /proc/PID/ns/net). */
export function readNetnsSnapshot(nsPath: string): ProcSnapshot {
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
  return snapshotFromTexts(netns, boottimeNs(), {
    count: texts[0] ?? null,
    max: texts[1] ?? null,
    buckets: texts[2] ?? null,
    stat: texts[3] ?? null,
    timeouts: tfiles.map((f, i) => [f, texts[4 + i] ?? null]),
  });
}

export interface ProcPollerOptions {
  intervalMs: number;
  /** Namespaces to read besides the host one: inode -> path. */
  namespaces?: () => Map<number, string>;
  onSnapshot: (s: ProcSnapshot) => void;
  onError?: (e: Error) => void;
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
    try {
      const h = readHostSnapshot();
      this.hostInode = h.netns;
      this.latest.set(h.netns, h);
      this.opts.onSnapshot(h);
      this.lastError = null;
    } catch (e) {
      this.lastError = (e as Error).message;
      this.opts.onError?.(e as Error);
    }
    const others = this.opts.namespaces?.() ?? new Map<number, string>();
    for (const [ino, p] of others) {
      if (ino === this.hostInode) continue;
      try {
        const s = readNetnsSnapshot(p);
        this.latest.set(ino, s);
        this.opts.onSnapshot(s);
      } catch {
        this.latest.delete(ino); // vanished namespace
      }
    }
    for (const ino of [...this.latest.keys()]) {
      if (ino !== this.hostInode && !others.has(ino)) this.latest.delete(ino);
    }
  }
}
