// The daemon's own routes through inject(): no socket is opened.
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/api/app.js';
import type { StatusReport } from '../../src/api/context.js';
import { Exposition } from '../../src/metrics/exposition.js';
import { renderSourceMetrics, renderTableMetrics } from '../../src/metrics/table-families.js';
import type { ProcSnapshot } from '../../src/proc/types.js';
import type { SourceStatus } from '../../src/records/sink.js';
import { TableAccounts } from '../../src/proc/accounts.js';

const host: ProcSnapshot = {
  ts: 1,
  netns: 4026531833,
  count: 900,
  max: 1000,
  buckets: 256,
  stats: { entries: 900, found: 3, invalid: 1, ignore: 5, insert: 0, insert_failed: 2, drop: 2433, early_drop: 67, search_restart: 1, clashres: 4 },
  timeouts: { tcp_timeout_time_wait: 120, udp_timeout: 30 },
};
const other: ProcSnapshot = { ...host, netns: 4026532999, count: 11, stats: { entries: 11, drop: 0 } };
const sources: SourceStatus[] = [
  { name: 'drops', state: 'running', hook: 'tp_btf:kfree_skb', records: 2433, lost: { ringbufReserveFailed: [0, 3], queueDropped: 0, total: 3 } },
  { name: 'netlink', state: 'degraded', hook: 'ctnetlink', records: 10, lost: { netlinkOverruns: 1, resyncs: 1, queueDropped: 0, total: 7 }, detail: 'overrun', vanishedTotal: 1000 },
];
const status = (): StatusReport => ({
  version: '0.1.0',
  mode: 'live',
  kernel: { release: '6.18.0', btf: true },
  started_at: new Date(0).toISOString(),
  uptime_seconds: 5,
  sources,
  lost: { total: 10 },
});

let app: FastifyInstance;
beforeAll(async () => {
  const tables = new TableAccounts({ hostNetns: host.netns });
  tables.ingest({ ...host, name: 'host' });
  tables.ingest({ ...other, name: 'lab-s' });
  app = await buildApp({
    status,
    table: tables,
    metrics: () => {
      const e = new Exposition();
      renderTableMetrics(e, tables);
      renderSourceMetrics(e, sources);
      return e.text();
    },
  });
});
afterAll(async () => app.close());

