// Insert failures: two packets of one new flow raced to confirm the same
// entry and one lost (the kernel counts insert_failed; a resolved clash is
// clashres). On UDP port 53 this is the DNS signature: glibc sends the A and
// AAAA queries of one lookup from one socket at once, and behind NAT the
// second is dropped — a 5 s resolver timeout for the client.

import type { AdviceItem, AdviceRule } from '../types.js';
import { fmt, round3, tableName } from '../format.js';

export const insertFailedRule: AdviceRule = {
  id: 'insert-failed',
  run(x) {
    const out: AdviceItem[] = [];
    let dns: { share: number; allocations: number; insert_failed: number } | null = null;
    for (const t of x.tables) {
      const kernel = t.window?.insert_failed ?? null;
      if ((kernel ?? 0) <= 0) continue;
      if (!dns) {
        const ports = x.model.churn({ by: 'dport', window: x.window, limit: 20 });
        const p53 = ports.items.find((i) => i.key === '53');
        const fails = x.model.drops({ by: 'dport', window: x.window, limit: 20, kinds: ['insert_failed'] }).items.find((i) => i.key === '53');
        dns = { share: p53 ? p53.share : 0, allocations: p53?.count ?? 0, insert_failed: fails?.count ?? 0 };
      }
      const isDns = dns.insert_failed > 0 || dns.share >= 0.2;
      out.push({
        id: 'insert-failed',
        level: 'warn',
        netns: t.netns,
        title: `${fmt(kernel!)} insert failures in ${tableName(t)}${isDns ? ': the DNS race (parallel A/AAAA queries on one socket)' : ''}`,
        detail:
          `Two packets of one new flow raced to create its entry and one was dropped, ${fmt(kernel!)} times in the last ${x.window} s.` +
          (isDns
            ? ` UDP port 53 makes ${Math.round(dns.share * 100)} % of the allocations${dns.insert_failed ? ` and ${fmt(dns.insert_failed)} of the failures ctscope saw` : ''}: glibc sends a lookup's A and AAAA queries at once from one socket, and the loser waits out a 5 s resolver timeout.`
            : ''),
        evidence: { netns: t.netns, name: t.name, window_s: x.window, kernel_insert_failed: kernel, clashres: t.stats.clashres ?? null, dns_allocation_share: round3(dns.share), dns_allocations: dns.allocations, ctscope_dns_insert_failed: dns.insert_failed },
        checks: { kernel_insert_failed: `/proc/net/stat/nf_conntrack (insert_failed) in netns ${t.netns}, or /v1/table?netns=${t.netns}`, dns_allocations: `/v1/churn?by=dport&window=${x.window}` },
        action: isDns
          ? "Serialise the queries on the clients (resolv.conf 'options single-request-reopen', or 'use-vc' for TCP), or run a node-local DNS cache so lookups do not cross NAT."
          : 'Look for clients that send two packets of a new flow at once from one socket (/v1/drops?by=src&kind=insert_failed).',
      });
    }
    return out;
  },
};
