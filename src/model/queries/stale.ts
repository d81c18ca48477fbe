// Stale entries — the rollout problem. Two kinds of live entries keep traffic
// blackholed until they time out, and a rollout makes both:
//   deleted_pod    the entry's destination (its reply source: where DNAT sent
//                  it, or the address itself) was a pod's that is gone and
//                  that no live pod holds now; kube-proxy's clean-up of
//                  entries to a removed endpoint can lose a race, and a UDP
//                  client that keeps sending keeps its entry alive forever
//   unreplied_udp  a destination whose UDP entries have all gone unanswered
//                  (UNREPLIED) for longer than a threshold
// One scan of the flow table, grouped by (table, destination[, port]); the
// route adds each group's `conntrack -D` command. ctscope deletes nothing.

import { DIM, formatAddressKey, type AddressTable } from '../keys.js';
import { FF, type FlowTable } from '../flow-table.js';
import { IPS } from '../../records/layout.js';
import { IPPROTO_UDP } from '../states.js';
import { VIA, type PodMap } from '../pod-map.js';
import type { ModelState } from '../model-state.js';

export type StaleReason = 'deleted_pod' | 'unreplied_udp';

export interface StaleGroup {
  reason: StaleReason;
  /** Namespace inode of the table holding the entries. */
  netns: number;
  destination: string;
  /** IPv6 destination (the command needs -f ipv6). */
  ipv6: boolean;
  /** unreplied_udp: the original destination port. */
  port: number | null;
  /** deleted_pod: the pod that held the address (NAMESPACE/POD) and how long ago it went. */
  pod: string | null;
  pod_deleted_s_ago: number | null;
  entries: number;
  /** Entries by protocol name. */
  protocols: Record<string, number>;
  /** Who opened them: pods (NAMESPACE/POD) or addresses, most entries first (at most 10). */
  sources: Array<{ source: string; entries: number }>;
  /** Age of the oldest and the newest entry (s); null where no allocation time is known. */
  oldest_s: number | null;
  newest_s: number | null;
}

interface Acc {
  reason: StaleReason;
  netns: number;
  dest: number;
  port: number;
  entries: number;
  replied: number;
  protocols: Map<number, number>;
  sources: Map<string, number>;
  oldest: number;
  newest: number;
  known: boolean;
}

const PROTO: Record<number, string> = { 6: 'tcp', 17: 'udp', 1: 'icmp', 58: 'icmpv6', 132: 'sctp' };

/**
 * Live entries that point at deleted pods, and destinations that only ever
 * got unanswered UDP. `repliesKnown` false (Model.statesFollowed: the eBPF
 * lifecycle hooks alone, which see no reply arrive): no destination is called
 * unanswered, since every live entry still has the status it was confirmed with.
 */
export function staleEntries(st: ModelState, opts: { unrepliedMinAgeS: number; repliesKnown: boolean }): StaleGroup[] {
  const ft = st.flows;
  const map = st.pods.map;
  const now = st.nowNs;
  const groups = new Map<string, Acc>();
  const acc = (reason: StaleReason, netns: number, dest: number, port: number): Acc => {
    const k = `${reason}|${netns}|${dest}|${port}`;
    let a = groups.get(k);
    if (!a) groups.set(k, (a = { reason, netns, dest, port, entries: 0, replied: 0, protocols: new Map(), sources: new Map(), oldest: Infinity, newest: -Infinity, known: false }));
    return a;
  };
  for (let e = 0; e < ft.end; e++) {
    if (!ft.live(e)) continue;
    const rs = ft.replySrcKey(e);
    const dest = rs >= 0 ? rs : ft.key(e, DIM.dst);
    const proto = ft.proto(e);
    let a: Acc | null = null;
    if (!map.empty && map.gonePodOfAddress(dest)) a = acc('deleted_pod', ft.netns(e), dest, -1);
    else if (proto === IPPROTO_UDP && opts.repliesKnown) a = acc('unreplied_udp', ft.netns(e), dest, ft.dport(e));
    if (!a) continue;
    a.entries++;
    if (ft.status(e) & IPS.SEEN_REPLY) a.replied++;
    a.protocols.set(proto, (a.protocols.get(proto) ?? 0) + 1);
    const src = sourceOf(ft, map, st.v6, e);
    a.sources.set(src, (a.sources.get(src) ?? 0) + 1);
    if (ft.flags(e) & FF.START_KNOWN) {
      const s = ft.start(e);
      a.known = true;
      if (s < a.oldest) a.oldest = s;
      if (s > a.newest) a.newest = s;
    }
  }
  const out: StaleGroup[] = [];
  const minAgeNs = opts.unrepliedMinAgeS * 1e9;
  for (const a of groups.values()) {
    if (a.reason === 'unreplied_udp' && (a.replied > 0 || !a.known || now - a.oldest < minAgeNs)) continue;
    const gone = a.reason === 'deleted_pod' ? map.gonePodOfAddress(a.dest)! : null;
    out.push({
      reason: a.reason,
      netns: a.netns,
      destination: formatAddressKey(a.dest, st.v6),
      ipv6: a.dest >= 4294967296,
      port: a.port >= 0 ? a.port : null,
      pod: gone ? map.formatPod(gone.id) : null,
      pod_deleted_s_ago: gone ? round3((now - gone.goneNs!) / 1e9) : null,
      entries: a.entries,
      protocols: Object.fromEntries([...a.protocols].sort((x, y) => y[1] - x[1]).map(([p, n]) => [PROTO[p] ?? String(p), n])),
      sources: [...a.sources].sort((x, y) => y[1] - x[1]).slice(0, 10).map(([source, entries]) => ({ source, entries })),
      oldest_s: a.known ? round3((now - a.oldest) / 1e9) : null,
      newest_s: a.known ? round3((now - a.newest) / 1e9) : null,
    });
  }
  return out.sort((x, y) => (x.reason === y.reason ? y.entries - x.entries : x.reason === 'deleted_pod' ? -1 : 1));
}

/** The pod that opened entry e (NAMESPACE/POD), else its source address. */
function sourceOf(ft: FlowTable, map: PodMap, v6: AddressTable, e: number): string {
  const owner = ft.key(e, DIM.pod);
  if (owner % 4 === VIA.src) return map.formatPod(Math.floor(owner / 4));
  return formatAddressKey(ft.key(e, DIM.src), v6);
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
