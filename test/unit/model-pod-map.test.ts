import { describe, expect, it } from 'vitest';
import { NO_POD, PodMap, VIA, type PodRecord } from '../../src/model/pod-map.js';

// IPv4 keys as the model makes them (u32); IPv6 left out of these cases.
const v4 = (ip: string): number | null => {
  const p = ip.split('.').map(Number);
  return p.length === 4 ? ((p[0]! << 24) | (p[1]! << 16) | (p[2]! << 8) | p[3]!) >>> 0 : null;
};

const pod = (name: string, ip: string, netns: number, extra: Partial<PodRecord> = {}): PodRecord => ({
  uid: `uid-${name}`,
  name,
  namespace: 'shop',
  labels: {},
  ips: [ip],
  netns,
  hostNetwork: false,
  ...extra,
});

const NONE = -1;
const decode = (a: number) => ({ pod: Math.floor(a / 4), via: a % 4 });

describe('PodMap', () => {
  it('attributes by original source, then reply source, then network namespace, and says which', () => {
    const m = new PodMap({ addressKey: v4 });
    m.sync([pod('client-1', '10.1.0.5', 100), pod('server-1', '10.1.0.9', 200)], 0);
    const client = m.podOfAddress(v4('10.1.0.5')!)!.id;
    const server = m.podOfAddress(v4('10.1.0.9')!)!.id;
    // pod to pod: the opener wins
    expect(decode(m.attribute(v4('10.1.0.5')!, v4('10.1.0.9')!, 1))).toEqual({ pod: client, via: VIA.src });
    // outside client to the pod (e.g. DNAT'd from a Service): the reply source
    expect(decode(m.attribute(v4('192.0.2.1')!, v4('10.1.0.9')!, 1))).toEqual({ pod: server, via: VIA.reply_src });
    // neither address a pod's, but in the pod's own table (e.g. its loopback)
    expect(decode(m.attribute(v4('127.0.0.1')!, v4('127.0.0.1')!, 200))).toEqual({ pod: server, via: VIA.netns });
    expect(m.attribute(v4('192.0.2.1')!, NONE, 1)).toBe(0);
    expect(m.formatPod(client)).toBe('shop/client-1');
    expect(m.formatPod(0)).toBe(NO_POD);
  });

  it('gives host-network pods neither an address nor a namespace', () => {
    const m = new PodMap({ addressKey: v4 });
    m.sync([pod('kube-proxy-x7k2p', '192.0.2.2', 1, { hostNetwork: true })], 0);
    expect(m.attribute(v4('192.0.2.2')!, NONE, 1)).toBe(0);
    expect(m.liveCount).toBe(1);
  });

  it('remembers a deleted pod and its address until the address is reused or the pod expires', () => {
    const m = new PodMap({ addressKey: v4, retainNs: 100 });
    m.sync([pod('web-1', '10.1.0.5', 100)], 0);
    const id = m.podOfAddress(v4('10.1.0.5')!)!.id;
    const change = m.sync([], 10);
    expect(change).toEqual({ upsert: [], remove: ['uid-web-1'] });
    expect(m.podOfAddress(v4('10.1.0.5')!)).toBeUndefined();
    expect(m.attribute(v4('10.1.0.5')!, NONE, 100)).toBe(0);
    expect(m.gonePodOfAddress(v4('10.1.0.5')!)?.name).toBe('web-1');
    expect(m.get(id)?.goneNs).toBe(10);
    expect(m.formatPod(id)).toBe('shop/web-1'); // history still names it
    // a new pod takes the address: no longer a dead pod's
    m.sync([pod('web-2', '10.1.0.5', 101)], 20);
    expect(m.gonePodOfAddress(v4('10.1.0.5')!)).toBeUndefined();
    expect(m.podOfAddress(v4('10.1.0.5')!)?.name).toBe('web-2');
    // expiry
    m.sync([], 200);
    expect(m.goneCount).toBe(1); // web-2, gone at 200
    expect(m.get(id)).toBeUndefined();
  });

  it('counts namespaces and workloads by interned ids, Deployment pods under their Deployment', () => {
    const m = new PodMap({ addressKey: v4 });
    const labels = { 'pod-template-hash': '7d9f8b6c5' };
    m.sync(
      [
        pod('web-7d9f8b6c5-aaaaa', '10.1.0.5', 100, { labels }),
        pod('web-7d9f8b6c5-bbbbb', '10.1.0.6', 101, { labels }),
        pod('db-0', '10.1.0.7', 102, { namespace: 'data', labels: { 'statefulset.kubernetes.io/pod-name': 'db-0' } }),
      ],
      0,
    );
    const a = m.podOfAddress(v4('10.1.0.5')!)!;
    const b = m.podOfAddress(v4('10.1.0.6')!)!;
    const c = m.podOfAddress(v4('10.1.0.7')!)!;
    expect(a.workloadId).toBe(b.workloadId);
    expect(m.formatWorkload(a.workloadId)).toBe('shop/Deployment/web');
    expect(m.formatWorkload(c.workloadId)).toBe('data/StatefulSet/db');
    expect(m.formatNamespace(a.nsId)).toBe('shop');
    expect(m.formatNamespace(c.nsId)).toBe('data');
    expect(a.nsId).not.toBe(c.nsId);
  });

  it('reports an unchanged poll as no change, and a moved address as an update', () => {
    const m = new PodMap({ addressKey: v4 });
    m.sync([pod('a', '10.1.0.5', 100)], 0);
    const v = m.version;
    expect(m.sync([pod('a', '10.1.0.5', 100)], 1)).toEqual({ upsert: [], remove: [] });
    expect(m.version).toBe(v);
    const moved = m.sync([pod('a', '10.1.0.8', 100)], 2);
    expect(moved.upsert).toHaveLength(1);
    expect(m.podOfAddress(v4('10.1.0.5')!)).toBeUndefined();
    expect(m.podOfAddress(v4('10.1.0.8')!)?.name).toBe('a');
  });

  it('names pods known only from their cgroup by uid', () => {
    const m = new PodMap({ addressKey: v4 });
    m.sync([{ uid: '0b8f6c1e-1d2a-4c3b-9e8f-7a6b5c4d3e2f', name: '', namespace: '', labels: {}, ips: ['10.1.0.5'], netns: 5, hostNetwork: false }], 0);
    const e = m.podOfAddress(v4('10.1.0.5')!)!;
    expect(m.formatPod(e.id)).toBe('pod:0b8f6c1e-1d2a-4c3b-9e8f-7a6b5c4d3e2f');
    expect(m.formatNamespace(e.nsId)).toBe('?');
  });

  it('replays a recorded change into the same names and attribution', () => {
    const live = new PodMap({ addressKey: v4 });
    const replay = new PodMap({ addressKey: v4 });
    const same = () => {
      for (const ip of ['10.1.0.5', '10.1.0.6']) {
        const x = live.attribute(v4(ip)!, NONE, 0);
        const y = replay.attribute(v4(ip)!, NONE, 0);
        expect(replay.formatPod(Math.floor(y / 4))).toBe(live.formatPod(Math.floor(x / 4)));
      }
    };
    replay.apply(live.sync([pod('a', '10.1.0.5', 100), pod('b', '10.1.0.6', 101)], 0), 0);
    same();
    expect(replay.formatPod(Math.floor(replay.attribute(v4('10.1.0.5')!, NONE, 0) / 4))).toBe('shop/a');
    replay.apply(live.sync([pod('b', '10.1.0.6', 101)], 5), 5);
    same();
    expect(replay.gonePodOfAddress(v4('10.1.0.5')!)?.name).toBe('a');
  });
});
