// NOTRACK candidates: UDP services that need no state (DNS, NTP, statsd,
// syslog, SNMP — request and reply, or no reply at all) but allocate entries
// at a high rate, each held for the UDP timeout. Exempting them from
// conntrack (the raw-priority nft rule below) frees the table of them —
// unless the node NATs or filters them statefully.

import { IPPROTO_UDP } from '../../model/states.js';
import type { AdviceItem, AdviceRule } from '../types.js';
import { fmt, pct, round3 } from '../format.js';

/** Stateless UDP services by port. */
export const STATELESS_UDP: Record<number, string> = { 53: 'DNS', 123: 'NTP', 161: 'SNMP', 162: 'SNMP traps', 514: 'syslog', 8125: 'statsd', 5353: 'mDNS' };
/** Allocations per second a port must make before it is worth a rule. */
const MIN_RATE = 50;

/** The nft commands that exempt UDP port `port` from tracking, both directions. */
export function notrackCommands(port: number): string {
  return [
    'nft add table inet ctscope_notrack',
    "nft add chain inet ctscope_notrack pre '{ type filter hook prerouting priority raw; }'",
    "nft add chain inet ctscope_notrack out '{ type filter hook output priority raw; }'",
    `nft add rule inet ctscope_notrack pre udp dport ${port} notrack`,
    `nft add rule inet ctscope_notrack pre udp sport ${port} notrack`,
    `nft add rule inet ctscope_notrack out udp dport ${port} notrack`,
    `nft add rule inet ctscope_notrack out udp sport ${port} notrack`,
  ].join('; ');
}

export const notrackRule: AdviceRule = {
  id: 'notrack',
  run(x) {
    const out: AdviceItem[] = [];
    const w = x.window;
    const ports = x.model.churn({ by: 'dport', window: w, limit: 10 });
    const protos = x.model.liveProtocols('dport', ports.items.map((i) => i.key));
    const udpTimeout = x.tables[0]?.timeouts.udp_timeout ?? 30;
    for (const it of ports.items) {
      const port = Number(it.key);
      const p = protos.get(it.key);
      const udp = p?.get(IPPROTO_UDP) ?? 0;
      const all = p ? [...p.values()].reduce((a, b) => a + b, 0) : 0;
      const median = (it.median_lifetime_s as number | null | undefined) ?? null;
      const known = STATELESS_UDP[port];
      // UDP only, short-lived (a request and its reply, then the timeout).
      if (it.rate < MIN_RATE || all === 0 || udp / all < 0.95) continue;
      if (!known && !(median !== null && median <= udpTimeout + 2)) continue;
      out.push({
        id: 'notrack',
        level: 'info',
        title: `UDP port ${port}${known ? ` (${known})` : ''} allocates ${fmt(it.rate, 1)} entries/s, ${pct(it.share)} of all: a NOTRACK candidate`,
        detail:
          `Each datagram exchange to port ${port} costs an entry held ${udpTimeout} s (udp_timeout) after its last packet; ${fmt(udp)} are live now.` +
          ` A stateless service${known ? ` like ${known}` : ''} does not need them — unless this node NATs it or filters it by connection state.`,
        evidence: { dport: port, service: known ?? null, window_s: w, allocations: it.count, rate_per_s: it.rate, share_of_allocations: it.share, live_entries: all, udp_share_of_live: round3(udp / all), median_lifetime_s: median, udp_timeout_s: udpTimeout },
        checks: { 'allocations, rate_per_s, share_of_allocations, median_lifetime_s': `/v1/churn?by=dport&window=${w}`, live_entries: `/v1/occupancy?by=dport` },
        action: notrackCommands(port),
      });
    }
    return out;
  },
};
