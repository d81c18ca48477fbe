// The first line an on-call reads: is it bad, where, since when, who. The
// table in most danger, the drops over the window and whose they are, the top
// allocator — each a figure the API gives the same way (the browser tests
// compare them).

import { fill, h } from '../dom.js';
import { duration, hms, int, pct } from '../format.js';
import type { KeySeries, TableSeries, Tables } from '../types.js';
import { keyButton, span } from './keys.js';
import { levelBadge, peak, tableName } from './tables.js';
import { unixAt } from '../state.js';

export function renderHeadline(root: HTMLElement, t: Tables | null, alloc: KeySeries | null, drops: KeySeries | null, pick: (by: string, key: string) => void): void {
  const table = t?.tables[0];
  const dropped = drops ? drops.total.reduce((a, v) => a + v, 0) : 0;
  const topDrop = drops?.items[0];
  const topAlloc = alloc?.items[0];
  const cell = (label: string, ...value: Array<Node | string | null>) => h('div', { class: 'cell' }, h('div', { class: 'label' }, label), h('div', { class: 'value' }, ...value));
  fill(
    root,
    cell(
      'most endangered table',
      table
        ? h('span', null, h('span', { 'data-test': 'head-table' }, tableName(table)), ' ', h('span', { class: 'big', 'data-test': 'head-util' }, pct(table.utilization)), ' ', levelBadge(table.level), h('span', { class: 'muted small' }, ` ${int(table.count)} / ${int(table.max)}${table.forecast_confidence >= 0.2 && table.time_to_full_s !== null ? ` · full in ${duration(table.time_to_full_s)}` : ''}${peakNote(table, t!)}`))
        : 'no reading yet',
    ),
    cell(
      drops ? `drops in ${span(drops.window)}` : 'drops',
      drops ? h('span', { class: dropped > 0 ? 'big bad' : 'big', 'data-test': 'head-drops' }, int(dropped)) : '–',
      topDrop && drops ? h('span', { class: 'small' }, ' most from ', h('span', { 'data-test': 'head-drop-key' }, keyButton(drops.by, topDrop.key, pick)), h('span', { 'data-test': 'head-drop-count' }, ` (${int(topDrop.count)})`)) : null,
    ),
    cell(
      alloc ? `top allocator by ${alloc.by}, ${span(alloc.window)}` : 'top allocator',
      topAlloc && alloc ? h('span', null, h('span', { 'data-test': 'head-alloc-key' }, keyButton(alloc.by, topAlloc.key, pick)), ' ', h('span', { class: 'big', 'data-test': 'head-alloc-count' }, int(topAlloc.count)), h('span', { class: 'muted small' }, ` of ${int(alloc.total.reduce((a, v) => a + v, 0))}`)) : 'none',
    ),
  );
}

/** The window's peak when it was well above now (an incident that is over, a replay's end). */
function peakNote(table: TableSeries, t: Tables): string {
  const p = peak(table);
  return p && p.value - table.utilization >= 0.05 ? ` · peak ${pct(p.value)} at ${hms(unixAt(t, p.at))}` : '';
}
