// ctscope record with injected live sources, and the replay API served over a
// replayed model (the same routes as live).
import fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { recordCommand } from '../../src/cli/commands/record.js';
import { serveReplay, startReplay } from '../../src/app/serve-replay.js';
import type { Delivery, Feed, FeedStatus } from '../../src/app/feed.js';
import { IdleFeed } from '../helpers/app.js';
import { CaptureReader } from '../../src/capture/reader.js';
import { decodeBatch } from '../../src/records/batch.js';
import { encodeBatch } from '../../src/records/encode.js';
import { Kind } from '../../src/records/layout.js';
import type { SourceStatus } from '../../src/records/sink.js';
import { cannotRun, command } from '../helpers/requires.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ctrec-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A fake live side: 3 sources of known, different sizes. */
/** A fake live side: one source delivering allocations from sources of known, different sizes. */
class FakeFeed extends IdleFeed {
  stopped = false;
  private source: SourceStatus;
  constructor(private readonly counts: Record<string, number>, state: SourceStatus['state'] = 'running') {
    super();
    this.source = { name: 'netlink', state, hook: state === 'running' ? 'ctnetlink' : null, records: 0, lost: { total: 0 } };
  }
  override async start(to: Delivery): Promise<void> {
    let id = 1;
    let ts = 5e9;
    for (const [src, n] of Object.entries(this.counts)) {
      const rs = Array.from({ length: n }, () => ({ kind: Kind.ALLOC, ts: (ts += 1e6), id: BigInt(id++), src, dst: '10.0.0.100', sport: 1000 + (id % 50000), dport: 53, proto: 17, netns: 7 }));
      to.ingest(decodeBatch(encodeBatch(rs)));
    }
    to.proc({ ts: ts + 1, netns: 7, count: id - 1, max: 1000, buckets: 256, stats: { drop: 0, early_drop: 0 }, timeouts: { udp_timeout: 30 } });
    this.source.records = id - 1;
  }
  override async stop(): Promise<void> {
    this.stopped = true;
  }
  override status(): FeedStatus {
    return { ...super.status(), mode: 'live', sources: [{ ...this.source }] };
  }
}

function fakeSources(counts: Record<string, number>): { feed: () => Feed; stopped: () => boolean } {
  const f = new FakeFeed(counts);
  return { feed: () => f, stopped: () => f.stopped };
}

describe('ctscope record', () => {
  it('records what the sources deliver until stopped, then replays to the same per-source counts', async () => {
    const f = path.join(dir, 'rec.ctcap');
    const fake = fakeSources({ '10.0.0.1': 23, '10.0.0.2': 11, '10.0.0.3': 7 });
    const log: string[] = [];
    // Stopped once recording has begun: a stop during start-up records nothing (tested below).
    let stop!: (why: string) => void;
    const code = await recordCommand(['-o', f], {
      feed: fake.feed,
      stopSignal: () => new Promise((r) => (stop = r)),
      log: (l) => {
        log.push(l);
        if (l.startsWith('record: writing')) stop('signal');
      },
    });
    expect(code).toBe(0);
    expect(fake.stopped()).toBe(true);
    expect(log.join('\n')).toMatch(/41 records, 1 \/proc snapshots/);
    const r = CaptureReader.open(f);
    const items = [...r.items()];
    expect(r.integrity.complete).toBe(true);
    expect(r.integrity.footer?.reason).toBe('signal');
    expect(items.filter((i) => i.type === 'status').length).toBeGreaterThanOrEqual(2);
    const s = await startReplay([f]);
    await s.feed.done;
    const churn = s.ctscope.model!.churn({ by: 'src', window: 60, limit: 10 });
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
    const code = await recordCommand(['-o', f, '--duration', '0.3'], { feed: fake.feed, stopSignal: () => new Promise(() => {}), log: () => {} });
    expect(code).toBe(0);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    const r = CaptureReader.open(f);
    [...r.items()];
    expect(r.integrity.footer?.reason).toBe('duration');
  });

  it('a stop asked for before start-up ends: exit 0, the sources stopped, no capture file left', async () => {
    const f = path.join(dir, 'early.ctcap');
    const fake = fakeSources({ '10.0.0.8': 5 });
    const log: string[] = [];
    const code = await recordCommand(['-o', f], { feed: fake.feed, stopSignal: () => Promise.resolve('signal'), log: (l) => log.push(l) });
    expect(code).toBe(0);
    expect(log.join('\n')).toMatch(/stopped during start-up \(signal\); nothing recorded/);
    expect(fs.existsSync(f)).toBe(false);
  });

  it('refuses bad flags and an unusable live side clearly', async () => {
    await expect(recordCommand([], { log: () => {} })).rejects.toThrow(/needs -o FILE/);
    await expect(recordCommand(['-o', path.join(dir, 'x'), '--duration', 'abc'])).rejects.toThrow(/--duration expects seconds/);
    await expect(recordCommand(['-o', path.join(dir, 'x'), '--rotate-mb', '0'])).rejects.toThrow(/--rotate-mb/);
    await expect(recordCommand(['-o', '/nonexistent-dir/x.ctcap'])).rejects.toThrow(/does not exist/);
    const dead = new FakeFeed({}, 'failed');
    await expect(recordCommand(['-o', path.join(dir, 'dead.ctcap')], { feed: () => dead, log: () => {} })).rejects.toThrow(/no source is running/);
  });
});

describe('the API over a replay', () => {
  it('answers /v1/status in replay mode and the model routes like live', async () => {
    const file = path.resolve(__dirname, '../fixtures/conntrack/plain-ts-id-ext.txt');
    const s = await startReplay([file], { api: {} });
    await s.feed.done;
    const app = s.ctscope.app!;
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
    await srv.feed.done;
    const addr = srv.ctscope.app!.server.address() as { port: number };
    const res = await fetch(`http://127.0.0.1:${addr.port}/v1/status`);
    expect((await res.json()).mode).toBe('replay');
    await srv.ctscope.stop();
  });
});

describe('replay /metrics', () => {
  it('carries the table, source and model series, clean for promtool-style parsing', async () => {
    const s = await startReplay([path.resolve(__dirname, '../../share/sample.ctcap')]);
    await s.feed.done;
    const text = s.ctscope.metrics();
    expect(text).toMatch(/^# TYPE \S+ (counter|gauge|histogram)/m);
    // the model's allocation counter equals the report's
    expect(/^ctscope_conntrack_allocations_total (\d+)$/m.exec(text)?.[1]).toBe('1396');
    await s.ctscope.stop();
  });

  it.skipIf(cannotRun(command('promtool', 'prometheus')))('passes promtool check metrics', async () => {
    const s = await startReplay([path.resolve(__dirname, '../../share/sample.ctcap')]);
    await s.feed.done;
    const promtool = spawnSync('promtool', ['check', 'metrics'], { input: s.ctscope.metrics(), encoding: 'utf8' });
    expect(promtool.status, promtool.stdout + promtool.stderr).toBe(0);
    await s.ctscope.stop();
  });
});
