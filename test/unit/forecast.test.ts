// The forecast (src/forecast/forecast.ts) judged by outcomes on synthetic
// tables that behave like the kernel's: entries expire after their timeout
// but are only removed when the garbage collector comes round (every
// `gcEvery` seconds here), so a steady churn is a sawtooth. The kernel tests
// (test/kernel/forecast.test.ts) do the same against real tables.

import { describe, expect, it } from 'vitest';
import { fitLine } from '../../src/forecast/fit.js';
import { forecastTable, type ForecastInput } from '../../src/forecast/forecast.js';
import { TableAccounts, type RecordRates } from '../../src/proc/accounts.js';
import type { ProcSnapshot } from '../../src/proc/types.js';

/** A table driven second by second: per-second allocations, expiry at a timeout, gc passes. */
class SimTable {
  t = 0;
  count = 0;
  private expiries: number[] = []; // expiry time per live entry (sorted: allocated in order)
  readonly allocs: number[] = []; // per second
  readonly destroys: number[] = [];
  drops = 0;
  firstDrop: number | null = null;
  constructor(
    public max: number,
    readonly timeout: number,
    readonly gcEvery: number,
    readonly netns = 4026532000,
  ) {}

  /** One second with `n` new flows (each one packet: it expires `timeout` after it came). */
  step(n: number, opts: { permanent?: boolean } = {}): void {
    let destroyed = 0;
    if (this.t > 0 && this.t % this.gcEvery === 0) {
      const keep = this.expiries.filter((e) => e > this.t);
      destroyed = this.expiries.length - keep.length;
      this.expiries = keep;
    }
    let admitted = 0;
    for (let i = 0; i < n; i++) {
      if (this.expiries.length >= this.max) {
        this.drops++;
        if (this.firstDrop === null) this.firstDrop = this.t + i / n;
        continue;
      }
      this.expiries.push(opts.permanent ? Infinity : this.t + this.timeout);
      admitted++;
    }
    this.allocs.push(admitted);
    this.destroys.push(destroyed);
    this.count = this.expiries.length;
    this.t++;
  }

  flush(): void {
    this.destroys[this.destroys.length - 1]! += this.expiries.length;
    this.expiries = [];
    this.count = 0;
  }

  snapshot(): ProcSnapshot {
    return { ts: this.t * 1e9, netns: this.netns, count: this.count, max: this.max, buckets: 65536, stats: { drop: this.drops, early_drop: 0, insert_failed: 0 }, timeouts: { udp_timeout: this.timeout, icmp_timeout: 30, tcp_timeout_syn_sent: 120 } };
  }

  /** The record counts, as the model would give them (whole seconds, the current one just begun). */
  rates(): RecordRates {
    const sum = (a: number[], seconds: number) => a.slice(Math.max(0, a.length - seconds)).reduce((x, y) => x + y, 0);
    return {
      counts: (seconds) => ({ seconds, alloc: new Map([[this.netns, sum(this.allocs, seconds)]]), destroy: new Map([[this.netns, sum(this.destroys, seconds)]]) }),
      lost: () => 0,
    };
  }
}

function accountsOf(sim: SimTable): TableAccounts {
  return new TableAccounts({ clock: () => sim.t * 1e9, rates: sim.rates() });
}

describe('fitLine', () => {
  it('fits a line and widens its error for a sawtooth', () => {
    const xs = Array.from({ length: 100 }, (_, i) => i);
    const line = fitLine(xs, xs.map((x) => 3 + 2 * x))!;
    expect(line.slope).toBeCloseTo(2, 9);
    expect(line.t).toBe(Infinity);
    // a flat sawtooth (period 20): some slope, but not a significant one
    const saw = fitLine(xs.slice(0, 90), xs.slice(0, 90).map((x) => 1000 + 50 * (x % 20)))!;
    expect(Math.abs(saw.t)).toBeLessThan(4);
    expect(fitLine([1, 2], [1, 2])).toBeNull();
    expect(fitLine([1, 1, 1], [1, 2, 3])).toBeNull();
  });
});

