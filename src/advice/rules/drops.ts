// Drops now: packets the kernel refused because a table was full, per table,
// with the kernel's own count (its drop counter over the window) next to
// ctscope's (the drop records of that namespace), and whose they are.

import type { AdviceItem, AdviceRule } from '../types.js';
import { fmt, tableName } from '../format.js';

export const dropsRule: AdviceRule = {
  id: 'drops',
  run(x) {
    const out: AdviceItem[] = [];
    const w = x.window;
    const kinds = x.model.packetDropKinds();
    const ours = new Map(x.model.drops({ by: 'netns', window: w, limit: 10_000 }).items.map((i) => [Number(i.key), i.count]));
    let sources: Array<{ src: string; drops: number }> | null = null;
    for (const t of x.tables) {
      const kernel = t.window?.drop ?? null;
      const ctscope = ours.get(t.netns) ?? 0;
      if ((kernel ?? 0) <= 0 && ctscope <= 0) continue;
      sources ??= x.model.drops({ by: 'src', window: w, limit: 5 }).items.map((i) => ({ src: i.key, drops: i.count }));
      const now = (t.drops_per_s ?? 0) > 0;
      const n = kernel ?? ctscope;
      const whose = sources.length ? `${sources[0]!.src} first (${fmt(sources[0]!.drops)})` : 'sources unknown';
      out.push({
        id: 'drops',
        level: now ? 'critical' : 'action',
        netns: t.netns,
        title: `${fmt(n)} packets dropped: the conntrack table of ${tableName(t)} ${now ? `is full (${fmt(t.drops_per_s!, 1)}/s now)` : 'was full'}; ${whose}`,
        detail:
          `The kernel counted ${kernel === null ? 'no drop figure (its statistics are unreadable)' : `${fmt(kernel)} drops`} in this namespace in the last ${w} s` +
          ` and ctscope ${fmt(ctscope)} drop records (${kinds.join(' + ')}). Every dropped packet is a new connection or datagram that failed: a client sees timeouts or retries.` +
          (sources.length ? ` Dropped most: ${sources.map((s) => `${s.src} ${fmt(s.drops)}`).join(', ')}${x.tables.filter((u) => (u.window?.drop ?? 0) > 0).length > 1 ? ' (all tables together)' : ''}.` : ''),
        evidence: {
          netns: t.netns,
          name: t.name,
          window_s: w,
          kernel_drops: kernel,
          kernel_drops_per_s: t.drops_per_s,
          ctscope_drops: ctscope,
          ctscope_drop_kinds: kinds,
          top_sources: sources,
          count: t.count,
          max: t.max,
          read_at_s: t.read_at_s,
        },
        checks: {
          kernel_drops: `/proc/net/stat/nf_conntrack (drop, summed over CPUs) in netns ${t.netns}, or /v1/table?netns=${t.netns}`,
          ctscope_drops: `/v1/drops?by=netns&window=${w}`,
          top_sources: `/v1/drops?by=src&window=${w}`,
          'count, max': `/v1/table?netns=${t.netns}`,
        },
        action: `Make room now: raise net.netfilter.nf_conntrack_max (the table-size advice says what it costs); then cut the churn of who fills it (/v1/churn?by=src, /v1/occupancy?by=src${sources.length ? `; ${sources[0]!.src} drops most` : ''}).`,
      });
    }
    return out;
  },
};
