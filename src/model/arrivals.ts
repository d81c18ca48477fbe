// New-flow arrivals seen at netdev ingress, before conntrack (the ingress
// source, bpf/ingress.bpf.c), kept in 1 s windows per source address, per
// destination port and per protocol. Arrivals against allocations (the
// Model) are the attack and the overload: a SYN flood arrives by the
// thousand and is admitted, if at all, as entries that never get ASSURED.
//
// Input is already aggregated in the kernel: one delta per second with at
// most a few thousand keys, so plain arrays per second are cheap. Memory is
// bounded: a second keeps at most `keysPerSecond` keys (the largest), and
// seconds older than `trimAfter` keep only `trimKeys`; what a trim drops is
// added to the answer's error_bound, as are arrivals the kernel could not
// attribute because a counting map was full. Totals (and so by=proto) are
// always exact: the kernel counts them apart from the keyed maps.

import { formatAddress } from '../records/address.js';
import { protoName } from './keys.js';

export const ARRIVAL_DIMENSIONS = ['src', 'dport', 'proto'] as const;
export type ArrivalDimension = (typeof ARRIVAL_DIMENSIONS)[number];

const TCP = 6;
const UDP = 17;

/** One drain of the kernel maps (IngressCounter.collect()), stats already turned into deltas. */
export interface ArrivalDelta {
  src: ReadonlyArray<{ family: number; addr: Uint8Array; tcpSyn: number; udpNew: number }>;
  ports: ReadonlyArray<{ proto: number; port: number; count: number }>;
  pairs: ReadonlyArray<{ family: number; addr: Uint8Array; proto: number; port: number; count: number }>;
  /** Exact arrivals in this delta, whatever the maps held. */
  tcpSyn: number;
  udpNew: number;
  /** Arrivals not attributed per source / per port / per (source, port): a map was full. */
  srcOverflow: number;
  portOverflow: number;
  pairOverflow: number;
}

export interface ArrivalItem {
  key: string;
  /** Arrivals in the window (TCP SYNs + first UDP packets); a lower bound, exact when error_bound is 0. */
  count: number;
  rate: number;
  share: number;
  tcp_syn: number;
  udp_new: number;
  /** Entries conntrack allocated for this key in the window (from the Model). */
  admitted?: number;
  /** Packets of this key dropped in the window, any drop kind (from the Model). */
  dropped?: number;
}

export interface ArrivalsResult {
  by: ArrivalDimension;
  window: number;
  total: number;
  items: ArrivalItem[];
  /** Any key's true count is at most its count + error_bound. */
  error_bound: number;
}

export interface ArrivalsOptions {
  /** Seconds of history (default 900). */
  historySeconds?: number;
  /** Keys per second and dimension kept (default 4096). */
  keysPerSecond?: number;
  /** Seconds after which a second is trimmed to trimKeys (default 60). */
  trimAfter?: number;
  trimKeys?: number;
  /** Seconds of (source, port) pairs kept for scan detection (default 60). */
  pairSeconds?: number;
  /** The clock, in whole or fractional seconds (default: CLOCK_MONOTONIC). */
  now?: () => number;
}

/** Keyed counts of one second: parallel arrays, largest first after a trim. */
interface Keyed {
  keys: string[];
  syn: Float64Array;
  udp: Float64Array;
  /** Largest count a trim removed (any one key may be undercounted by this much). */
  trimmed: number;
}

interface Second {
  sec: number;
  tcpSyn: number;
  udpNew: number;
  src: Keyed;
  port: Keyed;
  /** Arrivals the kernel could not attribute (map full). */
  srcOverflow: number;
  portOverflow: number;
  pairOverflow: number;
  /** source -> "proto/port" -> count; dropped after pairSeconds. */
  pairs: Map<string, Map<string, number>> | null;
}

const EMPTY_KEYED: Keyed = { keys: [], syn: new Float64Array(0), udp: new Float64Array(0), trimmed: 0 };

function monotonicSeconds(): number {
  return Number(process.hrtime.bigint()) / 1e9;
}

/** Text key of an address (the same text the Model uses for src). */
export function addressText(family: number, addr: Uint8Array): string {
  return formatAddress(addr, 0, family);
}

function keyed(m: Map<string, [number, number]>, cap: number): Keyed {
  const entries = [...m];
  let trimmed = 0;
  if (entries.length > cap) {
    entries.sort((a, b) => b[1][0] + b[1][1] - (a[1][0] + a[1][1]));
    for (let i = cap; i < entries.length; i++) trimmed = Math.max(trimmed, entries[i]![1][0] + entries[i]![1][1]);
    entries.length = cap;
  }
  const out: Keyed = { keys: new Array(entries.length), syn: new Float64Array(entries.length), udp: new Float64Array(entries.length), trimmed };
  entries.forEach(([k, [s, u]], i) => {
    out.keys[i] = k;
    out.syn[i] = s;
    out.udp[i] = u;
  });
  return out;
}

