// Recommendations computed from what the model observed, each with the
// evidence it rests on, so an operator can check it before acting:
//   time_wait_timeout   TIME_WAIT entries held for the full timeout after clean closes
//   udp_timeout         UDP entries that never saw a reply, held for the full timeout
//   table_size          nf_conntrack_max / buckets from the peak, a memory budget
//                       and the real per-entry size (/proc/slabinfo nf_conntrack)
//   notrack             stateless UDP services worth exempting from tracking
//   connection_reuse    one source opening many short connections to one port
// Thresholds are deliberately conservative: advice that fires on an idle
// node is noise.

import { readFileSync } from 'node:fs';
import type { Model } from './model.js';
import { NSTATE_CODES, IPPROTO_TCP, IPPROTO_UDP, UNREPLIED, REPLIED, ASSURED } from './states.js';
import { TCP_STATE_NAMES } from '../records/layout.js';

export interface AdviceEnvironment {
  /** Bytes of one nf_conntrack slab object (/proc/slabinfo objsize). */
  slabObjectSize?: number;
  /** Total memory (/proc/meminfo MemTotal), bytes. */
  memTotalBytes?: number;
  /** Memory the table may use; default 5 % of MemTotal. */
  memoryBudgetBytes?: number;
}

export interface Advice {
  id: string;
  severity: 'info' | 'warn' | 'action';
  title: string;
  recommendation: string;
  evidence: Record<string, unknown>;
}

/** Entry size measured on this project's machines when slabinfo is unreadable. */
export const DEFAULT_ENTRY_BYTES = 256;
const TIME_WAIT = TCP_STATE_NAMES.indexOf('TIME_WAIT');
const WINDOW = 300;

/** Host facts for the table-size advice; fields stay undefined when unreadable. */
export function readAdviceEnvironment(proc = '/proc'): AdviceEnvironment {
  const env: AdviceEnvironment = {};
  try {
    const m = /^MemTotal:\s+(\d+) kB/m.exec(readFileSync(`${proc}/meminfo`, 'utf8'));
    if (m) env.memTotalBytes = Number(m[1]) * 1024;
  } catch {
    /* not Linux, or no /proc */
  }
  try {
    // name active_objs num_objs objsize ...
    const m = /^nf_conntrack\s+\d+\s+\d+\s+(\d+)/m.exec(readFileSync(`${proc}/slabinfo`, 'utf8'));
    if (m) env.slabObjectSize = Number(m[1]);
  } catch {
    /* slabinfo is root-only, and merged slabs have no line of their own */
  }
  return env;
}

