// /v1/series, /v1/series/tables and /v1/series/headline (the three in one) through the real app factory: per-second
// values of known streams, totals exact, ranking as /v1/churn's, the window
// clamped to what the model holds, live ending at the last complete second,
// and tables ordered most endangered first with their kernel rates.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import type { ModelClock } from '../../src/api/context.js';
import { appOver } from '../helpers/app.js';
import { Model } from '../../src/model/model.js';
import { Kind } from '../../src/records/layout.js';
import type { RecordInit } from '../../src/records/encode.js';
import type { ProcSnapshot } from '../../src/proc/types.js';
import { batch, SEC } from './model-batch.js';

const UDP = 17;

async function appFor(model: Model, clock: () => ModelClock, names = new Map<number, string>()): Promise<FastifyInstance> {
  return appOver(model, { clock, netnsNames: () => names });
}

// Seconds 100..109: 10.0.0.1 allocates 5/s; 10.0.0.2 2/s from 105; 10.0.0.3
// once at 107; 10.0.0.4 is dropped 3 times at 108 (table full). Ids unique.
function churn(): RecordInit[] {
  const recs: RecordInit[] = [];
  let id = 1;
  const alloc = (src: string, t: number) => recs.push({ kind: Kind.ALLOC, id: id++, ts: t * SEC, start: t * SEC, src, dst: '10.0.9.9', sport: 1000 + id, dport: 53, proto: UDP, netns: 5 });
  for (let s = 100; s < 110; s++) {
    for (let i = 0; i < 5; i++) alloc('10.0.0.1', s + i / 10);
    if (s >= 105) for (let i = 0; i < 2; i++) alloc('10.0.0.2', s + 0.5 + i / 10);
    if (s === 107) alloc('10.0.0.3', s + 0.9);
    if (s === 108) for (let i = 0; i < 3; i++) recs.push({ kind: Kind.TABLE_FULL, ts: (s + 0.2) * SEC, src: '10.0.0.4', dst: '10.0.9.9', dport: 53, proto: UDP, netns: 5 });
  }
  return recs;
}

const replayClock = (): ModelClock => ({ epochOffsetNs: 1_700_000_000 * SEC, final: true });

