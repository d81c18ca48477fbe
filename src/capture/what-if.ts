// What-if: re-simulate the conntrack table of a capture under other timeouts
// and another nf_conntrack_max, next to what actually happened.
//
// From the records each entry gets a lifetime: allocation (or the start of the
// capture for entries already alive), its last event, its end, and the state it
// ended in. An entry that expired ended T(state) after the last packet that
// refreshed it, so under a timeout T' it would have ended at
// end − T + T' (never before its last event). T comes from the records
// themselves (ctnetlink and conntrack -E print the timeout just set with each
// NEW/UPDATE), else from the capture's /proc snapshots, else kernel defaults.
// Entries deleted by userspace, evicted or lost keep their actual end; entries
// still alive when the capture ends stay alive to its end (their last refresh is
// unknown). Under a limit, an allocation finding the table full first evicts an
// entry that never became ASSURED (early_drop; optimistic: the kernel only
// looks in a few buckets), else it is refused — a drop, and the entry never
// exists. Table-full drops seen in the capture are attempts: if the simulated
// table had room then, they count as avoided (their lifetime is unknown, so they
// are not added).

import type { RecordColumns } from '../records/batch.js';
import type { RecordSink } from '../records/sink.js';
import type { ProcSnapshot } from '../proc/types.js';
import { Cause, IPS, Kind, TCP_STATE_NAMES } from '../records/layout.js';
import { UserError } from '../errors.js';

/** Timeout classes an entry can end in, as the sysctl keys (without nf_conntrack_). */
export const TIMEOUT_KEYS = [
  'generic_timeout',
  'tcp_timeout_syn_sent',
  'tcp_timeout_syn_recv',
  'tcp_timeout_established',
  'tcp_timeout_fin_wait',
  'tcp_timeout_close_wait',
  'tcp_timeout_last_ack',
  'tcp_timeout_time_wait',
  'tcp_timeout_close',
  'udp_timeout',
  'udp_timeout_stream',
  'icmp_timeout',
  'icmpv6_timeout',
  'gre_timeout',
  'gre_timeout_stream',
] as const;
export type TimeoutKey = (typeof TIMEOUT_KEYS)[number];

/** Linux 6.x defaults (net/netfilter/nf_conntrack_proto_*.c), seconds. */
export const KERNEL_DEFAULT_TIMEOUTS: Record<TimeoutKey, number> = {
  generic_timeout: 600,
  tcp_timeout_syn_sent: 120,
  tcp_timeout_syn_recv: 60,
  tcp_timeout_established: 432000,
  tcp_timeout_fin_wait: 120,
  tcp_timeout_close_wait: 60,
  tcp_timeout_last_ack: 30,
  tcp_timeout_time_wait: 120,
  tcp_timeout_close: 10,
  udp_timeout: 30,
  udp_timeout_stream: 120,
  icmp_timeout: 30,
  icmpv6_timeout: 30,
  gre_timeout: 30,
  gre_timeout_stream: 180,
};

const KEY_INDEX = new Map<string, number>(TIMEOUT_KEYS.map((k, i) => [k, i]));
const GENERIC = 0;
const TCP_CLASS: number[] = TCP_STATE_NAMES.map((name) => {
  const k = name === 'SYN_SENT2' ? 'syn_sent' : name.toLowerCase();
  return KEY_INDEX.get(`tcp_timeout_${k}`) ?? GENERIC;
});

/** The timeout class of an entry in this protocol, TCP state and status. */
export function timeoutClass(proto: number, state: number, status: number): number {
  switch (proto) {
    case 6:
      return TCP_CLASS[state] ?? GENERIC;
    case 17:
    case 136:
      return KEY_INDEX.get(status & IPS.ASSURED ? 'udp_timeout_stream' : 'udp_timeout')!;
    case 1:
      return KEY_INDEX.get('icmp_timeout')!;
    case 58:
      return KEY_INDEX.get('icmpv6_timeout')!;
    case 47:
      return KEY_INDEX.get(status & IPS.ASSURED ? 'gre_timeout_stream' : 'gre_timeout')!;
    default:
      return GENERIC;
  }
}

export interface WhatIfSpec {
  timeouts: Partial<Record<TimeoutKey, number>>;
  max?: number;
}

/** A --what-if value that cannot be read: a command-line error (exit code 2). */
export class WhatIfSpecError extends UserError {
  constructor(message: string) {
    super(message, 2);
  }
}

