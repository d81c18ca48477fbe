// Property-based tests of the capture decoder and the text importer: whatever
// the bytes, they end in a clear error or a flagged partial replay of intact
// frames only, never a crash, a hang or unbounded memory.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { CaptureWriter } from '../../src/capture/writer.js';
import { CaptureError, CaptureReader } from '../../src/capture/reader.js';
import { ConntrackTextImporter } from '../../src/import/conntrack-text.js';
import { encodeBatch } from '../../src/records/encode.js';
import { Kind, RECORD_SIZE } from '../../src/records/layout.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ctfuzz-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
let seq = 0;

// a good capture: 6 record frames of 20 records with distinct ids
const recs = Array.from({ length: 120 }, (_, i) => ({ kind: Kind.ALLOC, ts: 1e9 + i * 1e6, id: BigInt(i + 1), src: '10.0.0.1', dst: '10.0.0.2', sport: i, dport: 53, proto: 17 }));
const goodFile = path.join(dir, 'good.ctcap');
{
  const w = CaptureWriter.open(goodFile, { flushRecords: 20, flushMs: 0 });
  w.ingestRaw(encodeBatch(recs));
  w.writeProc({ ts: 2e9, netns: 1, count: 1, max: 10, buckets: 8, stats: {}, timeouts: {} });
  w.close();
}
const good = fs.readFileSync(goodFile);

function readFile(bytes: Uint8Array): { ok: true; ids: bigint[]; partial: boolean; batches: number[] } | { ok: false; err: CaptureError } {
  const f = path.join(dir, `f${seq++}.ctcap`);
  fs.writeFileSync(f, bytes);
  try {
    let r: CaptureReader;
    try {
      r = CaptureReader.open(f);
    } catch (e) {
      if (e instanceof CaptureError) return { ok: false, err: e };
      throw e;
    }
    const ids: bigint[] = [];
    const batches: number[] = [];
    for (const it of r.items()) {
      if (it.type === 'records') {
        batches.push(it.batch.length);
        for (let i = 0; i < it.batch.length; i++) ids.push(it.batch.id[i]!);
      }
    }
    r.close();
    return { ok: true, ids, partial: r.integrity.partial, batches };
  } finally {
    fs.rmSync(f, { force: true });
  }
}

describe('capture decoder properties', () => {
  it('random bytes: a CaptureError naming an offset, or (with the magic) a flagged partial read', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 4096 }), fc.boolean(), (bytes, withPreamble) => {
        const b = withPreamble ? Buffer.concat([good.subarray(0, 12), bytes]) : bytes;
        const r = readFile(b);
        if (!r.ok) {
          expect(r.err.message.length).toBeGreaterThan(10);
          expect(r.err.offset).toBeGreaterThanOrEqual(0);
          expect(r.err.offset).toBeLessThanOrEqual(b.length);
        } else expect(r.partial).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('flipped bits, cuts and inserted junk never yield a record that was not written, in order', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ at: fc.nat({ max: good.length - 1 }), bit: fc.integer({ min: 0, max: 7 }) }), { maxLength: 4 }),
        fc.option(fc.nat({ max: good.length }), { nil: undefined }),
        fc.option(fc.record({ at: fc.nat({ max: good.length }), junk: fc.uint8Array({ minLength: 1, maxLength: 64 }) }), { nil: undefined }),
        (flips, cut, insert) => {
          let b = Buffer.from(good);
          for (const f of flips) b[f.at]! ^= 1 << f.bit;
          if (insert) b = Buffer.concat([b.subarray(0, insert.at), insert.junk, b.subarray(insert.at)]);
          if (cut !== undefined) b = b.subarray(0, cut);
          const r = readFile(b);
          const damaged = flips.length > 0 || cut !== undefined || insert !== undefined;
          if (!r.ok) {
            // only the preamble/header may be fatal
            expect(damaged).toBe(true);
            return;
          }
          // every batch is a whole written frame of 20, ids strictly increasing
          for (const n of r.batches) expect(n).toBe(20);
          for (let i = 1; i < r.ids.length; i++) expect(r.ids[i]! > r.ids[i - 1]!).toBe(true);
          for (const id of r.ids) expect(id >= 1n && id <= 120n).toBe(true);
          if (r.ids.length < 120) expect(r.partial).toBe(true);
        },
      ),
      { numRuns: 400 },
    );
  });

  it('an absurd length in every frame header stays bounded in time and memory', () => {
    const b = Buffer.from(good);
    for (let p = 12; p + 12 <= b.length; ) {
      const len = b.readUInt32LE(p + 4);
      b.writeUInt32LE(0xffffffff, p + 4);
      p += 12 + len;
    }
    const before = process.memoryUsage().rss;
    const t0 = Date.now();
    const r = readFile(b);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(process.memoryUsage().rss - before).toBeLessThan(64 * 1024 * 1024);
    expect(r.ok).toBe(false); // the header's length is absurd too
  });
});

