// A daemon that sampled under its CPU budget (--max-cpu) records when, in its
// capture's STATUS frames; a replay then follows the same entries as the live
// model did and its answers and report say they were sampled.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Ctscope } from '../../src/app/ctscope.js';
import type { Delivery, FeedStatus } from '../../src/app/feed.js';
import { startReplay } from '../../src/app/serve-replay.js';
import { encodeFrame, FrameType, packr } from '../../src/capture/format.js';
import { CaptureReader } from '../../src/capture/reader.js';
import { formatReportText } from '../../src/capture/report.js';
import { CaptureWriter } from '../../src/capture/writer.js';
import { Kind, Origin } from '../../src/records/layout.js';
import type { RecordInit } from '../../src/records/encode.js';
import { keptBySample } from '../../src/records/sample.js';
import { IdleFeed } from '../helpers/app.js';
import { batch, SEC } from './model-batch.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ctsampling-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const NETNS = 4026532001;
const entry = (kind: number, cta: number, ts: number, i: number): RecordInit => ({
  kind,
  origin: Origin.NETLINK,
  ts,
  netns: NETNS,
  id: (BigInt(NETNS) << 32n) | BigInt(cta),
  src: `10.7.0.${1 + (i % 5)}`,
  dst: '10.7.1.1',
  proto: 17,
  sport: 2000 + i,
  dport: 53,
});
// 401 entries (a prime: an off-by-one shows), ids as the kernel's CTA_ID hash would spread them
const ctaIds = Array.from({ length: 401 }, (_, i) => Math.imul(i + 11, 2654435761) >>> 0);

/**
 * A live side with a budget, as the kernel filter would deliver: every entry
 * opens; at 10 s the budget raises the sampling to 1 in 4, and only kept
 * entries are destroyed or open from then on; at 20 s it ends.
 */
class SamplingFeed extends IdleFeed {
  override async start(to: Delivery): Promise<void> {
    to.ingest(batch(ctaIds.map((c, i) => entry(Kind.ALLOC, c, 5 * SEC + i, i))));
    to.sampling(10 * SEC, 2);
    const kept = ctaIds.map((c, i) => [c, i] as const).filter(([c]) => keptBySample(c, 2));
    to.ingest(batch(kept.map(([c, i]) => entry(Kind.DESTROY, c, 12 * SEC + i, i))));
    const later = Array.from({ length: 200 }, (_, i) => Math.imul(i + 5000, 2654435761) >>> 0).filter((c) => keptBySample(c, 2));
    to.ingest(batch(later.map((c, i) => entry(Kind.ALLOC, c, 15 * SEC + i, i))));
    to.sampling(20 * SEC, 0);
    to.ingest(batch([entry(Kind.ALLOC, 7, 21 * SEC, 0)]));
  }
  override status(): FeedStatus {
    return {
      ...super.status(),
      mode: 'live',
      sources: [{ name: 'netlink', state: 'running', hook: 'ctnetlink', records: 0, lost: { total: 0 } }],
      sampling: { max_cpu: 0.5, one_in: 1, cpu: 0, sampled_seconds: 0, changes: 0, events: null, refused: null },
    };
  }
}

describe('sampling in a capture', () => {
  it('is recorded at each change, and a replay follows the same entries and says it sampled', async () => {
    const file = path.join(dir, 'sampled.ctcap');
    const live = await Ctscope.start({ feed: new SamplingFeed(), record: { file } });
    const lm = live.model!;
    const keptAt2 = ctaIds.filter((c) => keptBySample(c, 2)).length;
    expect(lm.sampling.sampledOut).toBe(401 - keptAt2);
    expect(lm.sampled(30)).toEqual({ one_in: 4, sampled_seconds: 10 });
    const liveFlows = lm.flows.count;
    const liveChurn = lm.churn({ by: 'src', window: 60, limit: 10 });
    await live.stop('test');

    // every STATUS frame says the sampling in force; the changes sit between the records they separate
    const items = [...CaptureReader.open(file).items()];
    const statuses = items.filter((i) => i.type === 'status');
    expect(statuses.every((s) => s.type === 'status' && s.samplingShift !== undefined)).toBe(true);
    const changes = statuses.filter((s, i) => s.type === 'status' && s.samplingShift !== (i === 0 ? -1 : (statuses[i - 1] as { samplingShift?: number }).samplingShift));
    // (both changed before the file opened: held with the records until it did)
    expect(changes.map((s) => s.type === 'status' && [s.ts, s.samplingShift])).toEqual([
      [10 * SEC, 2],
      [20 * SEC, 0],
    ]);
    const order = items.map((i) => (i.type === 'status' ? `s${i.samplingShift}` : i.type[0]));
    expect(order.join(' ')).toMatch(/r s2 r( r)? s0 r/);

    for (const helperThreads of [false, true]) {
      const r = await startReplay([file], { helperThreads, api: {} });
      const result = await r.feed.done;
      const m = r.ctscope.model!;
      expect(m.flows.count).toBe(liveFlows);
      expect(m.sampling.sampledOut).toBe(401 - keptAt2);
      expect(m.churn({ by: 'src', window: 60, limit: 10 }).items).toEqual(liveChurn.items);
      const churn = (await r.ctscope.app!.inject('/v1/churn?by=src&window=60')).json();
      expect(churn.sampling).toEqual({ one_in: 4, sampled_seconds: 10 });
      const report = r.feed.report(result, null);
      expect(report.sampling).toEqual({ one_in: 4, sampled_seconds: 10 });
      expect(formatReportText(report)).toMatch(/SAMPLED: .* for 10\.0 s .* 1 conntrack entry in 4/);
      await r.ctscope.stop();
    }
  });

  it('a capture without a budget says nothing of sampling, and a bad sampling value is a malformed frame', async () => {
    const file = path.join(dir, 'plain.ctcap');
    const w = CaptureWriter.open(file, { flushMs: 0 });
    w.ingest(batch([entry(Kind.ALLOC, 9, 5 * SEC, 0)]));
    w.writeStatus(6 * SEC, []);
    w.close();
    const r = await startReplay([file]);
    const report = r.feed.report(await r.feed.done, null);
    expect(report.sampling).toBeUndefined();
    expect(formatReportText(report)).not.toMatch(/SAMPLED/);
    expect(r.ctscope.model!.sampled(60)).toEqual({ one_in: 1, sampled_seconds: 0 });
    await r.ctscope.stop();

    // one_in 3 cannot be a sampling the filter keeps: the frame is reported and skipped, the rest read
    const bad = path.join(dir, 'bad.ctcap');
    const w2 = CaptureWriter.open(bad, { flushMs: 0 });
    w2.close();
    const whole = fs.readFileSync(bad);
    const footerAt = whole.lastIndexOf(Buffer.from([0xcf, 0x7a, FrameType.FOOTER]));
    const frame = encodeFrame(FrameType.STATUS, packr.pack({ ts: 1, sources: [], sampling: { one_in: 3 } }));
    fs.writeFileSync(bad, Buffer.concat([whole.subarray(0, footerAt), frame, whole.subarray(footerAt)]));
    const reader = CaptureReader.open(bad);
    expect([...reader.items()].filter((i) => i.type === 'status')).toEqual([]);
    expect(reader.integrity.problems.map((p) => p.message).join('\n')).toMatch(/status frame at byte \d+ is malformed \(sampling\.one_in is not a power of two\)/);
  });
});