describe('GET /v1/series', () => {
  let app: FastifyInstance;
  const model = new Model();
  beforeAll(async () => {
    model.ingest(batch(churn()));
    app = await appFor(model, replayClock);
  });
  afterAll(async () => app.close());

  it('gives each top key its count per second, the rest as other, totals exact', async () => {
    const r = await app.inject('/v1/series?by=src&limit=2');
    expect(r.statusCode).toBe(200);
    const b = r.json();
    // the default window (900 s) is clamped to the 10 s the model holds; a finished replay ends at its last second
    expect(b).toMatchObject({ by: 'src', stream: 'alloc', start_s: 100, step_s: 1, window: 10, error_bound: 0, epoch_offset_s: 1_700_000_000, final: true });
    expect(b.now_s).toBeCloseTo(109.6, 3); // the last record
    expect(b.items.map((i: { key: string }) => i.key)).toEqual(['10.0.0.1', '10.0.0.2']);
    expect(b.items[0].values).toEqual([5, 5, 5, 5, 5, 5, 5, 5, 5, 5]);
    expect(b.items[1].values).toEqual([0, 0, 0, 0, 0, 2, 2, 2, 2, 2]);
    expect(b.other).toEqual([0, 0, 0, 0, 0, 0, 0, 1, 0, 0]);
    expect(b.total).toEqual([5, 5, 5, 5, 5, 7, 7, 8, 7, 7]);
    for (const it of b.items) expect(it.count).toBe(it.values.reduce((a: number, v: number) => a + v, 0));
    // the dimensions are the API's own enum (the page builds its switch from them)
    expect(b.dimensions).toEqual(['src', 'dst', 'dport', 'proto', 'netns', 'zone', 'mark', 'src,dport', 'pod', 'k8s_namespace', 'workload']);
  });

  it('ranks as /v1/churn over the same window', async () => {
    const s = (await app.inject('/v1/series?by=src&limit=3&window=10')).json();
    const c = (await app.inject('/v1/churn?by=src&limit=3&window=10')).json();
    expect(s.items.map((i: { key: string; count: number }) => [i.key, i.count])).toEqual(c.items.map((i: { key: string; count: number }) => [i.key, i.count]));
  });

  it('ends at `until` and charts drops (each packet once) by any dimension', async () => {
    const u = (await app.inject('/v1/series?by=src&window=3&until=106')).json();
    expect(u).toMatchObject({ start_s: 104, window: 3 });
    expect(u.items[0]).toEqual({ key: '10.0.0.1', count: 15, values: [5, 5, 5] });
    const d = (await app.inject('/v1/series?by=dport&stream=drops')).json();
    expect(d.items).toEqual([{ key: '53', count: 3, values: [0, 0, 0, 0, 0, 0, 0, 0, 3, 0] }]);
  });

  it('/v1/series/headline answers the tables, allocations and drops as their own routes do, in one request', async () => {
    const r = await app.inject('/v1/series/headline?alloc_by=src&drops_by=dport&drops=table_full&limit=2&tables_limit=5');
    expect(r.statusCode).toBe(200);
    const b = r.json();
    expect(Object.keys(b).sort()).toEqual(['alloc', 'drops', 'tables']);
    expect(b.alloc).toEqual((await app.inject('/v1/series?by=src&stream=alloc&limit=2')).json());
    expect(b.drops).toEqual((await app.inject('/v1/series?by=dport&stream=table_full&limit=2')).json());
    expect(b.tables).toEqual((await app.inject('/v1/series/tables?limit=5')).json());
    expect(b.alloc.items.map((i: { key: string }) => i.key)).toEqual(['10.0.0.1', '10.0.0.2']);
    expect(b.drops.items).toEqual([{ key: '53', count: 3, values: [0, 0, 0, 0, 0, 0, 0, 0, 3, 0] }]);
    // the defaults: both by source, drops of every kind, 5 keys
    const d = (await app.inject('/v1/series/headline')).json();
    expect(d.drops).toMatchObject({ by: 'src', stream: 'drops', limit: 5 });
    expect(d.drops.items[0]).toMatchObject({ key: '10.0.0.4', count: 3 });
    // validated as the single routes are: a sentence and a 400
    for (const bad of ['drops=alloc2', 'alloc_by=nope', 'limit=0', 'tables_limit=1001', 'window=0', 'stream=alloc']) {
      const e = await app.inject(`/v1/series/headline?${bad}`);
      expect(e.statusCode, bad).toBe(400);
      expect(typeof e.json().message, bad).toBe('string');
    }
  });

  it('live, ends at the last complete second', async () => {
    const live = new Model();
    live.ingest(batch(churn()));
    const a = await appFor(live, () => ({ epochOffsetNs: 0, final: false }));
    const b = (await a.inject('/v1/series?by=src&limit=1')).json();
    expect(b).toMatchObject({ start_s: 100, window: 9 });
    expect(b.items[0].values).toHaveLength(9);
    await a.close();
  });

  it.each([
    ['/v1/series?by=nope', /query parameter 'by' must be one of src, dst/],
    ['/v1/series?stream=all', /'stream' must be one of alloc, destroy, drops/],
    ['/v1/series?window=0', /'window' must be >= 1/],
    ['/v1/series?window=901', /'window' must be <= 900/],
    ['/v1/series?limit=51', /'limit' must be <= 50/],
    ['/v1/series?until=-1', /'until' must be >= 0/],
    ['/v1/series?windwo=5', /'windwo' is not a known parameter/],
    ['/v1/series/tables?limit=0', /'limit' must be >= 1/],
  ])('%s is refused with a sentence', async (url, msg) => {
    const r = await app.inject(url);
    expect(r.statusCode).toBe(400);
    expect(r.json().message).toMatch(msg);
  });

  it('counts are lower bounds within error_bound when the summaries overflow', async () => {
    const m = new Model({ heavyKeys: 4 });
    const recs: RecordInit[] = [];
    const truth = new Map<string, number>();
    let id = 1;
    // 200 sources with skewed counts in one second: more than the summary holds
    for (let k = 0; k < 200; k++) {
      const src = `10.1.${k >> 8}.${k & 255}`;
      const n = k < 5 ? 40 - k : 1 + (k % 3);
      truth.set(src, n);
      for (let i = 0; i < n; i++) recs.push({ kind: Kind.ALLOC, id: id++, ts: (50 + 0.001 * id) * SEC, src, dst: '10.0.9.9', dport: 80, proto: 6, netns: 1 });
    }
    m.ingest(batch(recs));
    m.advance(53 * SEC); // freeze it
    const a = await appFor(m, replayClock);
    const b = (await a.inject('/v1/series?by=src&limit=10')).json();
    expect(b.error_bound).toBeGreaterThan(0);
    let sumShown = 0;
    for (const it of b.items) {
      expect(it.count).toBeLessThanOrEqual(truth.get(it.key)!);
      expect(it.count + b.error_bound).toBeGreaterThanOrEqual(truth.get(it.key)!);
      sumShown += it.count;
    }
    const total = [...truth.values()].reduce((x, y) => x + y, 0);
    expect(b.total.reduce((x: number, y: number) => x + y, 0)).toBe(total);
    expect(b.other.reduce((x: number, y: number) => x + y, 0)).toBe(total - sumShown);
    await a.close();
  });
});

