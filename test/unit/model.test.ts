// The model with known inputs: counts, windows sliding, heavy-hitter error
// bounds, flow lifecycle, eviction, SYNC, occupancy, lifetimes, drops, forecast.
import { describe, expect, it } from 'vitest';
import { Model } from '../../src/model/model.js';
import { Cause, FIELDS, Flag, IPS, Kind, RECORD_SIZE } from '../../src/records/layout.js';
import { encodeRecord, type RecordInit } from '../../src/records/encode.js';
import { decodeBatch } from '../../src/records/batch.js';
import { batch, SEC } from './model-batch.js';
import type { ProcSnapshot } from '../../src/proc/types.js';

const TCP = 6;
const UDP = 17;
const ESTABLISHED = 3;
const TIME_WAIT = 7;

let nextId = 1n;
function alloc(src: string, ts: number, extra: Partial<RecordInit> = {}): RecordInit {
  return { kind: Kind.ALLOC, ts, start: ts, id: nextId++, src, dst: '10.0.0.2', sport: 40000, dport: 53, proto: UDP, netns: 7, ...extra };
}

describe('top-k counts', () => {
  it('ranks sources exactly with a zero error bound (23 / 11 / 5)', () => {
    const m = new Model();
    const recs: RecordInit[] = [];
    for (let i = 0; i < 23; i++) recs.push(alloc('10.1.0.1', 10 * SEC + i));
    for (let i = 0; i < 11; i++) recs.push(alloc('10.1.0.2', 10 * SEC + i));
    for (let i = 0; i < 5; i++) recs.push(alloc('fd00::5', 10 * SEC + i, { dst: 'fd00::2' }));
    m.ingest(batch(recs));
    const r = m.topK({ by: 'src', window: 60, limit: 10 });
    expect(r.total).toBe(39);
    expect(r.error_bound).toBe(0);
    expect(r.items.map((i) => [i.key, i.count])).toEqual([
      ['10.1.0.1', 23],
      ['10.1.0.2', 11],
      ['fd00::5', 5],
    ]);
    expect(r.items[0]!.share).toBeCloseTo(23 / 39, 5);
    expect(r.items[0]!.rate).toBeCloseTo(23 / 60, 5);
    const pair = m.topK({ by: 'src,dport', window: 60, limit: 1 });
    expect(pair.items).toEqual([{ key: '10.1.0.1:53', count: 23, rate: expect.any(Number), share: expect.any(Number) }]);
    expect(m.topK({ by: 'src,dport', window: 60, limit: 3 }).items[2]!.key).toBe('[fd00::5]:53');
    expect(m.topK({ by: 'proto', window: 60, limit: 3 }).items).toMatchObject([{ key: 'udp', count: 39 }]);
    expect(m.topK({ by: 'netns', window: 60, limit: 3 }).items).toMatchObject([{ key: '7', count: 39 }]);
  });

  it('slides the window at 1 s resolution and keeps 15 minutes', () => {
    const m = new Model();
    m.ingest(batch([alloc('10.1.0.1', 100 * SEC), alloc('10.1.0.1', 100 * SEC + 5)]));
    m.ingest(batch([alloc('10.1.0.1', 160 * SEC), alloc('10.1.0.9', 161 * SEC)]));
    m.advance(161.5 * SEC);
    expect(m.topK({ by: 'src', window: 1, limit: 10 }).total).toBe(1); // second 161 only
    expect(m.topK({ by: 'src', window: 2, limit: 10 }).total).toBe(2);
    expect(m.topK({ by: 'src', window: 61, limit: 10 }).total).toBe(2); // 101..161
    expect(m.topK({ by: 'src', window: 62, limit: 10 }).items[0]).toMatchObject({ key: '10.1.0.1', count: 3 });
    // 899 s later the second-100 allocations are still in a 900 s window...
    m.advance(999.2 * SEC);
    expect(m.topK({ by: 'src', window: 900, limit: 10 }).total).toBe(4);
    // ...and one second later they are not.
    m.advance(1000.2 * SEC);
    expect(m.topK({ by: 'src', window: 900, limit: 10 }).total).toBe(2);
    m.advance(5000 * SEC);
    expect(m.topK({ by: 'src', window: 900, limit: 10 })).toMatchObject({ total: 0, items: [], error_bound: 0 });
  });

  it('reports a heavy-hitter error bound that covers every key when a second overflows', () => {
    const m = new Model({ heavyKeys: 16 });
    const recs: RecordInit[] = [];
    const truth = new Map<string, number>();
    // 400 distinct sources once each, interleaved with one source 300 times and one 120 times.
    for (let i = 0; i < 400; i++) {
      const a = `10.9.${i >> 8}.${i & 255}`;
      recs.push(alloc(a, 50 * SEC + i));
      truth.set(a, 1);
      if (i % 4 === 0 || i % 4 === 1 || i % 4 === 2) recs.push(alloc('10.2.0.1', 50 * SEC + i));
      if (i % 10 < 3) recs.push(alloc('10.2.0.2', 50 * SEC + i));
    }
    truth.set('10.2.0.1', 300);
    truth.set('10.2.0.2', 120);
    m.ingest(batch(recs));
    const r = m.topK({ by: 'src', window: 10, limit: 5 });
    expect(r.total).toBe(820);
    expect(r.error_bound).toBeGreaterThan(0);
    expect(r.items[0]!.key).toBe('10.2.0.1');
    expect(r.items[1]!.key).toBe('10.2.0.2');
    for (const it of r.items) {
      const t = truth.get(it.key)!;
      expect(it.count).toBeLessThanOrEqual(t);
      expect(t).toBeLessThanOrEqual(it.count + r.error_bound);
    }
    // The bound also covers keys that fell out of the summary.
    expect(r.error_bound).toBeGreaterThanOrEqual(1);
    expect(r.error_bound).toBeLessThan(120);
  });
});

