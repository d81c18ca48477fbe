// nf_conntrack_max and the hash buckets, with the memory they cost: one
// entry's size from the kernel's slab where readable (entry-cost.ts), a
// bucket per entry (chains of about one), twice the highest count any table
// reached (count and max of the same reading), within a memory budget (5 % of
// RAM unless told otherwise). nf_conntrack_max is global: the table that came
// closest to it decides.

import type { AdviceRule } from '../types.js';
import { formatBytes, tableBytes } from '../entry-cost.js';
import { fmt, pct, tableName } from '../format.js';

const MIN_MAX = 65536;

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

export const tableSizeRule: AdviceRule = {
  id: 'table-size',
  run(x) {
    const live = x.tables.filter((t) => t.peak && t.max > 0);
    if (!live.length) return [];
    const worst = live.reduce((a, b) => (b.peak!.utilization > a.peak!.utilization ? b : a));
    const peak = worst.peak!;
    const dropping = x.tables.some((t) => (t.window?.drop ?? 0) > 0);
    const env = x.environment;
    const entry = env.entry;
    const budget = env.memoryBudgetBytes ?? (env.memTotalBytes ? Math.floor(env.memTotalBytes * 0.05) : null);
    const max = worst.max;
    const buckets = worst.buckets;
    const nowBytes = tableBytes(entry, max, buckets);
    const overBudget = budget !== null && nowBytes > budget;
    if (peak.utilization < 0.7 && !dropping && !overBudget) return [];
    const perEntry = entry.bytes + entry.bucket_bytes;
    const wanted = pow2(Math.max(peak.count * 2, MIN_MAX));
    const affordable = budget !== null ? pow2Floor(Math.floor(budget / perEntry)) : null;
    const recommended = affordable !== null ? Math.min(wanted, affordable) : wanted;
    // Raised since (or big enough already) and affordable: nothing to change.
    if (recommended <= max && !overBudget) return [];
    const recBytes = tableBytes(entry, recommended, recommended);
    const src = entry.source === 'slabinfo' ? 'from /proc/slabinfo' : entry.source === 'sysfs' ? 'from /sys/kernel/slab/nf_conntrack' : entry.source === 'capture' ? 'from the capture' : 'measured default: the slab was unreadable';
    const limited = affordable !== null && recommended < wanted;
    return [
      {
        id: 'table-size',
        level: dropping || peak.utilization >= 0.85 ? 'action' : 'warn',
        netns: worst.netns,
        title:
          recommended > max
            ? `Raise nf_conntrack_max to ${fmt(recommended)} (${formatBytes(recBytes)} when full): ${tableName(worst)} reached ${pct(peak.utilization)} of ${fmt(peak.max)}`
            : `nf_conntrack_max ${fmt(max)} already costs ${formatBytes(nowBytes)} when full; cut the churn instead`,
        detail:
          `An entry costs ${entry.bytes} B (${src}) plus ${entry.bucket_bytes} B per hash bucket; ${fmt(max)} entries and ${fmt(buckets)} buckets take ${formatBytes(nowBytes)} when full.` +
          ` Twice the highest count (${fmt(peak.count)} of ${fmt(peak.max)} in ${tableName(worst)}) is ${fmt(peak.count * 2)}.` +
          (budget !== null ? ` The memory budget is ${formatBytes(budget)}${env.memoryBudgetBytes === undefined ? ' (5 % of RAM)' : ''}.` : ' The host\'s memory is unknown here.') +
          (limited ? ` ${fmt(wanted)} would exceed it: reduce churn instead (see the other advice).` : ''),
        evidence: {
          netns: worst.netns,
          name: worst.name,
          peak_count: peak.count,
          peak_max: peak.max,
          peak_utilization: peak.utilization,
          peak_at_s: peak.at_s,
          max,
          buckets,
          entry_bytes: entry.bytes,
          entry_bytes_source: entry.source,
          bucket_bytes: entry.bucket_bytes,
          memory_now_bytes: nowBytes,
          recommended_max: recommended,
          recommended_buckets: recommended,
          memory_recommended_bytes: recBytes,
          memory_total_bytes: env.memTotalBytes,
          memory_budget_bytes: budget,
        },
        checks: {
          entry_bytes: '/proc/slabinfo (nf_conntrack, objsize) or /sys/kernel/slab/nf_conntrack/object_size',
          'peak_count, peak_max': `/v1/table?netns=${worst.netns} (peak)`,
          max: '/proc/sys/net/netfilter/nf_conntrack_max',
          buckets: '/proc/sys/net/netfilter/nf_conntrack_buckets',
          memory_total_bytes: '/proc/meminfo (MemTotal)',
        },
        action:
          recommended > max
            ? `sysctl -w net.netfilter.nf_conntrack_max=${recommended} net.netfilter.nf_conntrack_buckets=${recommended} (and the same in /etc/sysctl.d to keep it)`
            : 'Cut the churn: see the drops, NOTRACK and timeout advice.',
      },
    ];
  },
};
