// The time cursor: a slider over the seconds the page holds (arrow keys: 1 s,
// Page Up/Down: 10 s, Home/End), the second it points at in UTC, and a
// button back to the newest second (following it live).

import { fill, h } from '../dom.js';
import { stamp } from '../format.js';

export interface TimelineHooks {
  follow: () => boolean;
  cursor: () => number | null;
  set: (x: number | null) => void;
  mode: () => 'live' | 'replay' | null;
}

export class Timeline {
  private readonly slider = h('input', { type: 'range', min: '0', max: '0', step: '1', 'aria-label': 'time cursor', 'data-test': 'scrub' });
  private readonly at = h('output', { class: 'at', 'data-test': 'cursor-time' });
  private readonly button = h('button', { type: 'button', class: 'live' });
  private readonly worstButton = h('button', { type: 'button', title: 'the second with the most drops (or the fullest table)' }, 'worst second');
  private worst: number | null = null;
  private first = 0;
  private last = 0;

  constructor(
    root: HTMLElement,
    private readonly o: TimelineHooks,
  ) {
    this.slider.addEventListener('input', () => o.set(Number(this.slider.value)));
    this.button.addEventListener('click', () => o.set(null));
    this.worstButton.addEventListener('click', () => this.worst !== null && o.set(this.worst));
    fill(root, h('label', { class: 'muted small' }, 'time'), this.slider, this.at, this.button, this.worstButton);
  }

  render(first: number | null, last: number | null, worst: number | null): void {
    this.worst = worst;
    this.worstButton.hidden = worst === null;
    if (first === null || last === null) return;
    this.first = first;
    this.last = last;
    this.slider.min = String(first);
    this.slider.max = String(last);
    const x = this.o.follow() ? last : Math.min(last, Math.max(first, this.o.cursor() ?? last));
    if (document.activeElement !== this.slider || this.o.follow()) this.slider.value = String(x);
    this.slider.setAttribute('aria-valuetext', stamp(x));
    fill(this.at, stamp(x));
    const replay = this.o.mode() === 'replay';
    this.button.textContent = this.o.follow() ? (replay ? 'at the end' : '● live') : replay ? 'go to the end' : 'back to live';
    this.button.setAttribute('aria-pressed', String(this.o.follow()));
  }

  /** Bounds of the slider (Unix s). */
  bounds(): [number, number] {
    return [this.first, this.last];
  }
}