describe('forecast on synthetic tables (the issue\'s targets)', () => {
  it('flood 20 % → 100 % in ~10 s: a finite time to full within 2× of the truth at least 3 s before the first drop', () => {
    const sim = new SimTable(3000, 30, 20);
    const acc = accountsOf(sim);
    for (let i = 0; i < 30; i++) {
      sim.step(i === 0 ? 600 : 0, { permanent: true }); // 20 % held
      acc.ingest(sim.snapshot());
    }
    const warned: Array<{ t: number; ttf: number; basis: string }> = [];
    while (sim.firstDrop === null) {
      sim.step(240);
      acc.ingest(sim.snapshot());
      const f = acc.get(sim.netns)!.forecast;
      if (f.time_to_full_s !== null && f.time_to_full_s > 0) warned.push({ t: sim.t, ttf: f.time_to_full_s, basis: f.chosen! });
    }
    const firstDrop = sim.firstDrop!;
    const early = warned.filter((w) => w.t <= firstDrop - 3);
    expect(early.length, JSON.stringify(warned)).toBeGreaterThan(0);
    for (const w of early) {
      const truth = firstDrop - w.t;
      expect(w.ttf / truth, `at ${w.t}: ${w.ttf} s vs ${truth} s (${w.basis})`).toBeGreaterThanOrEqual(0.5);
      expect(w.ttf / truth).toBeLessThanOrEqual(2);
    }
  });

  it('slow leak +2/s: within ±25 % once 2 minutes of data exist', () => {
    const sim = new SimTable(1400, 30, 20);
    const acc = accountsOf(sim);
    const errors: number[] = [];
    for (let i = 0; i < 600; i++) {
      sim.step(2, { permanent: true });
      acc.ingest(sim.snapshot());
      if (sim.t >= 120 && sim.count < sim.max) {
        const f = acc.get(sim.netns)!.forecast;
        const truth = (sim.max - sim.count) / 2;
        expect(f.time_to_full_s, `at ${sim.t} s: ${f.basis}`).not.toBeNull();
        errors.push(Math.abs(f.time_to_full_s! - truth) / truth);
      }
    }
    expect(Math.max(...errors)).toBeLessThanOrEqual(0.25);
  });

  it('steady churn (a gc sawtooth, flat on average): no time to full', () => {
    // [flows/s, timeout, gc period, max]: the last one peaks at 5,500 of 7,000
    for (const [rate, timeout, gc, max] of [
      [20, 30, 20, 10_000],
      [100, 5, 7, 10_000],
      [50, 30, 45, 10_000],
      [100, 30, 25, 7_000],
    ] as const) {
      const sim = new SimTable(max, timeout, gc);
      // Watched from steady state on (a namespace warming up from empty does
      // rise until its first gc passes: that is not a flat count).
      for (let i = 0; i < 200; i++) sim.step(rate);
      const acc = accountsOf(sim);
      for (let i = 0; i < 400; i++) {
        sim.step(rate);
        acc.ingest(sim.snapshot());
        const f = acc.get(sim.netns)!.forecast;
        expect(f.time_to_full_s, `${rate}/s, timeout ${timeout}, gc ${gc}, at ${sim.t} s (count ${sim.count}): ${f.basis}`).toBeNull();
      }
    }
  });

  it('a flush in the window restarts the evidence: the flood after it is still forecast in time', () => {
    const sim = new SimTable(3000, 30, 20);
    const acc = accountsOf(sim);
    for (let i = 0; i < 200; i++) {
      sim.step(8, { permanent: true }); // 1,600 entries that do not go away
      acc.ingest(sim.snapshot());
    }
    sim.flush();
    acc.ingest(sim.snapshot());
    for (let i = 0; i < 5; i++) {
      sim.step(0);
      acc.ingest(sim.snapshot());
    }
    const f0 = acc.get(sim.netns)!.forecast;
    expect(f0.reset?.why).toMatch(/fell from 1600 to 0/);
    expect(f0.time_to_full_s).toBeNull();
    let warnedAt: number | null = null;
    while (sim.firstDrop === null) {
      sim.step(300);
      acc.ingest(sim.snapshot());
      const f = acc.get(sim.netns)!.forecast;
      if (warnedAt === null && f.time_to_full_s !== null && f.time_to_full_s > 0) warnedAt = sim.t;
    }
    expect(warnedAt).not.toBeNull();
    expect(sim.firstDrop! - warnedAt!).toBeGreaterThanOrEqual(3);
  });
});