/** Parse 'tcp_timeout_time_wait=30,udp_timeout=10,max=65536'. Throws WhatIfSpecError. */
export function parseWhatIf(text: string): WhatIfSpec {
  const spec: WhatIfSpec = { timeouts: {} };
  const seen = new Set<string>();
  const items = text.split(',').map((s) => s.trim());
  if (text.trim() === '') throw new WhatIfSpecError(`--what-if is empty; give KEY=VALUE[,KEY=VALUE...], e.g. 'tcp_timeout_time_wait=30,max=65536'`);
  for (const item of items) {
    if (item === '') throw new WhatIfSpecError(`--what-if '${text}' has an empty item (two commas?)`);
    const eq = item.indexOf('=');
    if (eq <= 0) throw new WhatIfSpecError(`--what-if item '${item}' is not KEY=VALUE`);
    let key = item.slice(0, eq).trim().replace(/^net\.netfilter\./, '').replace(/^nf_conntrack_/, '');
    const value = item.slice(eq + 1).trim();
    if (key === 'nf_conntrack_max' || key === 'conntrack_max') key = 'max';
    if (seen.has(key)) throw new WhatIfSpecError(`--what-if sets ${key} twice`);
    seen.add(key);
    if (!/^\d+$/.test(value)) throw new WhatIfSpecError(`--what-if ${key}=${value}: expected a whole number${key === 'max' ? ' of entries' : ' of seconds'}`);
    const n = Number(value);
    if (key === 'max') {
      if (n < 1 || n > 2 ** 31 - 1) throw new WhatIfSpecError(`--what-if max=${value}: must be between 1 and ${2 ** 31 - 1}`);
      spec.max = n;
      continue;
    }
    if (!KEY_INDEX.has(key)) {
      const near = TIMEOUT_KEYS.filter((k) => k.includes(key) || key.includes(k) || editDistance(k, key) <= 3);
      throw new WhatIfSpecError(
        `--what-if: unknown key '${item.slice(0, eq).trim()}'${near.length ? ` (did you mean ${near.join(' or ')}?)` : ''}; keys: max, ${TIMEOUT_KEYS.join(', ')}`,
      );
    }
    if (n < 1 || n > 10 * 365 * 86400) throw new WhatIfSpecError(`--what-if ${key}=${value}: seconds must be between 1 and ${10 * 365 * 86400}`);
    spec.timeouts[key as TimeoutKey] = n;
  }
  return spec;
}

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0]!;
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = d[j]!;
      d[j] = Math.min(d[j]! + 1, d[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return d[b.length]!;
}

// ---------------------------------------------------------------------------
// Collecting lifetimes from records

const F_ASSURED = 1;
const F_EXPIRED = 2; // ended by a timeout (or an unknown cause): its end moves with the timeout
const F_OPEN = 4; // still alive at the end of the capture
const F_START_UNKNOWN = 8; // alive when the capture began

class Grow64 {
  a = new Float64Array(1024);
  push(i: number, v: number): void {
    if (i >= this.a.length) {
      const b = new Float64Array(this.a.length * 2);
      b.set(this.a);
      this.a = b;
    }
    this.a[i] = v;
  }
}
class Grow32 {
  a = new Uint32Array(1024);
  push(i: number, v: number): void {
    if (i >= this.a.length) {
      const b = new Uint32Array(this.a.length * 2);
      b.set(this.a);
      this.a = b;
    }
    this.a[i] = v;
  }
}

/** A RecordSink that keeps what the what-if simulation needs: one lifetime per entry. */
export class LifetimeCollector implements RecordSink {
  // finished entries, in order of their end; simulate() sorts by start
  private n = 0;
  private readonly start = new Grow64();
  private readonly end = new Grow64();
  private readonly last = new Grow64();
  private readonly info = new Grow32(); // class << 8 | flags
  private readonly netnsOf = new Grow32();
  // live entries: id -> slot in the live arrays
  private readonly live = new Map<bigint, number>();
  private liveStart: number[] = [];
  private liveLast: number[] = [];
  private liveInfo: number[] = [];
  private liveNetns: number[] = [];
  private free: number[] = [];
  /** Timeout per class as seen in the records (aux of NEW/UPDATE), seconds. */
  readonly learned: (number | undefined)[] = [];
  readonly tableFullTs: number[] = [];
  readonly tableFullNetns: number[] = [];
  /** Netfilter drop records (tp_btf kfree_skb): table-full drops among others. */
  readonly dropTs: number[] = [];
  readonly dropNetns: number[] = [];
  /** Lowest nf_conntrack_max seen per netns (it may change during a capture). */
  readonly minMax = new Map<number, number>();
  drops = 0;
  evictions = 0;
  firstTs = Infinity;
  lastTs = -Infinity;
  lastProc = new Map<number, ProcSnapshot>();
  firstProc = new Map<number, ProcSnapshot>();
  readonly maxFlows: number;
  truncatedFlows = 0;

  constructor(opts: { maxFlows?: number } = {}) {
    this.maxFlows = opts.maxFlows ?? 50_000_000;
  }

  readonly procPeak = new Map<number, number>();

  ingestProc(s: ProcSnapshot): void {
    if (!this.firstProc.has(s.netns)) this.firstProc.set(s.netns, s);
    this.lastProc.set(s.netns, s);
    this.procPeak.set(s.netns, Math.max(this.procPeak.get(s.netns) ?? 0, s.count));
    if (s.max > 0) this.minMax.set(s.netns, Math.min(this.minMax.get(s.netns) ?? Infinity, s.max));
  }

  ingest(b: RecordColumns): void {
    for (let i = 0; i < b.length; i++) {
      const ts = b.ts[i]!;
      if (ts < this.firstTs) this.firstTs = ts;
      if (ts > this.lastTs) this.lastTs = ts;
      const kind = b.kind[i]!;
      switch (kind) {
        case Kind.ALLOC:
        case Kind.SEEN:
        case Kind.UPDATE:
        case Kind.CONFIRM: {
          const id = b.id[i]!;
          const cls = timeoutClass(b.proto[i]!, b.state[i]!, b.status[i]!);
          if (kind !== Kind.SEEN && kind !== Kind.CONFIRM && b.aux[i]! > 0) this.learned[cls] = b.aux[i];
          const flags = b.status[i]! & IPS.ASSURED ? F_ASSURED : 0;
          let slot = this.live.get(id);
          if (slot === undefined) {
            if (kind === Kind.CONFIRM) break; // the ALLOC opens it
            slot = this.free.pop() ?? this.liveStart.length;
            this.live.set(id, slot);
            const startKnown = kind === Kind.ALLOC;
            this.liveStart[slot] = startKnown ? ts : Math.min(ts, this.firstTs);
            this.liveInfo[slot] = (cls << 8) | flags | (startKnown ? 0 : F_START_UNKNOWN);
            this.liveNetns[slot] = b.netns[i]!;
          } else if (kind === Kind.ALLOC) {
            // the id came back (reused): the old entry ended unseen
            this.finish(slot, ts, F_EXPIRED);
            this.liveStart[slot] = ts;
            this.liveInfo[slot] = (cls << 8) | flags;
            this.liveNetns[slot] = b.netns[i]!;
          } else if (kind !== Kind.CONFIRM) {
            this.liveInfo[slot] = (cls << 8) | (this.liveInfo[slot]! & (F_ASSURED | F_START_UNKNOWN)) | flags;
          }
          this.liveLast[slot] = ts;
          break;
        }
        case Kind.DESTROY: {
          const id = b.id[i]!;
          let slot = this.live.get(id);
          const cls = timeoutClass(b.proto[i]!, b.state[i]!, b.status[i]!);
          const cause = b.cause[i]!;
          const expired = cause === Cause.TIMEOUT || cause === Cause.UNKNOWN ? F_EXPIRED : 0;
          if (slot === undefined) {
            // alive before the capture began and never seen until now
            slot = this.free.pop() ?? this.liveStart.length;
            this.liveStart[slot] = Math.min(ts, this.firstTs);
            this.liveLast[slot] = this.liveStart[slot]!;
            this.liveNetns[slot] = b.netns[i]!;
            this.liveInfo[slot] = F_START_UNKNOWN;
          } else this.live.delete(id);
          const assured = (this.liveInfo[slot]! | (b.status[i]! & IPS.ASSURED ? F_ASSURED : 0)) & F_ASSURED;
          this.liveInfo[slot] = (cls << 8) | (this.liveInfo[slot]! & F_START_UNKNOWN) | assured;
          if (cause === Cause.EVICTED) this.evictions++;
          this.finish(slot, ts, expired);
          this.free.push(slot);
          break;
        }
        case Kind.SYNC: {
          // live entries of that netns not seen since the dump began are gone
          const netns = b.netns[i]!;
          const since = b.start[i]!;
          for (const [id, slot] of this.live) {
            if (this.liveNetns[slot] === netns && this.liveLast[slot]! < since) {
              this.live.delete(id);
              this.finish(slot, ts, 0);
              this.free.push(slot);
            }
          }
          break;
        }
        case Kind.TABLE_FULL:
          this.tableFullTs.push(ts);
          this.tableFullNetns.push(b.netns[i]!);
          break;
        case Kind.DROP:
          this.drops++;
          this.dropTs.push(ts);
          this.dropNetns.push(b.netns[i]!);
          break;
        case Kind.EVICT:
          this.evictions++;
          break;
        default:
          break;
      }
    }
  }

  private finish(slot: number, end: number, extra: number): void {
    if (this.n >= this.maxFlows) {
      this.truncatedFlows++;
      return;
    }
    const k = this.n++;
    this.start.push(k, this.liveStart[slot]!);
    this.end.push(k, end);
    this.last.push(k, this.liveLast[slot]!);
    this.info.push(k, this.liveInfo[slot]! | extra);
    this.netnsOf.push(k, this.liveNetns[slot]!);
  }

  /** Close the collection: entries still alive stay open to the capture's end. */
  lifetimes(): Lifetimes {
    const end = this.lastTs;
    for (const slot of this.live.values()) this.finish(slot, end, F_OPEN);
    this.live.clear();
    const n = this.n;
    return {
      n,
      start: this.start.a.subarray(0, n),
      end: this.end.a.subarray(0, n),
      last: this.last.a.subarray(0, n),
      info: this.info.a.subarray(0, n),
      netns: this.netnsOf.a.subarray(0, n),
      firstTs: Number.isFinite(this.firstTs) ? this.firstTs : 0,
      lastTs: Number.isFinite(this.lastTs) ? this.lastTs : 0,
    };
  }
}

export interface Lifetimes {
  n: number;
  start: Float64Array;
  end: Float64Array;
  last: Float64Array;
  info: Uint32Array;
  netns: Uint32Array;
  firstTs: number;
  lastTs: number;
}

// ---------------------------------------------------------------------------
// Simulation

export interface Occupancy {
  peak: number;
  mean: number;
  /** Seconds with the table at or above 70/85/95 % of max (null without a max). */
  seconds_above: { '70': number; '85': number; '95': number } | null;
  drops: number;
  evictions: number;
}

export interface WhatIfNetns {
  netns: number;
  entries: number;
  actual: Occupancy & { max: number | null; kernel_peak_count: number | null; kernel_drops: number | null; kernel_early_drops: number | null };
  what_if: Occupancy & { max: number | null; avoided_drops: number; table_full_attempts_admitted: number };
}

export interface WhatIfResult {
  spec: { timeouts: Record<string, number>; max: number | null };
  /** Timeout per class the capture actually ran with, and where each came from. */
  actual_timeouts: Record<string, { seconds: number; from: 'records' | 'proc' | 'kernel default' }>;
  duration_seconds: number;
  entries: number;
  by_netns: WhatIfNetns[];
  notes: string[];
}

/** Run the what-if over what `c` collected. */
export function simulate(c: LifetimeCollector, spec: WhatIfSpec): WhatIfResult {
  const lt = c.lifetimes();
  const notes: string[] = [];
  // actual timeouts per class: records > proc > defaults
  const procTimeouts: Record<string, number> = {};
  for (const s of c.lastProc.values()) Object.assign(procTimeouts, s.timeouts);
  const actualT: number[] = [];
  const actualTimeouts: WhatIfResult['actual_timeouts'] = {};
  const newT: number[] = [];
  TIMEOUT_KEYS.forEach((k, i) => {
    const learned = c.learned[i];
    const proc = procTimeouts[k];
    const [seconds, from] = learned !== undefined ? [learned, 'records' as const] : proc !== undefined ? [proc, 'proc' as const] : [KERNEL_DEFAULT_TIMEOUTS[k], 'kernel default' as const];
    actualT[i] = seconds * 1e9;
    actualTimeouts[k] = { seconds, from };
    newT[i] = (spec.timeouts[k] ?? seconds) * 1e9;
  });
  if (c.truncatedFlows > 0) notes.push(`${c.truncatedFlows} entries beyond the ${c.maxFlows} simulated were left out`);

  // what-if end of every entry
  const wEnd = new Float64Array(lt.n);
  let moved = 0;
  for (let k = 0; k < lt.n; k++) {
    const info = lt.info[k]!;
    const cls = info >>> 8;
    if (info & F_EXPIRED && !(info & F_OPEN) && actualT[cls] !== newT[cls]) {
      const refresh = Math.max(lt.last[k]!, lt.end[k]! - actualT[cls]!);
      wEnd[k] = Math.max(lt.last[k]!, refresh + newT[cls]!);
      moved++;
    } else wEnd[k] = lt.end[k]!;
  }
  if (Object.keys(spec.timeouts).length > 0 && moved === 0) notes.push('no entry ended in a state whose timeout the what-if changes');

  // by netns (nf_conntrack_max is global, the count it is compared with is per netns)
  const groups = new Map<number, number[]>();
  for (let k = 0; k < lt.n; k++) {
    const ns = lt.netns[k]!;
    let g = groups.get(ns);
    if (!g) groups.set(ns, (g = []));
    g.push(k);
  }
  const fullByNs = new Map<number, number[]>();
  c.tableFullTs.forEach((ts, i) => {
    const ns = c.tableFullNetns[i]!;
    let g = fullByNs.get(ns);
    if (!g) fullByNs.set(ns, (g = []));
    g.push(ts);
  });
  for (const ns of fullByNs.keys()) if (!groups.has(ns)) groups.set(ns, []);

  const t0 = lt.firstTs;
  const t1 = lt.lastTs;
  const byNetns: WhatIfNetns[] = [];
  for (const [ns, idx] of groups) {
    const first = c.firstProc.get(ns);
    const last = c.lastProc.get(ns);
    const actualMax = c.minMax.get(ns) ?? null;
    if (actualMax !== null && last && last.max !== actualMax) {
      notes.push(`nf_conntrack_max changed during the capture (netns ${ns}: lowest ${actualMax}, last ${last.max}); the actual column uses the lowest`);
    }
    const kernelDrops = first && last && 'drop' in last.stats ? (last.stats.drop ?? 0) - (first.stats.drop ?? 0) : null;
    let full = (fullByNs.get(ns) ?? []).sort((a, b) => a - b);
    if (full.length === 0 && kernelDrops && kernelDrops > 0) {
      // no table-full records (the ctnetlink fallback cannot see them), but the
      // kernel counted conntrack drops: take the netfilter drop records of this
      // netns as those attempts, as many as the kernel counted
      full = c.dropTs.filter((_, i) => c.dropNetns[i] === ns).sort((a, b) => a - b).slice(0, kernelDrops);
      if (full.length) notes.push(`netns ${ns}: ${full.length} netfilter drop records taken as table-full attempts (the kernel counted ${kernelDrops} conntrack drops)`);
    }
    const actual = sweep(idx, lt.start, lt.end, lt.info, t0, t1, Infinity, actualMax, full, false);
    const wMax = spec.max ?? actualMax;
    const w = sweep(idx, lt.start, wEnd, lt.info, t0, t1, spec.max ?? Infinity, wMax, full, true);
    const kernelPeak = peakProcCount(c, ns);
    byNetns.push({
      netns: ns,
      entries: idx.length,
      actual: {
        ...actual.occ,
        drops: full.length,
        evictions: c.evictions,
        max: actualMax,
        kernel_peak_count: kernelPeak,
        kernel_drops: kernelDrops,
        kernel_early_drops: first && last && 'early_drop' in last.stats ? (last.stats.early_drop ?? 0) - (first.stats.early_drop ?? 0) : null,
      },
      what_if: {
        ...w.occ,
        max: wMax,
        avoided_drops: Math.max(0, full.length - w.fullStillDropped),
        table_full_attempts_admitted: full.length - w.fullStillDropped,
      },
    });
  }
  byNetns.sort((a, b) => b.actual.peak - a.actual.peak);
  if (!spec.max && byNetns.every((n) => n.actual.max === null)) {
    notes.push('nf_conntrack_max unknown (no /proc snapshot in the capture): pass max=N to see time above 70/85/95 %');
  }
  if (c.tableFullTs.length === 0 && c.drops === 0 && byNetns.every((n) => !n.actual.kernel_drops)) notes.push('the capture holds no table-full drop records (a text import or a source without the drop hook cannot see them)');
  return {
    spec: { timeouts: { ...spec.timeouts }, max: spec.max ?? null },
    actual_timeouts: actualTimeouts,
    duration_seconds: Math.max(0, (t1 - t0) / 1e9),
    entries: lt.n,
    by_netns: byNetns,
    notes,
  };
}

function peakProcCount(c: LifetimeCollector, ns: number): number | null {
  return c.procPeak.get(ns) ?? null;
}

/** A min-heap of (time, entry) pairs. */
class Heap {
  t: number[] = [];
  k: number[] = [];
  get size(): number {
    return this.t.length;
  }
  push(t: number, k: number): void {
    const a = this.t;
    const b = this.k;
    let i = a.length;
    a.push(t);
    b.push(k);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p]! <= t) break;
      a[i] = a[p]!;
      b[i] = b[p]!;
      i = p;
    }
    a[i] = t;
    b[i] = k;
  }
  peek(): number {
    return this.t[0]!;
  }
  pop(): number {
    const a = this.t;
    const b = this.k;
    const top = b[0]!;
    const lt = a.pop()!;
    const lk = b.pop()!;
    const n = a.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const m = r < n && a[r]! < a[l]! ? r : l;
        if (a[m]! >= lt) break;
        a[i] = a[m]!;
        b[i] = b[m]!;
        i = m;
      }
      a[i] = lt;
      b[i] = lk;
    }
    return top;
  }
}

