// The CPU budget (--max-cpu) without the kernel: nextShift()'s decisions by
// table, CpuBudget driven by a fake clock, CPU and filter, the sampling log
// that answers carry, and the sample's membership rule (the filter's).
import { describe, expect, it } from 'vitest';
import { CpuBudget, FIXED_CPU, MAX_SHIFT, nextShift, STARTUP_GRACE_S, type BudgetObservation, type BudgetState } from '../../src/sources/cpu-budget.js';
import { SamplingLog, sampleOut } from '../../src/model/sampling.js';
import { Model } from '../../src/model/model.js';
import { Kind, Origin } from '../../src/records/layout.js';
import { batch, SEC } from './model-batch.js';
import { countsOf, keptBySample } from '../../src/sources/netlink-filter.js';

describe('nextShift', () => {
  const B = 0.5;
  const fresh: BudgetState = { shift: 0, perEvent: 0, fixed: FIXED_CPU };
  const learnt = (shift: number, perEvent = 4.9e-6, fixed = FIXED_CPU): BudgetState => ({ shift, perEvent, fixed });
  const cases: Array<{ name: string; s: BudgetState; o: BudgetObservation; shift: number }> = [
    { name: 'under budget at full fidelity: stays', s: fresh, o: { cpu: 0.3, events: 50_000, kept: 50_000, sinceChange: 10 }, shift: 0 },
    // 4x the budget: 2.0 cores for 400k events = ~4.9 us each; events may use 0.8 x 0.5 - 0.03 = 0.37 → 1 in 8 (0.25; 1 in 4 = 0.49)
    { name: '4x over: straight to the shift that fits', s: fresh, o: { cpu: 2.0, events: 400_000, kept: 400_000, sinceChange: 10 }, shift: 3 },
    { name: 'just over: one step', s: fresh, o: { cpu: 0.55, events: 100_000, kept: 100_000, sinceChange: 10 }, shift: 1 },
    { name: "over while sampling: from the kept events' cost", s: learnt(2), o: { cpu: 0.9, events: 800_000, kept: 200_000, sinceChange: 1 }, shift: 4 },
    { name: 'storm gone but held for 3 s', s: learnt(3), o: { cpu: 0.05, events: 1_000, kept: 125, sinceChange: 2 }, shift: 3 },
    { name: 'storm gone: one step down per second after the hold', s: learnt(3), o: { cpu: 0.05, events: 1_000, kept: 125, sinceChange: 3 }, shift: 2 },
    // 1 in 4 costs 0.35: 1 in 2 would put events at ~0.64 > 0.6 x 0.5 - 0.03: stays
    { name: 'steady storm at the budget: no step down into overload', s: learnt(2, 4e-6), o: { cpu: 0.35, events: 320_000, kept: 80_000, sinceChange: 30 }, shift: 2 },
    { name: 'over budget with few events (start-up): sampling would not help', s: fresh, o: { cpu: 0.9, events: 150, kept: 150, sinceChange: 1 }, shift: 0 },
    // the fixed part alone is over the budget: events that would use little of it are not sampled further, and sampling ends
    { name: 'a fixed part over budget does not drive the sampling up', s: learnt(4, 5e-6, 0.09), o: { cpu: 0.095, events: 2_000, kept: 125, sinceChange: 1 }, shift: 4 },
    { name: '... nor keep it up once the storm is gone', s: learnt(4, 5e-6, 0.09), o: { cpu: 0.095, events: 2_000, kept: 125, sinceChange: 5 }, shift: 3 },
    { name: 'never past MAX_SHIFT', s: learnt(MAX_SHIFT, 1e-5), o: { cpu: 5, events: 1e9, kept: 1e9 / 2 ** MAX_SHIFT, sinceChange: 5 }, shift: MAX_SHIFT },
  ];
  for (const c of cases) {
    it(c.name, () => {
      expect(nextShift(c.name.includes('fixed part') ? 0.06 : B, c.s, c.o).shift).toBe(c.shift);
    });
  }

  it('learns the cost per event in busy seconds and the fixed part in the others', () => {
    let s = nextShift(B, fresh, { cpu: 0.03 + 0.4, events: 100_000, kept: 100_000, sinceChange: 1 });
    expect(s.perEvent).toBeCloseTo(4e-6, 9);
    const quiet = nextShift(B, s, { cpu: 0.05, events: 40, kept: 10, sinceChange: 1 });
    expect(quiet.perEvent).toBe(s.perEvent);
    expect(quiet.fixed).toBeGreaterThan(0.03);
    for (let i = 0; i < 20; i++) s = nextShift(B, s, { cpu: 0.08, events: 40, kept: 10, sinceChange: 1 });
    expect(s.fixed).toBeCloseTo(0.08, 2);
  });
});

