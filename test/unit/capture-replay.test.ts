// ctscope replay end to end: golden conntrack text and .ctcap files through
// the model to the report; damaged inputs to clear errors or flagged partials.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { replayCommand } from '../../src/cli/commands/replay.js';
import type { ReplayReport } from '../../src/capture/report.js';
import { CaptureWriter } from '../../src/capture/writer.js';
import { readConntrackText } from '../../src/import/conntrack-text.js';
import { encodeBatch, type RecordInit } from '../../src/records/encode.js';
import { IPS, Kind } from '../../src/records/layout.js';
import type { ProcSnapshot } from '../../src/proc/types.js';

const FX = path.resolve(__dirname, '../fixtures');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ctreplay-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await replayCommand(args, { out: (s) => (out += s), err: (s) => (err += s) });
  return { code, out, err };
}

async function report(args: string[]): Promise<ReplayReport> {
  const r = await run([...args, '--report', 'json', '--limit', '50']);
  expect(r.code, r.err).toBe(0);
  return JSON.parse(r.out) as ReplayReport;
}

function linesWith(file: string, tag: string): string[] {
  return fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.includes(tag));
}

describe('replay of real conntrack -E captures', () => {
  for (const name of ['plain-ts-id-ext.txt', 'plain-ts-id.txt', 'acct-ts-id-ext.txt', 'acct-ts-id.txt']) {
    it(`${name}: per-source NEW and total DESTROY equal the file's lines`, async () => {
      const file = path.join(FX, 'conntrack', name);
      const r = await report([file]);
      const news = linesWith(file, '[NEW]');
      const bySrc = new Map<string, number>();
      for (const l of news) {
        const s = /src=(\S+)/.exec(l)![1]!;
        bySrc.set(s, (bySrc.get(s) ?? 0) + 1);
      }
      expect(new Map(r.churn.src.map((i) => [i.key, i.count]))).toEqual(bySrc);
      expect(r.churn.error_bound.src).toBe(0);
      expect(r.records.alloc).toBe(news.length);
      expect(r.records.destroy).toBe(linesWith(file, '[DESTROY]').length);
      expect(r.records.update).toBe(linesWith(file, '[UPDATE]').length);
      // every entry was destroyed within the capture
      expect(r.occupancy.tracked_at_end).toBe(0);
      expect(r.unparsed).toEqual({ count: 0, first_lines: [] });
      expect(r.partial.partial).toBe(false);
      expect(r.notices?.count).toBe(1);
      expect(r.churn.dport.find((d) => d.key === '5300')?.count).toBe(23 + 11 + 7 + 5);
      const life = r.lifetimes as { groups: Array<{ proto: string; count: number }> };
      expect(life.groups.reduce((a, g) => a + g.count, 0)).toBe(news.length);
    });
  }

  it('a table file given first is the table at start', async () => {
    const list = path.join(FX, 'conntrack', 'plain-list-ext-id.txt');
    const r = await report([list, path.join(FX, 'conntrack', 'plain-ts-id-ext.txt')]);
    expect(r.records.seen_at_start).toBe(linesWith(list, 'src=').length);
    expect(r.input.files).toHaveLength(2);
  });

  it('the text report names sources and counts', async () => {
    const r = await run([path.join(FX, 'conntrack', 'plain-ts-id-ext.txt')]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/Allocations by source/);
    expect(r.out).toMatch(/10\.78\.9\.1 +37/);
    // issue 12: conntrack -E text carries no refused packets and no kernel readings; the
    // report says what it cannot know rather than "Drops: 0"
    expect(r.out).not.toMatch(/^Drops: 0/m);
    expect(r.out).toMatch(/^Drops: unknown — this input cannot carry them/m);
    expect(r.out).toMatch(/^What conntrack text cannot carry \(unknown, not zero\):$/m);
    expect(r.out).toMatch(/drops: conntrack -E prints no refused packets/);
    expect(r.out).toMatch(/the kernel's own figures \(count, max, per-CPU statistics\): no \/proc readings/);
    expect(r.out).toMatch(/events conntrack -E lost itself/);
  });

  it('--what-if re-simulates with the timeouts learnt from the records', async () => {
    const r = await report([path.join(FX, 'conntrack', 'plain-ts-id-ext.txt'), '--what-if', 'udp_timeout=1,max=10']);
    const w = r.what_if!;
    expect(w.actual_timeouts.udp_timeout).toEqual({ seconds: 3, from: 'records' });
    expect(w.by_netns[0]!.flows).toBe(77);
    expect(w.by_netns[0]!.what_if.peak).toBeLessThanOrEqual(10);
    // text carries no drops and no kernel readings: the report says so rather than "0"
    expect(r.cannot_carry.join('\n')).toMatch(/^drops: conntrack -E prints no refused packets/m);
    expect(w.notes.join('\n')).toMatch(/no drop records/);
  });
});

describe('replay of .ctcap captures', () => {
  // issue 12: "the replay's table-near-full evidence pairs a peak count from one
  // moment with a limit from another". Readings: 900 of 1,000 (90 %), then the
  // limit raised and the count at its highest, 1,200 of 2,000 (60 %). The peak
  // is the reading of highest utilization, its count and max together.
  it('pairs a table peak count with the limit of the same reading, in the report and the advice', async () => {
    const f = path.join(dir, 'peak.ctcap');
    const NS = 4026532999;
    const w = CaptureWriter.open(f, { flushMs: 0, flushRecords: 100, bootBaseNs: 0, sources: [{ name: 'netlink', hook: 'ctnetlink' }] });
    const snap = (s: number, count: number, max: number): ProcSnapshot => ({ ts: s * 1e9, netns: NS, count, max, buckets: 1024, stats: { drop: 0, early_drop: 0, insert_failed: 0 }, timeouts: { udp_timeout: 30 }, name: 'labpeak' });
    const recs: RecordInit[] = [];
    for (let i = 0; i < 40; i++) recs.push({ kind: Kind.ALLOC, ts: 1e9 + i * 1e7, start: 1e9 + i * 1e7, id: BigInt(i + 1), src: '10.44.0.1', dst: '10.44.0.2', sport: 2000 + i, dport: 53, proto: 17, netns: NS, status: IPS.CONFIRMED });
    w.ingestRaw(encodeBatch(recs.slice(0, 20)), 20);
    w.writeProc(snap(1, 900, 1000));
    w.writeProc(snap(1.2, 600, 1000));
    w.ingestRaw(encodeBatch(recs.slice(20)), 20);
    w.writeProc(snap(2, 950, 2000));
    w.writeProc(snap(3, 1200, 2000));
    w.writeProc(snap(3.5, 1000, 2000));
    w.close();
    const r = await report([f]);
    const k = r.occupancy.kernel.find((t) => t.netns === NS)!;
    expect(k).toMatchObject({ peak_count: 900, peak_max: 1000, peak_utilization: 0.9, last_count: 1000, max: 2000 });
    const full = r.advice.find((a) => a.id === 'table-full' && a.netns === NS);
    expect(full, JSON.stringify(r.advice.map((a) => a.id))).toBeDefined();
    expect((full!.evidence as { peak: unknown }).peak).toEqual({ count: 900, max: 1000, utilization: 0.9, at_s: 1 });
    expect(full!.title).toMatch(/reached 90 % of nf_conntrack_max \(900 of 1,000\)/);
    const size = r.advice.find((a) => a.id === 'table-size');
    expect(size?.evidence).toMatchObject({ peak_count: 900, peak_max: 1000 });
    const text = await run([f, '--report', 'text']);
    expect(text.out).toMatch(/peak 900 of 1000 \(90\.0 %\)/);
    expect(text.out).not.toMatch(/peak 1200 of/);
  });

  it('replays a capture written from imported records to the same counts', async () => {
    const src = path.join(FX, 'conntrack', 'acct-ts-id-ext.txt');
    const f = path.join(dir, 'from-text.ctcap');
    const w = CaptureWriter.open(f, { flushMs: 0, flushRecords: 50, bootBaseNs: 0 });
    const gen = readConntrackText(src);
    for (let r = gen.next(); !r.done; r = gen.next()) w.ingest(r.value);
    w.close();
    const a = await report([src]);
    const b = await report([f]);
    expect(b.records).toEqual(a.records);
    expect(b.churn.src).toEqual(a.churn.src);
    expect(b.input.format).toBe('ctcap');
    expect(b.partial.partial).toBe(false);
  });

  it('follows rotated segments', async () => {
    const src = path.join(FX, 'conntrack', 'plain-ts-id-ext.txt');
    const f = path.join(dir, 'rot.ctcap');
    const w = CaptureWriter.open(f, { flushMs: 0, flushRecords: 20, rotateBytes: 6000, bootBaseNs: 0 });
    const gen = readConntrackText(src);
    for (let r = gen.next(); !r.done; r = gen.next()) w.ingest(r.value);
    w.close();
    expect(w.stats().files.length).toBeGreaterThan(2);
    const r = await report([f]);
    expect(r.input.files).toEqual(w.stats().files);
    expect(r.records.alloc).toBe(77);
    fs.rmSync(w.stats().files[2]!);
    const cut = await report([f]);
    expect(cut.partial.partial).toBe(true);
    expect(cut.partial.detail).toMatch(/is missing/);
  });
});

describe('damaged inputs (test/fixtures/damaged, from make.mjs)', () => {
  const expected = JSON.parse(fs.readFileSync(path.join(FX, 'damaged', 'expected.json'), 'utf8')) as Record<
    string,
    { exit: number; error?: string; partial?: boolean; records?: number; problem?: string }
  >;
  for (const [name, e] of Object.entries(expected)) {
    it(`${name}: ${e.error ? `fails: ${e.error}` : e.partial ? `partial, ${e.records} records` : 'complete'}`, async () => {
      const r = await run([path.join(FX, 'damaged', name), '--report', 'json']);
      expect(r.code).toBe(e.exit);
      expect(r.err).not.toMatch(/\n\s+at /); // no stack trace
      if (e.error) {
        expect(r.err).toContain(e.error);
        expect(r.out).toBe('');
        return;
      }
      const rep = JSON.parse(r.out) as ReplayReport;
      expect(rep.records.total).toBe(e.records);
      expect(rep.partial.partial).toBe(e.partial);
      if (e.problem) expect(rep.partial.problems.map((p) => p.message).join('\n')).toContain(e.problem);
      if (e.partial) expect(r.err).toMatch(/warning: partial input/);
    });
  }
});

describe('usage errors', () => {
  it.each([
    [[], /needs a FILE/],
    [['x', '--report', 'xml'], /--report expects json or text/],
    [['x', '--speed', 'fast'], /--speed expects/],
    [['x', '--what-if', 'udp_timeout=abc'], /expected a whole number/],
    [['x', '--listen', '1.2.3.4:80'], /only makes sense with --serve/],
    [['x', '--bogus'], /Unknown option/],
  ])('%j', async (args, re) => {
    const r = await run(args as string[]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(re);
  });
  it('a missing file is a clear error', async () => {
    const r = await run([path.join(dir, 'nope.ctcap')]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/cannot open .*nope\.ctcap: no such file/);
  });
});

describe('captures longer than the model history', () => {
  it('count churn over the whole capture (whole-capture summaries), not the last window', async () => {
    const { encodeBatch } = await import('../../src/records/encode.js');
    const { Kind } = await import('../../src/records/layout.js');
    const { openReplay } = await import('../../src/capture/replay.js');
    const f = path.join(dir, 'long.ctcap');
    const w = CaptureWriter.open(f, { flushMs: 0, flushRecords: 100, bootBaseNs: 0 });
    // 2,000 s: 10.1.0.1 allocates early only, 10.1.0.2 throughout
    const rs = [];
    let id = 1;
    for (let t = 0; t < 2000; t += 10) {
      if (t < 500) rs.push({ kind: Kind.ALLOC, ts: (t + 1) * 1e9, id: BigInt(id++), src: '10.1.0.1', dst: '10.9.9.9', dport: 53, proto: 17 });
      rs.push({ kind: Kind.ALLOC, ts: (t + 2) * 1e9, id: BigInt(id++), src: '10.1.0.2', dst: '10.9.9.9', dport: 53, proto: 17 });
    }
    w.ingestRaw(encodeBatch(rs));
    w.close();
    expect(openReplay([f]).spanSeconds()).toBeCloseTo(1991, 0);
    const r = await report([f]);
    expect(r.churn.window_s).toBeCloseTo(1991, 0);
    expect(r.churn.src.map((i) => [i.key, i.count])).toEqual([
      ['10.1.0.2', 200],
      ['10.1.0.1', 50],
    ]);
  });

  it('know the span of text input from its last line', async () => {
    const { openReplay } = await import('../../src/capture/replay.js');
    const file = path.join(FX, 'conntrack', 'plain-ts-id.txt');
    const lines = linesWith(file, '[');
    const first = Number(/^\[(\d+)/.exec(lines[0]!)![1]);
    const last = Number(/^\[(\d+)/.exec(lines[lines.length - 1]!)![1]);
    const span = openReplay([file]).spanSeconds()!;
    expect(span).toBeGreaterThanOrEqual(last - first);
    expect(span).toBeLessThanOrEqual(last - first + 2);
  });
});

describe('--speed', () => {
  it('paces the replay on the capture clock', async () => {
    const { openReplay, runReplay } = await import('../../src/capture/replay.js');
    const file = path.join(FX, 'conntrack', 'plain-ts-id-ext.txt');
    const input = openReplay([file]);
    const span = input.spanSeconds()!;
    let last = 0;
    let deliveries = 0;
    const t0 = Date.now();
    const p = await runReplay(input, [{ ingest: () => void deliveries++, advance: (ns) => (last = ns) }], { speed: 50 });
    const wall = Date.now() - t0;
    const capture = (p.lastTs! - p.firstTs!) / 1e6;
    expect(capture).toBeGreaterThan(1000);
    expect(span * 1000).toBeGreaterThanOrEqual(capture);
    // at 50x the capture's milliseconds take a 50th of that: the last slice
    // (at most 20 ms of wall time wide) is due no earlier than that minus 20 ms
    expect(wall).toBeGreaterThanOrEqual(capture / 50 - 40);
    expect(wall).toBeLessThan(capture / 50 + 2000);
    expect(last).toBe(p.lastTs);
    // one 313-line batch from the file, delivered in slices as the clock reaches them
    expect(deliveries).toBeGreaterThanOrEqual(3);
  });
});

describe('conntrack -E without -o timestamp', () => {
  it('is replayed but flagged: times are unknown', async () => {
    const src = fs.readFileSync(path.join(FX, 'conntrack', 'plain-ts-id-ext.txt'), 'utf8');
    const f = path.join(dir, 'untimed.txt');
    fs.writeFileSync(f, src.replace(/^\[\d+\.\d+\]\t/gm, ''));
    const r = await run([f, '--report', 'json']);
    expect(r.code).toBe(0);
    const rep = JSON.parse(r.out) as ReplayReport;
    expect(rep.records.alloc).toBe(77);
    expect(rep.partial.partial).toBe(true);
    expect(rep.partial.detail).toMatch(/without -o timestamp/);
  });
});

describe("'-': conntrack text from a pipe", () => {
  it('is parsed as it arrives and ends when the pipe closes', async () => {
    const { Readable } = await import('node:stream');
    const { startReplay } = await import('../../src/app/serve-replay.js');
    const file = path.join(FX, 'conntrack', 'acct-ts-id-ext.txt');
    const text = fs.readFileSync(file);
    // odd-sized chunks split lines anywhere
    const chunks: Buffer[] = [];
    for (let i = 0; i < text.length; i += 777) chunks.push(text.subarray(i, i + 777));
    const s = await startReplay(['-'], { stdin: Readable.from(chunks) });
    const { summary, progress } = await s.feed.done;
    expect(summary.import?.events).toEqual({ new: 77, update: 158, destroy: 77 });
    expect(summary.import?.unparsed.count).toBe(0);
    expect(progress.records).toBe(77 + 158 + 77);
    expect(s.ctscope.model!.churn({ by: 'src', window: 900, limit: 1 }).items[0]).toMatchObject({ key: '10.78.9.1', count: 37 });
    expect(s.feed.input.bootBaseNs).toBeGreaterThan(1.7e18);
  });
  it('binary input on the pipe is refused clearly', async () => {
    const { Readable } = await import('node:stream');
    const { startReplay } = await import('../../src/app/serve-replay.js');
    const s = await startReplay(['-'], { stdin: Readable.from([Buffer.from([65, 0, 66])]) });
    await expect(s.feed.done).rejects.toThrow(/not conntrack text \(binary data at byte 1\)/);
  });
});
