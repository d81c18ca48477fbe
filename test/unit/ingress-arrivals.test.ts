// The arrivals model, its advice, the --ingress spec parser and
// GET /v1/arrivals, with known inputs and a fake clock.
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { appOver } from '../helpers/app.js';
import { ArrivalsModel, type ArrivalDelta } from '../../src/model/arrivals.js';
import { arrivalsAdvice } from '../../src/advice/arrivals.js';
import { Model } from '../../src/model/model.js';
import { Kind } from '../../src/records/layout.js';
import type { RecordInit } from '../../src/records/encode.js';
import { parseIngressSpecs, globToRegExp } from '../../src/sources/ingress-spec.js';
import { UserError } from '../../src/errors.js';
import { createIngress } from '../../src/app/ingress-wiring.js';
import { batch, SEC } from './model-batch.js';

function v4(a: string): Uint8Array {
  const b = new Uint8Array(16);
  a.split('.').forEach((x, i) => (b[i] = Number(x)));
  return b;
}

function v6(groups: number[]): Uint8Array {
  const b = new Uint8Array(16);
  groups.forEach((g, i) => {
    b[i * 2] = g >> 8;
    b[i * 2 + 1] = g & 255;
  });
  return b;
}

/** A model holding, per source, n live TCP entries to 10.0.0.9:80 in one conntrack TCP state (1 SYN_SENT, 2 SYN_RECV, 3 ESTABLISHED). */
function modelWith(entries: Array<{ src: string; n: number; state: number }>): Model {
  const model = new Model();
  const recs: RecordInit[] = [];
  let id = 1n;
  let sport = 1000;
  for (const e of entries) for (let i = 0; i < e.n; i++) recs.push({ kind: Kind.ALLOC, id: id++, ts: 9 * SEC, start: 9 * SEC, src: e.src, dst: '10.0.0.9', sport: sport++, dport: 80, proto: 6, state: e.state });
  model.ingest(batch(recs));
  return model;
}

function delta(p: Partial<ArrivalDelta>): ArrivalDelta {
  return { src: [], ports: [], pairs: [], tcpSyn: 0, udpNew: 0, srcOverflow: 0, portOverflow: 0, pairOverflow: 0, ...p };
}