describe('flow lifecycle', () => {
  it('follows alloc, state changes and destroy, with lifetime and final state', () => {
    const m = new Model();
    const id = 77n;
    const base = { id, src: '10.3.0.1', dst: '10.3.0.2', sport: 1234, dport: 80, proto: TCP, netns: 9 };
    m.ingest(batch([{ ...base, kind: Kind.ALLOC, ts: 1 * SEC, start: 1 * SEC, state: 1 }]));
    m.ingest(batch([{ ...base, kind: Kind.UPDATE, ts: 1.01 * SEC, state: ESTABLISHED, status: IPS.SEEN_REPLY | IPS.CONFIRMED }]));
    m.ingest(batch([{ ...base, kind: Kind.UPDATE, ts: 2 * SEC, state: TIME_WAIT, status: IPS.SEEN_REPLY | IPS.ASSURED }]));
    m.advance(3 * SEC);
    const live = m.flow(id)!;
    expect(live).toMatchObject({ id: '77', live: true, proto: 'tcp', src: '10.3.0.1', dport: 80, state: 'TIME_WAIT', opened: 'alloc', start_known: true });
    expect(live.states).toEqual(['SYN_SENT', 'ESTABLISHED', 'TIME_WAIT']);
    expect(live.age_s).toBeCloseTo(2, 3);
    expect(live.state_since_s).toBeCloseTo(1, 2);
    expect(m.listFlows({ state: TIME_WAIT }).total).toBe(1);
    expect(m.listFlows({ src: '10.3.0.9' }).total).toBe(0);
    m.ingest(batch([{ ...base, kind: Kind.DESTROY, ts: 122 * SEC, cause: Cause.TIMEOUT }]));
    expect(m.flows.count).toBe(0);
    const closed = m.flow(id)!;
    expect(closed.live).toBe(false);
    expect(closed.closed).toEqual({ at_s: 122, cause: 'timeout', lifetime_s: 121 });
    const lt = m.lifetimeGroups('state');
    expect(lt.groups).toHaveLength(1);
    expect(lt.groups[0]).toMatchObject({ proto: 'tcp', state: 'TIME_WAIT', count: 1, mean_s: 121 });
    // 121 s lies in the exact histograms' (118.784, 122.88] bucket (16 to the octave): its midpoint
    expect(lt.groups[0]!.p50_s).toBeCloseTo(120.832, 3);
    const dwell = m.finalDwell.values().next().value!;
    expect(dwell.count).toBe(1);
    expect(dwell.sumSeconds).toBeCloseTo(120, 2);
    const churn = m.churn({ by: 'src', window: 900, limit: 5 });
    // per key, one bucket an octave: (65.536, 131.072], its midpoint
    expect(churn.items[0]).toMatchObject({ key: '10.3.0.1', count: 1, destroyed: 1, median_lifetime_s: 98.304 });
    // By protocol, from the exact per-protocol histograms; the same in every other dimension.
    expect(m.churn({ by: 'proto', window: 900, limit: 5 }).items[0]).toMatchObject({ key: 'tcp', median_lifetime_s: 120.832 });
    for (const by of ['dst', 'dport', 'netns', 'src,dport'] as const) expect(m.churn({ by, window: 900, limit: 5 }).items[0]!.median_lifetime_s).toBe(98.304);
  });

  // issue 12: a mark set after the first packet (CONNMARK / nft `ct mark set`
  // on the reply path) reaches the model in an UPDATE (or the hooks' CONFIRM,
  // DESTROY); by=mark and /v1/flows must follow it, the occupancy index too.
  it('follows a mark set after the entry opened: flows, occupancy by mark (index kept and scanned), the closed entry', () => {
    for (const indexed of [true, false]) {
      const m = new Model({ occupancyIndex: indexed });
      const base = { src: '10.3.1.1', dst: '10.3.1.2', dport: 80, proto: TCP, netns: 9 };
      const ids = [201n, 202n, 203n, 204n, 205n];
      m.ingest(batch(ids.map((id, k) => ({ ...base, id, sport: 3000 + k, kind: Kind.ALLOC, ts: 1 * SEC, start: 1 * SEC, state: 1 }))));
      expect(m.occupancy({ by: 'mark', limit: 5 }).items).toMatchObject([{ key: '0', count: 5 }]);
      // three get mark 42 on the SYN-ACK, one of them mark 7 later; one is marked by the hooks' CONFIRM
      m.ingest(batch([
        ...ids.slice(0, 3).map((id) => ({ ...base, id, kind: Kind.UPDATE, ts: 1.1 * SEC, state: 2, mark: 42, status: IPS.CONFIRMED | IPS.SEEN_REPLY })),
        { ...base, id: 203n, kind: Kind.UPDATE, ts: 1.2 * SEC, state: ESTABLISHED, mark: 7, status: IPS.CONFIRMED | IPS.SEEN_REPLY | IPS.ASSURED },
        { ...base, id: 204n, kind: Kind.CONFIRM, ts: 1.2 * SEC, state: 1, mark: 9, status: IPS.CONFIRMED },
      ]));
      const occ = m.occupancy({ by: 'mark', limit: 5 });
      expect(occ.items.map((i) => [i.key, i.count])).toEqual([['42', 2], ['0', 1], ['7', 1], ['9', 1]]);
      expect(occ.items[0]!.states).toEqual([{ proto: 'tcp', state: 'SYN_RECV', count: 2 }]);
      expect(m.listFlows({ mark: 42 }).total).toBe(2);
      expect(m.listFlows({ mark: 0 }).flows.map((f) => f.id)).toEqual(['205']);
      expect(m.flow(203n)).toMatchObject({ mark: 7, state: 'ESTABLISHED' });
      // a DESTROY carries the entry's last mark (the hooks' path sees no UPDATE)
      m.ingest(batch([{ ...base, id: 205n, kind: Kind.DESTROY, ts: 2 * SEC, mark: 11, cause: Cause.TIMEOUT }, { ...base, id: 201n, kind: Kind.DESTROY, ts: 2 * SEC, mark: 42, cause: Cause.TIMEOUT }]));
      expect(m.occupancy({ by: 'mark', limit: 5 }).items.map((i) => [i.key, i.count])).toEqual([['7', 1], ['9', 1], ['42', 1]]); // ties: smaller key first
      expect(m.listClosed({ mark: 11 }).flows.map((f) => f.id)).toEqual(['205']);
      expect(m.listClosed({ mark: 42 }).flows.map((f) => f.id)).toEqual(['201']);
      expect(m.occupancyIndexes().misses).toBe(0);
    }
  });

  // issue 12: `confirmed` from the status bits, not only from a CONFIRM record
  // (ctnetlink's NEW, an ALLOC here, is sent after the confirmation).
  it('says confirmed from IPS_CONFIRMED or a CONFIRM record, live and closed', () => {
    const m = new Model();
    const base = { src: '10.3.2.1', dst: '10.3.2.2', dport: 53, proto: UDP, netns: 9 };
    m.ingest(batch([
      { ...base, id: 301n, sport: 1, kind: Kind.ALLOC, ts: 1 * SEC, start: 1 * SEC, status: IPS.CONFIRMED }, // ctnetlink NEW
      { ...base, id: 302n, sport: 2, kind: Kind.ALLOC, ts: 1 * SEC, start: 1 * SEC, status: 0 }, // the hooks' allocation
      { ...base, id: 303n, sport: 3, kind: Kind.ALLOC, ts: 1 * SEC, start: 1 * SEC, status: 0 },
      { ...base, id: 304n, sport: 4, kind: Kind.SEEN, ts: 1 * SEC, status: IPS.CONFIRMED | IPS.SEEN_REPLY, cause: Cause.AT_START }, // a dump
    ]));
    m.ingest(batch([{ ...base, id: 303n, sport: 3, kind: Kind.CONFIRM, ts: 1.1 * SEC, status: IPS.CONFIRMED }]));
    expect([301n, 302n, 303n, 304n].map((id) => m.flow(id)!.confirmed)).toEqual([true, false, true, true]);
    m.ingest(batch([{ ...base, id: 301n, sport: 1, kind: Kind.DESTROY, ts: 2 * SEC, status: IPS.CONFIRMED, cause: Cause.TIMEOUT }]));
    expect(m.flow(301n)).toMatchObject({ live: false, confirmed: true });
  });

  it('evicts the least recently seen entries at maxFlows and counts them', () => {
    const m = new Model({ maxFlows: 10 });
    const recs: RecordInit[] = [];
    for (let i = 0; i < 15; i++) recs.push(alloc('10.4.0.1', SEC + i * 1e6));
    m.ingest(batch(recs));
    expect(m.flows.count).toBe(10);
    expect(m.flows.evictions).toBe(5);
    expect(m.counter('flows_evicted')).toBe(5);
    expect(m.counter('alloc')).toBe(15);
  });

  it('SYNC closes the entries of its namespace not seen since the dump began', () => {
    const m = new Model();
    const seen = (id: bigint, netns: number, ts: number): RecordInit => ({ kind: Kind.SEEN, id, ts, src: '10.5.0.1', dport: 22, proto: TCP, state: ESTABLISHED, netns, cause: Cause.AT_START });
    m.ingest(batch([seen(1n, 7, 1 * SEC), seen(2n, 7, 1 * SEC), seen(3n, 7, 1 * SEC), seen(4n, 8, 1 * SEC)]));
    expect(m.flows.count).toBe(4);
    expect(m.flow(1n)!.opened).toBe('seen_at_start');
    expect(m.flow(1n)!.start_known).toBe(false);
    // Resync dump of netns 7 from 2 s to 3 s finds entries 1 and 3 only.
    m.ingest(batch([seen(1n, 7, 2.5 * SEC), seen(3n, 7, 2.6 * SEC), { kind: Kind.SYNC, ts: 3 * SEC, start: 2 * SEC, netns: 7, cause: Cause.DESTROY_LOST }]));
    expect(m.flows.count).toBe(3);
    expect(m.flow(2n)!.closed!.cause).toBe('destroy_lost');
    expect(m.flow(4n)!.live).toBe(true); // other namespace untouched
    expect(m.counter('sync_closed')).toBe(1);
    expect(m.lifetimeGroups('proto').unknown_start).toBe(0);
  });

  it('keeps the flow table consistent under random insert/delete (backward-shift deletion)', () => {
    const m = new Model({ maxFlows: 5000 });
    const live = new Set<bigint>();
    let seed = 42;
    const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    for (let round = 0; round < 20; round++) {
      const recs: RecordInit[] = [];
      for (let i = 0; i < 500; i++) {
        const id = BigInt(1 + Math.floor(rnd() * 3000)) | (BigInt(Math.floor(rnd() * 3)) << 32n);
        const ts = SEC * (1 + round);
        if (live.has(id)) {
          recs.push({ kind: Kind.DESTROY, id, ts, src: '10.6.0.1', proto: UDP });
          live.delete(id);
        } else {
          recs.push({ kind: Kind.ALLOC, id, ts, start: ts, src: '10.6.0.1', proto: UDP });
          live.add(id);
        }
      }
      m.ingest(batch(recs));
      expect(m.flows.count).toBe(live.size);
    }
    for (const id of live) expect(m.flow(id)?.live).toBe(true);
    expect(m.listFlows({ limit: 1000 }).total).toBe(live.size);
  });
});

