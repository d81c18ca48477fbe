// The .ctcap writer and reader: round trip, rotation, partial files, damage.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CaptureWriter, segmentPath } from '../../src/capture/writer.js';
import { CaptureError, CaptureReader, type CaptureItem } from '../../src/capture/reader.js';
import { crc32, crc32Fallback, FRAME_HEADER_SIZE, PREAMBLE_SIZE } from '../../src/capture/format.js';
import { encodeBatch, type RecordInit } from '../../src/records/encode.js';
import { decodeBatch } from '../../src/records/batch.js';
import { Kind, RECORD_SIZE } from '../../src/records/layout.js';
import type { ProcSnapshot } from '../../src/proc/types.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ctcap-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
let seq = 0;
const tmp = (name = 'c') => path.join(dir, `${name}-${seq++}.ctcap`);

function records(n: number, t0 = 1e9): Uint8Array {
  const rs: RecordInit[] = [];
  for (let i = 0; i < n; i++) {
    rs.push({
      kind: i % 3 === 2 ? Kind.DESTROY : Kind.ALLOC,
      ts: t0 + i * 1000,
      id: BigInt(i + 1),
      src: i % 7 === 0 ? `fd00::${(i % 50).toString(16)}` : `10.0.${i % 256}.${(i >> 8) % 256}`,
      dst: i % 7 === 0 ? 'fd00::1' : '10.1.0.1',
      sport: 1024 + (i % 60000),
      dport: 53,
      proto: 17,
      aux: 30,
    });
  }
  return encodeBatch(rs);
}

const snap = (ts: number): ProcSnapshot => ({ ts, netns: 4026531840, count: 12, max: 262144, buckets: 65536, stats: { drop: 3, early_drop: 1 }, timeouts: { udp_timeout: 30 } });

function readAll(file: string): { items: CaptureItem[]; r: CaptureReader } {
  const r = CaptureReader.open(file);
  const items = [...r.items()];
  r.close();
  return { items, r };
}

function recordBytes(items: CaptureItem[]): Uint8Array {
  const parts = items.flatMap((it) => (it.type === 'records' ? [it.batch.bytes] : []));
  return Buffer.concat(parts);
}

describe('crc32', () => {
  it('matches the IEEE check value and the table fallback', () => {
    const v = new TextEncoder().encode('123456789');
    expect(crc32(v)).toBe(0xcbf43926);
    expect(crc32Fallback(v)).toBe(0xcbf43926);
    expect(crc32Fallback(v.subarray(4), crc32Fallback(v.subarray(0, 4)))).toBe(0xcbf43926);
  });
});

describe('capture round trip', () => {
  it('returns the same record bytes, proc snapshots in order, and a matching footer', () => {
    const f = tmp();
    const w = CaptureWriter.open(f, { flushRecords: 1000, flushMs: 0, sources: [{ name: 'netlink', hook: 'ctnetlink' }], bootBaseNs: 1.7e18 });
    const a = records(2503);
    w.ingestRaw(a.subarray(0, 1500 * RECORD_SIZE), 1500);
    w.writeProc(snap(2e9));
    w.ingest(decodeBatch(a.subarray(1500 * RECORD_SIZE)));
    w.close();
    const { items, r } = readAll(f);
    expect(r.header.sources).toEqual([{ name: 'netlink', hook: 'ctnetlink' }]);
    expect(r.header.boot_base_ns).toBe(1.7e18);
    expect(r.header.record.size).toBe(RECORD_SIZE);
    expect(Buffer.compare(recordBytes(items), Buffer.from(a))).toBe(0);
    // frames are in time order: 1000 + 500 records, then the snapshot, then the rest
    expect(items.map((i) => (i.type === 'records' ? i.batch.length : i.type))).toEqual([1000, 500, 'proc', 1000, 3]);
    expect(r.integrity.complete).toBe(true);
    expect(r.integrity.partial).toBe(false);
    expect(r.integrity.footer?.records).toBe(2503);
    expect(r.integrity.footer?.kinds[Kind.DESTROY]).toBe(834);
    expect(r.integrity.problems).toEqual([]);
    const p = items.find((i) => i.type === 'proc');
    expect(p?.type === 'proc' && p.snapshot).toEqual(snap(2e9));
  });

  it('rotates into numbered segments whose footers chain', () => {
    const f = tmp('rot');
    const w = CaptureWriter.open(f, { flushRecords: 100, flushMs: 0, rotateBytes: 50_000 });
    w.ingestRaw(records(1000));
    w.close();
    const files = w.stats().files;
    expect(files.length).toBeGreaterThan(2);
    expect(files[1]).toBe(segmentPath(f, 1));
    let total = 0;
    files.forEach((file, i) => {
      const { r } = readAll(file);
      expect(r.header.segment).toBe(i);
      total += r.integrity.records;
      expect(r.integrity.complete).toBe(true);
      expect(r.integrity.footer?.next).toBe(i < files.length - 1 ? path.basename(files[i + 1]!) : undefined);
    });
    expect(total).toBe(1000);
  });
});

