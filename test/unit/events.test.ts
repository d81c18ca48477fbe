// The event stream: the SSE framing both ends share, the feed's events from
// a model fed second by second (level changes, drops by source, ticks,
// advice as it changes), /v1/events over a real socket, and `ctscope watch`
// printing it as JSON lines and as text.
import { afterEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { appOver } from '../helpers/app.js';
import type { ModelClock } from '../../src/api/context.js';
import { EventFeed, MAX_CATCH_UP_S, type FeedEvent } from '../../src/api/event-feed.js';
import { formatSse, SseParser } from '../../src/api/sse.js';
import { describeEvent, watchCommand } from '../../src/cli/commands/watch.js';
import type { Advice } from '../../src/model/advice.js';
import { Model } from '../../src/model/model.js';
import type { ProcSnapshot } from '../../src/proc/types.js';
import type { RecordInit } from '../../src/records/encode.js';
import { Kind } from '../../src/records/layout.js';
import { batch, SEC } from './model-batch.js';
import { freePort } from '../helpers/daemon.js';
import { UserError } from '../../src/errors.js';

describe('SSE framing', () => {
  const stream = formatSse('level', '{"a":1}') + ': keep-alive\n\n' + formatSse('drops', 'line one\nline two') + 'retry: 2000\ndata: x\n\n';
  const expected = [
    { event: 'level', data: '{"a":1}' },
    { event: 'drops', data: 'line one\nline two' },
    { event: 'message', data: 'x' },
  ];

  it('reads back what it writes, however the text is cut into chunks', () => {
    for (const eol of ['\n', '\r\n']) {
      const text = stream.replaceAll('\n', eol);
      for (let cut = 0; cut <= text.length; cut++) {
        const p = new SseParser();
        expect([...p.push(text.slice(0, cut)), ...p.push(text.slice(cut))], `cut at ${cut}`).toEqual(expected);
      }
      const p = new SseParser();
      expect([...text].flatMap((ch) => p.push(ch))).toEqual(expected);
    }
  });
});

const UDP = 17;
const snap = (t: number, count: number, drop = 0, max = 100, netns = 9): ProcSnapshot => ({ ts: t * SEC, netns, count, max, buckets: 64, stats: { drop, early_drop: 0, insert_failed: 0 }, timeouts: {} });

/** A model fed one second at a time: the clock, /proc readings and records of that second. */
class Scenario {
  readonly model = new Model();
  advice: Advice[] = [];
  clock: ModelClock = { epochOffsetNs: 1_800_000_000 * SEC, final: false };
  private id = 1;
  feed = new EventFeed({ model: this.model, clock: () => this.clock, mode: 'live', advice: () => this.advice });

  constructor() {
    // tables are named by their accounts, as the assembly names them (/v1/table's names)
    this.model.tables.addNamer((n) => (n === 9 ? { name: 'lab' } : undefined));
  }

  second(t: number, count: number, drop: number, recs: (id: () => number) => RecordInit[] = () => []): void {
    this.model.ingestProc(snap(t + 0.2, count, drop));
    const r = recs(() => this.id++);
    if (r.length) this.model.ingest(batch(r));
    this.model.advance((t + 0.9) * SEC);
  }
}

const allocs = (t: number, src: string, n: number) => (id: () => number) =>
  Array.from({ length: n }, (_, i): RecordInit => ({ kind: Kind.ALLOC, id: id(), ts: (t + 0.3 + i / 1000) * SEC, start: (t + 0.3) * SEC, src, dst: '10.0.0.9', sport: 1000 + i, dport: 53, proto: UDP, netns: 9 }));
const dropsFrom = (t: number, src: string, n: number) => (): RecordInit[] =>
  Array.from({ length: n }, (_, i): RecordInit => ({ kind: Kind.DROP, ts: (t + 0.4 + i / 1000) * SEC, src, dst: '10.0.0.9', dport: 53, proto: UDP, netns: 9, aux: 12 }));

describe('EventFeed', () => {
  it('says what changed, second by second', () => {
    const s = new Scenario();
    s.second(100, 10, 0);
    s.second(101, 20, 0);
    const hello = s.feed.hello();
    // the feed starts at the last complete second (live: the one before the clock's)
    expect(hello).toMatchObject({ type: 'hello', t: 100, mode: 'live', final: false, tables: [{ netns: 9, name: 'lab', level: 'ok' }], advice: [] });
    expect(hello.time).toBe(new Date((1_800_000_000 + 100) * 1000).toISOString());
    expect(s.feed.poll()).toEqual([]); // 101 is still filling

    s.second(102, 75, 0, allocs(102, '10.0.0.1', 7));
    s.second(103, 99, 17, dropsFrom(103, '10.0.0.2', 17));
    s.advice = [{ id: 'drops', level: 'action', title: '17 packets dropped', detail: 'd', evidence: {}, action: 'r' }];
    s.second(104, 60, 17);
    s.second(105, 60, 17);
    s.second(106, 60, 17);
    s.second(107, 60, 17); // 107 is still filling
    const ev = s.feed.poll();
    const of = (type: string) => ev.filter((e) => e.type === type);
    expect(of('tick').map((e) => e.t)).toEqual([101, 102, 103, 104, 105, 106]);
    expect(of('tick')[0]).toMatchObject({ alloc: 0, drops: 0, tables: [{ netns: 9, count: 20, level: 'ok' }] });
    expect(of('tick')[1]).toMatchObject({ alloc: 7, drops: 0, tables: [{ netns: 9, name: 'lab', count: 75, max: 100, utilization: 0.75, level: 'warn' }] });
    expect(of('level').map((e) => [e.t, e.from, e.to, e.count])).toEqual([
      [102, 'ok', 'warn', 75],
      [103, 'warn', 'critical', 99],
      [104, 'critical', 'ok', 60],
    ]);
    expect(of('drops')).toEqual([expect.objectContaining({ t: 103, total: 17, by: 'src', items: [{ key: '10.0.0.2', count: 17 }], kinds: { table_full: 0, evicted: 0, insert_failed: 0, netfilter: 17 } })]);
    // advice is looked at every 5 s: at 105 (5 s after the start at 100)
    expect(of('advice')).toEqual([expect.objectContaining({ t: 105, added: [expect.objectContaining({ id: 'drops', level: 'action' })], changed: [], resolved: [] })]);

    s.advice = [];
    for (let t = 108; t <= 111; t++) s.second(t, 60, 17);
    const later = s.feed.poll();
    expect(later.filter((e) => e.type === 'advice')).toEqual([expect.objectContaining({ t: 110, added: [], resolved: ['drops'], current: [] })]);
  });

  it('catches up on at most a minute, and a finished replay ends at its last second', () => {
    const s = new Scenario();
    s.second(10, 5, 0);
    s.second(11, 5, 0);
    s.feed.hello();
    for (let t = 12; t <= 200; t++) s.second(t, 5, 0);
    s.clock = { ...s.clock, final: true };
    const ticks = s.feed.poll().filter((e: FeedEvent) => e.type === 'tick');
    expect(ticks).toHaveLength(MAX_CATCH_UP_S);
    expect(ticks.at(-1)!.t).toBe(200);
    expect(s.feed.poll()).toEqual([]);
  });
});

describe('GET /v1/events and ctscope watch', () => {
  let app: FastifyInstance | null = null;
  afterEach(async () => {
    await app?.close();
    app = null;
  });

  async function serve(s: Scenario): Promise<string> {
    const status = () => ({ version: 't', mode: 'live' as const, kernel: { release: 'x', btf: false }, started_at: '', uptime_seconds: 0, sources: [], lost: { total: 0 } });
    app = await appOver(s.model, { status, clock: () => s.clock, netnsNames: () => new Map([[9, 'lab']]), moreAdvice: () => s.advice, eventsIntervalMs: 40 });
    return app.listen({ host: '127.0.0.1', port: 0 });
  }

  it('streams hello, then the types asked for; closing the server ends the stream', async () => {
    const s = new Scenario();
    s.second(100, 10, 0);
    s.second(101, 10, 0);
    const base = await serve(s);
    const res = await fetch(`${base}/v1/events?types=level,drops`);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = res.body!.getReader();
    const parser = new SseParser();
    const got: Array<{ event: string; data: any }> = [];
    const readUntil = async (pred: () => boolean) => {
      while (!pred()) {
        const r = await reader.read();
        if (r.done) return false;
        for (const m of parser.push(new TextDecoder().decode(r.value))) got.push({ event: m.event, data: JSON.parse(m.data) });
      }
      return true;
    };
    await readUntil(() => got.length >= 1);
    expect(got[0]).toMatchObject({ event: 'hello', data: { t: 100, tables: [{ netns: 9, level: 'ok' }] } });
    s.second(102, 90, 3, dropsFrom(102, '10.0.0.7', 3));
    s.second(103, 90, 3);
    await readUntil(() => got.length >= 3);
    expect(got.slice(1).map((g) => [g.event, g.data.t])).toEqual([
      ['level', 102],
      ['drops', 102],
    ]);
    expect(got.some((g) => g.event === 'tick')).toBe(false);
    const closing = app!.close();
    expect(await readUntil(() => false)).toBe(false); // the stream ended
    await closing;
    app = null;
  });

  it('refuses unknown types with a sentence', async () => {
    const base = await serve(new Scenario());
    const r = await fetch(`${base}/v1/events?types=level,nope`);
    expect(r.status).toBe(400);
    expect((await r.json()).message).toMatch(/query parameter 'types' must match/);
  });

  it('watch -o json prints one JSON object per line; text says it in words; a stream that ends is an error', async () => {
    const s = new Scenario();
    s.second(100, 10, 0);
    s.second(101, 10, 0);
    const base = await serve(s);
    const lines: string[] = [];
    let stop!: () => void;
    const stopped = new Promise<void>((r) => (stop = r));
    const run = watchCommand(['--url', base, '-o', 'json', '--types', 'level,drops,tick'], { out: (l) => lines.push(l), stop: () => stopped });
    const until = async (pred: () => boolean) => {
      for (let i = 0; i < 200 && !pred(); i++) await new Promise((r) => setTimeout(r, 20));
    };
    await until(() => lines.length >= 1);
    s.second(102, 96, 5, dropsFrom(102, '10.0.0.7', 5));
    s.second(103, 96, 5);
    await until(() => lines.some((l) => l.includes('"drops"')));

    stop();
    expect(await run).toBe(0);
    for (const l of lines) expect(l.endsWith('\n') && !l.slice(0, -1).includes('\n')).toBe(true);
    const objs = lines.map((l) => JSON.parse(l));
    expect(objs[0]).toMatchObject({ type: 'hello', mode: 'live' });
    expect(objs.find((o) => o.type === 'level')).toMatchObject({ t: 102, netns: 9, name: 'lab', from: 'ok', to: 'critical', count: 96, max: 100 });
    expect(objs.find((o) => o.type === 'drops')).toMatchObject({ t: 102, total: 5, items: [{ key: '10.0.0.7', count: 5 }] });
    expect(describeEvent('level', objs.find((o) => o.type === 'level'))).toMatch(/level lab \(netns 9\) ok → critical \(96 \/ 100, 96\.0 %\)$/);
    expect(describeEvent('drops', objs.find((o) => o.type === 'drops'))).toMatch(/drops 5\/s \(netfilter 5\): 10\.0\.0\.7 5$/);

    // the server goes away: one sentence, exit code 1 through the CLI's UserError
    const text: string[] = [];

    const again = watchCommand(['--url', base], { out: (l) => text.push(l), stop: () => new Promise(() => undefined) }).then(
      () => null,
      (e: Error) => e,
    );
    await until(() => text.length >= 1);

    // the advice the stream starts from is /v1/advice's
    const advice = ((await (await fetch(`${base}/v1/advice`)).json()) as { advice: Array<{ level: string; title: string }> }).advice;
    expect(advice.length).toBeGreaterThan(0); // the table at 96 %
    expect(text[0]).toMatch(/live: tables: lab \(netns 9\) critical; advice: /);
    expect(text[0]).toContain(`advice: ${advice.map((a) => `[${a.level}] ${a.title}`).join('; ')}\n`);
    await app!.close();
    app = null;
    const err = await again;
    expect(err?.message).toMatch(/^the event stream from http:\/\/127\.0\.0\.1:\d+ ended \(the daemon stopped\?\)$/);
    expect(err).toBeInstanceOf(UserError); // one sentence, exit code 1
    expect((err as UserError).exitCode).toBe(1);
  });

  it('watch refuses bad options as usage errors and an unreachable daemon in one sentence', async () => {
    await expect(watchCommand(['-o', 'yaml'])).rejects.toThrow(/-o expects json or text/);
    await expect(watchCommand(['--types', 'level,bogus'])).rejects.toThrow(/'bogus' is not one of tick, level, drops, advice/);
    const closed = await freePort();
    await expect(watchCommand(['--url', `http://127.0.0.1:${closed}`], { stop: () => new Promise(() => undefined) })).rejects.toThrow(/cannot reach ctscope at http:\/\/127\.0\.0\.1:\d+ \(connect ECONNREFUSED .*\); is `ctscope run` running there\?/);
  });
});
