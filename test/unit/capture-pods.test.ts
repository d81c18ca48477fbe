// The PODS frame: the node's pods travel with the records, in order, and every
// rotated segment starts with the whole map; a malformed one is skipped and
// reported like any damaged frame.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CaptureWriter } from '../../src/capture/writer.js';
import { CaptureReader, type CaptureItem } from '../../src/capture/reader.js';
import { FrameType, frameHeader, packr } from '../../src/capture/format.js';
import { parsePodsPayload } from '../../src/capture/pods-frame.js';
import { encodeBatch } from '../../src/records/encode.js';
import { Kind } from '../../src/records/layout.js';
import type { PodRecord } from '../../src/model/pod-map.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ctcap-pods-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const pod = (name: string, ip: string): PodRecord => ({
  uid: `uid-${name}`,
  name,
  namespace: 'shop',
  labels: { app: name },
  ips: [ip],
  netns: 4026532000,
  hostNetwork: false,
});

const batch = (n: number, t0: number) =>
  encodeBatch(Array.from({ length: n }, (_, i) => ({ kind: Kind.ALLOC, ts: t0 + i, id: BigInt(t0 + i), src: '10.78.1.5', dst: '10.0.0.1', sport: 1000 + i, dport: 53, proto: 17 })));

function items(file: string): { items: CaptureItem[]; problems: string[] } {
  const r = CaptureReader.open(file);
  const out = [...r.items()];
  r.close();
  return { items: out, problems: r.integrity.problems.map((p) => p.message) };
}

describe('PODS frames', () => {
  it('come back in file order between the records, as written', () => {
    const f = path.join(dir, 'order.ctcap');
    const w = CaptureWriter.open(f, { flushMs: 0, flushRecords: 1000 });
    w.ingestRaw(batch(10, 1e9));
    w.writePods(2e9, { upsert: [pod('a', '10.78.1.5'), pod('b', '10.78.1.6')], remove: [] });
    w.ingestRaw(batch(10, 3e9));
    w.writePods(4e9, { upsert: [], remove: ['uid-a'] });
    w.close();
    const { items: got, problems } = items(f);
    expect(problems).toEqual([]);
    expect(got.map((i) => i.type)).toEqual(['records', 'pods', 'records', 'pods']);
    const p = got.filter((i): i is Extract<CaptureItem, { type: 'pods' }> => i.type === 'pods').map((i) => i.pods);
    expect(p[0]).toEqual({ ts: 2e9, full: false, upsert: [pod('a', '10.78.1.5'), pod('b', '10.78.1.6')], remove: [] });
    expect(p[1]).toEqual({ ts: 4e9, full: false, upsert: [], remove: ['uid-a'] });
  });

  it('open every rotated segment with the whole map, so a segment replays on its own', () => {
    const f = path.join(dir, 'rot.ctcap');
    const w = CaptureWriter.open(f, { flushMs: 0, flushRecords: 20, rotateBytes: 6000 });
    w.writePods(1e9, { upsert: [pod('a', '10.78.1.5'), pod('b', '10.78.1.6')], remove: [] });
    w.writePods(1.5e9, { upsert: [], remove: ['uid-a'] });
    for (let i = 0; i < 10; i++) w.ingestRaw(batch(20, 2e9 + i * 100));
    w.close();
    const files = w.stats().files;
    expect(files.length).toBeGreaterThan(1);
    for (const file of files.slice(1)) {
      const first = items(file).items[0]!;
      expect(first.type).toBe('pods');
      expect(first.type === 'pods' && first.pods).toEqual({ ts: 1.5e9, full: true, upsert: [pod('b', '10.78.1.6')], remove: [] });
    }
  });

  it('a malformed one is skipped with its offset, the rest replays', () => {
    const f = path.join(dir, 'bad.ctcap');
    const w = CaptureWriter.open(f, { flushMs: 0, flushRecords: 1000 });
    w.ingestRaw(batch(5, 1e9));
    w.close();
    // a well-framed PODS frame whose content is wrong: an address that is not a string
    const payload = packr.pack({ ts: 1, full: false, upsert: [{ ...pod('x', '1.2.3.4'), ips: [42] }], remove: [] });
    const bytes = fs.readFileSync(f);
    // insert it right after the header frame
    const headerEnd = 12 + 12 + bytes.readUInt32LE(12 + 4);
    const frame = Buffer.concat([frameHeader(FrameType.PODS, payload), payload]);
    fs.writeFileSync(f, Buffer.concat([bytes.subarray(0, headerEnd), frame, bytes.subarray(headerEnd)]));
    const { items: got, problems } = items(f);
    expect(got.map((i) => i.type)).toEqual(['records']);
    expect(problems).toEqual([`pods frame at byte ${headerEnd} is malformed`]);
  });

  it.each([
    ['not an object', 42],
    ['no ts', { full: true, upsert: [], remove: [] }],
    ['a uid that is not a string', { ts: 1, full: true, upsert: [{ ...pod('a', '1.1.1.1'), uid: 7 }], remove: [] }],
    ['labels with a number', { ts: 1, full: true, upsert: [{ ...pod('a', '1.1.1.1'), labels: { a: 1 } }], remove: [] }],
    ['a removal that is not a uid', { ts: 1, full: false, upsert: [], remove: [null] }],
  ])('parsePodsPayload refuses %s', (_what, x) => {
    expect(parsePodsPayload(x)).toBeNull();
  });
});
