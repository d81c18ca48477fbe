// The model's routes through inject(): the real app (buildApp) over a model
// filled here, no socket.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { appOver } from '../helpers/app.js';
import { Model } from '../../src/model/model.js';
import { Cause, IPS, Kind } from '../../src/records/layout.js';
import type { RecordInit } from '../../src/records/encode.js';
import { batch, SEC } from './model-batch.js';

const UDP = 17;
const TCP = 6;
let app: FastifyInstance;
const model = new Model({ historySeconds: 900 });

function modelApp(m: Model): Promise<FastifyInstance> {
  return appOver(m, {
    environment: () => ({ entry: { bytes: 320, bucket_bytes: 8, source: 'slabinfo' }, memTotalBytes: 8 * 2 ** 30 }),
    netnsNames: () => new Map([[5, 'cni-0f3a']]),
  });
}

beforeAll(async () => {
  const recs: RecordInit[] = [];
  let id = 1n;
  // 29 UDP allocations from .1, 13 short TCP from .2 (in TIME_WAIT), 3 long TCP from .3
  for (let i = 0; i < 29; i++) recs.push({ kind: Kind.ALLOC, id: id++, ts: 10 * SEC, start: 10 * SEC, src: '10.0.0.1', dst: '10.0.0.9', sport: 2000 + i, dport: 53, proto: UDP, netns: 5 });
  for (let i = 0; i < 13; i++) {
    const r = { id: id++, src: '10.0.0.2', dst: '10.0.0.9', sport: 3000 + i, dport: 80, proto: TCP, netns: 5 };
    recs.push({ ...r, kind: Kind.ALLOC, ts: 10 * SEC, start: 10 * SEC, state: 1 });
    recs.push({ ...r, kind: Kind.UPDATE, ts: 10.2 * SEC, state: 7, status: IPS.SEEN_REPLY | IPS.ASSURED });
  }
  for (let i = 0; i < 3; i++) recs.push({ kind: Kind.ALLOC, id: id++, ts: 10 * SEC, start: 10 * SEC, src: '10.0.0.3', dst: '10.0.0.9', sport: 4000 + i, dport: 22, proto: TCP, state: 3, netns: 5 });
  // 2 UDP flows destroyed after 30 s
  recs.push({ kind: Kind.DESTROY, id: 1n, ts: 40 * SEC, src: '10.0.0.1', dst: '10.0.0.9', dport: 53, proto: UDP, netns: 5, cause: Cause.TIMEOUT });
  recs.push({ kind: Kind.DESTROY, id: 2n, ts: 40 * SEC, src: '10.0.0.1', dst: '10.0.0.9', dport: 53, proto: UDP, netns: 5, cause: Cause.TIMEOUT });
  for (let i = 0; i < 17; i++) recs.push({ kind: Kind.TABLE_FULL, ts: 40 * SEC, src: '10.0.0.4', dst: '10.0.0.9', dport: 53, proto: UDP, netns: 5 });
  for (let i = 0; i < 3; i++) recs.push({ kind: Kind.DROP, ts: 40 * SEC, src: '10.0.0.1', dst: '10.0.0.9', dport: 53, proto: UDP, netns: 5, aux: 12 });
  model.ingest(batch(recs));
  for (let t = 0; t <= 10; t++) model.ingestProc({ ts: (30 + t) * SEC, netns: 5, count: 40 + t, max: 60, buckets: 64, stats: {}, timeouts: { tcp_timeout_time_wait: 120, udp_timeout: 30 } });
  model.advance(40.5 * SEC);
  app = await modelApp(model);
});
afterAll(async () => app.close());

describe('namespaces by name', () => {
  it('by=netns items carry the namespace name the sources know', async () => {
    for (const url of ['/v1/churn?by=netns&window=60', '/v1/drops?by=netns&window=60', '/v1/occupancy?by=netns']) {
      const body = (await app.inject(url)).json();
      expect(body.items, url).toEqual([expect.objectContaining({ key: '5', netns_name: 'cni-0f3a' })]);
    }
    // other dimensions are left alone
    expect((await app.inject('/v1/churn?by=src&window=60')).json().items[0]).not.toHaveProperty('netns_name');
  });

  it('is the name the table has: one name in every answer', async () => {
    expect((await app.inject('/v1/table')).json().tables).toEqual([expect.objectContaining({ netns: 5, name: 'cni-0f3a', kind: 'named' })]);
    // a namespace nothing names is null, not its inode or a guess
    const other = new Model({ historySeconds: 900 });
    other.ingest(batch([{ kind: Kind.ALLOC, id: 1n, ts: 10 * SEC, start: 10 * SEC, src: '10.0.0.1', dst: '10.0.0.9', dport: 53, proto: UDP, netns: 7 }]));
    other.advance(11 * SEC);
    const bare = await appOver(other);
    try {
      expect((await bare.inject('/v1/churn?by=netns&window=60')).json().items).toEqual([expect.objectContaining({ key: '7', netns_name: null })]);
    } finally {
      await bare.close();
    }
  });
});

