// The advice list, most severe first, each with what it means, what to do
// and its evidence (folded: the action is what to do, the evidence why).

import { fill, h } from '../dom.js';
import type { Advice } from '../types.js';

const RANK = { critical: 0, action: 1, warn: 2, info: 3 } as const;

export function renderAdvice(root: HTMLElement, advice: Advice[] | null): void {
  if (!advice) return;
  const sorted = [...advice].sort((a, b) => RANK[a.level] - RANK[b.level]);
  fill(
    root,
    sorted.length === 0
      ? h('p', { class: 'note' }, 'Nothing to advise: no rule fired on what was observed.')
      : h(
          'ul',
          { class: 'advice' },
          sorted.map((a) =>
            h(
              'li',
              { class: `sev-${a.level}`, 'data-id': a.id },
              h('div', null, h('span', { class: `badge sev-${a.level}` }, a.level), ' ', h('strong', null, a.title)),
              h('p', null, a.detail),
              h('p', { class: 'action' }, a.action),
              h('details', null, h('summary', null, 'evidence'), h('pre', null, JSON.stringify(a.evidence, null, 2))),
            ),
          ),
        ),
  );
}
