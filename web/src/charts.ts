// Time-series charts: a thin layer over uPlot (canvas, thousands of points
// redrawn in a few ms). One Chart per panel, fed whole series each refresh;
// the series set (labels, colours) decides whether uPlot is rebuilt or just
// given new data. Times are Unix seconds shown in UTC, like the header.

import uPlot from 'uplot';

export const PALETTE = ['#58a6ff', '#3fb950', '#e3b341', '#bc8cff', '#39c5cf', '#ff7b72', '#db61a2', '#ffa657'];
export const OTHER = '#8b949e';
const GRID = 'rgba(240,246,252,0.08)';
const AXIS = '#9da7b3';

export interface SeriesSpec {
  label: string;
  color: string;
  /** 'y' (left axis, default) or 'r' (right axis). */
  scale?: 'y' | 'r';
  /** Fill under the line (stacked layers). */
  fill?: boolean;
  width?: number;
  dash?: number[];
}

export interface ChartOptions {
  height: number;
  /** Left axis: a ratio shown as 0–100 %. */
  percent?: boolean;
  /** Unit of the left / right axis values, for the axis label. */
  yLabel?: string;
  rLabel?: string;
  /** Horizontal lines on the left scale (e.g. 70/85/95 %). */
  thresholds?: Array<{ value: number; color: string }>;
  /** Stacked: fill between consecutive series (the data are cumulative). */
  stacked?: boolean;
  /** A click on the plot picks that time (Unix s). */
  onPick?: (x: number) => void;
  /** Accessible name of the canvas. */
  label: string;
}

export class Chart {
  private u: uPlot | null = null;
  private signature = '';
  private markerX: number | null = null;
  private readonly resize: ResizeObserver;
  private readonly seen: IntersectionObserver;
  /** On screen (or near it); off it, new data wait in `pending` and nothing is drawn. */
  private visible = true;
  private pending: uPlot.AlignedData | null = null;
  private stale = false;

  constructor(
    readonly host: HTMLElement,
    private readonly o: ChartOptions,
  ) {
    host.classList.add('chart');
    host.setAttribute('role', 'img');
    host.setAttribute('aria-label', o.label);
    this.resize = new ResizeObserver(() => {
      if (this.u && host.clientWidth > 0 && Math.abs(this.u.width - host.clientWidth) > 1) this.u.setSize({ width: host.clientWidth, height: o.height });
    });
    this.resize.observe(host);
    // a chart scrolled out of view is not redrawn each refresh: its newest data are drawn when it comes back
    this.seen = new IntersectionObserver(
      (entries) => {
        this.visible = entries[entries.length - 1]!.isIntersecting;
        if (!this.visible || !this.u) return;
        if (this.pending) this.u.setData(this.pending);
        else if (this.stale) this.u.redraw(false, false);
        this.pending = null;
        this.stale = false;
      },
      { rootMargin: '200px' },
    );
    this.seen.observe(host);
  }

  /** xs: Unix seconds; data[i]: the values of series[i]. */
  set(xs: number[], series: SeriesSpec[], data: Array<ArrayLike<number | null>>): void {
    const sig = series.map((s) => `${s.label}|${s.color}|${s.scale ?? 'y'}`).join(';');
    const aligned = [xs, ...data.map((d) => Array.from(d))] as uPlot.AlignedData;
    if (!this.u || sig !== this.signature) {
      this.u?.destroy();
      this.signature = sig;
      this.u = new uPlot(this.options(series), aligned, this.host);
    } else if (this.visible) {
      this.u.setData(aligned);
    } else {
      this.pending = aligned;
    }
    this.host.dataset.points = String(xs.length);
    this.host.dataset.first = xs.length ? String(xs[0]) : '';
    this.host.dataset.last = xs.length ? String(xs[xs.length - 1]) : '';
  }

  /** A vertical line at x (Unix s), or none. */
  marker(x: number | null): void {
    if (x === this.markerX) return;
    this.markerX = x;
    if (this.visible) this.u?.redraw(false, false);
    else this.stale = true;
  }

