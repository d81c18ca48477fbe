// The legend under a stacked chart: each key with its colour, its value in
// the second under the cursor and its total over the window; a key that maps
// to a flow filter is a button (click, or Enter/Space) that filters the flows.

import { h } from '../dom.js';
import { flowParams } from '../filters.js';
import { int, num } from '../format.js';
import type { KeySeries } from '../types.js';

export function keyLegend(s: KeySeries, at: number, colors: string[], other: string, unit: string, pick: (by: string, key: string) => void, test: string): HTMLElement {
  const rows = s.items.map((it, j) =>
    h(
      'tr',
      null,
      h('td', null, h('span', { class: 'swatch', style: `background:${colors[j % colors.length]}` })),
      h('td', { class: 'key' }, keyButton(s.by, it.key, pick)),
      h('td', { class: 'n', 'data-test': `${test}-at` }, at >= 0 ? num(it.values[at] ?? 0) : '–'),
      h('td', { class: 'n', 'data-test': `${test}-count` }, int(it.count)),
    ),
  );
  const otherAt = at >= 0 ? (s.other[at] ?? 0) : 0;
  const otherSum = s.other.reduce((a, v) => a + v, 0);
  return h(
    'table',
    { class: 'legend' },
    h('thead', null, h('tr', null, h('th', null, ''), h('th', null, s.by), h('th', { class: 'n' }, `${unit}/s at cursor`), h('th', { class: 'n' }, `in ${span(s.window)}`))),
    h(
      'tbody',
      null,
      rows,
      otherSum > 0 || s.items.length === 0
        ? h('tr', { class: 'other' }, h('td', null, h('span', { class: 'swatch', style: `background:${other}` })), h('td', null, s.items.length ? 'other' : 'none'), h('td', { class: 'n' }, num(otherAt)), h('td', { class: 'n' }, int(otherSum)))
        : null,
    ),
  );
}

export function keyButton(by: string, key: string, pick: (by: string, key: string) => void): HTMLElement {
  if (!flowParams(by, key)) return h('span', { title: 'no flow filter for this key' }, key);
  return h('button', { class: 'linkish', type: 'button', 'data-key': key, 'data-by': by, title: `show the flows of ${by} ${key}`, onclick: () => pick(by, key) }, key);
}

export function span(seconds: number): string {
  if (seconds >= 120 && seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}