describe('occupancy, drops, forecast', () => {
  it('counts live entries by key, protocol and state (UDP states from status bits)', () => {
    const m = new Model();
    const recs: RecordInit[] = [];
    for (let i = 0; i < 7; i++) recs.push(alloc('10.7.0.1', SEC, { status: 0 })); // UNREPLIED
    for (let i = 0; i < 3; i++) recs.push(alloc('10.7.0.2', SEC, { status: IPS.SEEN_REPLY })); // REPLIED
    for (let i = 0; i < 2; i++) recs.push(alloc('10.7.0.2', SEC, { status: IPS.SEEN_REPLY | IPS.ASSURED }));
    for (let i = 0; i < 5; i++) recs.push(alloc('10.7.0.3', SEC, { proto: TCP, state: TIME_WAIT, dport: 80 }));
    m.ingest(batch(recs));
    const all = m.occupancy({ by: 'src', limit: 10 });
    expect(all.live).toBe(17);
    expect(all.items.map((i) => [i.key, i.count])).toEqual([
      ['10.7.0.1', 7],
      ['10.7.0.2', 5], // ties: smaller key first
      ['10.7.0.3', 5],
    ]);
    expect(all.items[1]!.states).toEqual([
      { proto: 'udp', state: 'REPLIED', count: 3 },
      { proto: 'udp', state: 'ASSURED', count: 2 },
    ]);
    const tw = m.occupancy({ by: 'src', state: TIME_WAIT, limit: 10 });
    expect(tw.total).toBe(5);
    expect(tw.items).toHaveLength(1);
    expect(all.states.find((s) => s.state === 'TIME_WAIT')).toMatchObject({ proto: 'tcp', count: 5 });
    const unrep = m.occupancy({ by: 'dport', state: 16, proto: UDP, limit: 10 });
    expect(unrep.items).toMatchObject([{ key: '53', count: 7 }]);
  });

  it('ranks drops by kind and key', () => {
    const m = new Model();
    const recs: RecordInit[] = [];
    for (let i = 0; i < 13; i++) recs.push({ kind: Kind.DROP, ts: 5 * SEC, src: '10.8.0.1', dst: '10.8.0.2', dport: 53, proto: UDP, aux: 12, flags: Flag.HAS_CT });
    for (let i = 0; i < 4; i++) recs.push({ kind: Kind.TABLE_FULL, ts: 5 * SEC, src: '10.8.0.3', dport: 53, proto: UDP });
    recs.push({ kind: Kind.EVICT, ts: 5 * SEC, src: '10.8.0.4', proto: UDP });
    recs.push({ kind: Kind.INSERT_FAILED, ts: 5 * SEC, src: '10.8.0.3', proto: UDP });
    m.ingest(batch(recs));
    // by default packets, each once: kfree_skb's netfilter drops already
    // include the packets the lifecycle saw refused (table_full, insert_failed)
    const all = m.drops({ by: 'src', window: 60, limit: 10 });
    expect(all.total).toBe(13);
    expect(all.items.map((i) => [i.key, i.count])).toEqual([['10.8.0.1', 13]]);
    expect(m.drops({ by: 'src', window: 60, limit: 10, kinds: ['evicted'] }).items).toMatchObject([{ key: '10.8.0.4', count: 1 }]);
    // without kfree_skb (a kernel before 5.17): the lifecycle's refusals are the drops; evictions are entries, not packets
    const lc = new Model();
    lc.ingest(batch(recs.filter((r) => r.kind !== Kind.DROP)));
    expect(lc.drops({ by: 'src', window: 60, limit: 10 }).items.map((i) => [i.key, i.count])).toEqual([['10.8.0.3', 5]]);
    expect(m.drops({ by: 'src', window: 60, limit: 10, kinds: ['table_full'] }).items).toMatchObject([{ key: '10.8.0.3', count: 4, share: 1 }]);
    expect(m.drops({ by: 'src', window: 60, limit: 10, kinds: ['netfilter'] }).total).toBe(13);
    expect(m.dropReasons.get(12)).toBe(13);
  });

  it('forecasts time to full from the count trend, agreeing with the net allocation rate', () => {
    const m = new Model();
    const snap = (t: number, count: number): ProcSnapshot => ({ ts: t * SEC, netns: 1, count, max: 1000, buckets: 1024, stats: {}, timeouts: {} });
    for (let t = 0; t <= 80; t++) {
      // records and readings in time order, as the sources deliver them
      const recs: RecordInit[] = [];
      for (let i = 0; i < 5; i++) recs.push(alloc('10.9.0.1', (100 + t) * SEC + i, { netns: 1 }));
      m.ingest(batch(recs));
      m.ingestProc(snap(100 + t + 0.5, 100 + 5 * t));
    }
    // more than a collector's interval of steady growth without a fall: the slow estimates are sound and agree
    const f = m.forecast()!;
    expect(f.trend_per_s).toBeCloseTo(5, 6);
    expect(f.count).toBe(500);
    expect(f.time_to_full_s, JSON.stringify(f.estimates)).toBeCloseTo(99.5, -1);
    expect(f.horizon_s).toBe(80);
    expect(f.samples).toBe(81);
    expect(f.r2).toBe(1);
    expect(['count_long', 'records_long']).toContain(f.chosen);
    expect(f.estimates.filter((e) => e.sound).map((e) => e.basis).sort(), JSON.stringify(f.estimates)).toEqual(['count_long', 'records_long']);
    expect(f.level).not.toBe('none');
    const flat = new Model();
    for (let t = 0; t < 10; t++) flat.ingestProc(snap(t, 500));
    expect(flat.forecast()!.time_to_full_s).toBeNull();
  });
});

