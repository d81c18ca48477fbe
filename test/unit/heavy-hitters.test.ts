// The windowed heavy hitters (src/model/heavy.ts) against exact counts: for
// random streams over random seconds, with summaries small enough that sets
// overflow, finished seconds trimmed to maxKeys and old ones to trimKeys,
// every key's reported count over any window must be a lower bound of its
// true count, and count + error_bound an upper bound — for keys in the
// answer and keys that fell out of it.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { KeyCounter, WindowedHeavyHitters } from '../../src/model/heavy.js';

describe('WindowedHeavyHitters', () => {
  it('bounds every key within the reported error, through overflows and trims', () => {
    let overflowed = 0;
    fc.assert(
      fc.property(
        // per second: a list of (key, weight) adds; keys skewed towards a few
        fc.array(fc.array(fc.tuple(fc.oneof(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 200 })), fc.integer({ min: 1, max: 3 })), { maxLength: 120, size: 'large' }), { minLength: 1, maxLength: 12 }),
        fc.integer({ min: 0, max: 11 }),
        fc.integer({ min: 1, max: 12 }),
        (seconds, fromBack, width) => {
          const h = new WindowedHeavyHitters({ maxKeys: 6, slots: 16, historySeconds: 60, trimAfter: 3, trimKeys: 4 });
          const truth: Array<Map<number, number>> = [];
          seconds.forEach((adds, sec) => {
            h.rollover(sec);
            const t = new Map<number, number>();
            for (const [k, v] of adds) {
              h.add(k, v);
              t.set(k, (t.get(k) ?? 0) + v);
            }
            truth.push(t);
          });
          overflowed += h.overflows;
          const to = Math.max(0, seconds.length - 1 - fromBack);
          const from = Math.max(0, to - width + 1);
          const got = new KeyCounter(64);
          const bound = h.collect(from, to, got);
          const exact = new Map<number, number>();
          for (let s = from; s <= to; s++) for (const [k, n] of truth[s]!) exact.set(k, (exact.get(k) ?? 0) + n);
          // every key ever counted in the window, reported or not
          for (const [k, n] of exact) {
            const c = got.get(k);
            expect(c).toBeLessThanOrEqual(n);
            expect(n).toBeLessThanOrEqual(c + bound);
            expect(h.countOf(k, from, to)).toBe(c);
          }
          // nothing reported that was not there
          got.forEach((k, c) => expect(c).toBeLessThanOrEqual(exact.get(k) ?? 0));
          // An error bound of 0 means exact counts.
          if (bound === 0) for (const [k, n] of exact) expect(got.get(k)).toBe(n);
        },
      ),
      { numRuns: 300 },
    );
    // The runs did overflow sets (else the bound was never exercised).
    expect(overflowed).toBeGreaterThan(0);
  });

  it('is exact, with error bound 0, while no set overflows', () => {
    const h = new WindowedHeavyHitters({ maxKeys: 1024 });
    h.rollover(5);
    for (let k = 0; k < 500; k++) for (let i = 0; i <= k % 7; i++) h.add(k * 7919);
    const got = new KeyCounter(1024);
    expect(h.collect(0, 5, got)).toBe(0);
    expect(h.overflows).toBe(0);
    for (let k = 0; k < 500; k++) expect(got.get(k * 7919)).toBe((k % 7) + 1);
  });
});

// countPending (src/model/counting.ts) counts a chunk's dimension per key
// when it has few keys (BatchTally): the summaries must keep the same
// guarantee as adding one record at a time, and be exact when nothing overflows.
describe('countPending', () => {
  it('keeps every key within the error bound, per key and per record alike, exact without overflow', async () => {
    const { countPending, CountScratch, CHUNK } = await import('../../src/model/counting.js');
    const { NDIMS } = await import('../../src/model/keys.js');
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2 ** 31 }),
        fc.constantFrom(4, 64),
        (seed, maxKeys) => {
          let x = seed;
          const rnd = () => ((x = (Math.imul(x, 1664525) + 1013904223) >>> 0) / 2 ** 32);
          const nStreams = 2;
          const hh = Array.from({ length: nStreams * NDIMS }, () => new WindowedHeavyHitters({ maxKeys, historySeconds: 60 }));
          const lifetimes = new Array(NDIMS).fill(null);
          const scratch = new CountScratch(nStreams);
          // cardinality per dimension: constant, few (tallied), many (record by record)
          const card = [1, 3, 40, 300, 5000, 1, 2, 12, 1]; // one per counted dimension (pod: 0 on a node without pods)
          const truth = Array.from({ length: nStreams * NDIMS }, () => new Map<number, number>());
          const n = CHUNK * 2 + 777;
          const keys = new Float64Array(NDIMS * n);
          const streams = new Uint8Array(n);
          for (let j = 0; j < n; j++) {
            streams[j] = rnd() < 0.7 ? 0 : 1;
            for (let d = 0; d < NDIMS; d++) {
              const k = Math.floor(rnd() ** 2 * card[d]!) * 7919 + 1;
              keys[d * n + j] = k;
              const t = truth[streams[j]! * NDIMS + d]!;
              t.set(k, (t.get(k) ?? 0) + 1);
            }
          }
          for (const h of hh) h.rollover(5);
          countPending({ hh, lifetimes }, keys, n, streams, n, new Uint32Array(0), new Uint8Array(0), 0, scratch);
          expect(scratch.talliedChunks).toBeGreaterThan(0);
          for (let t = 0; t < hh.length; t++) {
            const sc = new KeyCounter(64);
            const bound = hh[t]!.collect(5, 5, sc);
            for (const [k, want] of truth[t]!) {
              const got = sc.get(k);
              expect(got).toBeLessThanOrEqual(want);
              expect(want).toBeLessThanOrEqual(got + bound);
              if (bound === 0) expect(got).toBe(want);
            }
          }
        },
      ),
      { numRuns: 30 },
    );
  });
});
