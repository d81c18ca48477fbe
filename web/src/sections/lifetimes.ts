// How long entries lived, by protocol and final state: percentiles and a
// small histogram per group (log-scale buckets, as the model keeps them).

import { fill, h } from '../dom.js';
import { int } from '../format.js';
import type { Lifetimes } from '../types.js';

const secs = (s: number | null) => (s === null ? '–' : s < 1 ? `${Math.round(s * 1000)} ms` : `${+s.toFixed(1)} s`);

export function renderLifetimes(root: HTMLElement, l: Lifetimes | null): void {
  if (!l) return;
  const groups = l.groups.slice(0, 6);
  fill(
    root,
    groups.length === 0 ? h('p', { class: 'note' }, 'No entry has ended yet.') : null,
    groups.map((g) => {
      // the buckets are cumulative: per-bucket counts for the bars
      const per = g.buckets.map((b, i) => b.count - (i > 0 ? g.buckets[i - 1]!.count : 0));
      const max = Math.max(1, ...per);
      return h(
        'div',
        { class: 'life' },
        h('h3', null, `${g.proto}${g.state ? ` ${g.state}` : ''}`, h('span', { class: 'muted' }, ` ${int(g.count)} ended`)),
        h('p', { class: 'pcts' }, `p50 ${secs(g.p50_s)} · p90 ${secs(g.p90_s)} · p99 ${secs(g.p99_s)}`),
        h(
          'div',
          { class: 'hist', role: 'img', 'aria-label': `lifetimes of ${g.proto} ${g.state ?? ''}: ${g.buckets.map((b, i) => `${per[i]} up to ${b.le === '+Inf' ? 'longer' : secs(b.le)}`).join(', ')}` },
          g.buckets.map((b, i) => h('span', { title: `${int(per[i]!)} up to ${b.le === '+Inf' ? '∞' : secs(b.le)}`, style: `height:${Math.max(2, (100 * per[i]!) / max).toFixed(0)}%` })),
        ),
        h('div', { class: 'hist-axis muted' }, h('span', null, secs(typeof g.buckets[0]?.le === 'number' ? (g.buckets[0].le as number) : null)), h('span', null, String(g.buckets.at(-1)?.le === '+Inf' ? `> ${secs((g.buckets.at(-2)?.le as number) ?? null)}` : secs((g.buckets.at(-1)?.le as number) ?? null)))),
      );
    }),
    l.unknown_start > 0 ? h('p', { class: 'note' }, `${int(l.unknown_start)} ended entries had no known start (seen at start or resync) and are not counted.`) : null,
  );
}