describe('pieces', () => {
  it('KeyCounter.top selects the largest with ties broken by key, whatever the size', async () => {
    const { KeyCounter, selectKth } = await import('../../src/model/heavy.js');
    const c = new KeyCounter(4);
    for (let k = 0; k < 5000; k++) c.add(k, k % 97);
    const top = c.top(5);
    expect(top.map((t) => t.count)).toEqual([96, 96, 96, 96, 96]);
    expect(top.map((t) => t.key)).toEqual([96, 193, 290, 387, 484]);
    const a = new Float64Array([5, 1, 4, 1, 3, 9, 2, 6]);
    expect(selectKth(a.slice(), 8, 0)).toBe(1);
    expect(selectKth(a.slice(), 8, 7)).toBe(9);
    expect(selectKth(a.slice(), 8, 4)).toBe(4);
  });

  it('answers churn, occupancy, drops, totals and the forecast from one batch', () => {
    const m = new Model();
    const recs: RecordInit[] = [];
    for (let i = 0; i < 31; i++) recs.push(alloc('10.10.0.1', 3 * SEC));
    recs.push({ kind: Kind.TABLE_FULL, ts: 3 * SEC, src: '10.10.0.2', proto: UDP, dport: 53 });
    m.ingest(batch(recs));
    const window = m.span();
    expect(m.churn({ by: 'src', window, limit: 3 }).items[0]).toMatchObject({ key: '10.10.0.1', count: 31 });
    expect(m.churn({ by: 'dport', window, limit: 3 }).items[0]).toMatchObject({ key: '53', count: 31 });
    expect(m.occupancy({ by: 'src', limit: 3 }).items[0]).toMatchObject({ key: '10.10.0.1', count: 31 });
    expect(m.drops({ by: 'src', window, limit: 3 }).items[0]).toMatchObject({ key: '10.10.0.2', count: 1 });
    expect(m.counter('alloc')).toBe(31);
    expect(m.counter('table_full')).toBe(1);
    expect(m.forecast()).toBeNull();
  });
});

