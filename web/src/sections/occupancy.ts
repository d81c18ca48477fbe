// Who holds the table now: live entries by protocol and state (one bar each)
// and the top holders by source. "Now" is the model's present, not the
// cursor: occupancy has no history.

import { fill, h } from '../dom.js';
import { int, pct } from '../format.js';
import type { Occupancy } from '../types.js';
import { keyButton } from './keys.js';

export function renderOccupancy(root: HTMLElement, o: Occupancy | null, pick: (by: string, key: string) => void): void {
  if (!o) return;
  const max = Math.max(1, ...o.states.map((s) => s.count));
  fill(
    root,
    h('p', { class: 'note' }, `${int(o.live)} live entries tracked, by protocol and state:`),
    o.states.length === 0
      ? h('p', { class: 'note' }, 'none')
      : h(
          'table',
          { class: 'bars' },
          h(
            'tbody',
            null,
            o.states.map((s) =>
              h(
                'tr',
                null,
                h('th', { scope: 'row' }, `${s.proto} ${s.state}`),
                h('td', { class: 'bar' }, h('span', { style: `width:${((100 * s.count) / max).toFixed(1)}%` })),
                h('td', { class: 'n' }, int(s.count)),
                h('td', { class: 'n muted' }, pct(s.share ?? 0, 0)),
              ),
            ),
          ),
        ),
    h('h3', null, `Top holders by ${o.by}`),
    o.items.length === 0
      ? h('p', { class: 'note' }, 'none')
      : h(
          'table',
          { class: 'grid compact' },
          h('thead', null, h('tr', null, h('th', null, o.by), h('th', { class: 'n' }, 'entries'), h('th', null, 'mostly'))),
          h('tbody', null, o.items.map((i) => h('tr', null, h('td', null, keyButton(o.by, i.key, pick)), h('td', { class: 'n' }, int(i.count)), h('td', { class: 'muted' }, i.states[0] ? `${i.states[0].proto} ${i.states[0].state}` : '')))),
        ),
  );
}
