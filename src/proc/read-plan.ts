// Which namespaces a /proc poll reads, and how much of each: the bound that
// keeps a dense node's poll cheap. Per tick, the host namespace and at most
// `perTick` others, least recently read first (never read: first of all), so
// with N namespaces each is read at least every ceil(N / perTick) ticks. Of
// those, the count, max and per-CPU statistics are read every time (they move
// every second); the timeouts and buckets (sysctls an operator sets, dozens of
// files) only on a namespace's first reading, when the path that opens it
// changes (another namespace may have its inode), and every `fullEveryMs`.
// staleness() says how old each kind of reading may be, for /v1/status.

/** One namespace to read this tick. */
export interface PlannedRead {
  netns: number;
  /** null: the host namespace (this process's). */
  path: string | null;
  /** Also the timeouts and buckets. */
  full: boolean;
  /** Also its cookie: first seen, or opened by another path since. */
  cookie: boolean;
}

export interface ReadPlanOptions {
  /** Namespaces besides the host read per tick (default 256). */
  perTick?: number;
  /** Timeouts and buckets re-read this often (ms, default 30 s). */
  fullEveryMs?: number;
}

/** How stale the readings may be (/v1/status, the proc source's `readings`). */
export interface Staleness {
  /** Namespaces read, the host's included. */
  namespaces: number;
  per_tick: number;
  /** Ticks to read every namespace once. */
  cycle_ticks: number;
  /** Age of the oldest count reading (s; null before any). */
  count_age_max_s: number | null;
  /** Age of the oldest timeouts reading (s; null before any). */
  timeouts_age_max_s: number | null;
  timeouts_every_s: number;
  /** Namespaces not read yet. */
  unread: number;
}

interface State {
  path: string | null;
  /** Path of the last read that asked the cookie (undefined: never asked). */
  cookiePath?: string | null;
  readAt: number | null;
  fullAt: number | null;
}

export const DEFAULT_PER_TICK = 256;
export const DEFAULT_FULL_EVERY_MS = 30_000;

export class ReadPlan {
  readonly perTick: number;
  readonly fullEveryMs: number;
  private readonly ns = new Map<number, State>();
  private host: number | null = null;

  constructor(opts: ReadPlanOptions = {}) {
    this.perTick = Math.max(1, opts.perTick ?? DEFAULT_PER_TICK);
    this.fullEveryMs = opts.fullEveryMs ?? DEFAULT_FULL_EVERY_MS;
  }

  /** The namespaces now: the host's inode and the others (inode -> path). Returns those no longer there. */
  sync(host: number, others: ReadonlyMap<number, string>): number[] {
    const gone: number[] = [];
    for (const ino of this.ns.keys()) if (ino !== host && !others.has(ino)) gone.push(ino);
    for (const ino of gone) this.ns.delete(ino);
    if (this.host !== null && this.host !== host) this.ns.delete(this.host);
    this.host = host;
    if (!this.ns.has(host)) this.ns.set(host, { path: null, readAt: null, fullAt: null });
    for (const [ino, path] of others) {
      if (ino === host) continue;
      const s = this.ns.get(ino);
      if (!s) this.ns.set(ino, { path, readAt: null, fullAt: null });
      else if (s.path !== path) {
        // Another path opens it now: possibly another namespace on a recycled inode.
        s.path = path;
        s.fullAt = null;
        s.readAt = null;
      }
    }
    return gone;
  }

  /** This tick's reads: the host, then at most perTick others, least recently read first. */
  next(nowMs: number): PlannedRead[] {
    const plan = (ino: number, s: State): PlannedRead => ({
      netns: ino,
      path: s.path,
      full: s.fullAt === null || nowMs - s.fullAt >= this.fullEveryMs,
      cookie: s.cookiePath === undefined || s.cookiePath !== s.path,
    });
    const out: PlannedRead[] = [];
    const others: [number, State][] = [];
    for (const [ino, s] of this.ns) {
      if (ino === this.host) out.push(plan(ino, s));
      else others.push([ino, s]);
    }
    others.sort((a, b) => (a[1].readAt ?? -Infinity) - (b[1].readAt ?? -Infinity) || a[0] - b[0]);
    for (const [ino, s] of others.slice(0, this.perTick)) out.push(plan(ino, s));
    return out;
  }

  /** A planned read came back (at nowMs). */
  done(r: PlannedRead, nowMs: number): void {
    const s = this.ns.get(r.netns);
    if (!s || s.path !== r.path) return; // forgotten or re-pathed meanwhile
    s.readAt = nowMs;
    if (r.full) s.fullAt = nowMs;
    if (r.cookie) s.cookiePath = r.path;
  }

  /** A namespace could not be read: forget it (it is gone). */
  forget(netns: number): void {
    if (netns !== this.host) this.ns.delete(netns);
  }

  staleness(nowMs: number): Staleness {
    let count: number | null = null;
    let full: number | null = null;
    let unread = 0;
    for (const s of this.ns.values()) {
      if (s.readAt === null) unread++;
      else count = Math.max(count ?? 0, nowMs - s.readAt);
      if (s.fullAt !== null) full = Math.max(full ?? 0, nowMs - s.fullAt);
    }
    const others = Math.max(0, this.ns.size - (this.host !== null ? 1 : 0));
    const s = (ms: number | null) => (ms === null ? null : Math.round(ms) / 1000);
    return {
      namespaces: this.ns.size,
      per_tick: this.perTick,
      cycle_ticks: Math.max(1, Math.ceil(others / this.perTick)),
      count_age_max_s: s(count),
      timeouts_age_max_s: s(full),
      timeouts_every_s: this.fullEveryMs / 1000,
      unread,
    };
  }
}
