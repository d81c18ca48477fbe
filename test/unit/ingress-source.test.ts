// IngressSource's bookkeeping against a fake IngressCounter: which interfaces
// it attaches to across namespaces, what it forgets, retries and reports, and
// how kernel totals become deltas. The real addon is covered by
// test/kernel/ingress.test.ts.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ArrivalsModel } from '../../src/model/arrivals.js';
import { IngressSource, type IngressCollected, type IngressCounterClass, type IngressCounterHandle, type IngressHook } from '../../src/sources/ingress.js';

interface FakeWorld {
  /** nsPath (null: own namespace) -> interfaces */
  ifaces: Map<string | null, Array<{ name: string; ifindex: number }>>;
  /** "ns/ifname" that refuse to attach */
  refuse: Set<string>;
  attachCalls: string[];
  detachCalls: number[];
  next: IngressCollected;
  closed: boolean;
}

function fakeClass(w: FakeWorld): IngressCounterClass {
  class Fake implements IngressCounterHandle {
    private id = 1;
    private live = new Map<number, { netns: string | null; ifname: string; ifindex: number; hook: 'tcx' | 'tc-clsact' }>();
    static listInterfaces(ns: string | null) {
      return w.ifaces.get(ns) ?? [];
    }
    static removeStaleFilters() {
      return 0;
    }
    attach(ns: string | null, ifname: string, hook: IngressHook) {
      const key = `${ns ?? ''}/${ifname}`;
      w.attachCalls.push(key);
      if (w.refuse.has(key)) throw Object.assign(new Error(`cannot attach the ingress counter to ${key}: Operation not permitted (EPERM)`), { code: 'EBPFATTACH' });
      const iface = (w.ifaces.get(ns) ?? []).find((i) => i.name === ifname)!;
      const id = this.id++;
      this.live.set(id, { netns: ns, ifname, ifindex: iface.ifindex, hook: hook === 'tc-clsact' ? 'tc-clsact' : 'tcx' });
      return { id, ifindex: iface.ifindex, hook: hook === 'tc-clsact' ? ('tc-clsact' as const) : ('tcx' as const), staleRemoved: ifname === 'stale0' ? 1 : 0 };
    }
    detach(id: number) {
      w.detachCalls.push(id);
      return this.live.delete(id);
    }
    attachments() {
      return [...this.live].map(([id, a]) => ({ id, ...a }));
    }
    async collect() {
      return w.next;
    }
    info() {
      return { variant: 'ct' as const, program: 'cts_ingress_ct', progId: 7, tcHandle: 0xc75c, tcPriority: 0xc75c, tcx: true, tcxProbeErrno: 19 };
    }
    close() {
      w.closed = true;
      return [];
    }
  }
  return Fake as unknown as IngressCounterClass;
}

const stats0 = { packets: 0, tcpSyn: 0, udpNew: 0, srcOverflow: 0, portOverflow: 0, pairOverflow: 0, ctErrors: 0, unparsed: 0 };

function world(): FakeWorld {
  return { ifaces: new Map(), refuse: new Set(), attachCalls: [], detachCalls: [], next: { src: [], ports: [], pairs: [], stats: stats0 }, closed: false };
}

let tmp: string | null = null;
afterEach(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  tmp = null;
});

function runNetns(names: string[]): string {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ctscope-netns-'));
  for (const n of names) fs.writeFileSync(path.join(tmp, n), '');
  return tmp;
}