describe('ArrivalsModel', () => {
  it('ranks sources, ports and protocols over a window with exact totals', () => {
    let now = 100;
    const m = new ArrivalsModel({ now: () => now });
    m.add(
      delta({
        src: [
          { family: 2, addr: v4('10.0.0.1'), tcpSyn: 23, udpNew: 0 },
          { family: 2, addr: v4('10.0.0.2'), tcpSyn: 2, udpNew: 5 },
          { family: 10, addr: v6([0xfd77, 0, 0, 0, 0, 0, 0, 1]), tcpSyn: 0, udpNew: 3 },
        ],
        ports: [
          { proto: 6, port: 80, count: 25 },
          { proto: 17, port: 53, count: 8 },
        ],
        tcpSyn: 25,
        udpNew: 8,
      }),
    );
    now = 101.5;
    m.add(delta({ src: [{ family: 2, addr: v4('10.0.0.2'), tcpSyn: 0, udpNew: 11 }], ports: [{ proto: 17, port: 80, count: 11 }], udpNew: 11 }));

    const src = m.query({ by: 'src', window: 60, limit: 10 });
    expect(src).toMatchObject({ by: 'src', window: 60, total: 44, error_bound: 0 });
    expect(src.items.map((i) => [i.key, i.count, i.tcp_syn, i.udp_new])).toEqual([
      ['10.0.0.1', 23, 23, 0],
      ['10.0.0.2', 18, 2, 16],
      ['fd77::1', 3, 0, 3],
    ]);
    expect(src.items[0]!.rate).toBeCloseTo(23 / 60, 3);
    expect(src.items[0]!.share).toBeCloseTo(23 / 44, 3);

    // dport sums both protocols under the port, as the Model's dport does
    const dport = m.query({ by: 'dport', window: 60, limit: 10 });
    expect(dport.items.map((i) => [i.key, i.count, i.tcp_syn, i.udp_new])).toEqual([
      ['80', 36, 25, 11],
      ['53', 8, 0, 8],
    ]);
    const proto = m.query({ by: 'proto', window: 60, limit: 10 });
    expect(proto.items.map((i) => [i.key, i.count])).toEqual([
      ['udp', 19],
      ['tcp', 25],
    ].sort((a, b) => (b[1] as number) - (a[1] as number)));

    // a 1 s window sees only the current second
    expect(m.query({ by: 'src', window: 1, limit: 10 }).items.map((i) => [i.key, i.count])).toEqual([['10.0.0.2', 11]]);
  });

  it('slides the window and forgets history beyond historySeconds', () => {
    let now = 0;
    const m = new ArrivalsModel({ now: () => now, historySeconds: 10 });
    for (let t = 0; t < 20; t++) {
      now = t;
      m.add(delta({ src: [{ family: 2, addr: v4('192.0.2.7'), tcpSyn: 7, udpNew: 0 }], tcpSyn: 7 }));
    }
    expect(m.query({ by: 'src', window: 5, limit: 1 }).items[0]!.count).toBe(35);
    // window capped at the history
    const r = m.query({ by: 'src', window: 60, limit: 1 });
    expect(r.window).toBe(10);
    expect(r.items[0]!.count).toBe(70);
    expect(m.span).toBe(10);
    now = 100;
    expect(m.query({ by: 'src', window: 10, limit: 1 }).items).toEqual([]);
  });

  it('reports kernel map overflow and its own trims in error_bound', () => {
    let now = 0;
    const m = new ArrivalsModel({ now: () => now, keysPerSecond: 2 });
    m.add(
      delta({
        src: [
          { family: 2, addr: v4('10.0.0.1'), tcpSyn: 50, udpNew: 0 },
          { family: 2, addr: v4('10.0.0.2'), tcpSyn: 40, udpNew: 0 },
          { family: 2, addr: v4('10.0.0.3'), tcpSyn: 3, udpNew: 0 },
        ],
        tcpSyn: 100,
        srcOverflow: 7,
      }),
    );
    const r = m.query({ by: 'src', window: 10, limit: 10 });
    // total stays exact; 10.0.0.3 (3) was trimmed; 7 were never attributed
    expect(r.total).toBe(100);
    expect(r.items.map((i) => i.key)).toEqual(['10.0.0.1', '10.0.0.2']);
    expect(r.error_bound).toBe(3 + 7);
    expect(m.query({ by: 'proto', window: 10, limit: 10 }).error_bound).toBe(0);
    now = 1;
    expect(m.totals.srcOverflow).toBe(7);
  });

  it('merges two drains in the same second', () => {
    const m = new ArrivalsModel({ now: () => 5.2 });
    m.add(delta({ src: [{ family: 2, addr: v4('10.0.0.1'), tcpSyn: 1, udpNew: 0 }], tcpSyn: 1 }));
    m.add(delta({ src: [{ family: 2, addr: v4('10.0.0.1'), tcpSyn: 2, udpNew: 1 }], tcpSyn: 2, udpNew: 1 }));
    expect(m.query({ by: 'src', window: 1, limit: 5 }).items).toMatchObject([{ key: '10.0.0.1', count: 4, tcp_syn: 3, udp_new: 1 }]);
    expect(m.span).toBe(1);
  });

  it('counts distinct ports per source for scans, only within pairSeconds', () => {
    let now = 0;
    const m = new ArrivalsModel({ now: () => now, pairSeconds: 30 });
    const pairs = Array.from({ length: 131 }, (_, i) => ({ family: 2, addr: v4('198.51.100.9'), proto: 6, port: 1000 + i, count: 1 }));
    m.add(delta({ pairs, tcpSyn: 131 }));
    now = 1;
    m.add(delta({ pairs: [{ family: 2, addr: v4('198.51.100.9'), proto: 17, port: 1000, count: 2 }], udpNew: 2 }));
    const s = m.portsPerSource(60);
    expect(s[0]).toMatchObject({ src: '198.51.100.9', ports: 132, arrivals: 133 });
    now = 40;
    m.add(delta({}));
    expect(m.portsPerSource(60)).toEqual([]);
  });
});

