// The flows: live entries (or the recently closed ones), filtered by the key
// clicked anywhere above; a row opens the entry's lifecycle.

import { fill, h } from '../dom.js';
import { age, int, stamp } from '../format.js';
import type { Flow, Flows } from '../types.js';

export interface FlowsHooks {
  filter: () => { by: string; key: string } | null;
  clearFilter: () => void;
  closed: () => boolean;
  setClosed: (closed: boolean) => void;
  open: (id: string) => void;
  close: () => void;
  /** Add to a model second to get Unix time. */
  epochOffset: () => number;
}

const tuple = (f: Flow) => `${f.src}:${f.sport} → ${f.dst}:${f.dport}`;

export function renderFlows(root: HTMLElement, flows: Flows | null, flow: Flow | null, o: FlowsHooks): void {
  const f = o.filter();
  const closed = o.closed();
  const bar = h(
    'div',
    { class: 'toolbar' },
    h(
      'div',
      { class: 'seg', role: 'group', 'aria-label': 'which flows' },
      h('button', { type: 'button', 'aria-pressed': String(!closed), onclick: () => o.setClosed(false) }, 'live'),
      h('button', { type: 'button', 'aria-pressed': String(closed), onclick: () => o.setClosed(true) }, 'recently closed'),
    ),
    f ? h('span', { class: 'chip', 'data-test': 'flows-filter' }, `${f.by} = ${f.key}`, h('button', { type: 'button', class: 'x', 'aria-label': `remove the filter ${f.by} = ${f.key}`, onclick: o.clearFilter }, '×')) : h('span', { class: 'muted small' }, 'click a key above to filter'),
  );
  if (!flows) {
    fill(root, bar);
    return;
  }
  const rows = flows.flows.map((x) =>
    h(
      'tr',
      { 'data-id': x.id, class: flow?.id === x.id ? 'sel' : null },
      h('td', null, h('button', { type: 'button', class: 'linkish mono', 'aria-label': `lifecycle of ${x.proto} ${tuple(x)}`, onclick: () => o.open(x.id) }, tuple(x))),
      h('td', null, x.proto),
      h('td', null, x.state),
      h('td', { class: 'n' }, age(x.age_s)),
      h('td', { class: 'n' }, x.closed ? x.closed.cause : age(x.last_seen_s_ago)),
      h('td', { class: 'n muted' }, String(x.netns)),
    ),
  );
  fill(
    root,
    bar,
    h('p', { class: 'note', 'data-test': 'flows-total' }, `${int(flows.total)} ${closed ? 'recently closed' : 'live'} entries${f ? ` of ${f.by} ${f.key}` : ''}${flows.total > flows.flows.length ? `, ${flows.flows.length} shown (${closed ? 'newest' : 'oldest'} first)` : ''}`),
    h(
      'div',
      { class: 'scroll' },
      h(
        'table',
        { class: 'grid flows' },
        h('thead', null, h('tr', null, h('th', null, 'flow'), h('th', null, 'proto'), h('th', null, 'state'), h('th', { class: 'n' }, closed ? 'lived' : 'age'), h('th', { class: 'n' }, closed ? 'ended by' : 'last seen'), h('th', { class: 'n' }, 'netns'))),
        h('tbody', null, rows),
      ),
    ),
    flow ? lifecycle(flow, o) : null,
  );
}

function lifecycle(f: Flow, o: FlowsHooks): HTMLElement {
  const at = (modelS: number) => stamp(modelS + o.epochOffset());
  const item = (k: string, v: string | null) => (v === null ? null : [h('dt', null, k), h('dd', null, v)]);
  return h(
    'aside',
    { class: 'lifecycle', 'aria-label': 'lifecycle of the selected flow', tabindex: '-1' },
    h('header', null, h('h3', null, `${f.proto} ${tuple(f)}`), h('button', { type: 'button', class: 'x', 'aria-label': 'close the lifecycle', onclick: o.close }, '×')),
    h('ol', { class: 'states' }, f.states.map((s) => h('li', null, s))),
    h(
      'dl',
      { class: 'facts' },
      item('id', f.id),
      item('opened', `${f.opened === 'alloc' ? 'allocated' : f.opened.replaceAll('_', ' ')}${f.start_known ? ` at ${at(f.start_s)}` : ' (start unknown)'}`),
      item(f.live ? 'age' : 'lived', age(f.age_s)),
      item('in this state for', age(f.state_since_s)),
      f.live ? item('last seen', `${age(f.last_seen_s_ago)} ago`) : null,
      f.closed ? item('closed', `${at(f.closed.at_s)} by ${f.closed.cause}${f.closed.lifetime_s === null ? '' : ` after ${age(f.closed.lifetime_s)}`}`) : null,
      item('confirmed', f.confirmed ? 'yes' : 'no'),
      item('netns · zone · mark', `${f.netns} · ${f.zone} · ${f.mark}`),
      item('status bits', `0x${f.status.toString(16)}`),
    ),
  );
}