describe('partial and damaged captures', () => {
  const good = tmp('good');
  const w = CaptureWriter.open(good, { flushRecords: 100, flushMs: 0 });
  w.ingestRaw(records(1000));
  w.close();
  const bytes = fs.readFileSync(good);
  const write = (b: Uint8Array) => {
    const f = tmp('bad');
    fs.writeFileSync(f, b);
    return f;
  };
  // offsets of the record frames
  const frameStarts: number[] = [];
  for (let p = PREAMBLE_SIZE; p < bytes.length; ) {
    frameStarts.push(p);
    p += FRAME_HEADER_SIZE + bytes.readUInt32LE(p + 4);
  }

  it('a file cut off mid-frame replays up to the last complete frame and says so', () => {
    const cut = frameStarts[5]! + 700;
    const { items, r } = readAll(write(bytes.subarray(0, cut)));
    expect(recordBytes(items).length).toBe(400 * RECORD_SIZE);
    expect(r.integrity.partial).toBe(true);
    expect(r.integrity.truncated).toBe(true);
    expect(r.integrity.problems[0]!.offset).toBe(frameStarts[5]);
    expect(r.integrity.problems[0]!.message).toMatch(/cut off mid-write/);
    expect(r.integrity.problems.some((p) => /no footer/.test(p.message))).toBe(true);
  });

  it('a file cut exactly at a frame boundary lacks only the footer', () => {
    const { r } = readAll(write(bytes.subarray(0, frameStarts[4])));
    expect(r.integrity.records).toBe(300);
    expect(r.integrity.partial).toBe(true);
    expect(r.integrity.truncated).toBe(false);
    expect(r.integrity.problems.map((p) => p.message).join()).toMatch(/no footer/);
  });

  it('a flipped bit in a payload skips that frame only', () => {
    const b = Buffer.from(bytes);
    b[frameStarts[3]! + FRAME_HEADER_SIZE + 500]! ^= 0x10;
    const { r } = readAll(write(b));
    expect(r.integrity.records).toBe(900);
    expect(r.integrity.damagedFrames).toBe(1);
    expect(r.integrity.partial).toBe(true);
    expect(r.integrity.problems[0]).toMatchObject({ offset: frameStarts[3], message: expect.stringMatching(/checksum mismatch/) });
  });

  it('an absurd length field is bounded and skipped', () => {
    const b = Buffer.from(bytes);
    b.writeUInt32LE(0xfffffff0, frameStarts[2]! + 4);
    const { r } = readAll(write(b));
    expect(r.integrity.records).toBe(900);
    expect(r.integrity.problems[0]!.message).toMatch(/over the 16.0 MiB bound/);
  });

  it('rejects what cannot be read at all with the offset', () => {
    const expectErr = (b: Uint8Array, re: RegExp, offset?: number) => {
      const f = write(b);
      let err: unknown;
      try {
        CaptureReader.open(f);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(CaptureError);
      expect((err as Error).message).toMatch(re);
      if (offset !== undefined) expect((err as CaptureError).offset).toBe(offset);
    };
    expectErr(new Uint8Array(0), /is empty/);
    expectErr(new TextEncoder().encode('hello world, not a capture'), /not a ctscope capture/, 0);
    const v = Buffer.from(bytes);
    v.writeUInt32LE(7, 8);
    expectErr(v, /format version 7, newer/, 8);
    expectErr(bytes.subarray(0, 10), /cut off inside its preamble/);
    expectErr(bytes.subarray(0, frameStarts[1]! - 5), /cut off inside its header frame/);
    const h = Buffer.from(bytes);
    h[PREAMBLE_SIZE + FRAME_HEADER_SIZE + 3]! ^= 1;
    expectErr(h, /checksum mismatch in the header frame at byte 12/, 12);
  });
});

describe('write errors', () => {
  it('a full disk stops the recording, reported by status(), never thrown at the sources', () => {
    const errors: string[] = [];
    const w = CaptureWriter.open('/dev/full', { flushMs: 0, flushRecords: 10, onError: (e) => errors.push(e.message) });
    expect(() => w.ingestRaw(records(100))).not.toThrow();
    expect(() => w.writeProc(snap(1))).not.toThrow();
    w.close();
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/writing \/dev\/full: ENOSPC/);
    expect(w.status()).toMatchObject({ name: 'recorder', state: 'failed' });
    expect(w.stats().error).toMatch(/ENOSPC/);
  });
});

describe('a recorder killed with SIGKILL', () => {
  // The writer runs in a child process (from dist/, which `npm test` builds
  // first) that is killed mid-recording, as a daemon under `kill -9` would be.
  const dist = path.resolve(__dirname, '../../dist/capture/writer.js');
  it('leaves a file that replays up to its last complete frame, flagged partial', async () => {
    expect(fs.existsSync(dist), `${dist} missing: run make -s ts`).toBe(true);
    const { spawn } = await import('node:child_process');
    const f = path.join(dir, 'killed.ctcap');
    const code = `
      const { CaptureWriter } = await import(${JSON.stringify(dist)});
      const { encodeBatch } = await import(${JSON.stringify(path.resolve(__dirname, '../../dist/records/encode.js'))});
      const w = CaptureWriter.open(${JSON.stringify(f)}, { flushRecords: 64, flushMs: 10 });
      let id = 1;
      setInterval(() => {
        const rs = [];
        for (let i = 0; i < 37; i++) rs.push({ kind: 2, ts: id * 1e6, id: BigInt(id++), src: '10.0.0.1', dst: '10.0.0.2', proto: 17 });
        w.ingestRaw(encodeBatch(rs));
        if (id > 300) process.stdout.write('going\\n');
      }, 1);`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
    await new Promise((r) => setTimeout(r, 200));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const r = CaptureReader.open(f);
    const items = [...r.items()];
    r.close();
    const n = items.reduce((a, it) => a + (it.type === 'records' ? it.batch.length : 0), 0);
    expect(n).toBeGreaterThan(300);
    expect(r.integrity.partial).toBe(true);
    expect(r.integrity.footer).toBeNull();
    expect(r.integrity.problems.some((p) => /no footer/.test(p.message))).toBe(true);
    // ids are 1..n without gaps: every complete frame, in order
    const ids = items.flatMap((it) => (it.type === 'records' ? Array.from(it.batch.id) : []));
    expect(ids[ids.length - 1]).toBe(BigInt(n));
  });
});
