// The assembly (src/app/ctscope.ts): a ctscope built from a feed, a model, a
// recorder and the API starts all-or-nothing — whatever step fails, what
// started before it is stopped and released, and the error is the operator's
// sentence.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Ctscope, StartAborted } from '../../src/app/ctscope.js';
import type { Delivery, FeedStatus } from '../../src/app/feed.js';
import { CaptureReader } from '../../src/capture/reader.js';
import { UserError } from '../../src/errors.js';
import { decodeBatch } from '../../src/records/batch.js';
import { encodeBatch } from '../../src/records/encode.js';
import { Kind } from '../../src/records/layout.js';
import { IdleFeed } from '../helpers/app.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ctapp-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A feed that delivers 17 allocations at start and says what was done to it. */
class CountingFeed extends IdleFeed {
  started = 0;
  stopped = 0;
  override async start(to: Delivery): Promise<void> {
    this.started++;
    const rs = Array.from({ length: 17 }, (_, i) => ({ kind: Kind.ALLOC, ts: 5e9 + i, id: BigInt(i + 1), src: '10.1.0.1', dst: '10.1.0.2', sport: 1000 + i, dport: 53, proto: 17 }));
    to.ingest(decodeBatch(encodeBatch(rs)));
  }
  override async stop(): Promise<void> {
    this.stopped++;
  }
  override status(): FeedStatus {
    return { ...super.status(), mode: 'live', sources: [{ name: 'fake', state: 'running', hook: 'test', records: 17, lost: { total: 0 } }] };
  }
}

async function busyPort(): Promise<{ port: number; close: () => Promise<void> }> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return { port: (s.address() as net.AddressInfo).port, close: () => new Promise((r) => s.close(() => r())) };
}

describe('Ctscope.start', () => {
  it('feeds the model and the recorder alike, serves the API, and stops everything once', async () => {
    const feed = new CountingFeed();
    const file = path.join(dir, 'ok.ctcap');
    const c = await Ctscope.start({ feed, record: { file }, api: { listen: { host: '127.0.0.1', port: 0 } } });
    expect(c.model!.counter('alloc')).toBe(17);
    expect(c.address).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const st = (await (await fetch(`${c.address}/v1/status`)).json()) as { sources: Array<{ name: string }> };
    expect(st.sources.map((s) => s.name)).toEqual(['fake', 'recorder']);
    await Promise.all([c.stop('test'), c.stop('again')]);
    expect(feed.stopped).toBe(1);
    await expect(fetch(`${c.address}/healthz`)).rejects.toThrow();
    const r = CaptureReader.open(file);
    const items = [...r.items()];
    expect(items.filter((i) => i.type === 'records').reduce((a, i) => a + (i.type === 'records' ? i.batch.length : 0), 0)).toBe(17);
    expect(r.integrity.footer?.reason).toBe('test');
  });

  // What an operator can fix is found before the feed starts (issue 17:
  // `run --record /` attached its programs, then hung half-started).
  it.each([
    ['a directory', () => dir, /cannot record to .*: it is a directory \(name a file in it/],
    ['in a directory that does not exist', () => path.join(dir, 'no-such-dir', 'x.ctcap'), /cannot record to .*no-such-dir.*: the directory .*no-such-dir does not exist/],
  ])('a capture path that is %s: refused before anything starts', async (_what, file, re) => {
    const feed = new CountingFeed();
    const err = await Ctscope.start({ feed, record: { file: file() }, api: {} }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toMatch(re);
    expect([feed.started, feed.stopped]).toEqual([0, 1]);
  });

  it('an address in use: refused before anything starts, and the capture file it had reserved is taken back', async () => {
    const busy = await busyPort();
    try {
      const feed = new CountingFeed();
      const file = path.join(dir, 'busy.ctcap');
      const err = await Ctscope.start({ feed, record: { file }, api: { listen: { host: '127.0.0.1', port: busy.port } } }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UserError);
      expect((err as Error).message).toMatch(new RegExp(`cannot listen on 127.0.0.1:${busy.port}: the port is in use`));
      expect([feed.started, feed.stopped]).toEqual([0, 1]);
      expect(fs.existsSync(file)).toBe(false);
    } finally {
      await busy.close();
    }
  });

  it('a step failing after the feed started (the capture directory gone mid-start): the feed is stopped again', async () => {
    const sub = path.join(dir, 'vanishing');
    fs.mkdirSync(sub);
    const feed = new CountingFeed();
    const start = feed.start.bind(feed);
    feed.start = async (to) => {
      await start(to);
      fs.rmSync(sub, { recursive: true, force: true });
    };
    const err = await Ctscope.start({ feed, record: { file: path.join(sub, 'x.ctcap') }, api: {} }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toMatch(/cannot create .*vanishing/);
    expect([feed.started, feed.stopped]).toEqual([1, 1]);
  });

  it('a stop asked for during start-up: what started is stopped, the reserved capture taken back, StartAborted', async () => {
    const feed = new CountingFeed();
    const aborter = new AbortController();
    const start = feed.start.bind(feed);
    feed.start = async (to) => {
      await start(to);
      aborter.abort('SIGTERM');
    };
    const file = path.join(dir, 'aborted.ctcap');
    const err = await Ctscope.start({ feed, record: { file }, api: { listen: { host: '127.0.0.1', port: 0 } }, signal: aborter.signal }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StartAborted);
    expect((err as StartAborted).why).toBe('SIGTERM');
    expect([feed.started, feed.stopped]).toEqual([1, 1]);
    expect(fs.existsSync(file)).toBe(false);
  });

  it('a feed that refuses its options throws before anything starts', async () => {
    const feed = new CountingFeed();
    feed.attach = () => {
      throw new UserError('--ingress: bad');
    };
    await expect(Ctscope.start({ feed, api: {} })).rejects.toThrow(/--ingress: bad/);
    expect(feed.started).toBe(0);
  });
});
