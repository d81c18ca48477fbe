// A SYN flood seen at ingress (--ingress counts new-flow arrivals before
// conntrack): a source sends many SYNs and few of them become established
// connections (spoofed or abandoned handshakes), or a high SYN rate spread
// over many sources (a spoofed flood). Without the model nothing says whether
// handshakes completed: only a rate five times higher is called a flood then.
// Nor with a model whose states are those at confirmation (the eBPF lifecycle
// hooks without ctnetlink: Model.statesFollowed).

import type { ArrivalsModel } from '../../model/arrivals.js';
import type { AdviceItem, AdviceModel, AdviceRule } from '../types.js';
import { fmt, round3 } from '../format.js';

/** TCP states reached only after a completed handshake. */
const POST_HANDSHAKE = new Set(['ESTABLISHED', 'FIN_WAIT', 'CLOSE_WAIT', 'LAST_ACK', 'TIME_WAIT']);

export interface SynFloodOptions {
  /** Seconds looked at (default 60). */
  window?: number;
  /** SYNs per second from one source before it is looked at (default 20)... */
  synRate?: number;
  /** ...and at least this many SYNs in the window (default 200). */
  minSyns?: number;
  /** Established entries per SYN below which the SYNs look like a flood (default 0.1). */
  establishedRatio?: number;
}

export function synFloodItems(arrivals: ArrivalsModel, model: AdviceModel | null, o: SynFloodOptions = {}): AdviceItem[] {
  const window = Math.min(o.window ?? 60, arrivals.historySeconds);
  const synRate = o.synRate ?? 20;
  const minSyns = o.minSyns ?? 200;
  const ratio = o.establishedRatio ?? 0.1;
  const out: AdviceItem[] = [];
  const top = arrivals.query({ by: 'src', window, limit: 50 });
  const totals = arrivals.windowTotals(window);
  let entries: Map<string, { established: number; half_open: number }> | null = null;
  let admitted: Map<string, number> | null = null;
  // Where the lifecycle hooks alone follow entries, a live TCP entry keeps
  // the state it was confirmed with (SYN_SENT): established entries are not
  // known, and counting none would call every busy client a flood.
  const statesKnown = model !== null && model.statesFollowed;
  if (model) admitted = new Map(model.topK({ by: 'src', kinds: ['alloc'], window, limit: 1000 }).items.map((i) => [i.key, i.count]));
  if (model && statesKnown) {
    entries = new Map();
    for (const it of model.occupancy({ by: 'src', proto: 6, limit: 1000 }).items) {
      const e = { established: 0, half_open: 0 };
      for (const s of (it.states as Array<{ state: string; count: number }> | undefined) ?? []) {
        if (POST_HANDSHAKE.has(s.state)) e.established += s.count;
        else if (s.state === 'SYN_SENT' || s.state === 'SYN_RECV') e.half_open += s.count;
      }
      entries.set(it.key, e);
    }
  }
  const minRate = entries ? synRate : synRate * 5;
  for (const it of top.items) {
    if (it.tcp_syn < minSyns || it.tcp_syn / window < minRate) continue;
    const e = entries?.get(it.key) ?? { established: 0, half_open: 0 };
    const perSyn = it.tcp_syn > 0 ? e.established / it.tcp_syn : 0;
    if (entries && perSyn >= ratio) continue;
    out.push({
      id: 'syn-flood',
      level: entries ? 'action' : 'warn',
      title: `SYN flood from ${it.key}: ${fmt(it.tcp_syn / window)} SYN/s at ingress${entries ? `, ${fmt(e.established)} established` : ''}`,
      detail:
        `${it.key} sent ${fmt(it.tcp_syn)} TCP SYNs in ${window} s` +
        (entries ? ` but holds only ${fmt(e.established)} established connections (${fmt(e.half_open)} half-open)` : '') +
        '. Each SYN that reaches conntrack allocates an entry held for tcp_timeout_syn_sent / syn_recv.' +
        (model && !statesKnown ? ' Whether its handshakes completed is not known here: the lifecycle hooks see no state changes, so only a SYN rate five times the threshold is called a flood.' : ''),
      evidence: {
        source: it.key,
        window_s: window,
        syn_arrivals: it.tcp_syn,
        syn_rate: round3(it.tcp_syn / window),
        share_of_arrivals: it.share,
        ...(admitted ? { admitted: admitted.get(it.key) ?? 0 } : {}),
        ...(entries ? { established_entries: e.established, half_open_entries: e.half_open, established_per_syn: round3(perSyn) } : {}),
        ...(model && !statesKnown ? { states_followed: false } : {}),
        arrivals_error_bound: top.error_bound,
      },
      checks: { 'syn_arrivals, share_of_arrivals': `/v1/arrivals?by=src&window=${window}`, admitted: `/v1/churn?by=src&window=${window}`, 'established_entries, half_open_entries': '/v1/occupancy?by=src&proto=tcp' },
      action: `Rate-limit or drop ${it.key} before conntrack (nft netdev ingress, or raw prerouting with notrack), or enable SYN cookies on the target (net.ipv4.tcp_syncookies=1).`,
    });
  }
  // Spoofed floods spread over many sources: no single source stands out.
  if (!out.length && totals.tcpSyn >= minSyns * 5 && totals.tcpSyn / window >= synRate * 10) {
    const topShare = top.items[0]?.share ?? 0;
    if (topShare < 0.2) {
      out.push({
        id: 'syn-flood',
        level: 'warn',
        title: `${fmt(totals.tcpSyn / window)} SYN/s at ingress from many sources`,
        detail: 'A SYN rate this high spread over many sources is typical of a spoofed flood.',
        evidence: { window_s: window, syn_arrivals: totals.tcpSyn, syn_rate: round3(totals.tcpSyn / window), top_source_share: topShare, unattributed_arrivals: totals.srcOverflow },
        checks: { syn_arrivals: `/v1/arrivals?by=proto&window=${window}` },
        action: 'Find its target (/v1/arrivals?by=dport) and what it holds (/v1/occupancy?state=SYN_RECV); filter before conntrack.',
      });
    }
  }
  return out;
}

export const synFloodRule: AdviceRule = {
  id: 'syn-flood',
  run: (x) => (x.arrivals ? synFloodItems(x.arrivals, x.model) : []),
};