  private options(series: SeriesSpec[]): uPlot.Options {
    const o = this.o;
    const width = Math.max(200, this.host.clientWidth || 600);
    const bands: uPlot.Band[] = [];
    if (o.stacked) for (let i = 2; i <= series.length; i++) bands.push({ series: [i, i - 1] });
    const axes: uPlot.Axis[] = [
      // UTC, 24 h, seconds when the window is short (as the header's clock)
      { stroke: AXIS, grid: { stroke: GRID }, ticks: { stroke: GRID }, font: '12px system-ui, sans-serif', space: 80, values: (u, splits) => splits.map((v) => clockLabel(v, (u.scales.x?.max ?? 0) - (u.scales.x?.min ?? 0))) },
      {
        scale: 'y',
        stroke: AXIS,
        grid: { stroke: GRID },
        ticks: { stroke: GRID },
        font: '12px system-ui, sans-serif',
        size: 56,
        label: o.yLabel,
        labelFont: '12px system-ui, sans-serif',
        values: o.percent ? (_u, vals) => vals.map((v) => `${Math.round(v * 100)}%`) : (_u, vals) => vals.map(short),
      },
    ];
    if (series.some((s) => s.scale === 'r')) {
      axes.push({ scale: 'r', side: 1, stroke: AXIS, grid: { show: false }, ticks: { stroke: GRID }, font: '12px system-ui, sans-serif', size: 48, label: o.rLabel, labelFont: '12px system-ui, sans-serif', values: (_u, vals) => vals.map(short) });
    }
    return {
      width,
      height: o.height,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), 'Etc/UTC'),
      legend: { show: false },
      cursor: { sync: { key: 'ctscope' }, drag: { x: false, y: false }, points: { show: false } },
      scales: {
        x: { time: true },
        y: o.percent ? { range: [0, 1.02] } : { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] },
        r: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] },
      },
      axes,
      bands,
      series: [
        {},
        ...series.map(
          (s): uPlot.Series => ({
            label: s.label,
            stroke: s.color,
            width: s.width ?? (s.fill ? 1 : 2),
            scale: s.scale ?? 'y',
            ...(s.dash ? { dash: s.dash } : {}),
            ...(s.fill ? { fill: `${s.color}55` } : {}),
            spanGaps: false,
            points: { show: false },
          }),
        ),
      ],
      hooks: {
        draw: [(u) => this.decorate(u)],
        ready: [
          (u) => {
            u.over.addEventListener('click', () => {
              const left = u.cursor.left;
              if (o.onPick && left !== undefined && left >= 0) o.onPick(Math.round(u.posToVal(left, 'x')));
            });
          },
        ],
      },
    };
  }

  private decorate(u: uPlot): void {
    const ctx = u.ctx;
    const { left, top, width, height } = u.bbox;
    ctx.save();
    ctx.lineWidth = Math.max(1, devicePixelRatio);
    for (const t of this.o.thresholds ?? []) {
      const y = u.valToPos(t.value, 'y', true);
      ctx.strokeStyle = t.color;
      ctx.setLineDash([6 * devicePixelRatio, 4 * devicePixelRatio]);
      ctx.beginPath();
      ctx.moveTo(left, y);
      ctx.lineTo(left + width, y);
      ctx.stroke();
    }
    if (this.markerX !== null) {
      const x = u.valToPos(this.markerX, 'x', true);
      if (x >= left && x <= left + width) {
        ctx.strokeStyle = '#f0f6fc';
        ctx.setLineDash([]);
        ctx.beginPath();
        ctx.moveTo(x, top);
        ctx.lineTo(x, top + height);
        ctx.stroke();
      }
    }
    ctx.restore();
  }

  destroy(): void {
    this.resize.disconnect();
    this.seen.disconnect();
    this.u?.destroy();
    this.u = null;
  }
}

/** Layers stacked bottom-up: each series is the running sum (what Chart draws with stacked: true). */
export function stack(layers: Array<ArrayLike<number>>): Float64Array[] {
  const out: Float64Array[] = [];
  let acc: Float64Array | null = null;
  for (const l of layers) {
    const s = new Float64Array(l.length);
    for (let i = 0; i < l.length; i++) s[i] = (acc ? acc[i]! : 0) + l[i]!;
    out.push(s);
    acc = s;
  }
  return out;
}

function short(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e6) return `${+(v / 1e6).toFixed(1)}M`;
  if (a >= 1e4) return `${+(v / 1e3).toFixed(0)}k`;
  if (a >= 1e3) return `${+(v / 1e3).toFixed(1)}k`;
  return `${+v.toFixed(2)}`;
}

function clockLabel(unixS: number, rangeS: number): string {
  const t = new Date(unixS * 1000).toISOString();
  return rangeS > 3600 ? t.slice(11, 16) : t.slice(11, 19);
}
