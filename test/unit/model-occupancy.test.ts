// The occupancy indexes (src/model/occupancy-index.ts, occupancy-upkeep.ts) against a scan of the flow
// table: the same random record stream — allocations, state changes, entries
// first seen by an update or a dump, marks set after the first record, destroys, namespace resyncs and
// evictions at the model's own cap, IPv4 and IPv6 — goes into a model that
// keeps indexes and one that scans, and every occupancy question (each
// dimension, with and without state/protocol filters) must get the same
// answer after every batch.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Model, DIMENSIONS } from '../../src/model/model.js';
import { OccupancyIndex } from '../../src/model/occupancy-index.js';
import { Cause, Kind } from '../../src/records/layout.js';
import type { RecordInit } from '../../src/records/encode.js';
import { batch, SEC } from './model-batch.js';

const TCP = 6;
const UDP = 17;

type Op = { kind: 'alloc' | 'update' | 'destroy' | 'seen' | 'sync'; id: number; src: number; dport: number; tcp: boolean; state: number; status: number; netns: number; v6: boolean; mark: number };

const op = fc.record({
  kind: fc.constantFrom('alloc', 'alloc', 'alloc', 'update', 'update', 'destroy', 'destroy', 'seen', 'sync'),
  id: fc.integer({ min: 1, max: 60 }),
  src: fc.integer({ min: 1, max: 6 }),
  dport: fc.constantFrom(22, 53, 80, 443),
  tcp: fc.boolean(),
  state: fc.integer({ min: 1, max: 8 }),
  status: fc.constantFrom(0, 2, 4, 6),
  netns: fc.constantFrom(7, 8),
  v6: fc.boolean(),
  // a later record may carry another mark (CONNMARK on the reply path): the entry moves
  mark: fc.constantFrom(0, 0, 1, 2),
}) as fc.Arbitrary<Op>;

function record(o: Op, ts: number): RecordInit {
  // A flow's tuple follows from its id, as in the kernel: records of one id agree.
  const src = o.v6 && o.id % 2 ? `fd00::${(o.id % 6) + 1}` : `10.0.0.${(o.id % 6) + 1}`;
  const dst = src.includes(':') ? 'fd00::ff' : '10.9.9.9';
  const proto = o.id % 3 ? TCP : UDP;
  const base = { id: BigInt(o.id), ts, src, dst, sport: 1000 + o.id, dport: [22, 53, 80, 443][o.id % 4]!, proto, netns: o.id % 5 ? 7 : 8, zone: o.id % 2, mark: o.mark };
  const st = proto === TCP ? { state: o.state } : { state: 0, status: o.status };
  switch (o.kind) {
    case 'alloc':
      return { ...base, ...st, kind: Kind.ALLOC, start: ts };
    case 'update':
      return { ...base, ...st, kind: Kind.UPDATE };
    case 'destroy':
      return { ...base, ...st, kind: Kind.DESTROY };
    case 'seen':
      return { ...base, ...st, kind: Kind.SEEN, cause: Cause.AT_RESYNC };
    default:
      return { kind: Kind.SYNC, ts, start: ts - 0.5 * SEC, netns: o.netns, cause: Cause.DESTROY_LOST };
  }
}

function answers(m: Model) {
  const out: unknown[] = [];
  for (const by of DIMENSIONS) {
    for (const f of [{}, { state: 3 }, { proto: UDP }, { state: 16, proto: UDP }]) {
      const r = m.occupancy({ by, limit: 100, ...f });
      // Items of equal count may come in another order; compare as sets.
      out.push({ by, f, total: r.total, live: r.live, states: [...r.states].sort((a, b) => (a.proto + a.state).localeCompare(b.proto + b.state)), items: [...r.items].sort((a, b) => a.key.localeCompare(b.key)).map((i) => ({ ...i, states: [...(i.states as Array<{ proto: string; state: string }>)].sort((a, b) => (a.proto + a.state).localeCompare(b.proto + b.state)) })) });
    }
  }
  return out;
}

describe('occupancy indexes', () => {
  it('answer exactly as a scan of the table, through every kind of change', () => {
    let evictions = 0;
    let syncClosed = 0;
    fc.assert(
      fc.property(fc.array(fc.array(op, { minLength: 1, maxLength: 40 }), { minLength: 1, maxLength: 12 }), (batches) => {
        const indexed = new Model({ maxFlows: 12, occupancyIdleSeconds: 5 });
        const scanned = new Model({ maxFlows: 12, occupancyIndex: false });
        let t = 100 * SEC;
        for (const ops of batches) {
          const recs = ops.map((o) => record(o, (t += 0.3 * SEC)));
          indexed.ingest(batch(recs));
          scanned.ingest(batch(recs));
          expect(answers(indexed)).toEqual(answers(scanned));
        }
        expect(indexed.occupancyIndexes().misses).toBe(0);
        expect(indexed.flows.evictions).toBe(scanned.flows.evictions);
        evictions += indexed.flows.evictions;
        syncClosed += indexed.counter('sync_closed');
      }),
      { numRuns: 60 },
    );
    // The runs did go through the paths that remove entries behind the records' back.
    expect(evictions).toBeGreaterThan(0);
    expect(syncClosed).toBeGreaterThan(0);
  });

  it('are built on the first question, kept while asked, and dropped when idle', () => {
    const m = new Model({ occupancyIdleSeconds: 10 });
    const alloc = (id: number, ts: number): RecordInit => ({ kind: Kind.ALLOC, id: BigInt(id), ts, start: ts, src: '10.1.0.1', dport: 80, proto: TCP, state: 3, netns: 7 });
    m.ingest(batch([alloc(1, 1 * SEC), alloc(2, 2 * SEC)]));
    expect(m.occupancyIndexes().dims).toEqual([]);
    expect(m.occupancy({ by: 'src', limit: 5 }).items).toMatchObject([{ key: '10.1.0.1', count: 2 }]);
    expect(m.occupancyIndexes().dims).toEqual(['src']);
    m.ingest(batch([alloc(3, 5 * SEC)]));
    expect(m.occupancy({ by: 'src', limit: 5 }).items).toMatchObject([{ key: '10.1.0.1', count: 3 }]);
    m.ingest(batch([alloc(4, 30 * SEC)]));
    expect(m.occupancyIndexes().dims).toEqual([]);
    expect(m.occupancy({ by: 'src', limit: 5 }).items).toMatchObject([{ key: '10.1.0.1', count: 4 }]);
  });

  it('removes a pair when its last entry goes, keeping every other pair reachable', () => {
    const x = new OccupancyIndex(0, 4);
    const pairs: Array<[number, number]> = [];
    for (let k = 0; k < 200; k++) pairs.push([k * 7919, k % 5]);
    for (const [k, g] of pairs) x.inc(k, g);
    for (const [k, g] of pairs.filter((_, i) => i % 3 === 0)) x.dec(k, g);
    const left = new Map<string, number>();
    x.forEach((k, g, n) => left.set(`${k}/${g}`, n));
    expect(left.size).toBe(200 - 67);
    for (const [k, g] of pairs.filter((_, i) => i % 3 !== 0)) expect(left.get(`${k}/${g}`)).toBe(1);
    x.dec(1, 1);
    expect(x.misses).toBe(1);
  });
});