describe('CpuBudget', () => {
  it('raises the sampling in a storm, holds it, and returns to every entry when it passes', () => {
    let t = 0;
    let cpu = 0;
    let total = 0;
    let kept = 0;
    const applied: number[] = [];
    const changes: Array<[number, number]> = [];
    const b = new CpuBudget({
      maxCpu: 0.2,
      events: () => ({ total, kept }),
      apply: (s) => applied.push(s),
      onChange: (s, p) => changes.push([s, p]),
      cpuSeconds: () => cpu,
      now: () => t,
      graceS: 0,
    });
    b.start();
    b.stop(); // ticks by hand
    // one simulated second at `rate` events/s costing 5 us per kept event, plus the fixed part
    const second = (rate: number) => {
      const k = Math.round(rate / 2 ** b.shift);
      t += 1;
      total += rate;
      kept += k;
      cpu += FIXED_CPU + k * 5e-6;
      b.tick();
    };
    second(10_000);
    expect(b.shift).toBe(0);
    for (let i = 0; i < 10; i++) second(300_000); // 1.5 cores at full fidelity
    expect(b.shift).toBeGreaterThanOrEqual(3);
    expect(b.lastCpu).toBeLessThanOrEqual(0.2);
    expect(b.sampledSeconds).toBeGreaterThan(8);
    for (let i = 0; i < 15; i++) second(1_000);
    expect(b.shift).toBe(0);
    expect(applied[applied.length - 1]).toBe(0);
    expect(changes[0]).toEqual([b.changes > 0 ? changes[0]![0] : 0, 0]);
    expect(changes.at(-1)![0]).toBe(0);
  });
});

describe('CpuBudget at start-up', () => {
  it('decides and learns nothing in its first STARTUP_GRACE_S seconds, then works from what events cost', () => {
    let t = 0;
    let cpu = 0;
    let total = 0;
    const b = new CpuBudget({ maxCpu: 0.5, events: () => ({ total, kept: total }), apply: () => undefined, cpuSeconds: () => cpu, now: () => t, intervalMs: 250 });
    b.start();
    b.stop(); // ticks by hand
    // start-up: a core busy (programs loaded, code compiled) while 50,000 events/s arrive
    for (; t < STARTUP_GRACE_S - 0.25; ) {
      t += 0.25;
      total += 12_500;
      cpu += 0.25;
      b.tick();
    }
    expect(b.shift).toBe(0);
    expect(b.sampledSeconds).toBe(0);
    // then what those events really cost: 2 us each, 0.13 of a core, far under the budget
    for (let i = 0; i < 40; i++) {
      t += 0.25;
      total += 12_500;
      cpu += 0.25 * (FIXED_CPU + 50_000 * 2e-6);
      b.tick();
    }
    expect(b.shift).toBe(0);
    // and a real storm after it is still met: 1.5 cores' worth of events
    for (let i = 0; i < 20; i++) {
      t += 0.25;
      const k = Math.round(150_000 / 2 ** b.shift);
      total += 150_000;
      cpu += 0.25 * FIXED_CPU + k * 2e-6;
      b.tick();
    }
    expect(b.shift).toBeGreaterThanOrEqual(2);
  });
});

