// The routes by pod, k8s_namespace and workload, /v1/stale and the pod labels
// of /metrics, through the real app (the serializer drops undeclared fields,
// so what the model adds must be declared to reach the answer).
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { Model } from '../../src/model/model.js';
import { Kind } from '../../src/records/layout.js';
import type { PodRecord } from '../../src/model/pod-map.js';
import { appOver } from '../helpers/app.js';
import { batch, SEC } from './model-batch.js';

const HOST = 4026531840;
const pods: PodRecord[] = [
  { uid: 'u1', name: 'web-7d9f8b6c5-aaaaa', namespace: 'shop', labels: { 'pod-template-hash': '7d9f8b6c5' }, ips: ['10.78.1.5'], netns: 4026532100, hostNetwork: false },
  { uid: 'u2', name: 'statsd-0', namespace: 'ops', labels: { 'statefulset.kubernetes.io/pod-name': 'statsd-0' }, ips: ['10.78.1.9'], netns: 4026532200, hostNetwork: false },
];
let id = 1;
const rec = (kind: number, ts: number, src: string, dst: string, dport: number, proto = 17, rsrc = dst) => ({
  kind,
  ts,
  start: ts,
  id: id++,
  src,
  dst,
  rsrc,
  rdst: src,
  sport: 30000 + id,
  dport,
  proto,
  netns: HOST,
});

describe('routes with pods', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    const m = new Model();
    m.ingestProc({ ts: SEC, netns: HOST, count: 30, max: 262144, buckets: 65536, stats: {}, timeouts: {} });
    m.syncPods(pods, SEC);
    m.ingest(
      batch([
        // web sends 19 UDP flows to statsd-0 through a Service, never answered
        ...Array.from({ length: 19 }, () => rec(Kind.ALLOC, 2 * SEC, '10.78.1.5', '10.96.0.40', 8125, 17, '10.78.1.9')),
        ...Array.from({ length: 7 }, () => rec(Kind.TABLE_FULL, 3 * SEC, '10.78.1.5', '10.96.0.40', 8125, 17, '10.78.1.9')),
      ]),
    );
    m.advance(50 * SEC);
    m.syncPods([pods[0]!], 40 * SEC); // statsd-0 deleted
    app = await appOver(m, { netnsNames: () => new Map([[HOST, 'host']]) });
  });
  afterAll(() => app?.close());

  const get = async (url: string) => {
    const r = await app.inject({ url });
    expect(r.statusCode, r.body).toBe(200);
    return r.json();
  };

  it('answers by pod with how each was found, its namespace and workload', async () => {
    const r = await get('/v1/churn?by=pod&window=300');
    expect(r.attribution).toBe('original source address, else reply source address, else network namespace');
    expect(r.items[0]).toMatchObject({ key: 'shop/web-7d9f8b6c5-aaaaa', count: 19, via: { src: 19, reply_src: 0, netns: 0 }, k8s_namespace: 'shop', workload: 'shop/Deployment/web', destroyed: 0 });
    const d = await get('/v1/drops?by=workload&window=300');
    expect(d.items).toEqual([expect.objectContaining({ key: 'shop/Deployment/web', count: 7 })]);
    const o = await get('/v1/occupancy?by=k8s_namespace');
    expect(o.items).toEqual([expect.objectContaining({ key: 'shop', count: 19, states: [{ proto: 'udp', state: 'UNREPLIED', count: 19 }] })]);
    const s = await get('/v1/churn?by=src&window=300');
    expect(s.items[0]).toMatchObject({ key: '10.78.1.5', pod: 'shop/web-7d9f8b6c5-aaaaa' });
    const dst = await get('/v1/occupancy?by=dst');
    expect(dst.items[0]).toMatchObject({ key: '10.96.0.40' });
    expect(dst.items[0].pod).toBeUndefined(); // a Service address is no pod's
  });

  it('lists the deleted pod in /v1/stale with its entries, sources, age and command', async () => {
    const r = await get('/v1/stale');
    expect(r).toMatchObject({ unreplied_min_age_s: 60, unreplied_known: true, entries: 19 });
    expect(r.destinations).toEqual([
      {
        reason: 'deleted_pod',
        netns: HOST,
        netns_name: 'host',
        destination: '10.78.1.9',
        port: null,
        pod: 'ops/statsd-0',
        pod_deleted_s_ago: 10,
        entries: 19,
        protocols: { udp: 19 },
        sources: [{ source: 'shop/web-7d9f8b6c5-aaaaa', entries: 19 }],
        oldest_s: 48,
        newest_s: 48,
        command: 'conntrack -D -r 10.78.1.9',
      },
    ]);
    expect((await app.inject({ url: '/v1/stale?min_age=0' })).statusCode).toBe(400);
    expect((await app.inject({ url: '/v1/stale?nope=1' })).statusCode).toBe(400);
  });

  it('labels per-key series with namespace, pod and workload, counts stale entries, and passes promtool', async () => {
    const text = (await app.inject({ url: '/metrics' })).body;
    expect(text).toMatch(/^ctscope_top_allocations_per_second\{dimension="pod",key="shop\/web-7d9f8b6c5-aaaaa",namespace="shop",pod="web-7d9f8b6c5-aaaaa",workload="Deployment\/web"\} 0\.316667$/m);
    expect(text).toMatch(/^ctscope_top_drops_per_second\{dimension="workload",key="shop\/Deployment\/web",namespace="shop",workload="Deployment\/web"\} 0\.116667$/m);
    expect(text).toMatch(/^ctscope_top_entries\{dimension="src",key="10\.78\.1\.5",namespace="shop",pod="web-7d9f8b6c5-aaaaa",workload="Deployment\/web"\} 19$/m);
    expect(text).toMatch(/^ctscope_stale_entries\{reason="deleted_pod"\} 19$/m);
    expect(text).toMatch(/^ctscope_stale_destinations\{reason="unreplied_udp"\} 0$/m);
    const p = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(p.stdout + p.stderr).toBe('');
  });
});
