// The recorder's losses are counted (issue 17): after a write error (disk
// full) the recording stops, and every record handed to it that is not in
// the file — the frame that failed, what was buffered, everything after —
// is in status().lost, so /v1/status and ctscope_records_lost_total{source=
// "recorder"} say how much the capture misses. The same on a real tiny tmpfs
// with the daemon: test/kernel/daemon-failure.test.ts.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { CaptureReader } from '../../src/capture/reader.js';
import { CaptureWriter } from '../../src/capture/writer.js';
import { Exposition } from '../../src/metrics/exposition.js';
import { renderSourceMetrics } from '../../src/metrics/table-families.js';
import { encodeBatch } from '../../src/records/encode.js';
import { Kind } from '../../src/records/layout.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ctrecloss-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
afterEach(() => vi.restoreAllMocks());

const records = (n: number, from = 0) =>
  encodeBatch(Array.from({ length: n }, (_, i) => ({ kind: Kind.ALLOC, ts: 1e9 + (from + i) * 1e6, id: BigInt(from + i + 1), src: '10.0.0.1', dst: '10.0.0.2', sport: i & 0xffff, dport: 53, proto: 17 })));

function replayed(file: string): { records: number; partial: boolean } {
  const r = CaptureReader.open(file);
  let n = 0;
  for (const it of r.items()) if (it.type === 'records') n += it.batch.length;
  r.close();
  return { records: n, partial: r.integrity.partial };
}

describe('recorder losses', () => {
  it('a device that is full from the start (/dev/full): every record handed over is lost, and said so', () => {
    const w = CaptureWriter.open('/dev/full', { flushMs: 0, flushRecords: 64 });
    w.ingestRaw(records(101));
    w.writeProc({ ts: 2e9, netns: 1, count: 1, max: 10, buckets: 8, stats: {}, timeouts: {} });
    w.ingestRaw(records(23, 101));
    const st = w.status();
    expect(st.state).toBe('failed');
    expect(st.detail).toMatch(/recording stopped: writing \/dev\/full: .*ENOSPC/);
    expect(st.records).toBe(0);
    expect(st.lost.total).toBe(124);
    w.close();
  });

  it('disk full mid-recording: written + lost = handed over, and the file replays exactly the written ones', () => {
    const file = path.join(dir, 'midway.ctcap');
    const real = fs.writevSync;
    let writes = 0;
    // the preamble, header and three frames of 1,000 records go through; then the disk is full
    vi.spyOn(fs, 'writevSync').mockImplementation(((fd: number, bufs: NodeJS.ArrayBufferView[], pos?: number) => {
      if (++writes > 5) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      return real(fd, bufs, pos);
    }) as typeof fs.writevSync);
    const w = CaptureWriter.open(file, { flushMs: 0, flushRecords: 1000 });
    let handed = 0;
    for (let i = 0; i < 10; i++) {
      w.ingestRaw(records(997, handed));
      handed += 997;
    }
    const st = w.status();
    expect(st.state).toBe('failed');
    expect(st.records).toBe(3000);
    expect(st.lost.total).toBe(handed - 3000);
    w.close();
    vi.restoreAllMocks();
    expect(replayed(file)).toEqual({ records: 3000, partial: true });
    // what /metrics says
    const e = new Exposition();
    renderSourceMetrics(e, [st]);
    expect(e.text()).toMatch(new RegExp(`^ctscope_records_lost_total\\{source="recorder"\\} ${handed - 3000}$`, 'm'));
    expect(e.text()).toMatch(/^ctscope_source_up\{source="recorder",hook=".*midway\.ctcap"\} 0$/m);
  });

  it('a healthy recorder loses nothing and says running', () => {
    const file = path.join(dir, 'healthy.ctcap');
    const w = CaptureWriter.open(file, { flushMs: 0, flushRecords: 100 });
    w.ingestRaw(records(250));
    expect(w.status()).toMatchObject({ state: 'running', records: 250, lost: { total: 0 } });
    w.close();
    expect(replayed(file)).toEqual({ records: 250, partial: false });
  });
});
