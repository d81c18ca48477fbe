// Single entries as an operator reads them: live flows matching a filter
// (/v1/flows), the recently closed ones (/v1/flows?closed=true), and one
// entry by id, live or among the recently closed (/v1/flows/:id).

import { CAUSE_NAMES, IPS } from '../../records/layout.js';
import { parseAddress } from '../../records/address.js';
import { DIM, TWO32, formatAddressKey, protoName } from '../keys.js';
import { FF } from '../flow-table.js';
import { stateName } from '../states.js';
import type { ModelState } from '../model-state.js';
import { round } from './round.js';

export interface FlowFilter {
  src?: string;
  dst?: string;
  sport?: number;
  dport?: number;
  proto?: number;
  /** State code (states.ts). */
  state?: number;
  netns?: number;
  zone?: number;
  mark?: number;
  limit?: number;
}

export interface FlowView {
  id: string;
  live: boolean;
  proto: string;
  src: string;
  sport: number;
  dst: string;
  dport: number;
  netns: number;
  zone: number;
  mark: number;
  state: string;
  status: number;
  confirmed: boolean;
  /** How the model learnt of the entry. */
  opened: 'alloc' | 'seen_at_start' | 'seen_at_resync' | 'update';
  /** CLOCK_BOOTTIME seconds of the allocation (or of the first record when start_known is false). */
  start_s: number;
  start_known: boolean;
  age_s: number;
  last_seen_s_ago: number;
  state_since_s: number;
  /** Up to the last four states, oldest first. */
  states: string[];
  closed?: { at_s: number; cause: string; lifetime_s: number | null };
}

export class FlowQueries {
  constructor(private readonly st: ModelState) {}

  /** Live flows matching the filter, oldest first. */
  list(f: FlowFilter): { total: number; flows: FlowView[] } {
    const ft = this.st.flows;
    const src = f.src !== undefined ? this.addressFilter(f.src) : undefined;
    const dst = f.dst !== undefined ? this.addressFilter(f.dst) : undefined;
    const limit = f.limit ?? 100;
    const hits: number[] = [];
    let total = 0;
    for (let s = 0; s < ft.end; s++) {
      if (!ft.live(s)) continue;
      if (f.proto !== undefined && ft.proto(s) !== f.proto) continue;
      if (f.sport !== undefined && ft.sport(s) !== f.sport) continue;
      if (f.dport !== undefined && ft.dport(s) !== f.dport) continue;
      if (f.netns !== undefined && ft.netns(s) !== f.netns) continue;
      if (f.zone !== undefined && ft.zone(s) !== f.zone) continue;
      if (f.mark !== undefined && ft.mark(s) !== f.mark) continue;
      if (f.state !== undefined && ft.stateCode(s) !== f.state) continue;
      if (src !== undefined && ft.key(s, DIM.src) !== src) continue;
      if (dst !== undefined && ft.key(s, DIM.dst) !== dst) continue;
      total++;
      hits.push(s);
    }
    hits.sort((a, b) => ft.start(a) - ft.start(b));
    if (hits.length > limit) hits.length = limit;
    return { total, flows: hits.map((s) => this.liveView(s)) };
  }

  /** One entry (live, or among the recently closed) by its id. */
  byId(id: bigint): FlowView | null {
    const st = this.st;
    const lo = Number(id & 0xffffffffn);
    const hi = Number((id >> 32n) & 0xffffffffn);
    const s = st.flows.find(lo, hi);
    if (s >= 0 && (lo !== 0 || hi !== 0)) return this.liveView(s);
    const c = st.closed.find(lo, hi);
    return c < 0 ? null : this.closedView(c);
  }

  /** Recently closed entries matching the filter, newest first; `state` matches the state they ended in. */
  closed(f: FlowFilter): { total: number; flows: FlowView[] } {
    const cl = this.st.closed;
    const src = f.src !== undefined ? this.addressFilter(f.src) : undefined;
    const dst = f.dst !== undefined ? this.addressFilter(f.dst) : undefined;
    const limit = f.limit ?? 100;
    const hits: number[] = [];
    let total = 0;
    for (let k = 1; k <= cl.idLo.length; k++) {
      const c = cl.newest(k);
      if (c < 0) break;
      if (f.proto !== undefined && cl.proto[c] !== f.proto) continue;
      if (f.sport !== undefined && cl.sport[c] !== f.sport) continue;
      if (f.dport !== undefined && cl.dport[c] !== f.dport) continue;
      if (f.netns !== undefined && cl.netns[c] !== f.netns) continue;
      if (f.zone !== undefined && cl.zone[c] !== f.zone) continue;
      if (f.mark !== undefined && cl.mark[c] !== f.mark) continue;
      if (f.state !== undefined && (cl.hist[c]! & 0xff) !== f.state) continue;
      const v6 = cl.flags[c]! & FF.SRC_V6 ? TWO32 : 0;
      if (src !== undefined && v6 + cl.src[c]! !== src) continue;
      if (dst !== undefined && v6 + cl.dst[c]! !== dst) continue;
      total++;
      if (hits.length < limit) hits.push(c);
    }
    return { total, flows: hits.map((c) => this.closedView(c)) };
  }