describe('arrivalsAdvice', () => {
  it('flags a SYN flood whose SYNs became no established entries, with evidence', () => {
    let now = 0;
    const a = new ArrivalsModel({ now: () => now });
    for (let t = 0; t < 10; t++) {
      now = t;
      a.add(
        delta({
          src: [
            { family: 2, addr: v4('10.0.0.66'), tcpSyn: 500, udpNew: 0 },
            { family: 2, addr: v4('10.0.0.5'), tcpSyn: 30, udpNew: 0 },
          ],
          tcpSyn: 530,
        }),
      );
    }
    // the flood: half-open entries only; the normal client: 30 established
    const model = modelWith([
      { src: '10.0.0.66', n: 40, state: 2 },
      { src: '10.0.0.5', n: 30, state: 3 },
    ]);
    const adv = arrivalsAdvice(a, model, { window: 10 });
    expect(adv.map((x) => [x.id, (x.evidence as { source?: string }).source])).toEqual([['syn-flood', '10.0.0.66']]);
    expect(adv[0]!.evidence).toMatchObject({ syn_arrivals: 5000, established_entries: 0, half_open_entries: 40, admitted: 40 });
    expect(adv[0]!.level).toBe('action');
    // without the model it still warns, saying less
    const bare = arrivalsAdvice(a, undefined, { window: 10 });
    expect(bare.map((x) => [x.id, x.level])).toEqual([['syn-flood', 'warn']]);
  });

  it('with states as at confirmation (eBPF lifecycle hooks, no ctnetlink) a busy client is no flood: only five times the rate is', () => {
    let now = 0;
    const a = new ArrivalsModel({ now: () => now });
    for (let t = 0; t < 10; t++) {
      now = t;
      // a busy, healthy client: 30 connections a second; and a flood at 150 SYN/s
      a.add(delta({ src: [{ family: 2, addr: v4('10.0.0.5'), tcpSyn: 30, udpNew: 0 }, { family: 2, addr: v4('10.0.0.66'), tcpSyn: 150, udpNew: 0 }], tcpSyn: 180 }));
    }
    // The hooks confirm every TCP entry in SYN_SENT and see no change after: the client's established connections look half-open.
    const model = modelWith([
      { src: '10.0.0.5', n: 300, state: 1 },
      { src: '10.0.0.66', n: 300, state: 1 },
    ]);
    // read as facts, both would be floods (the bug this guards against)
    expect(arrivalsAdvice(a, model, { window: 10 }).map((x) => (x.evidence as { source?: string }).source)).toEqual(['10.0.0.66', '10.0.0.5']);
    model.statesFollowed = false;
    const adv = arrivalsAdvice(a, model, { window: 10 });
    expect(adv.map((x) => [x.id, (x.evidence as { source?: string }).source, x.level])).toEqual([['syn-flood', '10.0.0.66', 'warn']]);
    expect(adv[0]!.evidence).toMatchObject({ states_followed: false, admitted: 300 });
    expect(adv[0]!.evidence).not.toHaveProperty('established_entries');
    expect(adv[0]!.detail).toContain('not known here');
  });

  it('stays quiet for busy but healthy sources and flags a port scan', () => {
    let now = 0;
    const a = new ArrivalsModel({ now: () => now });
    a.add(delta({ src: [{ family: 2, addr: v4('10.0.0.5'), tcpSyn: 50, udpNew: 0 }], tcpSyn: 50 }));
    expect(arrivalsAdvice(a)).toEqual([]);
    const pairs = Array.from({ length: 150 }, (_, i) => ({ family: 2, addr: v4('203.0.113.4'), proto: 6, port: i + 1, count: 1 }));
    now = 1;
    a.add(delta({ src: [{ family: 2, addr: v4('203.0.113.4'), tcpSyn: 150, udpNew: 0 }], pairs, tcpSyn: 150 }));
    const adv = arrivalsAdvice(a);
    expect(adv.map((x) => x.id)).toEqual(['port-scan']);
    expect(adv[0]!.evidence).toMatchObject({ source: '203.0.113.4', distinct_ports: 150 });
  });
});

describe('arrivalsAdvice: spoofed floods', () => {
  it('flags a SYN flood spread over many sources, with the unattributed count', () => {
    let now = 0;
    const a = new ArrivalsModel({ now: () => now });
    for (let t = 0; t < 10; t++) {
      now = t;
      // 1,000 sources of 3 SYNs each per second, plus 500 the kernel could not attribute
      const src = Array.from({ length: 1000 }, (_, i) => ({ family: 2, addr: v4(`10.${t}.${i >> 8}.${i & 255}`), tcpSyn: 3, udpNew: 0 }));
      a.add(delta({ src, tcpSyn: 3500, srcOverflow: 500 }));
    }
    const adv = arrivalsAdvice(a, undefined, { window: 10 });
    expect(adv.map((x) => [x.id, x.level])).toEqual([['syn-flood', 'warn']]);
    expect(adv[0]!.title).toMatch(/from many sources/);
    expect(adv[0]!.evidence).toMatchObject({ syn_arrivals: 35000, unattributed_arrivals: 5000 });
  });
});

describe('--ingress specs', () => {
  it.each([
    ['eth0', [[null, 'eth0', true], [null, 'eth01', false]]],
    ['veth*', [[null, 'veth1a2b', true], [null, 'eth0', false]]],
    ['lab-s/lab1', [['lab-s', 'lab1', true], ['lab-c', 'lab1', false]]],
    ['cni-*/eth[01]', [['cni-123', 'eth1', true], ['cni-123', 'eth2', false]]],
  ] as const)('%s', (text, cases) => {
    const [spec] = parseIngressSpecs(text);
    for (const [ns, ifname, match] of cases) {
      const ok = (ns === null ? spec!.netns === null : spec!.netns?.test(ns) === true) && spec!.iface.test(ifname);
      expect(ok, `${ns}/${ifname}`).toBe(match);
    }
  });

  it('splits lists and rejects bad specs with a message', () => {
    expect(parseIngressSpecs('eth0, veth*').map((s) => s.text)).toEqual(['eth0', 'veth*']);
    for (const bad of ['', 'eth0,', 'a/b/c', '../x/eth0', 'averyveryverylongname0', 'eth 0', 'ns/']) {
      expect(() => parseIngressSpecs(bad), bad).toThrow(UserError);
    }
    expect(() => parseIngressSpecs('eth[0')).toThrow(/unclosed/);
    expect(globToRegExp('a.b*').test('aXb')).toBe(false);
  });
});