describe('GET /v1/series/tables', () => {
  let app: FastifyInstance;
  const model = new Model();
  const snap = (netns: number, t: number, count: number, drop: number, early: number): ProcSnapshot => ({
    ts: t * SEC,
    netns,
    count,
    max: 1000,
    buckets: 256,
    stats: { drop, early_drop: early, insert_failed: 0 },
    timeouts: {},
  });
  beforeAll(async () => {
    // the host (first snapshot) is quiet; netns 7 fills from 50 % at 10 per second and drops from 205;
    // no sample of netns 7 in second 203 (a counter that went back would be another namespace on a
    // recycled inode: its account, and so its series, starts anew — proc/accounts.ts)
    for (let t = 200; t <= 209; t++) {
      model.ingestProc(snap(3, t + 0.1, 100, 0, 0));
      const drop = t >= 205 ? (t - 204) * 40 : 0;
      if (t !== 203) model.ingestProc(snap(7, t + 0.5, 500 + (t - 200) * 50, drop, t >= 206 ? 6 : 0));
    }
    app = await appFor(model, replayClock, new Map([[7, 'lab-a']]));
  });
  afterAll(async () => app.close());

  it('lists every table, most endangered first, with per-second utilization and kernel rates', async () => {
    const r = await app.inject('/v1/series/tables');
    expect(r.statusCode).toBe(200);
    const b = r.json();
    expect(b).toMatchObject({ start_s: 200, window: 10, step_s: 1 });
    expect(b.tables.map((t: { netns: number }) => t.netns)).toEqual([7, 3]);
    const [lab, host] = b.tables;
    expect(lab).toMatchObject({ name: 'lab-a', host: false, count: 950, max: 1000, utilization: 0.95, level: 'critical' });
    // named as /v1/table names it: the first namespace read is the host's only when a reading or the daemon says so
    expect(host).toMatchObject({ name: null, host: true, count: 100, level: 'ok', drops_60s: 0 });
    expect(lab.utilization_series).toEqual([0.5, 0.55, 0.6, null, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95]);
    expect(lab.count_series).toEqual([500, 550, 600, null, 700, 750, 800, 850, 900, 950]);
    expect(lab.max_series).toEqual([1000, 1000, 1000, null, 1000, 1000, 1000, 1000, 1000, 1000]);
    // rates against the previous sample; the first has none, the gap spans 2 s
    expect(lab.drop_per_s).toEqual([null, 0, 0, null, 0, 40, 40, 40, 40, 40]);
    expect(lab.early_drop_per_s).toEqual([null, 0, 0, null, 0, 0, 6, 0, 0, 0]);
    // the kernel is dropping for want of room: full now (the table's own forecast says 0)
    expect(lab.time_to_full_s).toBe(0);
  });
});