describe('advice', () => {
  it('the engine recommends NOTRACK, connection reuse and the table size from what the model saw, with evidence', async () => {
    const { advise } = await import('../../src/advice/engine.js');
    const m = new Model();
    const recs: RecordInit[] = [];
    let id = 1_000_000n;
    // 1,499 short TCP connections 10.11.0.5 -> :80; 1,399 closed after 0.5 s, 100 still in TIME_WAIT.
    for (let i = 0; i < 1499; i++) {
      const r = { id: id++, src: '10.11.0.5', dst: '10.11.0.9', sport: 20000 + i, dport: 80, proto: TCP, netns: 3 };
      recs.push({ ...r, kind: Kind.ALLOC, ts: 10 * SEC, start: 10 * SEC, state: 1 });
      recs.push({ ...r, kind: Kind.UPDATE, ts: 10.1 * SEC, state: TIME_WAIT, status: IPS.SEEN_REPLY | IPS.ASSURED });
      if (i >= 100) recs.push({ ...r, kind: Kind.DESTROY, ts: 10.5 * SEC, cause: Cause.TIMEOUT });
    }
    // 503 UDP flows to :53 from many sources, never answered.
    for (let i = 0; i < 503; i++) recs.push(alloc(`10.12.${i >> 8}.${i & 255}`, 10.6 * SEC, { dport: 53, netns: 3 }));
    m.ingest(batch(recs));
    m.ingestProc({ ts: 10.7 * SEC, netns: 3, count: 603, max: 700, buckets: 1024, stats: {}, timeouts: { tcp_timeout_time_wait: 120, udp_timeout: 30 } });
    const window = m.span();
    const a = advise({ model: m, tables: m.tables.list(window), environment: { entry: { bytes: 320, bucket_bytes: 8, source: 'slabinfo' }, memTotalBytes: 2 ** 30 }, window }).advice;
    const byId = new Map(a.map((x) => [x.id, x]));
    expect(byId.get('connection-reuse')?.evidence).toMatchObject({ src: '10.11.0.5', dport: 80, allocations: 1499, destroyed: 1399, median_lifetime_s: 0.384 });
    expect(byId.get('notrack')?.evidence).toMatchObject({ dport: 53, service: 'DNS', allocations: 503, udp_share_of_live: 1 });
    expect(byId.get('table-size')).toMatchObject({ level: 'action', evidence: { max: 700, peak_count: 603, peak_max: 700, entry_bytes: 320 } });
    expect(byId.get('table-full')).toMatchObject({ level: 'action', evidence: { count: 603, max: 700, level: 'action' } });
    expect(a[0]!.level).toBe('action');
  });
});