  private closedView(c: number): FlowView {
    const st = this.st;
    const cl = st.closed;
    const fl = cl.flags[c]!;
    const srcKey = fl & FF.SRC_V6 ? TWO32 + cl.src[c]! : cl.src[c]!;
    const dstKey = fl & FF.SRC_V6 ? TWO32 + cl.dst[c]! : cl.dst[c]!;
    const end = cl.end[c]!;
    return {
      id: ((BigInt(cl.idHi[c]!) << 32n) | BigInt(cl.idLo[c]!)).toString(),
      live: false,
      proto: protoName(cl.proto[c]!),
      src: formatAddressKey(srcKey, st.v6),
      sport: cl.sport[c]!,
      dst: formatAddressKey(dstKey, st.v6),
      dport: cl.dport[c]!,
      netns: cl.netns[c]!,
      zone: cl.zone[c]!,
      mark: cl.mark[c]!,
      state: stateName(cl.hist[c]! & 0xff),
      status: cl.status[c]!,
      confirmed: confirmed(fl, cl.status[c]!),
      opened: openedName(fl),
      start_s: round(cl.start[c]! / 1e9),
      start_known: (fl & FF.START_KNOWN) !== 0,
      age_s: round(Math.max(0, end - cl.start[c]!) / 1e9),
      last_seen_s_ago: round(Math.max(0, st.nowNs - end) / 1e9),
      state_since_s: round(Math.max(0, end - cl.since[c]!) / 1e9),
      states: histNames(cl.hist[c]!),
      closed: { at_s: round(end / 1e9), cause: CAUSE_NAMES[cl.cause[c]!] ?? 'unknown', lifetime_s: cl.lifetime[c]! >= 0 ? round(cl.lifetime[c]! / 1e9) : null },
    };
  }

  private addressFilter(text: string): number {
    const p = parseAddress(text);
    if (!p) throw new RangeError(`'${text}' is not an IPv4 or IPv6 address`);
    return this.st.v6.lookup(p.bytes, p.family === 6);
  }

  private liveView(s: number): FlowView {
    const st = this.st;
    const ft = st.flows;
    const now = st.nowNs;
    const fl = ft.flags(s);
    const start = ft.start(s);
    return {
      id: ((BigInt(ft.idHi(s)) << 32n) | BigInt(ft.idLo(s))).toString(),
      live: true,
      proto: protoName(ft.proto(s)),
      src: formatAddressKey(ft.key(s, DIM.src), st.v6),
      sport: ft.sport(s),
      dst: formatAddressKey(ft.key(s, DIM.dst), st.v6),
      dport: ft.dport(s),
      netns: ft.netns(s),
      zone: ft.zone(s),
      mark: ft.mark(s),
      state: stateName(ft.stateCode(s)),
      status: ft.status(s),
      confirmed: confirmed(fl, ft.status(s)),
      opened: openedName(fl),
      start_s: round(start / 1e9),
      start_known: (fl & FF.START_KNOWN) !== 0,
      age_s: round(Math.max(0, now - start) / 1e9),
      last_seen_s_ago: round(Math.max(0, now - ft.lastNs(s)) / 1e9),
      state_since_s: round(Math.max(0, now - ft.sinceNs(s)) / 1e9),
      states: histNames(ft.hist(s)),
    };
  }
}

/**
 * Whether the kernel confirmed the entry (inserted it in its table): its
 * IPS_CONFIRMED status bit, which every ctnetlink event and every record after
 * the confirmation carries, or a CONFIRM record of the lifecycle hooks.
 */
function confirmed(fl: number, status: number): boolean {
  return (fl & FF.CONFIRMED) !== 0 || (status & IPS.CONFIRMED) !== 0;
}

function openedName(fl: number): FlowView['opened'] {
  if (fl & FF.OPEN_SEEN) return fl & FF.AT_RESYNC ? 'seen_at_resync' : 'seen_at_start';
  if (fl & FF.OPEN_UPDATE) return 'update';
  return 'alloc';
}

/** The names of the up to four states in an entry's history, oldest first. */
function histNames(h: number): string[] {
  const out: string[] = [];
  let seen = false;
  for (let i = 3; i >= 0; i--) {
    const c = (h >>> (i * 8)) & 0xff;
    if (c !== 0 || seen || i === 0) {
      seen = true;
      out.push(stateName(c));
    }
  }
  return out;
}
