// Table near full or full, per namespace, with its forecast time to full and
// its peak (count and max of the same reading).

import type { AdviceItem, AdviceLevel, AdviceRule } from '../types.js';
import { duration, fmt, pct, tableName } from '../format.js';

const NEAR = 0.85;

export const tableFullRule: AdviceRule = {
  id: 'table-full',
  run(x) {
    const out: AdviceItem[] = [];
    let top: Array<{ src: string; allocations: number; rate_per_s: number }> | null = null;
    for (const t of x.tables) {
      if (t.gone) continue;
      const f = t.forecast;
      const ttf = f.time_to_full_s !== null && f.chosen !== 'full' ? f.time_to_full_s : null;
      const soon = ttf !== null && (f.level === 'medium' || f.level === 'high');
      const peak = t.peak;
      const peaked = peak !== null && peak.utilization >= NEAR;
      if (t.level === 'ok' && !soon && !peaked) continue;
      let level: AdviceLevel = t.level === 'critical' ? 'critical' : t.level === 'action' ? 'action' : 'warn';
      if (soon && ttf! <= 60) level = 'critical';
      else if (soon && ttf! <= 600 && level === 'warn') level = 'action';
      top ??= x.model.churn({ by: 'src', window: Math.min(60, x.window), limit: 3 }).items.map((i) => ({ src: i.key, allocations: i.count, rate_per_s: i.rate }));
      const now = `${fmt(t.count)} of ${fmt(t.max)} entries (${pct(t.utilization)}, ${t.level})`;
      const title =
        t.level !== 'ok' || soon
          ? `The conntrack table of ${tableName(t)} holds ${now}${soon ? `; full in ${duration(ttf!)} at this pace` : f.chosen === 'full' ? '; full' : ''}`
          : `The conntrack table of ${tableName(t)} reached ${pct(peak!.utilization)} of nf_conntrack_max (${fmt(peak!.count)} of ${fmt(peak!.max)})`;
      out.push({
        id: 'table-full',
        level,
        netns: t.netns,
        title,
        detail:
          `${f.basis}.` +
          (peak ? ` Its highest reading: ${fmt(peak.count)} of ${fmt(peak.max)} (${pct(peak.utilization)}).` : '') +
          (top.length ? ` Allocating most in the last ${Math.min(60, x.window)} s: ${top.map((s) => `${s.src} ${fmt(s.rate_per_s, 1)}/s`).join(', ')}.` : '') +
          ' nf_conntrack_max is one limit for every namespace; each namespace has its own count.',
        evidence: {
          netns: t.netns,
          name: t.name,
          count: t.count,
          max: t.max,
          utilization: t.utilization,
          level: t.level,
          read_at_s: t.read_at_s,
          time_to_full_s: f.time_to_full_s,
          forecast_basis: f.chosen,
          forecast_confidence: f.confidence,
          peak,
          top_allocators: top,
        },
        checks: {
          'count, max, peak': `/proc/sys/net/netfilter/nf_conntrack_count and _max in netns ${t.netns}, or /v1/table?netns=${t.netns}`,
          time_to_full_s: `/v1/forecast?netns=${t.netns}`,
          top_allocators: `/v1/churn?by=src&window=${Math.min(60, x.window)}`,
        },
        action: 'See who fills it (/v1/churn?by=src, /v1/occupancy?by=src&state=…); raise net.netfilter.nf_conntrack_max if the load is legitimate (the table-size advice says what it costs), or cut that churn.',
      });
    }
    return out;
  },
};
