// A stacked per-second chart of the top keys of a dimension (allocations, or
// drops of a kind) with "other" on top, a dimension switch built from the
// API's own list, and the key legend. The two panels "Allocations per
// second" and "Drops per second" are two of these.

import { Chart, OTHER, PALETTE, stack } from '../charts.js';
import { fill, h } from '../dom.js';
import { choice, cursorIndex, xs } from '../state.js';
import type { KeySeries } from '../types.js';
import { keyLegend } from './keys.js';

export interface RatesOptions {
  label: string;
  unit: string;
  test: string;
  /** Extra switch (the drop kinds). */
  kinds?: { values: string[]; current: () => string; set: (k: string) => void; names: Record<string, string> };
  dims: () => string[];
  by: () => string;
  setBy: (by: string) => void;
  pick: (by: string, key: string) => void;
  onPick: (x: number) => void;
}

export class Rates {
  private readonly bar = h('div', { class: 'toolbar' });
  private readonly plot = h('div');
  private readonly legend = h('div');
  private readonly note = h('p', { class: 'note' });
  private readonly chart: Chart;

  constructor(
    root: HTMLElement,
    private readonly o: RatesOptions,
  ) {
    fill(root, this.bar, this.plot, this.note, this.legend);
    this.chart = new Chart(this.plot, { height: 220, stacked: true, yLabel: `${o.unit}/s`, label: o.label, onPick: o.onPick });
  }

  render(s: KeySeries | null): void {
    this.toolbar();
    if (!s) return;
    const layers = [...s.items.map((i) => i.values), s.other];
    const series = [...s.items.map((i, j) => ({ label: i.key, color: PALETTE[j % PALETTE.length]!, fill: true })), { label: 'other', color: OTHER, fill: true }];
    this.chart.set(xs(s), series, stack(layers));
    const at = cursorIndex(s);
    this.chart.marker(at >= 0 && !choice.follow ? xs(s)[at]! : null);
    fill(this.legend, keyLegend(s, at, PALETTE, OTHER, this.o.unit, this.o.pick, this.o.test));
    fill(this.note, s.error_bound > 0 ? `Counts are lower bounds: each may be short by up to ${s.error_bound.toLocaleString('en')} (a long tail of keys).` : '');
  }

  chartHost(): HTMLElement {
    return this.plot;
  }

  private toolbar(): void {
    const o = this.o;
    const group = (label: string, values: string[], current: string, set: (v: string) => void, names: Record<string, string> = {}) =>
      h(
        'div',
        { class: 'seg', role: 'group', 'aria-label': label },
        h('span', { class: 'seg-label' }, label),
        values.map((v) => h('button', { type: 'button', 'aria-pressed': String(v === current), 'data-value': v, onclick: () => set(v) }, names[v] ?? v)),
      );
    fill(this.bar, group('by', o.dims(), o.by(), o.setBy), o.kinds ? group('kind', o.kinds.values, o.kinds.current(), o.kinds.set, o.kinds.names) : null);
  }
}
