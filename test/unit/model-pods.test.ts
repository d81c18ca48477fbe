// The model by pod, Kubernetes namespace and workload, with known inputs:
// attribution (original source, reply source, namespace) and what each
// answer says about it; entries opened before their pod was known; drops;
// stale entries to a deleted pod and unanswered UDP.
import { describe, expect, it } from 'vitest';
import { Model } from '../../src/model/model.js';
import { Kind } from '../../src/records/layout.js';
import type { PodRecord } from '../../src/model/pod-map.js';
import { batch, SEC } from './model-batch.js';

const NODE_NS = 4026531840;
const WEB_NS = 4026532100;
const DB_NS = 4026532200;
const pods: PodRecord[] = [
  { uid: 'u-web-a', name: 'web-7d9f8b6c5-aaaaa', namespace: 'shop', labels: { 'pod-template-hash': '7d9f8b6c5' }, ips: ['10.78.1.5'], netns: WEB_NS, hostNetwork: false },
  { uid: 'u-web-b', name: 'web-7d9f8b6c5-bbbbb', namespace: 'shop', labels: { 'pod-template-hash': '7d9f8b6c5' }, ips: ['10.78.1.6'], netns: WEB_NS + 1, hostNetwork: false },
  { uid: 'u-db', name: 'db-0', namespace: 'data', labels: { 'statefulset.kubernetes.io/pod-name': 'db-0' }, ips: ['10.78.1.9'], netns: DB_NS, hostNetwork: false },
];

let id = 1;
const alloc = (ts: number, src: string, dst: string, o: { rsrc?: string; netns?: number; dport?: number; proto?: number; status?: number } = {}) => ({
  kind: Kind.ALLOC,
  ts,
  start: ts,
  id: id++,
  src,
  dst,
  rsrc: o.rsrc ?? dst,
  rdst: src,
  sport: 40000 + (id % 20000),
  dport: o.dport ?? 80,
  proto: o.proto ?? 6,
  netns: o.netns ?? NODE_NS,
  status: o.status ?? 0,
  state: (o.proto ?? 6) === 6 ? 3 : 0,
});