describe('forecastTable', () => {
  const base: ForecastInput = {
    netns: 1,
    now_s: 100,
    count: 1000,
    max: 3000,
    at_s: 100,
    samples: [],
    since_s: 50,
    reset: null,
    dropping: false,
    records: null,
    timeouts: { udp_timeout: 30 },
  };
  const cases: Array<{ name: string; in: Partial<ForecastInput>; ttf: number | null; chosen: string | null; basis?: RegExp }> = [
    { name: 'full count', in: { count: 3000 }, ttf: 0, chosen: 'full', basis: /^full: 3000 entries of 3000/ },
    { name: 'dropping below max (a gc pass made a little room)', in: { count: 2900, dropping: true }, ttf: 0, chosen: 'full', basis: /dropping/ },
    { name: 'nothing known', in: {}, ttf: null, chosen: null, basis: /no trend: no estimate is sound; records not used: no record source/ },
    {
      name: 'records of a burst: 2 s window',
      in: { records: { windows: [{ window: 2, seconds: 2, alloc: 400, destroy: 0 }], long: { window: 50, seconds: 50, alloc: 420, destroy: 0 } } },
      ttf: 10,
      chosen: 'records_2s',
    },
    {
      name: 'the same rate without a jump in allocations (steady churn between two gc passes)',
      in: { records: { windows: [{ window: 2, seconds: 2, alloc: 400, destroy: 0 }], long: { window: 50, seconds: 50, alloc: 10_000, destroy: 0 } } },
      ttf: null,
      chosen: null,
    },
    {
      name: 'a namespace born into the burst',
      in: { new_namespace: true, since_s: 98, records: { windows: [{ window: 2, seconds: 2, alloc: 400, destroy: 0 }], long: { window: 2, seconds: 2, alloc: 400, destroy: 0 } } },
      ttf: 10,
      chosen: 'records_2s',
    },
    {
      name: 'too few records to mean anything',
      in: { records: { windows: [{ window: 2, seconds: 2, alloc: 6, destroy: 0 }], long: null } },
      ttf: null,
      chosen: null,
    },
    {
      name: 'a short rate extrapolated too far',
      in: { records: { windows: [{ window: 2, seconds: 2, alloc: 40, destroy: 0 }], long: null } },
      ttf: null,
      chosen: null,
    },
    {
      name: 'growth that outlasts the timeout, removal not measured yet',
      in: { records: { windows: [{ window: 10, seconds: 10, alloc: 500, destroy: 0 }], long: null }, timeouts: { udp_timeout: 5 } },
      ttf: null,
      chosen: null,
    },
    {
      name: 'the same growth once a minute of removals is measured',
      in: { since_s: 0, records: { windows: [{ window: 10, seconds: 10, alloc: 500, destroy: 0 }], long: { window: 100, seconds: 100, alloc: 1000, destroy: 1000 } }, timeouts: { udp_timeout: 5 } },
      ttf: 50,
      chosen: 'records_10s',
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const f = forecastTable({ ...base, ...c.in });
      expect(f.time_to_full_s).toBe(c.ttf);
      expect(f.chosen).toBe(c.chosen);
      if (c.basis) expect(f.basis).toMatch(c.basis);
      if (c.ttf === null) {
        expect(f.level).toBe('none');
        expect(f.confidence).toBe(0);
      }
    });
  }

  it('takes the most pessimistic sound estimate and lists them all', () => {
    const samples = Array.from({ length: 6 }, (_, i) => ({ t: 95 + i, count: 500 + 100 * i }));
    const f = forecastTable({ ...base, samples, records: { windows: [{ window: 2, seconds: 2, alloc: 600, destroy: 0 }, { window: 5, seconds: 5, alloc: 600, destroy: 0 }], long: { window: 50, seconds: 50, alloc: 600, destroy: 0 } } });
    expect(f.chosen).toBe('records_2s');
    expect(f.time_to_full_s).toBeCloseTo(2000 / 300, 1);
    expect(f.estimates.map((e) => e.basis)).toEqual(['records_2s', 'records_5s', 'count_short']);
    expect(f.estimates.find((e) => e.basis === 'count_short')!.rate_per_s).toBeCloseTo(100, 6);
    expect(f.level).not.toBe('none');
  });
});