describe('text importer properties', () => {
  const line = fc.oneof(
    fc.string({ maxLength: 200 }),
    fc.constantFrom(
      '[1795401539.634580]\t    [NEW] ipv4     2 udp      17 3 src=10.78.9.1 dst=10.78.9.2 sport=49657 dport=5300 [UNREPLIED] src=10.78.9.2 dst=10.78.9.1 sport=5300 dport=49657 id=358110238',
      '[1795401539.747632]\t[DESTROY] tcp      6 2 CLOSE src=10.78.9.3 dst=10.78.9.2 sport=34581 dport=8080 [UNREPLIED] src=10.78.9.2 dst=10.78.9.3 sport=8080 dport=34581 id=2796420137',
    ),
  );
  it('every line is counted exactly once: parsed, blank, notice or unparsed', () => {
    fc.assert(
      fc.property(fc.array(line, { maxLength: 50 }), (lines) => {
        let records = 0;
        const imp = new ConntrackTextImporter({ baseSec: 1795401000, tableTimeSec: 1795401000, batchRecords: 7, emit: (b, n) => (records += n, expect(b.length).toBe(n * RECORD_SIZE)) });
        for (const l of lines) imp.pushLine(l.replace(/\n/g, ' '));
        const s = imp.end();
        expect(s.lines).toBe(lines.length);
        expect(s.parsed + s.blank + s.notices.count + s.unparsed.count).toBe(lines.length);
        expect(records).toBe(s.parsed + s.lossWarnings);
        expect(s.unparsed.first_lines.length).toBeLessThanOrEqual(20);
      }),
      { numRuns: 300 },
    );
  });

  it('mutated real lines parse or are reported, never throw', () => {
    const base = '[1795401539.634580]\t    [NEW] ipv4     2 icmp     1 3 src=10.78.9.1 dst=10.78.9.2 type=8 code=0 id=8318 [UNREPLIED] src=10.78.9.2 dst=10.78.9.1 type=0 code=0 id=8318 id=860730388';
    fc.assert(
      fc.property(fc.array(fc.record({ at: fc.nat({ max: base.length - 1 }), ch: fc.string({ minLength: 1, maxLength: 1 }) }), { maxLength: 5 }), (muts) => {
        const a = base.split('');
        for (const m of muts) a[m.at] = m.ch;
        const imp = new ConntrackTextImporter({ baseSec: 1795401000, tableTimeSec: 1795401000, emit: () => {} });
        imp.pushLine(a.join('').replace(/\n/g, ' '));
        const s = imp.end();
        expect(s.parsed + s.unparsed.count + s.notices.count + s.blank).toBe(1);
        if (s.unparsed.count) expect(s.unparsed.first_lines[0]!.why.length).toBeGreaterThan(3);
      }),
      { numRuns: 500 },
    );
  });
});