export function advise(model: Model, env: AdviceEnvironment): { generated_at_s: number; observed_s: number; advice: Advice[] } {
  const out: Advice[] = [];
  const snap = model.snapshot();
  const timeouts = snap?.timeouts ?? {};
  const states = model.liveStates();
  const live = model.flows.count;
  const window = Math.max(1, Math.min(WINDOW, model.span()));

  // --- TIME_WAIT held for the whole timeout
  const twTimeout = timeouts['tcp_timeout_time_wait'] ?? 120;
  const twLive = states.get(IPPROTO_TCP * NSTATE_CODES + TIME_WAIT) ?? 0;
  const twDwell = model.finalDwell.get(IPPROTO_TCP * NSTATE_CODES + TIME_WAIT);
  const twMedian = twDwell?.quantile(0.5) ?? null;
  if (live >= 100 && twLive / live >= 0.2 && twTimeout > 30) {
    const target = 30;
    out.push({
      id: 'time_wait_timeout',
      severity: twLive / live >= 0.5 ? 'action' : 'warn',
      title: `${pct(twLive / live)} of the table is TCP TIME_WAIT`,
      recommendation:
        `Connections that already closed cleanly hold entries for net.netfilter.nf_conntrack_tcp_timeout_time_wait = ${twTimeout} s. ` +
        `Lowering it to ${target} s (sysctl -w net.netfilter.nf_conntrack_tcp_timeout_time_wait=${target}) would free about ${Math.round(twLive * (1 - target / twTimeout))} entries at this load.`,
      evidence: {
        live_entries: live,
        time_wait_entries: twLive,
        time_wait_share: round3(twLive / live),
        tcp_timeout_time_wait_s: twTimeout,
        destroyed_in_time_wait: twDwell?.count ?? 0,
        median_time_in_time_wait_s: twMedian,
      },
    });
  }

  // --- UDP that never got a reply
  const udpTimeout = timeouts['udp_timeout'] ?? 30;
  const unreplied = states.get(IPPROTO_UDP * NSTATE_CODES + UNREPLIED) ?? 0;
  const udpLive = unreplied + (states.get(IPPROTO_UDP * NSTATE_CODES + REPLIED) ?? 0) + (states.get(IPPROTO_UDP * NSTATE_CODES + ASSURED) ?? 0);
  if (live >= 100 && unreplied / live >= 0.2) {
    const dwell = model.finalDwell.get(IPPROTO_UDP * NSTATE_CODES + UNREPLIED);
    out.push({
      id: 'udp_timeout',
      severity: unreplied / live >= 0.5 ? 'action' : 'warn',
      title: `${pct(unreplied / live)} of the table is UDP that never saw a reply`,
      recommendation:
        `Unanswered UDP flows are held for net.netfilter.nf_conntrack_udp_timeout = ${udpTimeout} s each. ` +
        `Lower it (e.g. 10 s), or exempt the traffic from tracking if it is a flood or a stateless service (see the notrack advice).`,
      evidence: {
        live_entries: live,
        udp_entries: udpLive,
        unreplied_udp_entries: unreplied,
        unreplied_share: round3(unreplied / live),
        udp_timeout_s: udpTimeout,
        destroyed_unreplied: dwell?.count ?? 0,
        median_unreplied_lifetime_s: dwell?.quantile(0.5) ?? null,
      },
    });
  }

  // --- table size from the peak, the memory budget and the entry size
  if (snap && snap.max > 0) {
    const h = model.proc.get(snap.netns);
    const peak = Math.max(h?.peak ?? 0, snap.count);
    const entry = env.slabObjectSize ?? DEFAULT_ENTRY_BYTES;
    const perEntry = entry + 8; // + one hash bucket pointer at one entry per bucket
    const budget = env.memoryBudgetBytes ?? (env.memTotalBytes ? Math.floor(env.memTotalBytes * 0.05) : undefined);
    const tableFull = model.windowSum('table_full', window) + model.windowSum('evicted', window);
    const util = peak / snap.max;
    const wanted = pow2(Math.max(peak * 2, 65536));
    const affordable = budget ? pow2Floor(Math.floor(budget / perEntry)) : undefined;
    const recommended = affordable !== undefined ? Math.min(wanted, affordable) : wanted;
    if (util >= 0.7 || tableFull > 0 || (affordable !== undefined && snap.max > affordable)) {
      const severity = tableFull > 0 || util >= 0.85 ? 'action' : 'warn';
      const parts = [`Set net.netfilter.nf_conntrack_max=${recommended} and nf_conntrack_buckets=${recommended}`];
      parts.push(`(${fmtBytes(recommended * perEntry)} at ${entry} B per entry${env.slabObjectSize ? ' from /proc/slabinfo' : ' (measured default; /proc/slabinfo unreadable)'} plus 8 B per bucket).`);
      if (affordable !== undefined && recommended < wanted) parts.push(`Twice the peak (${wanted}) would exceed the memory budget of ${fmtBytes(budget!)}: reduce churn instead (see the other advice).`);
      if (tableFull > 0) parts.push(`${tableFull} packets were refused or entries evicted for lack of room in the last ${window} s.`);
      out.push({
        id: 'table_size',
        severity,
        title: `conntrack table peaked at ${pct(util)} of nf_conntrack_max`,
        recommendation: parts.join(' '),
        evidence: {
          count: snap.count,
          max: snap.max,
          peak,
          buckets: snap.buckets,
          entry_bytes: entry,
          entry_bytes_source: env.slabObjectSize ? 'slabinfo' : 'default',
          memory_budget_bytes: budget ?? null,
          table_full_or_evicted_in_window: tableFull,
          window_s: window,
          recommended_max: recommended,
          recommended_buckets: recommended,
        },
      });
    }
  }

  // --- stateless UDP services (NOTRACK) and connection-reuse offenders
  const dports = model.churn({ by: 'dport', window, limit: 10 });
  const pairs = model.churn({ by: 'src,dport', window, limit: 10 });
  const dportProtos = model.liveProtocols('dport', dports.items.map((i) => i.key));
  for (const it of dports.items) {
    const protos = dportProtos.get(it.key);
    const udp = protos?.get(IPPROTO_UDP) ?? 0;
    const all = protos ? [...protos.values()].reduce((a, b) => a + b, 0) : 0;
    const median = (it.median_lifetime_s as number | null) ?? null;
    if (it.rate >= 50 && all > 0 && udp / all >= 0.95 && (median === null || median <= udpTimeout + 2)) {
      out.push({
        id: 'notrack',
        severity: 'info',
        title: `UDP port ${it.key} allocates ${it.rate.toFixed(1)} entries/s`,
        recommendation:
          `If UDP port ${it.key} is a stateless request/response service (DNS, NTP, statsd...) that needs no NAT or stateful filtering, exempt it from conntrack: ` +
          `nft add table inet raw; nft add chain inet raw prerouting '{ type filter hook prerouting priority raw; }'; nft add rule inet raw prerouting udp dport ${it.key} notrack ` +
          `(and the same for the replies, udp sport ${it.key}, in an output chain).`,
        evidence: { dport: Number(it.key), allocations: it.count, rate_per_s: it.rate, share_of_allocations: it.share, live_entries: all, udp_share_of_live: round3(udp / all), median_lifetime_s: median, window_s: window },
      });
    }
  }
  const pairProtos = model.liveProtocols('src,dport', pairs.items.map((i) => i.key));
  for (const it of pairs.items) {
    const protos = pairProtos.get(it.key);
    const tcp = protos?.get(IPPROTO_TCP) ?? 0;
    const all = protos ? [...protos.values()].reduce((a, b) => a + b, 0) : 0;
    const median = (it.median_lifetime_s as number | null) ?? null;
    if (it.count >= 1000 && all > 0 && tcp / all >= 0.9 && median !== null && median <= 2) {
      const [src, port] = splitPair(it.key);
      out.push({
        id: 'connection_reuse',
        severity: it.share >= 0.3 ? 'warn' : 'info',
        title: `${src} opened ${it.count} short TCP connections to port ${port} in ${window} s`,
        recommendation:
          `Each connection costs an entry for its life plus TIME_WAIT. Reuse connections from ${src} to port ${port} (HTTP keep-alive, a connection pool) instead of opening one per request.`,
        evidence: { src, dport: port, allocations: it.count, rate_per_s: it.rate, share_of_allocations: it.share, destroyed: it.destroyed, median_lifetime_s: median, live_entries: all, window_s: window },
      });
    }
  }

  const rank = { action: 0, warn: 1, info: 2 } as const;
  out.sort((a, b) => rank[a.severity] - rank[b.severity]);
  return { generated_at_s: Math.round(model.nowNs / 1e6) / 1e3, observed_s: model.span(), advice: out };
}

function splitPair(key: string): [string, number] {
  const i = key.lastIndexOf(':');
  let a = key.slice(0, i);
  if (a.startsWith('[')) a = a.slice(1, -1);
  return [a, Number(key.slice(i + 1))];
}

function pct(x: number): string {
  return `${(x * 100).toFixed(0)} %`;
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

function pow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

function pow2Floor(n: number): number {
  let p = 1;
  while (p * 2 <= n) p *= 2;
  return p;
}

function fmtBytes(b: number): string {
  if (b >= 2 ** 30) return `${(b / 2 ** 30).toFixed(1)} GiB`;
  if (b >= 2 ** 20) return `${(b / 2 ** 20).toFixed(1)} MiB`;
  return `${(b / 1024).toFixed(0)} KiB`;
}