describe('TableAccounts', () => {
  const snap = (netns: number, ts: number, count: number, extra: Partial<ProcSnapshot> = {}): ProcSnapshot => ({ ts: ts * 1e9, netns, count, max: 1000, buckets: 1024, stats: { drop: 0, early_drop: 0 }, timeouts: {}, ...extra });

  it('lists every table, most endangered first: level, then drops, then utilization; gone ones last', () => {
    const acc = new TableAccounts({ hostNetns: 1 });
    acc.ingest(snap(1, 1, 100));
    acc.ingest(snap(2, 1, 990, { name: 'lab-a' }));
    acc.ingest(snap(3, 1, 960, { name: 'lab-b', stats: { drop: 0 } }));
    acc.ingest(snap(3, 2, 960, { name: 'lab-b', stats: { drop: 50 } }));
    acc.ingest(snap(4, 1, 980, { name: 'pid:77' }));
    acc.vanish(4, 2e9);
    const l = acc.list();
    expect(l.map((t) => [t.netns, t.name, t.level, t.drops_per_s])).toEqual([
      [3, 'lab-b', 'critical', 50],
      [2, 'lab-a', 'critical', null],
      [1, 'host', 'ok', null],
      [4, 'pid:77', 'critical', null],
    ]);
    expect(l[0]!.kind).toBe('named');
    expect(l[2]!.kind).toBe('host');
    expect(l[3]!.gone).toBe(true);
    expect(l[3]!.kind).toBe('process');
    expect(acc.mostEndangered()!.netns).toBe(3);
  });

  it('namers add names; later ones override earlier ones', () => {
    const acc = new TableAccounts({ hostNetns: 1 });
    acc.ingest(snap(5, 1, 10));
    acc.addNamer((n) => (n === 5 ? { name: 'cni-1234' } : undefined));
    acc.addNamer((n) => (n === 5 ? { name: 'web-0', kind: 'pod', pod: 'web-0', k8s_namespace: 'shop' } : undefined));
    expect(acc.get(5)).toMatchObject({ name: 'web-0', kind: 'pod', pod: 'web-0', k8s_namespace: 'shop' });
  });

  it('a recycled inode starts a new account: after the namespace vanished, with another cookie, or counters that went back', () => {
    const acc = new TableAccounts({ hostNetns: 1 });
    for (let t = 1; t <= 100; t++) acc.ingest(snap(9, t, t, { stats: { drop: 5, early_drop: 1 } }));
    expect(acc.get(9)!.forecast.samples).toBe(100);
    acc.vanish(9, 100.5e9);
    acc.ingest(snap(9, 110, 3));
    let v = acc.get(9)!;
    expect(v.generation).toBe(2);
    expect(v.first_seen_s).toBe(110);
    expect(v.forecast.samples).toBe(1);
    acc.ingest(snap(9, 111, 3, { cookie: '77' }));
    acc.ingest(snap(9, 112, 3, { cookie: '78' }));
    expect(acc.get(9)!.generation).toBe(3);
    acc.ingest(snap(9, 113, 3, { cookie: '78', stats: { drop: 4 } }));
    acc.ingest(snap(9, 114, 3, { cookie: '78', stats: { drop: 0 } }));
    v = acc.get(9)!;
    expect(v.generation).toBe(4);
    expect(acc.rebirths.map((r) => r.why)).toEqual(['the namespace had vanished', 'another netns cookie on this inode', 'its drop counter went back from 4 to 0']);
  });

  it('pairs the peak count with the max of the same moment, and a change of max restarts the evidence', () => {
    const acc = new TableAccounts({ hostNetns: 1 });
    acc.ingest(snap(1, 1, 900, { max: 1000 }));
    acc.ingest(snap(1, 2, 950, { max: 2000 }));
    const v = acc.get(1)!;
    expect(v.peak).toEqual({ count: 900, max: 1000, utilization: 0.9, at_s: 1 });
    expect(v.forecast.reset).toEqual({ at_s: 2, why: 'nf_conntrack_max changed from 1000 to 2000' });
  });
});
