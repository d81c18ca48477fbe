// The assembly (src/app/ctscope.ts): a ctscope built from a feed, a model, a
// recorder and the API starts all-or-nothing — whatever step fails, what
// started before it is stopped and released, and the error is the operator's
// sentence.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Ctscope } from '../../src/app/ctscope.js';
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

  it('a capture that cannot be created: the feed is stopped again, the error is a UserError', async () => {
    const feed = new CountingFeed();
    const err = await Ctscope.start({ feed, record: { file: path.join(dir, 'no-such-dir', 'x.ctcap') }, api: {} }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toMatch(/cannot create .*no-such-dir/);
    expect([feed.started, feed.stopped]).toEqual([1, 1]);
  });

  it('an address in use: the server, the feed and the recorder are released', async () => {
    const busy = await busyPort();
    try {
      const feed = new CountingFeed();
      const file = path.join(dir, 'busy.ctcap');
      const err = await Ctscope.start({ feed, record: { file }, api: { listen: { host: '127.0.0.1', port: busy.port } } }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UserError);
      expect((err as Error).message).toMatch(new RegExp(`cannot listen on 127.0.0.1:${busy.port}: EADDRINUSE`));
      expect([feed.started, feed.stopped]).toEqual([1, 1]);
      // the recorder was closed, not left half-written
      const r = CaptureReader.open(file);
      [...r.items()];
      expect(r.integrity.complete).toBe(true);
      expect(r.integrity.footer?.reason).toBe('error');
    } finally {
      await busy.close();
    }
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