function trimKeyed(k: Keyed, cap: number): Keyed {
  if (k.keys.length <= cap) return k;
  const m = new Map<string, [number, number]>();
  k.keys.forEach((key, i) => m.set(key, [k.syn[i]!, k.udp[i]!]));
  const t = keyed(m, cap);
  t.trimmed = Math.max(t.trimmed, k.trimmed);
  return t;
}

export class ArrivalsModel {
  readonly historySeconds: number;
  readonly keysPerSecond: number;
  private readonly trimAfter: number;
  private readonly trimKeys: number;
  private readonly pairSeconds: number;
  private readonly now: () => number;
  /** Oldest first; at most one entry per second. */
  private seconds: Second[] = [];
  /** Since start. */
  readonly totals = { tcpSyn: 0, udpNew: 0, srcOverflow: 0, portOverflow: 0, pairOverflow: 0 };

  constructor(opts: ArrivalsOptions = {}) {
    this.historySeconds = opts.historySeconds ?? 900;
    this.keysPerSecond = opts.keysPerSecond ?? 4096;
    this.trimAfter = opts.trimAfter ?? 60;
    this.trimKeys = opts.trimKeys ?? 256;
    this.pairSeconds = opts.pairSeconds ?? 60;
    this.now = opts.now ?? monotonicSeconds;
  }

  private currentSecond(): number {
    return Math.floor(this.now());
  }

  /** Adds one drain of the kernel maps, dated now. */
  add(d: ArrivalDelta): void {
    const sec = this.currentSecond();
    const src = new Map<string, [number, number]>();
    for (const e of d.src) {
      const k = addressText(e.family, e.addr);
      const v = src.get(k);
      if (v) {
        v[0] += e.tcpSyn;
        v[1] += e.udpNew;
      } else src.set(k, [e.tcpSyn, e.udpNew]);
    }
    // dport keys are the port alone, as in the Model (both protocols; the
    // split is in tcp_syn / udp_new).
    const port = new Map<string, [number, number]>();
    for (const e of d.ports) {
      const k = String(e.port);
      let v = port.get(k);
      if (!v) port.set(k, (v = [0, 0]));
      if (e.proto === TCP) v[0] += e.count;
      else v[1] += e.count;
    }
    const pairs = new Map<string, Map<string, number>>();
    for (const e of d.pairs) {
      const s = addressText(e.family, e.addr);
      let m = pairs.get(s);
      if (!m) pairs.set(s, (m = new Map()));
      const pk = `${protoName(e.proto)}/${e.port}`;
      m.set(pk, (m.get(pk) ?? 0) + e.count);
    }
    const last = this.seconds[this.seconds.length - 1];
    if (last && last.sec === sec) {
      // Two drains within one second (a stop() flush): merge.
      last.src.keys.forEach((k, i) => {
        const v = src.get(k);
        if (v) {
          v[0] += last.src.syn[i]!;
          v[1] += last.src.udp[i]!;
        } else src.set(k, [last.src.syn[i]!, last.src.udp[i]!]);
      });
      last.port.keys.forEach((k, i) => {
        const v = port.get(k);
        if (v) {
          v[0] += last.port.syn[i]!;
          v[1] += last.port.udp[i]!;
        } else port.set(k, [last.port.syn[i]!, last.port.udp[i]!]);
      });
      for (const [s, m] of last.pairs ?? []) {
        let n = pairs.get(s);
        if (!n) pairs.set(s, (n = new Map()));
        for (const [k, c] of m) n.set(k, (n.get(k) ?? 0) + c);
      }
      const srcK = keyed(src, this.keysPerSecond);
      const portK = keyed(port, this.keysPerSecond);
      srcK.trimmed = Math.max(srcK.trimmed, last.src.trimmed);
      portK.trimmed = Math.max(portK.trimmed, last.port.trimmed);
      last.src = srcK;
      last.port = portK;
      last.pairs = pairs;
      last.tcpSyn += d.tcpSyn;
      last.udpNew += d.udpNew;
      last.srcOverflow += d.srcOverflow;
      last.portOverflow += d.portOverflow;
      last.pairOverflow += d.pairOverflow;
    } else {
      this.seconds.push({
        sec,
        tcpSyn: d.tcpSyn,
        udpNew: d.udpNew,
        src: src.size ? keyed(src, this.keysPerSecond) : EMPTY_KEYED,
        port: port.size ? keyed(port, this.keysPerSecond) : EMPTY_KEYED,
        srcOverflow: d.srcOverflow,
        portOverflow: d.portOverflow,
        pairOverflow: d.pairOverflow,
        pairs: pairs.size ? pairs : null,
      });
    }
    this.totals.tcpSyn += d.tcpSyn;
    this.totals.udpNew += d.udpNew;
    this.totals.srcOverflow += d.srcOverflow;
    this.totals.portOverflow += d.portOverflow;
    this.totals.pairOverflow += d.pairOverflow;
    this.expire(sec);
  }

