// Attack and overload signatures from arrivals at ingress (ArrivalsModel),
// checked against what conntrack kept (the Model), for /v1/advice:
//   syn_flood   a source sends many SYNs and few of them become established
//               connections (spoofed or abandoned handshakes)
//   port_scan   one source opens flows to many distinct ports
// Each item carries its evidence; thresholds are conservative so an idle or
// merely busy node stays quiet.

import type { Advice } from './advice.js';
import type { ArrivalsModel } from './arrivals.js';
import type { Model } from './model.js';

export interface ArrivalsAdviceOptions {
  /** Seconds looked at (default 60). */
  window?: number;
  /** SYNs per second from one source before it is looked at (default 20). */
  synRate?: number;
  /** ...and at least this many SYNs in the window (default 200). */
  minSyns?: number;
  /** Established entries per SYN below which the SYNs look like a flood (default 0.1). */
  establishedRatio?: number;
  /** Distinct (protocol, port) pairs from one source that make a scan (default 100). */
  scanPorts?: number;
}

/** TCP states reached only after a completed handshake. */
const POST_HANDSHAKE = new Set(['ESTABLISHED', 'FIN_WAIT', 'CLOSE_WAIT', 'LAST_ACK', 'TIME_WAIT']);

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/** Live TCP entries per source, by whether the handshake completed. */
function tcpEntriesBySource(model: Model): Map<string, { established: number; half_open: number }> {
  const out = new Map<string, { established: number; half_open: number }>();
  const occ = model.occupancy({ by: 'src', proto: 6, limit: 1000 });
  for (const it of occ.items) {
    const e = { established: 0, half_open: 0 };
    for (const s of (it.states as Array<{ state: string; count: number }> | undefined) ?? []) {
      if (POST_HANDSHAKE.has(s.state)) e.established += s.count;
      else if (s.state === 'SYN_SENT' || s.state === 'SYN_RECV') e.half_open += s.count;
    }
    out.set(it.key, e);
  }
  return out;
}

export function arrivalsAdvice(arrivals: ArrivalsModel, model?: Model, opts: ArrivalsAdviceOptions = {}): Advice[] {
  const window = Math.min(opts.window ?? 60, arrivals.historySeconds);
  const synRate = opts.synRate ?? 20;
  const minSyns = opts.minSyns ?? 200;
  const ratio = opts.establishedRatio ?? 0.1;
  const scanPorts = opts.scanPorts ?? 100;
  const out: Advice[] = [];

  const top = arrivals.query({ by: 'src', window, limit: 50 });
  const totals = arrivals.windowTotals(window);
  let entries: Map<string, { established: number; half_open: number }> | null = null;
  let admitted: Map<string, number> | null = null;
  if (model) {
    entries = tcpEntriesBySource(model);
    admitted = new Map(model.topK({ by: 'src', kinds: ['alloc'], window, limit: 1000 }).items.map((i) => [i.key, i.count]));
  }
  // Without the Model nothing says whether handshakes completed: only a
  // rate five times higher is called a flood then.
  const minRate = entries ? synRate : synRate * 5;
  for (const it of top.items) {
    if (it.tcp_syn < minSyns || it.tcp_syn / window < minRate) continue;
    const e = entries?.get(it.key) ?? { established: 0, half_open: 0 };
    const establishedPerSyn = it.tcp_syn > 0 ? e.established / it.tcp_syn : 0;
    // Without the Model nothing says whether the handshakes completed.
    if (entries && establishedPerSyn >= ratio) continue;
    out.push({
      id: 'syn_flood',
      severity: entries ? 'action' : 'warn',
      title: `SYN flood from ${it.key}: ${Math.round(it.tcp_syn / window)} SYN/s${entries ? `, ${e.established} established` : ''}`,
      recommendation:
        `${it.key} sent ${it.tcp_syn} TCP SYNs in ${window} s` +
        (entries ? ` but holds only ${e.established} established connections` : '') +
        '. Each SYN that reaches conntrack allocates an entry held for nf_conntrack_tcp_timeout_syn_recv/syn_sent. ' +
        'Rate-limit or drop it before conntrack (nft netdev ingress or raw prerouting with `notrack`), or enable SYN cookies on the target (net.ipv4.tcp_syncookies=1).',
      evidence: {
        source: it.key,
        window_s: window,
        syn_arrivals: it.tcp_syn,
        syn_rate: round3(it.tcp_syn / window),
        share_of_arrivals: it.share,
        ...(admitted ? { admitted: admitted.get(it.key) ?? 0 } : {}),
        ...(entries ? { established_entries: e.established, half_open_entries: e.half_open, established_per_syn: round3(establishedPerSyn) } : {}),
        arrivals_error_bound: top.error_bound,
      },
    });
  }

  // Spoofed floods spread over many sources: no single source stands out,
  // but the kernel's per-source map overflows or the SYN total is high.
  if (!out.some((a) => a.id === 'syn_flood') && totals.tcpSyn >= minSyns * 5 && totals.tcpSyn / window >= synRate * 10) {
    const topShare = top.items[0]?.share ?? 0;
    if (topShare < 0.2) {
      out.push({
        id: 'syn_flood',
        severity: 'warn',
        title: `${Math.round(totals.tcpSyn / window)} SYN/s from many sources`,
        recommendation:
          'A SYN rate this high spread over many sources is typical of a spoofed flood. Check /v1/arrivals?by=dport for its target and /v1/occupancy?state=SYN_RECV for what it holds in the table.',
        evidence: {
          window_s: window,
          syn_arrivals: totals.tcpSyn,
          syn_rate: round3(totals.tcpSyn / window),
          top_source_share: topShare,
          unattributed_arrivals: totals.srcOverflow,
        },
      });
    }
  }

  for (const s of arrivals.portsPerSource(window, 10)) {
    if (s.ports < scanPorts) continue;
    out.push({
      id: 'port_scan',
      severity: 'warn',
      title: `${s.src} reached ${s.ports} distinct ports in ${Math.min(window, 60)} s`,
      recommendation:
        `One source opening flows to many ports is a scan; every probe costs a conntrack entry. Block ${s.src} before conntrack, or drop unsolicited traffic to closed ports in raw prerouting.`,
      evidence: { source: s.src, window_s: Math.min(window, 60), distinct_ports: s.ports, arrivals: s.arrivals, sample_ports: s.sample, pairs_error_bound: totals.pairOverflow },
    });
  }
  return out;
}