describe('GET /v1/arrivals', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    const a = new ArrivalsModel({ now: () => 20 });
    a.add(
      delta({
        src: [
          { family: 2, addr: v4('10.0.0.66'), tcpSyn: 97, udpNew: 0 },
          { family: 2, addr: v4('10.0.0.5'), tcpSyn: 13, udpNew: 0 },
        ],
        ports: [{ proto: 6, port: 80, count: 110 }],
        tcpSyn: 110,
      }),
    );
    const model = new Model();
    const recs: RecordInit[] = [];
    let id = 1n;
    for (let i = 0; i < 97; i++) recs.push({ kind: Kind.ALLOC, id: id++, ts: 20 * SEC, start: 20 * SEC, src: '10.0.0.66', dst: '10.0.0.9', sport: 1000 + i, dport: 80, proto: 6, state: 2 });
    for (let i = 0; i < 11; i++) recs.push({ kind: Kind.TABLE_FULL, ts: 20 * SEC, src: '10.0.0.66', dst: '10.0.0.9', sport: 5000 + i, dport: 80, proto: 6 });
    for (let i = 0; i < 13; i++) recs.push({ kind: Kind.ALLOC, id: id++, ts: 20 * SEC, start: 20 * SEC, src: '10.0.0.5', dst: '10.0.0.9', sport: 2000 + i, dport: 80, proto: 6, state: 3 });
    model.ingest(batch(recs));
    app = await appOver(model, { arrivals: a });
  });
  afterAll(async () => app.close());

  it('answers in the top-k shape with admitted and dropped per source', async () => {
    const r = await app.inject('/v1/arrivals?by=src&window=60&limit=5');
    expect(r.statusCode).toBe(200);
    const body = r.json();
    expect(body).toMatchObject({ by: 'src', window: 60, total: 110, error_bound: 0 });
    expect(body.items).toMatchObject([
      { key: '10.0.0.66', count: 97, tcp_syn: 97, udp_new: 0, admitted: 97, dropped: 11 },
      { key: '10.0.0.5', count: 13, admitted: 13, dropped: 0 },
    ]);
    const d = (await app.inject('/v1/arrivals?by=dport')).json();
    expect(d.items).toMatchObject([{ key: '80', count: 110, admitted: 110 }]);
    const p = (await app.inject('/v1/arrivals?by=proto&limit=1')).json();
    expect(p.items).toMatchObject([{ key: 'tcp', count: 110 }]);
  });

  it.each([
    ['by=dst', /by/],
    ['window=0', /window/],
    ['window=901', /window/],
    ['limit=1001', /limit/],
    ['windwo=60', /windwo/],
  ])('400 for %s', async (qs, msg) => {
    const r = await app.inject(`/v1/arrivals?${qs}`);
    expect(r.statusCode).toBe(400);
    expect(r.json().message).toMatch(msg);
  });
});

describe('createIngress (daemon wiring)', () => {
  it('rejects a bad hook or spec as a user error', () => {
    expect(() => createIngress({ spec: 'eth0', hook: 'xdp' })).toThrow(/--ingress-hook must be one of auto, tcx, tc-clsact/);
    expect(() => createIngress({ spec: 'eth0', hook: 'xdp' })).toThrow(UserError);
    expect(() => createIngress({ spec: 'a/b/c' })).toThrow(UserError);
  });

  it('exposes bounded metrics that pass promtool', () => {
    const w = createIngress({ spec: 'veth*' });
    w.arrivals.add(delta({ src: [{ family: 2, addr: v4('10.0.0.1'), tcpSyn: 5, udpNew: 0 }], tcpSyn: 5, udpNew: 2, srcOverflow: 1 }));
    const text = w.metrics();
    expect(text).toContain('ctscope_ingress_arrivals_total{proto="tcp"} 5');
    expect(text).toContain('ctscope_ingress_unattributed_arrivals_total{map="src"} 1');
    const p = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(p.error, 'promtool is installed by scripts/setup.sh --test').toBeUndefined();
    expect(p.stdout + p.stderr).toBe('');
    expect(p.status).toBe(0);
  });
});
