// The advice engine (src/advice/) over a real Model and real table accounts
// fed a known incident: a quiet host table, a lab table that fills and drops,
// a DNS churn, insert failures and early drops in the kernel's counters.
// Every evidence number is checked against the query or counter it claims to
// come from; the kernel tests (test/kernel/incident.test.ts) check them
// against the kernel.

import { describe, expect, it } from 'vitest';
import { advise, RULES } from '../../src/advice/engine.js';
import { defaultEntryCost, readEntryCost, tableBytes } from '../../src/advice/entry-cost.js';
import { notrackCommands } from '../../src/advice/rules/notrack.js';
import type { AdviceInputs } from '../../src/advice/types.js';
import { modelRates } from '../../src/forecast/model-rates.js';
import { Model } from '../../src/model/model.js';
import { TableAccounts } from '../../src/proc/accounts.js';
import type { ProcSnapshot } from '../../src/proc/types.js';
import { Kind } from '../../src/records/layout.js';
import type { RecordInit } from '../../src/records/encode.js';
import { batch, SEC } from './model-batch.js';

const HOST = 4026531840;
const LAB = 4026532999;
const UDP = 17;

function incident() {
  const model = new Model({ hostNetns: HOST });
  const tables = new TableAccounts({ clock: () => model.nowNs, rates: modelRates(model), hostNetns: HOST });
  tables.addNamer((n) => (n === LAB ? { name: 'lab-s' } : undefined));
  let id = 1;
  const snap = (netns: number, t: number, count: number, stats: Record<string, number>): ProcSnapshot => ({
    ts: t * SEC,
    netns,
    count,
    max: 3000,
    buckets: 4096,
    stats: { found: 0, invalid: 0, insert: 0, ...stats },
    timeouts: { udp_timeout: 30, udp_timeout_stream: 120, tcp_timeout_time_wait: 120, icmp_timeout: 30, tcp_timeout_syn_sent: 120 },
  });
  let drop = 0;
  let early = 0;
  let insFail = 0;
  let count = 600;
  for (let t = 100; t < 160; t++) {
    const recs: RecordInit[] = [];
    // DNS: 80 queries a second from one client to port 53, each its own flow, ending after 30 s
    for (let i = 0; i < 80; i++) recs.push({ kind: Kind.ALLOC, ts: t * SEC + i * 1e7, start: t * SEC + i * 1e7, id: id++, src: '10.9.0.5', dst: '10.9.0.53', sport: 30000 + i, dport: 53, proto: UDP, netns: LAB });
    // from second 140 a flood of 300 flows a second, of which 200 a second are refused from second 150
    if (t >= 140) {
      for (let i = 0; i < 300; i++) {
        const dropped = t >= 150 && i < 200;
        recs.push({ kind: dropped ? Kind.DROP : Kind.ALLOC, ts: t * SEC + 5e6 + i * 3e6, start: t * SEC, id: id++, src: '10.9.0.66', dst: '10.9.0.2', sport: 1000 + i, dport: 9, proto: UDP, netns: LAB, aux: dropped ? 12 : 0 });
      }
      if (t >= 150) {
        drop += 200;
        early += 3;
      }
      count = Math.min(3000, count + 300);
    }
    if (t === 155) insFail += 7;
    recs.sort((a, b) => a.ts! - b.ts!);
    model.ingest(batch(recs));
    tables.ingest(snap(HOST, t + 0.5, 40, {}));
    tables.ingest(snap(LAB, t + 0.5, count, { drop, early_drop: early, insert_failed: insFail, clashres: 2 }));
  }
  model.advance(160.2 * SEC);
  return { model, tables, drop, early, insFail };
}

function inputs(x: ReturnType<typeof incident>): AdviceInputs {
  const window = Math.min(x.model.span(), x.model.opts.historySeconds);
  return { model: x.model, tables: x.tables.list(window), environment: { entry: defaultEntryCost(), memTotalBytes: 8 * 2 ** 30 }, window };
}

