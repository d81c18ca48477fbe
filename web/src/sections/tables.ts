// Every table ctscope follows, most endangered first: a card per table with
// its utilization over the window (70/85/95 % drawn), the kernel's drops and
// early drops per second, and the forecast's time to full. A card for the
// first and for up to three more that are or were in trouble in the window;
// the rest as one line each (a node with hundreds of containers has hundreds
// of tables, most of them idle).

import { Chart } from '../charts.js';
import { fill, h } from '../dom.js';
import { duration, hms, int, num, pct } from '../format.js';
import { choice, cursorIndex, xs } from '../state.js';
import type { Level, TableSeries, Tables } from '../types.js';

export const LEVEL_COLOR: Record<Level, string> = { ok: '#3fb950', warn: '#e3b341', action: '#ffa657', critical: '#ff7b72' };
const CHARTED = 4;

/** The level of a utilization, as the API grades it (70/85/95 %). */
export function levelOf(u: number): Level {
  return u >= 0.95 ? 'critical' : u >= 0.85 ? 'action' : u >= 0.7 ? 'warn' : 'ok';
}

export function tableName(t: Pick<TableSeries, 'name' | 'netns'>): string {
  return t.name ? `${t.name}` : `netns ${t.netns}`;
}

export function levelBadge(level: Level): HTMLElement {
  return h('span', { class: `badge lvl-${level}` }, level);
}

export class TablesView {
  private readonly charts = new Map<number, Chart>();
  private readonly cards = new Map<number, HTMLElement>();
  private readonly list = h('div', { class: 'cards' });
  private readonly rest = h('div');

  constructor(
    root: HTMLElement,
    private readonly onPick: (x: number) => void,
  ) {
    fill(root, this.list, this.rest);
  }

  render(t: Tables | null): void {
    if (!t) return;
    if (t.tables.length === 0) {
      fill(this.list, h('p', { class: 'note' }, 'No reading of a conntrack table yet (the /proc poller reads one every second; is nf_conntrack loaded?).'));
      fill(this.rest);
      return;
    }
    const at = cursorIndex(t);
    const x = xs(t);
    const shown = t.tables.filter((s, i) => i === 0 || troubled(s)).slice(0, CHARTED);
    const keep = new Set(shown.map((s) => s.netns));
    for (const [netns, c] of this.charts) {
      if (!keep.has(netns)) {
        c.destroy();
        this.charts.delete(netns);
        this.cards.delete(netns);
      }
    }
    const cards = shown.map((s, rank) => this.card(s, rank, x, at));
    // the same cards in the same order stay where they are (moving a chart's canvas costs a layout)
    const same = cards.length === this.list.children.length && cards.every((c, i) => this.list.children[i] === c);
    if (!same) this.list.replaceChildren(...cards);
    const charted = new Set(shown);
    const more = t.tables.filter((s) => !charted.has(s));
    fill(
      this.rest,
      more.length
        ? h(
            'div',
            { class: 'scroll-x' },
            h(
            'table',
            { class: 'grid compact' },
            h('thead', null, h('tr', null, h('th', null, 'table'), h('th', null, 'level'), h('th', { class: 'n' }, 'entries'), h('th', { class: 'n' }, 'max'), h('th', { class: 'n' }, 'utilization'), h('th', { class: 'n' }, 'drops (1 min)'))),
            h('tbody', null, more.map((s) => h('tr', null, h('td', null, tableName(s)), h('td', null, levelBadge(s.level)), h('td', { class: 'n' }, int(s.count)), h('td', { class: 'n' }, int(s.max)), h('td', { class: 'n' }, pct(s.utilization)), h('td', { class: 'n' }, int(s.drops_60s))))),
            ),
          )
        : null,
    );
  }

  private card(s: TableSeries, rank: number, x: number[], at: number): HTMLElement {
    let card = this.cards.get(s.netns);
    let plot: HTMLElement;
    if (!card) {
      plot = h('div');
      card = h('article', { class: 'card', 'data-netns': s.netns }, h('header'), h('dl', { class: 'facts' }), plot);
      this.cards.set(s.netns, card);
      this.charts.set(s.netns, new Chart(plot, { height: 160, percent: true, yLabel: 'utilization', rLabel: 'per s', label: `utilization of table ${tableName(s)}`, thresholds: [0.7, 0.85, 0.95].map((v, i) => ({ value: v, color: [LEVEL_COLOR.warn, LEVEL_COLOR.action, LEVEL_COLOR.critical][i]! })), onPick: this.onPick }));
    }
    const val = <T>(a: T[]) => (at >= 0 ? (a[at] ?? null) : null);
    const util = val(s.utilization_series);
    const count = val(s.count_series);
    const max = val(s.max_series);
    const drop = val(s.drop_per_s);
    const early = val(s.early_drop_per_s);
    fill(
      card.querySelector('header')!,
      h('h3', null, tableName(s), s.host && s.name !== 'host' ? ' (host)' : null, h('span', { class: 'netns' }, ` netns ${s.netns}`)),
      // the level in the second looked at; now's when following
      choice.follow || util === null ? levelBadge(s.level) : [levelBadge(levelOf(util)), h('span', { class: 'first' }, `at ${hms(x[at]!)}`)],
      rank === 0 ? h('span', { class: 'first' }, 'most endangered now') : null,
    );
    const fact = (k: string, v: string, test?: string) => [h('dt', null, k), h('dd', test ? { 'data-test': test } : null, v)];
    fill(
      card.querySelector('dl')!,
      fact('entries', count === null || max === null ? 'no reading' : `${int(count)} / ${int(max)}`),
      fact('utilization', util === null ? '–' : pct(util), `table-util-${s.netns}`),
      fact('drops/s', drop === null ? '–' : num(drop)),
      fact('early drops/s', early === null ? '–' : num(early)),
      fact('full in', s.forecast_confidence >= 0.2 ? duration(s.time_to_full_s) : 'no clear trend'),
      peakFact(s, x, fact),
    );
    const chart = this.charts.get(s.netns)!;
    chart.set(
      x,
      [
        { label: 'utilization', color: '#58a6ff' },
        { label: 'drops/s', color: LEVEL_COLOR.critical, scale: 'r' },
        { label: 'early drops/s', color: LEVEL_COLOR.action, scale: 'r', dash: [4, 3] },
      ],
      [s.utilization_series, s.drop_per_s, s.early_drop_per_s],
    );
    chart.marker(at >= 0 && !choice.follow ? x[at]! : null);
    return card;
  }
}

/** Worth a card: above the first level now or at some point in the window, or dropping. */
function troubled(s: TableSeries): boolean {
  return s.level !== 'ok' || s.drops_60s > 0 || (peak(s)?.value ?? 0) >= 0.7 || s.drop_per_s.some((v) => v !== null && v > 0);
}

/** The highest utilization in the window and its second (index), or null without readings. */
export function peak(s: Pick<TableSeries, 'utilization_series'>): { value: number; at: number } | null {
  let best: { value: number; at: number } | null = null;
  s.utilization_series.forEach((v, i) => {
    if (v !== null && (best === null || v > best.value)) best = { value: v, at: i };
  });
  return best;
}

function peakFact(s: TableSeries, x: number[], fact: (k: string, v: string, test?: string) => HTMLElement[]): HTMLElement[] | null {
  const p = peak(s);
  return p ? fact('peak', `${pct(p.value)} at ${hms(x[p.at]!)}`) : null;
}