function sweep(
  idx: number[],
  start: Float64Array,
  end: Float64Array,
  info: Uint32Array,
  t0: number,
  t1: number,
  limit: number,
  max: number | null,
  tableFull: number[],
  admitTableFull: boolean,
): { occ: Occupancy; fullStillDropped: number } {
  const order = idx.slice().sort((a, b) => start[a]! - start[b]!);
  const heap = new Heap();
  const gone = new Uint8Array(start.length); // evicted before their end
  const evictable: number[] = [];
  const thr = max ? [0.7 * max, 0.85 * max, 0.95 * max] : null;
  const above = [0, 0, 0];
  let count = 0;
  let peak = 0;
  let area = 0;
  let lastT = t0;
  let drops = 0;
  let evictions = 0;
  let fullStillDropped = 0;
  let fi = 0;
  const advance = (t: number) => {
    const dt = Math.max(0, t - lastT);
    if (dt > 0) {
      area += count * dt;
      if (thr) for (let j = 0; j < 3; j++) if (count >= thr[j]!) above[j]! += dt;
      lastT = t;
    }
  };
  const expireUntil = (t: number) => {
    while (heap.size > 0 && heap.peek() <= t) {
      const et = heap.peek();
      const k = heap.pop();
      if (gone[k]) continue;
      advance(et);
      count--;
    }
  };
  const evictOne = (t: number): boolean => {
    while (evictable.length > 0) {
      const k = evictable.pop()!;
      if (gone[k] || end[k]! <= t) continue;
      gone[k] = 1;
      count--;
      evictions++;
      return true;
    }
    return false;
  };
  for (const k of order) {
    const s = start[k]!;
    // table-full attempts in the capture before this allocation
    while (fi < tableFull.length && tableFull[fi]! < s) {
      const ft = tableFull[fi++]!;
      expireUntil(ft);
      if (!admitTableFull || count >= limit) fullStillDropped++;
    }
    expireUntil(s);
    advance(s);
    if (count >= limit && !evictOne(s)) {
      drops++;
      continue;
    }
    count++;
    if (count > peak) peak = count;
    heap.push(end[k]!, k);
    if (!(info[k]! & F_ASSURED)) evictable.push(k);
  }
  while (fi < tableFull.length) {
    const ft = tableFull[fi++]!;
    expireUntil(ft);
    if (!admitTableFull || count >= limit) fullStillDropped++;
  }
  expireUntil(t1);
  advance(t1);
  const dur = Math.max(0, t1 - t0);
  return {
    occ: {
      peak,
      mean: dur > 0 ? area / dur : count,
      seconds_above: thr ? { '70': above[0]! / 1e9, '85': above[1]! / 1e9, '95': above[2]! / 1e9 } : null,
      drops,
      evictions,
    },
    fullStillDropped,
  };
}
