// Early drops: a full table made room by evicting an entry that never got a
// reply (conntrack's early_drop, and its garbage collector above 95 %). The
// victims are half-open connections and unanswered datagrams: not lost
// packets, but a table living on the edge.

import type { AdviceItem, AdviceRule } from '../types.js';
import { fmt, tableName } from '../format.js';

export const earlyDropsRule: AdviceRule = {
  id: 'early-drops',
  run(x) {
    const out: AdviceItem[] = [];
    const evicted = new Map(x.model.topK({ by: 'netns', kinds: ['evicted'], window: x.window, limit: 10_000 }).items.map((i) => [Number(i.key), i.count]));
    for (const t of x.tables) {
      const kernel = t.window?.early_drop ?? null;
      if ((kernel ?? 0) <= 0) continue;
      const ours = evicted.get(t.netns) ?? 0;
      out.push({
        id: 'early-drops',
        level: 'warn',
        netns: t.netns,
        title: `${fmt(kernel!)} entries evicted early to make room in ${tableName(t)}`,
        detail:
          `When the table is full, conntrack evicts an entry that never saw a reply (early_drop) so a new one fits: ${fmt(kernel!)} times in the last ${x.window} s here.` +
          (ours > 0 ? ` ctscope saw ${fmt(ours)} of the evictions.` : ' ctscope sees evictions only with its eBPF hooks (ctnetlink reports them as ordinary destroys).') +
          ' The table is at its limit even when few packets are dropped.',
        evidence: { netns: t.netns, name: t.name, window_s: x.window, kernel_early_drops: kernel, ctscope_evicted: ours, count: t.count, max: t.max },
        checks: { kernel_early_drops: `/proc/net/stat/nf_conntrack (early_drop) in netns ${t.netns}, or /v1/table?netns=${t.netns}`, ctscope_evicted: `/v1/drops?by=netns&kind=evicted&window=${x.window}` },
        action: 'Give the table room (table-size advice) or cut what it holds unanswered (UDP without replies, half-open TCP: /v1/occupancy?by=src&state=UNREPLIED).',
      });
    }
    return out;
  },
};