describe('per-key lifetimes under load', () => {
  // Records built from one template with ids and times patched in: 200,000+
  // destroys in a second without encoding each.
  function destroys(n: number, firstId: number, ts: number, lifetime: number) {
    const tpl = new Uint8Array(RECORD_SIZE);
    encodeRecord(tpl, 0, { kind: Kind.DESTROY, id: 1n, ts, start: ts - lifetime, flags: Flag.HAS_START, src: '10.7.0.1', dport: 443, proto: TCP, state: TIME_WAIT });
    const buf = new Uint8Array(n * RECORD_SIZE);
    const dv = new DataView(buf.buffer);
    for (let i = 0; i < n; i++) {
      buf.set(tpl, i * RECORD_SIZE);
      dv.setUint32(i * RECORD_SIZE + FIELDS.id.offset, firstId + i, true);
    }
    return decodeBatch(buf);
  }

  it('samples them one destroy in four after a second of more than 200,000 destroys, and says how many it left out', () => {
    const m = new Model();
    m.ingest(destroys(200_001, 1, 100 * SEC, 1 * SEC));
    expect(m.churn({ by: 'src', window: 60, limit: 1 })).toMatchObject({ median_lifetime_skipped: 0 });
    m.ingest(destroys(4000, 300_000, 101 * SEC, 64 * SEC));
    const skipped = m.keyedLifetimesSkipped;
    expect(skipped).toBeGreaterThan(2600);
    expect(skipped).toBeLessThan(3400);
    // The exact per-protocol/state histogram has every destroy.
    expect(m.lifetimeGroups('proto').groups[0]).toMatchObject({ proto: 'tcp', count: 204_001 });
    // That second was quiet: the next counts every destroy again.
    m.ingest(destroys(10, 400_000, 102 * SEC, 1 * SEC));
    expect(m.keyedLifetimesSkipped).toBe(skipped);
    expect(m.churn({ by: 'src', window: 60, limit: 1 })).toMatchObject({ median_lifetime_skipped: skipped });
    // A busy second followed by silence: the next second with records is not the one after it.
    m.ingest(destroys(200_001, 700_000, 103 * SEC, 1 * SEC));
    m.ingest(destroys(100, 1_000_000, 110 * SEC, 1 * SEC));
    expect(m.keyedLifetimesSkipped).toBe(skipped);
  });
});
