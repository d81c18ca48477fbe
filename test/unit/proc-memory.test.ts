// Issue 17, dense nodes: what a table's account holds, and that it is let go.
// 1,000 namespaces that came and went left the daemon's memory high: every
// account allocated fifteen minutes of readings at its first one (six
// Float64Arrays of 900: 43 KiB) and a gone account was only dropped when
// someone listed the tables. Here: a history grows with its readings, a gone
// one gives back what it does not use, and gone accounts expire by themselves.
import { describe, expect, it } from 'vitest';
import { TableHistory } from '../../src/proc/history.js';
import { TableAccounts } from '../../src/proc/accounts.js';
import type { ProcSnapshot } from '../../src/proc/types.js';
import { MemoryUpkeep } from '../../src/app/memory-upkeep.js';

const snap = (netns: number, sec: number, count = 10): ProcSnapshot => ({ ts: sec * 1e9, netns, count, max: 1000, buckets: 256, stats: { drop: sec }, timeouts: {} });

describe('TableHistory grows with its readings', () => {
  it.each([
    // [readings pushed, slots allocated]
    [1, 64],
    [64, 64],
    [65, 128],
    [300, 512],
    [900, 900],
    [2000, 900],
  ])('%i readings: %i slots, the newest kept in order', (n, slots) => {
    const h = new TableHistory(900);
    for (let i = 1; i <= n; i++) h.push(snap(1, i, i));
    expect(h.allocated).toBe(slots);
    expect(h.n).toBe(Math.min(n, 900));
    expect(h.at(0).count).toBe(Math.max(1, n - 899));
    expect(h.last()!.count).toBe(n);
    expect(h.delta('drop', 5)).toEqual(n > 1 ? { increase: Math.min(5, n - 1), seconds: Math.min(5, n - 1) } : null);
  });

  it('compact() gives back the slots no reading uses, the readings intact', () => {
    const h = new TableHistory(900);
    for (let i = 1; i <= 70; i++) h.push(snap(1, i, i));
    h.compact();
    expect(h.allocated).toBe(70);
    expect([h.at(0).count, h.at(69).count]).toEqual([1, 70]);
  });
});

describe('TableAccounts lets gone namespaces go', () => {
  it('1,000 namespaces read and gone: their accounts compacted at once and dropped after 300 s without anyone listing them', () => {
    const t = new TableAccounts({ hostNetns: 1 });
    for (let sec = 1; sec <= 10; sec++) for (let ns = 1; ns <= 1001; ns++) t.ingest(snap(ns, sec));
    for (let ns = 2; ns <= 1001; ns++) t.vanish(ns, 10e9);
    expect(t.history(500)!.allocated).toBe(10);
    expect(t.namespaces()).toHaveLength(1001);
    for (let sec = 11; sec <= 320; sec++) t.ingest(snap(1, sec));
    expect(t.namespaces()).toEqual([1]);
  });

  it('forgets a gone inode entirely (its generation too) once its account expired and as long again passed; a recycled inode meanwhile is generation 2', () => {
    const t = new TableAccounts({ hostNetns: 1, goneKeepSeconds: 30 });
    for (let sec = 1; sec <= 5; sec++) for (let ns = 1; ns <= 1001; ns++) t.ingest(snap(ns, sec));
    for (let ns = 2; ns <= 1001; ns++) t.vanish(ns, 5e9);
    expect(t.remembered()).toBe(1001);
    for (let sec = 6; sec <= 37; sec++) t.ingest(snap(1, sec)); // accounts expire after 30 s...
    expect(t.namespaces()).toEqual([1]);
    expect(t.remembered()).toBe(1001); // ...their generations are remembered as long again
    t.ingest(snap(500, 38)); // a new namespace on a recycled inode meanwhile
    expect(t.get(500)!.generation).toBe(2);
    for (let sec = 39; sec <= 70; sec++) t.ingest(snap(1, sec));
    expect(t.remembered()).toBe(2); // the host and inode 500's live account: nothing else of the 1,000
    expect(t.get(500)!.generation).toBe(2);
  });
});

describe('MemoryUpkeep trims the C heap after tables are let go', () => {
  it.each([
    // [tables let go so far, at each check] -> trims done at each check
    ['nothing gone: never', [0, 0, 0, 0], [0, 0, 0, 0]],
    ['one expiry: that check and the next', [0, 5, 5, 5], [0, 1, 2, 2]],
    ['expiries in a row: each, then one more', [3, 4, 9, 9, 9], [1, 2, 3, 4, 4]],
  ])('%s', (_what, dropped, trims) => {
    let d = 0;
    let native = 0;
    const u = new MemoryUpkeep(
      () => d,
      () => (native++, true),
    );
    const got = dropped.map((x) => {
      d = x;
      u.check();
      return u.trims;
    });
    expect(got).toEqual(trims);
    expect(native).toBe(trims.at(-1));
  });

  it("counts what TableAccounts let go: the upkeep's signal", () => {
    const t = new TableAccounts({ hostNetns: 1, goneKeepSeconds: 10 });
    for (let ns = 1; ns <= 4; ns++) t.ingest(snap(ns, 1));
    t.vanish(2, 1e9);
    t.vanish(3, 1e9);
    for (let sec = 2; sec <= 13; sec++) t.ingest(snap(1, sec));
    expect(t.dropped).toBe(2);
  });
});
