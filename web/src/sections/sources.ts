// Where the figures come from: each source with its state, hook, records and
// losses; the hook each capability got; what this node cannot see.

import { fill, h } from '../dom.js';
import { int } from '../format.js';
import type { Status } from '../types.js';

export function renderSources(root: HTMLElement, s: Status | null): void {
  if (!s) return;
  const state = (st: string) => h('span', { class: `badge st-${st === 'running' ? 'ok' : st === 'degraded' || st === 'stopped' ? 'warn' : 'bad'}` }, st);
  fill(
    root,
    h(
      'div',
      { class: 'scroll-x' },
      h(
      'table',
      { class: 'grid compact' },
      h('thead', null, h('tr', null, h('th', null, 'source'), h('th', null, 'state'), h('th', null, 'hook'), h('th', { class: 'n' }, 'records'), h('th', { class: 'n' }, 'lost'), h('th', { class: 'n' }, 'delay p99'))),
      h(
        'tbody',
        null,
        s.sources.map((x) => [
          h(
            'tr',
            { class: x.detail ? 'has-detail' : null },
            h('td', null, x.name),
            h('td', null, state(x.state)),
            h('td', null, x.hook ?? '–'),
            h('td', { class: 'n' }, int(x.records)),
            h('td', { class: x.lost.total > 0 ? 'n bad' : 'n' }, int(x.lost.total)),
            h('td', { class: 'n' }, x.delay_p99_s == null ? '–' : `${x.delay_p99_s < 1 ? Math.round(x.delay_p99_s * 1000) + ' ms' : x.delay_p99_s.toFixed(1) + ' s'}`),
          ),
          // the detail under the row, across it (a narrow column would make it a tower)
          x.detail ? h('tr', { class: 'detail' }, h('td', { colspan: '6', class: 'muted small' }, detail(x.detail))) : null,
        ]),
      ),
    ),
    ),
    s.lost.total > 0 ? h('p', { class: 'warnline' }, `${int(s.lost.total)} records lost: the counts above are lower bounds.`) : null,
    s.capabilities?.length
      ? h('p', { class: 'small' }, h('strong', null, 'hooks: '), s.capabilities.map((c) => `${c.capability} → ${c.chosen ?? 'none'}`).join(' · '))
      : null,
    s.blind_spots?.length ? h('div', null, h('h3', null, 'Cannot see here'), h('ul', { class: 'blind' }, s.blind_spots.map((b) => h('li', null, b)))) : null,
  );
}

/** A long detail (every refused hook with its reason) folded behind its first words. */
function detail(text: string): HTMLElement | string {
  if (text.length <= 140) return text;
  return h('details', null, h('summary', null, `${text.slice(0, 100).replace(/\s\S*$/, '')} …`), text);
}