describe('SamplingLog', () => {
  const s = 1e9;
  it('says how much of a window was sampled, and at most how thinly', () => {
    const log = new SamplingLog();
    expect(log.window(100 * s, 60)).toEqual({ one_in: 1, sampled_seconds: 0 });
    log.set(100 * s, 2);
    log.set(110 * s, 4);
    log.set(115 * s, 0);
    expect(log.current).toBe(0);
    expect(log.window(120 * s, 60)).toEqual({ one_in: 16, sampled_seconds: 15 });
    expect(log.window(120 * s, 5)).toEqual({ one_in: 1, sampled_seconds: 0 });
    expect(log.window(112 * s, 5)).toEqual({ one_in: 16, sampled_seconds: 5 });
    expect(log.window(105 * s, 10)).toEqual({ one_in: 4, sampled_seconds: 5 });
  });
  it('forgets changes no window reaches, keeping the one in force', () => {
    const log = new SamplingLog(100 * s);
    log.set(0, 3);
    log.set(500 * s, 1);
    log.set(1000 * s, 2);
    // [0, 3] is beyond every 100 s window now; [500, 1] is the change in force at the horizon
    expect(log.window(1001 * s, 100)).toEqual({ one_in: 4, sampled_seconds: 100 });
    expect(log.window(1001 * s, 1000)).toEqual({ one_in: 4, sampled_seconds: 501 });
  });
});

describe('the sample (as the kernel filter keeps it)', () => {
  it('keeps about 1 in 2^shift ids, and a larger shift keeps a subset', () => {
    const ids = Array.from({ length: 65536 }, (_, i) => Math.imul(i + 1, 2654435761) >>> 0);
    for (const shift of [1, 2, 4, 6]) {
      const kept = ids.filter((id) => keptBySample(id, shift));
      expect(kept.length / ids.length).toBeGreaterThan(0.9 / 2 ** shift);
      expect(kept.length / ids.length).toBeLessThan(1.1 / 2 ** shift);
      for (const id of kept.slice(0, 500)) expect(keptBySample(id, shift - 1)).toBe(true);
    }
    expect(ids.every((id) => keptBySample(id, 0))).toBe(true);
  });
  it('reads the filter counters by kind', () => {
    expect(countsOf([1, 2, 3, 4, 5, 6])).toEqual({ new: { kept: 1, refused: 2 }, update: { kept: 3, refused: 4 }, destroy: { kept: 5, refused: 6 } });
  });
});

describe('sampleOut', () => {
  it('stops following the live entries a raised sampling refuses, and keeps occupancy exact', () => {
    const m = new Model();
    const netns = 4026532000;
    const ctaIds = Array.from({ length: 400 }, (_, i) => Math.imul(i + 7, 2246822519) >>> 0);
    m.ingest(
      batch(
        ctaIds.map((cta, i) => ({
          kind: Kind.ALLOC,
          origin: Origin.NETLINK,
          ts: SEC + i,
          netns,
          id: (BigInt(netns) << 32n) | BigInt(cta),
          src: `10.9.0.${1 + (i % 4)}`,
          dst: '10.9.1.1',
          proto: 17,
          sport: 1000 + i,
          dport: 53,
        })),
      ),
    );
    expect(m.occupancy({ by: 'src', limit: 10 }).total).toBe(400); // builds the src index
    const kept = ctaIds.filter((c) => keptBySample(c, 2)).length;
    expect(sampleOut(m.flows, 2)).toBe(400 - kept);
    expect(m.flows.count).toBe(kept);
    const occ = m.occupancy({ by: 'src', limit: 10 });
    expect(occ.total).toBe(kept);
    expect(occ.items.reduce((a, x) => a + x.count, 0)).toBe(kept);
    // raising it again removes only what the larger shift refuses
    const kept4 = ctaIds.filter((c) => keptBySample(c, 4)).length;
    expect(sampleOut(m.flows, 4)).toBe(kept - kept4);
  });
});
