// ctscope record with injected live sources, and the replay API served over a
// replayed model (the same routes as live).
import fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { recordCommand, type StartSources } from '../../src/cli/commands/record.js';
import { startReplay, serveReplay } from '../../src/cli/commands/replay.js';
import { buildApp } from '../../src/api/app.js';
import { CaptureReader } from '../../src/capture/reader.js';
import { decodeBatch } from '../../src/records/batch.js';
import { encodeBatch } from '../../src/records/encode.js';
import { Kind } from '../../src/records/layout.js';
import type { SourceStatus } from '../../src/sources/source.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ctrec-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A fake live side: 3 sources of known, different sizes. */
function fakeSources(counts: Record<string, number>): { start: StartSources; stopped: () => boolean } {
  let stopped = false;
  const start: StartSources = async (sink, onProc) => {
    let id = 1;
    let ts = 5e9;
    for (const [src, n] of Object.entries(counts)) {
      const rs = Array.from({ length: n }, () => ({ kind: Kind.ALLOC, ts: (ts += 1e6), id: BigInt(id++), src, dst: '10.0.0.100', sport: 1000 + (id % 50000), dport: 53, proto: 17, netns: 7 }));
      sink.ingest(decodeBatch(encodeBatch(rs)));
    }
    onProc({ ts: ts + 1, netns: 7, count: id - 1, max: 1000, buckets: 256, stats: { drop: 0, early_drop: 0 }, timeouts: { udp_timeout: 30 } });
    const status: SourceStatus = { name: 'netlink', state: 'running', hook: 'ctnetlink', records: id - 1, lost: { total: 0 } };
    return { status: () => [status], stop: async () => void (stopped = true) };
  };
  return { start, stopped: () => stopped };
}

describe('ctscope record', () => {
  it('records what the sources deliver until stopped, then replays to the same per-source counts', async () => {
    const f = path.join(dir, 'rec.ctcap');
    const fake = fakeSources({ '10.0.0.1': 23, '10.0.0.2': 11, '10.0.0.3': 7 });
    const log: string[] = [];
    const code = await recordCommand(['-o', f], { startSources: fake.start, stopSignal: () => Promise.resolve('signal'), log: (l) => log.push(l) });
    expect(code).toBe(0);
    expect(fake.stopped()).toBe(true);
    expect(log.join('\n')).toMatch(/41 records, 1 \/proc snapshots/);
    const r = CaptureReader.open(f);
    const items = [...r.items()];
    expect(r.integrity.complete).toBe(true);
    expect(r.integrity.footer?.reason).toBe('signal');
    expect(items.filter((i) => i.type === 'status').length).toBeGreaterThanOrEqual(2);
    const s = startReplay([f]);
    await s.done;
    const churn = s.model.churn({ by: 'src', window: 60, limit: 10 });
    expect(churn.items.map((i) => [i.key, i.count])).toEqual([
      ['10.0.0.1', 23],
      ['10.0.0.2', 11],
      ['10.0.0.3', 7],
    ]);
  });

  it('--duration stops by itself', async () => {
    const f = path.join(dir, 'dur.ctcap');
    const fake = fakeSources({ '10.0.0.9': 3 });
    const t0 = Date.now();
    const code = await recordCommand(['-o', f, '--duration', '0.3'], { startSources: fake.start, stopSignal: () => new Promise(() => {}), log: () => {} });
    expect(code).toBe(0);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    const r = CaptureReader.open(f);
    [...r.items()];
    expect(r.integrity.footer?.reason).toBe('duration');
  });

  it('refuses bad flags and an unusable live side clearly', async () => {
    await expect(recordCommand([], { log: () => {} })).rejects.toThrow(/needs -o FILE/);
    await expect(recordCommand(['-o', path.join(dir, 'x'), '--duration', 'abc'])).rejects.toThrow(/--duration expects seconds/);
    await expect(recordCommand(['-o', path.join(dir, 'x'), '--rotate-mb', '0'])).rejects.toThrow(/--rotate-mb/);
    await expect(recordCommand(['-o', '/nonexistent-dir/x.ctcap'])).rejects.toThrow(/does not exist/);
    const dead: StartSources = async () => ({ status: () => [{ name: 'netlink', state: 'failed', hook: null, detail: 'EPERM', records: 0, lost: { total: 0 } }], stop: async () => {} });
    await expect(recordCommand(['-o', path.join(dir, 'dead.ctcap')], { startSources: dead, log: () => {} })).rejects.toThrow(/no source is running/);
  });
});

describe('the API over a replay', () => {
  it('answers /v1/status in replay mode and the model routes like live', async () => {
    const file = path.resolve(__dirname, '../fixtures/conntrack/plain-ts-id-ext.txt');
    const s = startReplay([file]);
    await s.done;
    const app = await buildApp({ status: s.status, table: s.table, metrics: s.metrics, model: s.model, environment: () => ({}) });
    const st = (await app.inject('/v1/status')).json();
    expect(st.mode).toBe('replay');
    expect(st.replay.partial).toBe(false);
    expect(st.sources[0]).toMatchObject({ name: 'replay', state: 'stopped', records: 313 - 1 });
    const churn = (await app.inject('/v1/churn?by=src&window=900&limit=3')).json();
    expect(churn.items[0]).toMatchObject({ key: '10.78.9.1', count: 37 });
    expect((await app.inject('/v1/churn?by=nope')).statusCode).toBe(400);
    expect((await app.inject('/metrics')).statusCode).toBe(200);
    await app.close();
  });

  it('serveReplay listens and serves the sample while it replays', async () => {
    const file = path.resolve(__dirname, '../fixtures/damaged/good.ctcap');
    const srv = await serveReplay([file], { host: '127.0.0.1', port: 0 });
    await srv.session.done;
    const addr = srv.app.server.address() as { port: number };
    const res = await fetch(`http://127.0.0.1:${addr.port}/v1/status`);
    expect((await res.json()).mode).toBe('replay');
    await srv.close();
  });
});

describe('replay /metrics', () => {
  it('carries the table, source and model series, clean for promtool-style parsing', async () => {
    const s = startReplay([path.resolve(__dirname, '../../share/sample.ctcap')]);
    await s.done;
    const text = s.metrics();
    expect(text).toMatch(/^# TYPE \S+ (counter|gauge|histogram)/m);
    // the model's allocation counter equals the report's
    expect(/^ctscope_conntrack_allocations_total (\d+)$/m.exec(text)?.[1]).toBe('1396');
    const promtool = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    if (promtool.error) console.warn(`promtool not installed: ${promtool.error.message}`);
    else expect(promtool.status, promtool.stdout + promtool.stderr).toBe(0);
  });
});
