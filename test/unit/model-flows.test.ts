import { describe, expect, it } from 'vitest';
import { FlowTable } from '../../src/model/flow-table.js';
import { Histogram, KEYED_BUCKETS, KEYED_SCALE, KeyedLifetimes, bucketOf } from '../../src/model/histograms.js';

// upsert() probes once and inserts into the slot its miss ended on, except
// after an eviction or an index growth; checked against a Map through all three.
describe('FlowTable upsert', () => {
  it('finds every live id and only those, through growth, eviction and removal', () => {
    const ft = new FlowTable(1500, 16);
    const live = new Set<number>();
    let rng = 7;
    const rand = () => (rng = (Math.imul(rng, 1103515245) + 12345) >>> 0);
    for (let step = 0; step < 20000; step++) {
      const id = (rand() % 6000) + 1;
      const hi = id % 3;
      if (rand() % 4 === 0) {
        const e = ft.find(id, hi);
        expect(e >= 0).toBe(live.has(id));
        if (e >= 0) {
          ft.remove(e);
          live.delete(id);
        }
      } else {
        const before = ft.evictions;
        const e = ft.upsert(id, hi);
        expect(ft.created).toBe(!live.has(id));
        expect(ft.idLo(e)).toBe(id);
        expect(ft.idHi(e)).toBe(hi);
        ft.touch(e, step);
        if (ft.evictions > before) {
          // The evicted entry is whichever live id find() no longer sees.
          for (const x of live) if (x !== id && ft.find(x, x % 3) < 0) live.delete(x);
        }
        live.add(id);
      }
      expect(ft.count).toBe(live.size);
    }
    expect(ft.evictions).toBeGreaterThan(0);
    for (const x of live) expect(ft.idLo(ft.find(x, x % 3))).toBe(x);
    expect(ft.upsert(0, 0)).toBe(-1);
  });
});

describe('lifetime buckets computed once', () => {
  it('addBucket(bucketOf(ns)) equals add(ns)', () => {
    const a = new Histogram();
    const b = new Histogram();
    const ka = new KeyedLifetimes(16);
    const kb = new KeyedLifetimes(16);
    for (const ns of [0, 1, 1e6, 1.5e6, 3e9, 120e9, 2 ** 40]) {
      a.add(ns);
      b.addBucket(bucketOf(ns), ns);
      ka.add(5, ns);
      kb.addBucket(5, KEYED_SCALE.bucketOf(ns));
    }
    expect(Array.from(b.buckets)).toEqual(Array.from(a.buckets));
    expect(b.sumSeconds).toBe(a.sumSeconds);
    expect(kb.median(5)).toBe(ka.median(5));
  });
});

describe('KeyedLifetimes.addCounts', () => {
  it('equals addBucket one at a time, bucket by bucket, through u16 overflows and credit saturation', () => {
    const one = new KeyedLifetimes(64);
    const many = new KeyedLifetimes(64);
    const k = 4026531840; // a netns inode: the constant key of a host
    one.addBucket(k, 3);
    many.addBucket(k, 3);
    const none = new Float64Array(KEYED_BUCKETS);
    none[3] = 1;
    expect(many.addCounts(k + 1, none)).toBe(false); // holds no way: nothing added
    expect(many.state()).toEqual(one.state());
    const rounds = [
      [0, 5, 12, 0, 7],
      [70000, 0, 3, 200000, 1], // bucket 0 and 3 overflow u16 (halvings)
      [1, 1, 1, 1, 1],
    ];
    for (const r of rounds) {
      const counts = new Float64Array(KEYED_BUCKETS);
      r.forEach((c, b) => (counts[b] = c));
      counts[20] = 9;
      counts[KEYED_BUCKETS - 1] = 2;
      for (let b = 0; b < KEYED_BUCKETS; b++) for (let c = 0; c < counts[b]!; c++) one.addBucket(k, b);
      expect(many.addCounts(k, counts)).toBe(true);
      expect(many.state()).toEqual(one.state());
      expect(many.median(k)).toBe(one.median(k));
    }
    expect(one.median(k)).not.toBeNull();
  });
});