describe('model by pod, k8s_namespace and workload', () => {
  it('attributes by original source, then reply source, then namespace, and says how', () => {
    const m = new Model();
    m.syncPods(pods, 0);
    const t = 10 * SEC;
    const recs = [
      // 23 from web-a to a Service (DNAT'd to db-0): web-a opened them
      ...Array.from({ length: 23 }, () => alloc(t, '10.78.1.5', '10.96.0.10', { rsrc: '10.78.1.9' })),
      // 7 from outside to a Service DNAT'd to web-b: web-b by its reply source
      ...Array.from({ length: 7 }, () => alloc(t, '192.0.2.7', '10.96.0.20', { rsrc: '10.78.1.6' })),
      // 5 in db-0's own table on loopback: by namespace
      ...Array.from({ length: 5 }, () => alloc(t, '127.0.0.1', '127.0.0.1', { netns: DB_NS })),
      // 3 of the node's own
      ...Array.from({ length: 3 }, () => alloc(t, '192.0.2.1', '192.0.2.2')),
    ];
    m.ingest(batch(recs));
    const byPod = m.churn({ by: 'pod', window: 60, limit: 10 });
    expect(byPod.attribution).toBe('original source address, else reply source address, else network namespace');
    expect(byPod.error_bound).toBe(0);
    expect(byPod.total).toBe(38);
    const item = (key: string) => byPod.items.find((i) => i.key === key)!;
    expect(item('shop/web-7d9f8b6c5-aaaaa')).toMatchObject({ count: 23, via: { src: 23, reply_src: 0, netns: 0 }, k8s_namespace: 'shop', workload: 'shop/Deployment/web' });
    expect(item('shop/web-7d9f8b6c5-bbbbb')).toMatchObject({ count: 7, via: { src: 0, reply_src: 7, netns: 0 } });
    expect(item('data/db-0')).toMatchObject({ count: 5, via: { src: 0, reply_src: 0, netns: 5 }, workload: 'data/StatefulSet/db' });
    expect(item('(no pod)')).toMatchObject({ count: 3 });
    expect(byPod.items[0]!.key).toBe('shop/web-7d9f8b6c5-aaaaa');

    const byWorkload = m.churn({ by: 'workload', window: 60, limit: 10 });
    expect(byWorkload.items.map((i) => [i.key, i.count])).toEqual([
      ['shop/Deployment/web', 30],
      ['data/StatefulSet/db', 5],
      ['(no pod)', 3],
    ]);
    const byNs = m.topK({ by: 'k8s_namespace', window: 60, limit: 10 });
    expect(byNs.items.map((i) => [i.key, i.count])).toEqual([
      ['shop', 30],
      ['data', 5],
      ['(no pod)', 3],
    ]);
    // addresses that are pods' say so
    const bySrc = m.churn({ by: 'src', window: 60, limit: 10 });
    expect(bySrc.items.find((i) => i.key === '10.78.1.5')).toMatchObject({ count: 23, pod: 'shop/web-7d9f8b6c5-aaaaa' });
    expect(bySrc.items.find((i) => i.key === '192.0.2.7')!.pod).toBeUndefined();

    const occ = m.occupancy({ by: 'pod', limit: 10 });
    expect(occ.items.map((i) => [i.key, i.count])).toEqual([
      ['shop/web-7d9f8b6c5-aaaaa', 23],
      ['shop/web-7d9f8b6c5-bbbbb', 7],
      ['data/db-0', 5],
      ['(no pod)', 3],
    ]);
    expect(occ.items[0]!.states).toEqual([{ proto: 'tcp', state: 'ESTABLISHED', count: 23 }]);
    expect(m.occupancy({ by: 'workload', limit: 1 }).items).toMatchObject([{ key: 'shop/Deployment/web', count: 30 }]);
  });

  it('gives entries opened before their pod was known to it at the next poll (occupancy), counts drops by pod', () => {
    const m = new Model();
    m.syncPods([pods[2]!], 0);
    m.ingest(batch(Array.from({ length: 11 }, () => alloc(SEC, '10.78.1.5', '10.78.1.99', { proto: 17 }))));
    expect(m.occupancy({ by: 'pod', limit: 5 }).items).toMatchObject([{ key: '(no pod)', count: 11 }]);
    m.syncPods(pods, 2 * SEC);
    expect(m.occupancy({ by: 'pod', limit: 5 }).items).toMatchObject([{ key: 'shop/web-7d9f8b6c5-aaaaa', count: 11 }]);
    m.ingest(
      batch([
        ...Array.from({ length: 13 }, (_, i) => ({ kind: Kind.TABLE_FULL, ts: 3 * SEC, src: '10.78.1.6', dst: '10.78.1.1', rsrc: '10.78.1.1', sport: 1000 + i, dport: 9, proto: 17, netns: WEB_NS + 1 })),
        { kind: Kind.TABLE_FULL, ts: 3 * SEC, src: '192.0.2.1', dst: '192.0.2.2', rsrc: '192.0.2.2', sport: 1, dport: 9, proto: 17 },
      ]),
    );
    const drops = m.drops({ by: 'pod', window: 60, limit: 5 });
    expect(drops.items.map((i) => [i.key, i.count])).toEqual([
      ['shop/web-7d9f8b6c5-bbbbb', 13],
      ['(no pod)', 1],
    ]);
    expect(m.drops({ by: 'workload', window: 60, limit: 5 }).items[0]).toMatchObject({ key: 'shop/Deployment/web', count: 13 });
  });

  it('reports entries that point at a deleted pod, and destinations only unanswered UDP went to', () => {
    const m = new Model();
    m.syncPods(pods, 0);
    const t = 100 * SEC;
    m.ingest(
      batch([
        // 17 to db-0 through a Service, from web-a (replied: real traffic)
        ...Array.from({ length: 17 }, () => alloc(t, '10.78.1.5', '10.96.0.10', { rsrc: '10.78.1.9', dport: 5432, status: 2 })),
        // 4 straight to db-0's address from the node
        ...Array.from({ length: 4 }, () => alloc(t + 5 * SEC, '192.0.2.1', '10.78.1.9', { dport: 5432 })),
        // statsd: 3 UDP flows, never answered, from web-b
        ...Array.from({ length: 3 }, () => alloc(t, '10.78.1.6', '10.0.5.5', { proto: 17, dport: 8125 })),
        // DNS that is answered: not stale
        alloc(t, '10.78.1.6', '10.0.0.53', { proto: 17, dport: 53, status: 2 }),
      ]),
    );
    m.advance(t + 200 * SEC);
    // db-0 deleted while its entries live
    m.syncPods([pods[0]!, pods[1]!], t + 190 * SEC);
    const stale = m.stale({ unrepliedMinAgeS: 60 });
    expect(stale).toHaveLength(2);
    expect(stale[0]).toMatchObject({
      reason: 'deleted_pod',
      netns: NODE_NS,
      destination: '10.78.1.9',
      port: null,
      pod: 'data/db-0',
      pod_deleted_s_ago: 10,
      entries: 21,
      protocols: { tcp: 21 },
      sources: [
        { source: 'shop/web-7d9f8b6c5-aaaaa', entries: 17 },
        { source: '192.0.2.1', entries: 4 },
      ],
      oldest_s: 200,
      newest_s: 195,
    });
    expect(stale[1]).toMatchObject({ reason: 'unreplied_udp', destination: '10.0.5.5', port: 8125, entries: 3, sources: [{ source: 'shop/web-7d9f8b6c5-bbbbb', entries: 3 }], oldest_s: 200 });
    // younger than the threshold: not yet
    expect(m.stale({ unrepliedMinAgeS: 300 }).map((g) => g.reason)).toEqual(['deleted_pod']);
    // the address taken by a new pod: no longer a dead pod's
    m.syncPods([...pods.slice(0, 2), { ...pods[2]!, uid: 'u-db-2', name: 'db-1' }], t + 201 * SEC);
    expect(m.stale({ unrepliedMinAgeS: 60 }).map((g) => g.reason)).toEqual(['unreplied_udp']);
    // the eBPF lifecycle hooks alone see no reply arrive: nothing is called unanswered
    m.statesFollowed = false;
    expect(m.stale({ unrepliedMinAgeS: 60 })).toEqual([]);
  });
});
