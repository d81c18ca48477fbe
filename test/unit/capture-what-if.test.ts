// What-if re-simulation over known lifetimes.
import { describe, expect, it } from 'vitest';
import { LifetimeCollector, parseWhatIf, simulate, WhatIfSpecError } from '../../src/capture/what-if.js';
import { encodeBatch, type RecordInit } from '../../src/records/encode.js';
import { decodeBatch } from '../../src/records/batch.js';
import { Cause, IPS, Kind } from '../../src/records/layout.js';

const S = 1e9;

/** n UDP entries, one allocated per second, each expiring `life` s later (kernel timeout `timeout`). */
function udpFlows(n: number, life: number, timeout: number, opts: { assured?: boolean; netns?: number } = {}): RecordInit[] {
  const rs: RecordInit[] = [];
  for (let i = 0; i < n; i++) {
    const status = IPS.CONFIRMED | (opts.assured ? IPS.ASSURED | IPS.SEEN_REPLY : 0);
    const base = { id: BigInt(i + 1), src: '10.0.0.1', dst: '10.0.0.2', sport: 1000 + i, dport: 53, proto: 17, netns: opts.netns ?? 7, status };
    rs.push({ ...base, kind: Kind.ALLOC, ts: (i + 1) * S, aux: timeout });
    rs.push({ ...base, kind: Kind.DESTROY, ts: (i + 1 + life) * S, cause: Cause.UNKNOWN });
  }
  return rs.sort((a, b) => a.ts! - b.ts!);
}

function collect(rs: RecordInit[]): LifetimeCollector {
  const c = new LifetimeCollector();
  c.ingest(decodeBatch(encodeBatch(rs)));
  return c;
}

describe('parseWhatIf', () => {
  it('accepts timeouts and max, with or without the sysctl prefix', () => {
    expect(parseWhatIf('tcp_timeout_time_wait=30,udp_timeout=10,max=65536')).toEqual({
      timeouts: { tcp_timeout_time_wait: 30, udp_timeout: 10 },
      max: 65536,
    });
    expect(parseWhatIf('net.netfilter.nf_conntrack_udp_timeout=5, nf_conntrack_max=9')).toEqual({ timeouts: { udp_timeout: 5 }, max: 9 });
  });
  it.each([
    ['', /empty/],
    ['udp_timeout', /not KEY=VALUE/],
    ['udp_timeot=3', /unknown key 'udp_timeot' \(did you mean udp_timeout/],
    ['udp_timeout=3s', /expected a whole number of seconds/],
    ['udp_timeout=-1', /expected a whole number/],
    ['max=0', /between 1 and/],
    ['udp_timeout=0', /between 1 and/],
    ['max=1,max=2', /twice/],
    ['udp_timeout=3,,max=2', /empty item/],
  ])('rejects %j', (spec, re) => {
    expect(() => parseWhatIf(spec)).toThrow(WhatIfSpecError);
    expect(() => parseWhatIf(spec)).toThrow(re);
  });
});

describe('simulate', () => {
  it('shorter timeouts shorten lifetimes: peak and mean follow', () => {
    // 20 entries, one per second, each living 30 s (= udp_timeout 30)
    const r = simulate(collect(udpFlows(20, 30, 30)), parseWhatIf('udp_timeout=10'));
    const ns = r.by_netns[0]!;
    expect(r.actual_timeouts.udp_timeout).toEqual({ seconds: 30, from: 'records' });
    expect(ns.entries).toBe(20);
    expect(ns.actual.peak).toBe(20);
    expect(ns.what_if.peak).toBe(10);
    // capture spans 1..50 s: actual area 20×30, what-if 20×10 entry-seconds
    expect(ns.actual.mean).toBeCloseTo((20 * 30) / 49, 6);
    expect(ns.what_if.mean).toBeCloseTo((20 * 10) / 49, 6);
  });

  it('a lower max evicts entries that never became assured', () => {
    const r = simulate(collect(udpFlows(20, 30, 30)), parseWhatIf('max=5'));
    const ns = r.by_netns[0]!;
    expect(ns.what_if.peak).toBe(5);
    expect(ns.what_if.evictions).toBe(15);
    expect(ns.what_if.drops).toBe(0);
    // 95 % of 5 = 4.75: at or above with 5 entries, from t=5 s until the last of them ends
    expect(ns.what_if.seconds_above!['95']).toBeGreaterThan(0);
  });

  it('a lower max drops allocations when every entry is assured', () => {
    const r = simulate(collect(udpFlows(20, 30, 30, { assured: true })), parseWhatIf('max=5'));
    const ns = r.by_netns[0]!;
    expect(ns.what_if.drops).toBe(15);
    expect(ns.what_if.evictions).toBe(0);
    expect(ns.what_if.peak).toBe(5);
  });

  it('table-full drops in the capture are avoided when the simulated table had room', () => {
    const rs = udpFlows(5, 30, 30, { assured: true });
    for (let i = 0; i < 7; i++) rs.push({ kind: Kind.TABLE_FULL, ts: (10 + i) * S, netns: 7, src: '10.0.0.9', dst: '10.0.0.2', proto: 17 });
    rs.sort((a, b) => a.ts! - b.ts!);
    const r = simulate(collect(rs), parseWhatIf('max=100'));
    const ns = r.by_netns[0]!;
    expect(ns.actual.drops).toBe(7);
    expect(ns.what_if.avoided_drops).toBe(7);
    const same = simulate(collect(rs), parseWhatIf('max=5')).by_netns[0]!;
    expect(same.what_if.avoided_drops).toBe(0);
  });

  it('entries deleted by userspace keep their end; open entries stay to the end', () => {
    const rs = udpFlows(4, 30, 30).map((r) => (r.kind === Kind.DESTROY ? { ...r, cause: Cause.USER } : r));
    rs.push({ kind: Kind.ALLOC, ts: 2 * S, id: 99n, proto: 17, src: '10.0.0.3', dst: '10.0.0.2', netns: 7, aux: 30 });
    rs.sort((a, b) => a.ts! - b.ts!);
    const r = simulate(collect(rs), parseWhatIf('udp_timeout=1'));
    expect(r.by_netns[0]!.what_if.peak).toBe(5);
    expect(r.notes.join()).toMatch(/no entry ended in a state whose timeout/);
  });
});