  private expire(sec: number): void {
    let drop = 0;
    while (drop < this.seconds.length && this.seconds[drop]!.sec <= sec - this.historySeconds) drop++;
    if (drop) this.seconds.splice(0, drop);
    for (const s of this.seconds) {
      if (s.pairs && s.sec <= sec - this.pairSeconds) s.pairs = null;
      if (s.sec <= sec - this.trimAfter) {
        s.src = trimKeyed(s.src, this.trimKeys);
        s.port = trimKeyed(s.port, this.trimKeys);
      }
    }
  }

  private inWindow(window: number): Second[] {
    const to = this.currentSecond();
    const from = to - window + 1;
    return this.seconds.filter((s) => s.sec >= from && s.sec <= to);
  }

  /** Exact arrivals in the last `window` seconds. */
  windowTotals(window: number): { tcpSyn: number; udpNew: number; srcOverflow: number; portOverflow: number; pairOverflow: number } {
    const t = { tcpSyn: 0, udpNew: 0, srcOverflow: 0, portOverflow: 0, pairOverflow: 0 };
    for (const s of this.inWindow(window)) {
      t.tcpSyn += s.tcpSyn;
      t.udpNew += s.udpNew;
      t.srcOverflow += s.srcOverflow;
      t.portOverflow += s.portOverflow;
      t.pairOverflow += s.pairOverflow;
    }
    return t;
  }

  /** Top keys of `by` over the last `window` seconds (the shared top-k shape). */
  query(q: { by: ArrivalDimension; window: number; limit: number }): ArrivalsResult {
    const window = Math.max(1, Math.min(q.window, this.historySeconds));
    const secs = this.inWindow(window);
    let tcp = 0;
    let udp = 0;
    for (const s of secs) {
      tcp += s.tcpSyn;
      udp += s.udpNew;
    }
    const total = tcp + udp;
    const item = (key: string, s: number, u: number): ArrivalItem => ({
      key,
      count: s + u,
      rate: round((s + u) / window),
      share: total > 0 ? round((s + u) / total) : 0,
      tcp_syn: s,
      udp_new: u,
    });
    if (q.by === 'proto') {
      const items: ArrivalItem[] = [];
      if (tcp) items.push(item(protoName(TCP), tcp, 0));
      if (udp) items.push(item(protoName(UDP), 0, udp));
      items.sort((a, b) => b.count - a.count);
      return { by: q.by, window, total, items: items.slice(0, q.limit), error_bound: 0 };
    }
    const sums = new Map<string, [number, number]>();
    let bound = 0;
    for (const s of secs) {
      const k = q.by === 'src' ? s.src : s.port;
      bound += k.trimmed + (q.by === 'src' ? s.srcOverflow : s.portOverflow);
      for (let i = 0; i < k.keys.length; i++) {
        const v = sums.get(k.keys[i]!);
        if (v) {
          v[0] += k.syn[i]!;
          v[1] += k.udp[i]!;
        } else sums.set(k.keys[i]!, [k.syn[i]!, k.udp[i]!]);
      }
    }
    const items = [...sums]
      .map(([key, [s, u]]) => item(key, s, u))
      .sort((a, b) => b.count - a.count || (a.key < b.key ? -1 : 1))
      .slice(0, q.limit);
    return { by: q.by, window, total, items, error_bound: bound };
  }

  /**
   * Distinct (protocol, port) pairs per source over the last `window`
   * seconds (at most pairSeconds), for scan detection: the sources with the
   * most distinct ports first.
   */
  portsPerSource(window: number, limit = 10): Array<{ src: string; ports: number; arrivals: number; sample: string[] }> {
    const w = Math.min(window, this.pairSeconds);
    const per = new Map<string, Map<string, number>>();
    for (const s of this.inWindow(w)) {
      for (const [src, m] of s.pairs ?? []) {
        let n = per.get(src);
        if (!n) per.set(src, (n = new Map()));
        for (const [k, c] of m) n.set(k, (n.get(k) ?? 0) + c);
      }
    }
    return [...per]
      .map(([src, m]) => {
        let arrivals = 0;
        for (const c of m.values()) arrivals += c;
        return { src, ports: m.size, arrivals, sample: [...m.keys()].slice(0, 10) };
      })
      .sort((a, b) => b.ports - a.ports || b.arrivals - a.arrivals)
      .slice(0, limit);
  }

  /** Seconds with data kept (for status). */
  get span(): number {
    return this.seconds.length;
  }
}

export function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
