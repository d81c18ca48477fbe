// The record-delay histogram: per record, fixed buckets, cumulative in /metrics.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { DelayHistogram, DelayTap, DELAY_LE_SECONDS, writeDelayMetrics } from '../../src/metrics/delay.js';
import { Exposition } from '../../src/metrics/exposition.js';
import { decodeBatch } from '../../src/records/batch.js';
import { encodeBatch } from '../../src/records/encode.js';
import { Kind } from '../../src/records/layout.js';
import type { RecordColumns } from '../../src/records/batch.js';

const MS = 1e6;
const batchAt = (...ts: number[]): RecordColumns => {
  const bytes = encodeBatch(ts.map((t) => ({ kind: Kind.DROP, ts: t })));
  return decodeBatch(bytes.buffer, ts.length);
};

describe('record delay', () => {
  it('counts each record in the first bucket that holds its delay; unstamped records stay out', () => {
    const h = new DelayHistogram();
    const now = 10_000 * MS;
    // delays 0.5 ms, 1 ms (on the bound), 3 ms, 15 ms, 7 s, and one record from the future
    h.observe(batchAt(now - 0.5 * MS, now - 1 * MS, now - 3 * MS, now - 15 * MS, now - 7000 * MS, now + 5 * MS, 0), now);
    expect(h.count).toBe(6);
    const at = (le: number) => h.buckets[DELAY_LE_SECONDS.indexOf(le as (typeof DELAY_LE_SECONDS)[number])];
    expect(at(0.001)).toBe(3); // 0.5 ms, 1 ms, and the future one as 0
    expect(at(0.005)).toBe(1);
    expect(at(0.015)).toBe(1);
    expect(h.buckets[DELAY_LE_SECONDS.length]).toBe(1); // +Inf: 7 s
    expect(h.sumNs).toBeCloseTo((0.5 + 1 + 3 + 15 + 7000) * MS, 0);
    expect(h.quantileBound(0.5)).toBe(0.001);
    expect(h.quantileBound(0.8)).toBe(0.015);
    expect(h.quantileBound(0.99)).toBe(Infinity);
    expect(new DelayHistogram().quantileBound(0.99)).toBeNull();
  });

  it('the tap hands every batch on unchanged', () => {
    const seen: RecordColumns[] = [];
    const tap = new DelayTap({ ingest: (b) => seen.push(b) }, () => 50 * MS);
    const b = batchAt(49 * MS, 48 * MS);
    tap.ingest(b);
    expect(seen).toEqual([b]);
    expect(tap.histogram.count).toBe(2);
  });

  it('renders a cumulative histogram per source that promtool accepts', () => {
    const h = new DelayHistogram();
    h.observe(batchAt(1 * MS, 2 * MS, 3 * MS), 4 * MS);
    const e = new Exposition();
    writeDelayMetrics(e, new Map([['drops', h]]));
    const text = e.text();
    expect(text).toMatch(/^ctscope_record_delay_seconds_bucket\{source="drops",le="0\.002"\} 2$/m);
    expect(text).toMatch(/^ctscope_record_delay_seconds_bucket\{source="drops",le="0\.005"\} 3$/m);
    expect(text).toMatch(/^ctscope_record_delay_seconds_bucket\{source="drops",le="\+Inf"\} 3$/m);
    expect(text).toMatch(/^ctscope_record_delay_seconds_count\{source="drops"\} 3$/m);
    const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(check.status, check.stdout + check.stderr).toBe(0);
  });
});