describe('IngressSource', () => {
  it('attaches what the specs match, in its own namespace and named ones, and follows changes', async () => {
    const w = world();
    const dir = runNetns(['pod-a', 'pod-b', 'other']);
    w.ifaces.set(null, [
      { name: 'lo', ifindex: 1 },
      { name: 'eth0', ifindex: 2 },
      { name: 'veth1', ifindex: 5 },
    ]);
    w.ifaces.set(path.join(dir, 'pod-a'), [{ name: 'eth0', ifindex: 3 }]);
    w.ifaces.set(path.join(dir, 'pod-b'), [{ name: 'eth0', ifindex: 3 }]);
    w.ifaces.set(path.join(dir, 'other'), [{ name: 'eth0', ifindex: 3 }]);
    const s = new IngressSource({ specs: 'veth*,pod-*/eth0', arrivals: new ArrivalsModel(), counterClass: fakeClass(w), runNetnsDir: dir, hook: 'auto' });
    await s.start();
    const names = () => s.attachments().map((a) => `${a.nsName ?? ''}/${a.ifname}`).sort();
    expect(names()).toEqual(['/veth1', 'pod-a/eth0', 'pod-b/eth0']);
    expect(s.status()).toMatchObject({ name: 'ingress', state: 'running', hook: 'tcx', udp_new_by: 'conntrack lookup' });
    expect(s.status().detail).toMatch(/attached to veth1, pod-a\/eth0, pod-b\/eth0/);

    // a new veth appears, pod-b vanishes, veth1 comes back under a new ifindex
    w.ifaces.set(null, [
      { name: 'veth1', ifindex: 9 },
      { name: 'veth2', ifindex: 6 },
    ]);
    fs.rmSync(path.join(dir, 'pod-b'));
    w.attachCalls.length = 0;
    s.scan();
    expect(names()).toEqual(['/veth1', '/veth2', 'pod-a/eth0']);
    expect(s.attachments().find((a) => a.ifname === 'veth1')!.ifindex).toBe(9);
    expect(w.attachCalls.sort()).toEqual(['/veth1', '/veth2']);
    expect(w.detachCalls).toHaveLength(2); // old veth1 and pod-b/eth0

    await s.stop();
    expect(w.closed).toBe(true);
    expect(s.status().state).toBe('stopped');
  });

  it('reports attach failures, retries them later, and counts stale filters removed', async () => {
    const w = world();
    w.ifaces.set(null, [
      { name: 'eth0', ifindex: 2 },
      { name: 'stale0', ifindex: 3 },
    ]);
    w.refuse.add('/eth0');
    const s = new IngressSource({ specs: 'eth0,stale0', arrivals: new ArrivalsModel(), counterClass: fakeClass(w), hook: 'tc-clsact' });
    await s.start();
    const st = s.status();
    expect(st.state).toBe('degraded');
    expect(st.hook).toBe('tc-clsact');
    expect(st.stale_filters_removed).toBe(1);
    expect(st.detail).toMatch(/\/eth0: cannot attach .*EPERM/);
    // not retried at every scan
    s.scan();
    expect(w.attachCalls.filter((c) => c === '/eth0')).toHaveLength(1);
    // once it is gone, its failure is forgotten
    w.ifaces.set(null, [{ name: 'stale0', ifindex: 3 }]);
    s.scan();
    expect(s.attachFailures()).toEqual([]);
    expect(s.status().state).toBe('running');
    await s.stop();
  });

  it('turns the kernel totals into deltas for the arrivals model', async () => {
    const w = world();
    w.ifaces.set(null, [{ name: 'eth0', ifindex: 2 }]);
    const arrivals = new ArrivalsModel();
    const s = new IngressSource({ specs: 'eth0', arrivals, counterClass: fakeClass(w) });
    await s.start();
    const addr = new Uint8Array(16);
    addr.set([192, 0, 2, 1]);
    w.next = { src: [{ family: 2, addr, tcpSyn: 5, udpNew: 2 }], ports: [], pairs: [], stats: { ...stats0, tcpSyn: 5, udpNew: 2, srcOverflow: 1 } };
    await s.collectOnce();
    w.next = { src: [{ family: 2, addr, tcpSyn: 3, udpNew: 0 }], ports: [], pairs: [], stats: { ...stats0, tcpSyn: 8, udpNew: 2, srcOverflow: 1 } };
    await s.collectOnce();
    expect(arrivals.totals).toMatchObject({ tcpSyn: 8, udpNew: 2, srcOverflow: 1 });
    expect(arrivals.query({ by: 'src', window: 60, limit: 1 }).items).toMatchObject([{ key: '192.0.2.1', tcp_syn: 8, udp_new: 2 }]);
    expect(s.status()).toMatchObject({ records: 10, overflow: { src: 1, dport: 0, pair: 0 } });
    expect(s.status().detail).toMatch(/not attributed \(map full\): src 1/);
    await s.stop();
  });

  it('says when nothing matches yet', async () => {
    const w = world();
    const s = new IngressSource({ specs: 'eth9', arrivals: new ArrivalsModel(), counterClass: fakeClass(w) });
    await s.start();
    expect(s.status()).toMatchObject({ state: 'running', hook: null, detail: 'no interface matches eth9 yet' });
    await s.stop();
  });
});