describe('advice engine', () => {
  it('leads with the drops, names the table and whose they are, the kernel count next to ours', () => {
    const x = incident();
    const r = advise(inputs(x));
    const first = r.advice[0]!;
    expect(first.id).toBe('drops');
    expect(first.level).toBe('critical');
    expect(first.netns).toBe(LAB);
    expect(first.title).toMatch(/^2,000 packets dropped: the conntrack table of lab-s \(netns 4026532999\) is full .* 10\.9\.0\.66 first \(2,000\)/);
    const e = first.evidence as Record<string, any>;
    // the kernel's counter over the window: its increase in the readings
    expect(e.kernel_drops).toBe(x.drop);
    // ours: what /v1/drops?by=netns says
    const ours = x.model.drops({ by: 'netns', window: r.window_s, limit: 10 }).items.find((i) => i.key === String(LAB))!.count;
    expect(e.ctscope_drops).toBe(ours);
    expect(ours).toBe(2000);
    expect(e.top_sources[0]).toEqual({ src: '10.9.0.66', drops: 2000 });
    expect(e.kernel_drops_per_s).toBeCloseTo(200, 0);
    expect(first.checks?.kernel_drops).toMatch(/\/proc\/net\/stat\/nf_conntrack/);
    expect(first.action).toMatch(/nf_conntrack_max/);
  });

  it('says the table is full with its forecast, pairs its peak of one moment, costs the fix from one entry size', () => {
    const x = incident();
    const r = advise(inputs(x));
    const full = r.advice.find((a) => a.id === 'table-full')!;
    expect(full.level).toBe('critical');
    expect(full.netns).toBe(LAB);
    expect(full.evidence).toMatchObject({ count: 3000, max: 3000, utilization: 1, level: 'critical', time_to_full_s: 0, forecast_basis: 'full' });
    expect((full.evidence as any).peak).toEqual({ count: 3000, max: 3000, utilization: 1, at_s: expect.any(Number) });
    const size = r.advice.find((a) => a.id === 'table-size')!;
    const ev = size.evidence as Record<string, number>;
    expect(ev.recommended_max).toBe(65536);
    expect(ev.entry_bytes).toBe(256);
    expect(ev.memory_recommended_bytes).toBe(tableBytes(defaultEntryCost(), 65536, 65536));
    expect(ev.memory_recommended_bytes).toBe(65536 * (256 + 8));
    expect(ev.memory_now_bytes).toBe(3000 * 256 + 4096 * 8);
    expect(size.action).toBe('sysctl -w net.netfilter.nf_conntrack_max=65536 net.netfilter.nf_conntrack_buckets=65536 (and the same in /etc/sysctl.d to keep it)');
    // the quiet host table has no item
    expect(r.advice.some((a) => a.netns === HOST)).toBe(false);
  });

  it('early drops and insert failures from the kernel counters; DNS named as the NOTRACK candidate with its nft rule', () => {
    const x = incident();
    const r = advise(inputs(x));
    const early = r.advice.find((a) => a.id === 'early-drops')!;
    expect(early.evidence).toMatchObject({ kernel_early_drops: x.early, netns: LAB });
    const ins = r.advice.find((a) => a.id === 'insert-failed')!;
    expect(ins.evidence).toMatchObject({ kernel_insert_failed: 7, clashres: 2 });
    expect(ins.title).toMatch(/DNS race/);
    const nt = r.advice.find((a) => a.id === 'notrack')!;
    const churn53 = x.model.churn({ by: 'dport', window: r.window_s, limit: 10 }).items.find((i) => i.key === '53')!;
    expect(nt.evidence).toMatchObject({ dport: 53, service: 'DNS', allocations: churn53.count, rate_per_s: churn53.rate, share_of_allocations: churn53.share });
    expect(churn53.count).toBe(80 * 60);
    expect(nt.action).toBe(notrackCommands(53));
    expect(nt.action).toContain('nft add rule inet ctscope_notrack pre udp dport 53 notrack');
  });

  it('orders by level, then by rule; every item has the interface shape', () => {
    const r = advise(inputs(incident()));
    const rank = { critical: 0, action: 1, warn: 2, info: 3 } as const;
    for (let i = 1; i < r.advice.length; i++) expect(rank[r.advice[i - 1]!.level]).toBeLessThanOrEqual(rank[r.advice[i]!.level]);
    for (const a of r.advice) {
      expect(Object.keys(a).sort()).toEqual(expect.arrayContaining(['action', 'detail', 'evidence', 'id', 'level', 'title']));
      expect(RULES.map((x) => x.id)).toContain(a.id);
      expect(a.title.length).toBeGreaterThan(10);
      expect(a.action.length).toBeGreaterThan(10);
    }
  });

  it('a quiet node gets no advice', () => {
    const model = new Model();
    const tables = new TableAccounts({ clock: () => model.nowNs, rates: modelRates(model) });
    for (let t = 1; t < 30; t++) tables.ingest({ ts: t * SEC, netns: HOST, count: 10, max: 262144, buckets: 262144, stats: { drop: 0, early_drop: 0, insert_failed: 0 }, timeouts: {} });
    model.advance(30 * SEC);
    expect(advise({ model, tables: tables.list(30), environment: { entry: defaultEntryCost(), memTotalBytes: 8 * 2 ** 30 }, window: 30 }).advice).toEqual([]);
  });

  it('reads the entry size from the slab where it can', () => {
    const c = readEntryCost();
    expect(['slabinfo', 'sysfs', 'default']).toContain(c.source);
    expect(c.bytes).toBeGreaterThan(100);
  });
});