describe('GET /v1/churn', () => {
  it('ranks allocators with destroys and median lifetime', async () => {
    const r = await app.inject('/v1/churn?by=src&window=60&limit=5');
    expect(r.statusCode).toBe(200);
    const body = r.json();
    // Every destroy fed the medians (no load sampling at this rate); the field is in the answer.
    expect(body).toMatchObject({ by: 'src', window: 60, total: 45, error_bound: 0, median_lifetime_skipped: 0 });
    expect(body.items.map((i: { key: string; count: number }) => [i.key, i.count])).toEqual([
      ['10.0.0.1', 29],
      ['10.0.0.2', 13],
      ['10.0.0.3', 3],
    ]);
    expect(body.items[0]).toMatchObject({ destroyed: 2, median_lifetime_s: 24.576 }); // 30 s: the per-key octave (16.384, 32.768]'s midpoint
    expect(body.items[0].rate).toBeCloseTo(29 / 60, 5);
    expect(body.items[0].share).toBeCloseTo(29 / 45, 5);
    expect(body.items[1].median_lifetime_s).toBeNull();
  });

  it('the newest second is included', async () => {
    const m = new Model();
    const a = await modelApp(m);
    m.ingest(batch([{ kind: Kind.ALLOC, id: 9n, ts: 77.9 * SEC, start: 77.9 * SEC, src: '10.1.1.1', proto: UDP }]));
    const r = await a.inject('/v1/churn?window=1');
    expect(r.json().items).toMatchObject([{ key: '10.1.1.1', count: 1 }]);
    await a.close();
  });
});

describe('GET /v1/drops', () => {
  it('dropped packets (each once) by default, one kind on request', async () => {
    // kfree_skb reports here, so its netfilter drops are the packets dropped
    const all = (await app.inject('/v1/drops?by=src&window=60')).json();
    expect(all).toMatchObject({ by: 'src', window: 60, total: 3, kind: 'all', error_bound: 0 });
    expect(all.items.map((i: { key: string; count: number }) => [i.key, i.count])).toEqual([['10.0.0.1', 3]]);
    const tf = (await app.inject('/v1/drops?by=dport&kind=table_full&window=60&limit=1')).json();
    expect(tf).toMatchObject({ total: 17, items: [{ key: '53', count: 17, share: 1 }] });
    const nf = (await app.inject('/v1/drops?by=proto&kind=netfilter')).json();
    expect(nf.items).toMatchObject([{ key: 'udp', count: 3 }]);
  });
});