describe('base routes', () => {
  it('GET /healthz', async () => {
    const r = await app.inject('/healthz');
    expect(r.statusCode).toBe(200);
    expect(r.json()).toEqual({ ok: true });
  });

  it('GET /v1/status lists sources with hooks and loss', async () => {
    const r = await app.inject('/v1/status');
    expect(r.statusCode).toBe(200);
    const b = r.json();
    expect(b.sources.map((s: SourceStatus) => s.hook)).toEqual(['tp_btf:kfree_skb', 'ctnetlink']);
    expect(b.sources[0].lost.ringbufReserveFailed).toEqual([0, 3]);
    expect(b.lost.total).toBe(10);
    // issue 17: the soak read the vanished count as null (the schema dropped it)
    expect(b.sources[1].vanishedTotal).toBe(1000);
  });

  it('GET /v1/table answers for the table in most danger and lists every table, most endangered first', async () => {
    const b = (await app.inject('/v1/table')).json();
    expect(b).toMatchObject({ netns: 4026531833, name: 'host', kind: 'host', count: 900, max: 1000, utilization: 0.9, level: 'action', buckets: 256, stats_source: 'proc' });
    expect(b.stats.clashres).toBe(4);
    expect(b.timeouts.tcp_timeout_time_wait).toBe(120);
    expect(b.tables.map((t: { name: string; level: string }) => [t.name, t.level])).toEqual([
      ['host', 'action'],
      ['lab-s', 'ok'],
    ]);
    expect(b.forecast).toMatchObject({ netns: 4026531833, time_to_full_s: null, level: 'none' });
  });

  it('GET /v1/table lists the first `limit` tables (default 100), in the order of the whole list, and says how many there are', async () => {
    // issue 17, dense nodes: 1,000 tables with their forecasts were 1.2 MB and over 100 ms an answer
    const many = new TableAccounts({ hostNetns: 1 });
    for (let sec = 1; sec <= 12; sec++)
      for (let ns = 1; ns <= 250; ns++) {
        const count = (ns * 37) % 1000; // every level
        const drop = ns % 5 === 0 ? sec * (ns % 3) : 0; // some dropping, at different rates
        many.ingest({ ...host, ts: sec * 1e9, netns: ns, count, max: 1000, stats: { drop }, name: `n${ns}` });
      }
    many.vanish(7, 12e9);
    const manyApp = await buildApp({ status, table: many, metrics: () => '' });
    try {
      const whole = many.list().map((t) => t.netns);
      const dflt = (await manyApp.inject('/v1/table')).json();
      expect(dflt.total).toBe(250);
      expect(dflt.tables.map((t: { netns: number }) => t.netns)).toEqual(whole.slice(0, 100));
      const three = (await manyApp.inject('/v1/table?limit=3')).json();
      expect(three.tables.map((t: { netns: number }) => t.netns)).toEqual(whole.slice(0, 3));
      expect(three.netns).toBe(whole[0]);
      expect(three.tables[0]).toEqual(many.list()[0]);
      const all = (await manyApp.inject('/v1/table?limit=1000')).json();
      expect(all.tables.map((t: { netns: number }) => t.netns)).toEqual(whole);
      expect(all.tables.at(-1)).toMatchObject({ netns: 7, gone: true });
      expect((await manyApp.inject('/v1/table?limit=0')).statusCode).toBe(400);
    } finally {
      await manyApp.close();
    }
  });

  it('GET /v1/table?netns= gives that namespace; an unknown one is 404 with a message', async () => {
    expect((await app.inject('/v1/table?netns=4026532999')).json()).toMatchObject({ count: 11, name: 'lab-s', kind: 'named' });
    const r = await app.inject('/v1/table?netns=42');
    expect(r.statusCode).toBe(404);
    expect(r.json().message).toMatch(/42 is not followed/);
  });

  it.each([
    ['/v1/table?netns=abc', /netns/],
    ['/v1/table?netns=0', /netns/],
    ['/v1/table?nets=1', /'nets' is not a known parameter/],
    ['/v1/status?x=1', /'x' is not a known parameter/],
  ])('400 with a message for %s', async (url, re) => {
    const r = await app.inject(url);
    expect(r.statusCode).toBe(400);
    expect(Object.keys(r.json())).toEqual(['message']);
    expect(r.json().message).toMatch(re);
  });

  it('unknown routes are 404 with a message', async () => {
    const r = await app.inject('/v1/nope');
    expect(r.statusCode).toBe(404);
    expect(r.json().message).toMatch(/no route GET \/v1\/nope/);
  });

  it('GET /metrics uses node_exporter names and passes promtool', async () => {
    const r = await app.inject('/metrics');
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toMatch(/text\/plain/);
    expect(r.body).toMatch(/^node_nf_conntrack_entries 900$/m);
    expect(r.body).toMatch(/^node_nf_conntrack_entries_limit 1000$/m);
    expect(r.body).toMatch(/^node_nf_conntrack_stat_drop 2433$/m);
    expect(r.body).toMatch(/^node_nf_conntrack_stat_early_drop 67$/m);
    expect(r.body).toMatch(/^ctscope_ringbuf_reserve_failures_total\{source="drops",cpu="1"\} 3$/m);
    expect(r.body).toMatch(/^ctscope_netlink_overruns_total\{source="netlink"\} 1$/m);
    // every table, named; the one in most danger once more
    expect(r.body).toMatch(/^ctscope_table_utilization_ratio\{netns="4026532999",name="lab-s"\} 0\.011$/m);
    expect(r.body).toMatch(/^ctscope_table_drops_total\{netns="4026531833",name="host"\} 2433$/m);
    expect(r.body).toMatch(/^ctscope_table_most_endangered_utilization_ratio\{netns="4026531833",name="host",level="action"\} 0\.9$/m);
    const p = spawnSync('promtool', ['check', 'metrics'], { input: r.body, encoding: 'utf8' });
    expect(p.error, 'promtool is installed by scripts/setup.sh --test').toBeUndefined();
    expect(p.stdout + p.stderr).toBe('');
    expect(p.status).toBe(0);
  });
});