describe('GET /v1/occupancy, /v1/flows, /v1/lifetimes, /v1/forecast, /v1/advice', () => {
  it('occupancy by src in TIME_WAIT', async () => {
    const r = (await app.inject('/v1/occupancy?by=src&state=TIME_WAIT')).json();
    expect(r).toMatchObject({ by: 'src', total: 13, live: 43, items: [{ key: '10.0.0.2', count: 13, share: 1, states: [{ proto: 'tcp', state: 'TIME_WAIT', count: 13 }] }] });
    const udp = (await app.inject('/v1/occupancy?by=dport&proto=udp&state=UNREPLIED')).json();
    expect(udp.items).toMatchObject([{ key: '53', count: 27 }]);
  });

  it('flows with filters, and one flow by id', async () => {
    const r = (await app.inject('/v1/flows?src=10.0.0.3&proto=tcp')).json();
    expect(r.total).toBe(3);
    expect(r.flows[0]).toMatchObject({ src: '10.0.0.3', dport: 22, state: 'ESTABLISHED', live: true, opened: 'alloc' });
    const one = (await app.inject(`/v1/flows/${r.flows[0].id}`)).json();
    expect(one.id).toBe(r.flows[0].id);
    const gone = (await app.inject('/v1/flows/1')).json();
    expect(gone).toMatchObject({ live: false, closed: { cause: 'timeout', lifetime_s: 30 } });
    expect((await app.inject('/v1/flows/123456')).statusCode).toBe(404);
  });

  it('the recently closed flows with the same filters, newest first (closed=true), and zone/mark filters', async () => {
    const c = (await app.inject('/v1/flows?closed=true&src=10.0.0.1')).json();
    expect(c).toMatchObject({ total: 2, closed: true });
    // both closed at 40 s: the newest first is the one destroyed last (id 2)
    expect(c.flows.map((f: { id: string }) => f.id)).toEqual(['2', '1']);
    expect(c.flows[0]).toMatchObject({ live: false, src: '10.0.0.1', dport: 53, closed: { cause: 'timeout', lifetime_s: 30 } });
    expect((await app.inject('/v1/flows?closed=true&src=10.0.0.2')).json()).toMatchObject({ total: 0, flows: [] });
    expect((await app.inject('/v1/flows?closed=true&dport=53&limit=1')).json()).toMatchObject({ total: 2, limit: 1, flows: [{ id: '2' }] });
    expect((await app.inject('/v1/flows?closed=true&state=UNREPLIED')).json().total).toBe(2);
    expect((await app.inject('/v1/flows?zone=0&mark=0&src=10.0.0.3')).json().total).toBe(3);
    expect((await app.inject('/v1/flows?mark=7')).json().total).toBe(0);
    expect((await app.inject('/v1/flows?closed=maybe')).statusCode).toBe(400);
  });

  it('lifetimes by proto and by state', async () => {
    const p = (await app.inject('/v1/lifetimes')).json();
    expect(p.groups).toMatchObject([{ proto: 'udp', count: 2, mean_s: 30 }]);
    const s = (await app.inject('/v1/lifetimes?by=state')).json();
    expect(s.groups[0]).toMatchObject({ proto: 'udp', state: 'UNREPLIED', count: 2 });
    expect(s.groups[0].buckets.at(-1)).toEqual({ le: '+Inf', count: 2 });
  });

  it('forecast from snapshots and records, every estimate with why it is (not) sound', async () => {
    const f = (await app.inject('/v1/forecast')).json();
    // 10 readings rising 1/s while the records show destroys: a rise within
    // what a gc cycle does, no record rate to agree: no trend, not a number
    expect(f).toMatchObject({ netns: 5, count: 50, max: 60, trend_per_s: 1, time_to_full_s: null, level: 'none' });
    expect(f.basis).toMatch(/^no trend/);
    const short = f.estimates.find((e: { basis: string }) => e.basis === 'count_short');
    expect(short).toMatchObject({ rate_per_s: 1, time_to_full_s: 9.5, sound: false }); // 10 s from the last reading, half a second ago
    expect(f.estimates.find((e: { basis: string }) => e.basis === 'records_2s')).toMatchObject({ sound: false, why: 'not growing' });
    expect((await app.inject('/v1/forecast?netns=99')).statusCode).toBe(404);
  });

  it('advice carries evidence', async () => {
    const r = await app.inject('/v1/advice');
    expect(r.statusCode).toBe(200);
    const a = r.json().advice as Array<{ id: string; evidence: Record<string, unknown>; checks: Record<string, string> }>;
    const size = a.find((x) => x.id === 'table-size')!;
    expect(size.evidence).toMatchObject({ max: 60, peak_count: 50, peak_max: 60, entry_bytes: 320, entry_bytes_source: 'slabinfo', memory_now_bytes: 60 * 320 + 64 * 8 });
    expect(size.checks.entry_bytes).toMatch(/slabinfo/);
    // 20 drops in the last 60 s of the namespace's records (17 table_full, 3 netfilter): ours; the kernel's is unread here
    const drops = a.find((x) => x.id === 'drops')!;
    expect(drops.evidence).toMatchObject({ netns: 5, name: 'cni-0f3a', kernel_drops: null });
  });
});

describe('validation: every bad query is a 400 with a message', () => {
  const bad = [
    '/v1/churn?by=sorce',
    '/v1/churn?window=0',
    '/v1/churn?window=901',
    '/v1/churn?window=abc',
    '/v1/churn?limit=0',
    '/v1/churn?limit=1001',
    '/v1/churn?windwo=60',
    '/v1/drops?kind=everything',
    '/v1/drops?by=src&window=-5',
    '/v1/occupancy?state=SLEEPING',
    '/v1/occupancy?proto=carrier-pigeon',
    '/v1/flows?src=10.0.0.300',
    '/v1/flows?dport=70000',
    '/v1/flows?limit=5000',
    '/v1/flows/abc',
    '/v1/flows/99999999999999999999',
    '/v1/flows/0',
    '/v1/lifetimes?by=color',
    '/v1/forecast?netns=-1',
    '/v1/advice?verbose=1',
  ];
  for (const url of bad) {
    it(url, async () => {
      const r = await app.inject(url);
      expect(r.statusCode).toBe(400);
      const body = r.json();
      expect(typeof body.message).toBe('string');
      expect(body.message.length).toBeGreaterThan(10);
      expect(body.message).not.toMatch(/at .*\.ts:\d+/);
    });
  }
});
