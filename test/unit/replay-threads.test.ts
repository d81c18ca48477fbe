// A report-only replay's helper threads — counting (src/model/counting.ts)
// and reading (src/capture/read-thread.ts) — must give the very answers,
// errors and exit codes of one thread. The helpers are compiled worker
// modules, so these tests load the model from dist/ and run bin/ctscope.js
// (`npm test` builds dist/); the records are made with the sources' encoder.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFile, execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { Kind } from '../../src/records/layout.js';
import type { RecordInit } from '../../src/records/encode.js';
import { batch, SEC } from './model-batch.js';
import { Handoff } from '../../src/handoff.js';
import { CaptureWriter } from '../../src/capture/writer.js';
import { readConntrackText } from '../../src/import/conntrack-text.js';

const root = path.resolve(__dirname, '../..');
const distModel = path.join(root, 'dist/model/model.js');
const distCounting = path.join(root, 'dist/model/counting.js');

/** Threads of a report-only replay here: with both helpers where there is more than one CPU. */
const HELPED = os.availableParallelism() > 1 ? 3 : 1;

type ModelT = import('../../src/model/model.js').Model;

async function dist(): Promise<{ Model: typeof import('../../src/model/model.js').Model; counting: typeof import('../../src/model/counting.js') }> {
  expect(fs.existsSync(distModel), `${distModel} missing: run make -s ts`).toBe(true);
  return { Model: (await import(distModel)).Model, counting: await import(distCounting) };
}

/** A churn of allocations and destroys from many sources (more than a second's sets hold), drops, over several seconds, in uneven batches. */
function workload(seed: number): RecordInit[][] {
  let x = seed >>> 0;
  const rnd = () => ((x = (Math.imul(x, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const out: RecordInit[][] = [];
  let id = 1;
  const live: { id: number; src: string; dport: number; ts: number }[] = [];
  let ts = 1000 * SEC;
  for (let b = 0; b < 40; b++) {
    // batch sizes around and above the ring's slot (8192 records)
    const n = b % 7 === 3 ? 9000 + Math.floor(rnd() * 9000) : 1 + Math.floor(rnd() * 3000);
    const recs: RecordInit[] = [];
    for (let i = 0; i < n; i++) {
      ts += Math.floor(rnd() * 120_000); // ~17k records per second of clock
      const r = rnd();
      if (r < 0.5 || live.length === 0) {
        const s = Math.floor(rnd() ** 3 * 30000);
        const f = { id: id++, src: s % 10 === 0 ? `fd00::${(s + 1).toString(16)}` : `10.${(s >> 16) & 255}.${(s >> 8) & 255}.${s & 255}`, dport: [53, 443, 80, 8080][s % 4]!, ts };
        live.push(f);
        const dst = f.src.includes(':') ? 'fd00::ffff' : `172.16.0.${s % 200}`;
        recs.push({ kind: Kind.ALLOC, id: f.id, ts, start: ts, src: f.src, dst, sport: 1024 + (f.id % 60000), dport: f.dport, proto: 6, state: 1 });
      } else if (r < 0.95) {
        const f = live.splice(Math.floor(rnd() * live.length), 1)[0]!;
        const dst = f.src.includes(':') ? 'fd00::ffff' : '172.16.0.1';
        recs.push({ kind: Kind.DESTROY, id: f.id, ts, src: f.src, dst, sport: 1024 + (f.id % 60000), dport: f.dport, proto: 6, state: 7 });
      } else {
        recs.push({ kind: Kind.TABLE_FULL, ts, src: `10.9.0.${Math.floor(rnd() * 50)}`, dst: '172.16.0.1', dport: 443, proto: 6 });
      }
    }
    out.push(recs);
  }
  return out;
}

function answers(m: ModelT): unknown {
  const out: unknown[] = [];
  for (const by of ['src', 'dst', 'dport', 'proto', 'netns', 'src,dport'] as const) {
    for (const window of [1, 10, 60, 900]) {
      out.push(m.topK({ by, window, limit: 50, kinds: ['alloc', 'destroy', 'table_full'] }));
      out.push(m.churn({ by, window, limit: 50 }));
    }
  }
  return out;
}

describe('heavy-hitter counting in a helper thread', () => {
  it('gives the same summaries as counting in the model thread, through overflows, large batches and many seconds', async () => {
    const { Model } = await dist();
    for (const seed of [1, 2]) {
      const here = new Model({ heavyKeys: 256 });
      const there = new Model({ heavyKeys: 256 });
      expect(there.countElsewhere()).toBe(true);
      for (const recs of workload(seed)) {
        const b = batch(recs);
        here.ingest(b);
        there.ingest(b);
      }
      expect(() => there.topK({ by: 'src', window: 60, limit: 5 })).toThrow(/helper thread/);
      await there.countHere();
      const a = answers(here);
      expect(answers(there)).toEqual(a);
      // the workload does overflow the per-second sets (else this proves less)
      const top = here.topK({ by: 'src', window: 900, limit: 5, kinds: ['alloc'] });
      expect(top.error_bound).toBeGreaterThan(0);
      expect(top.items.length).toBe(5);
      // both go on counting alike after the hand-back
      const more = batch([{ kind: Kind.ALLOC, id: 1e9, ts: 2000 * SEC, start: 2000 * SEC, src: '10.200.0.1', dport: 22, proto: 6 }]);
      here.ingest(more);
      there.ingest(more);
      expect(answers(there)).toEqual(answers(here));
    }
  });

  it('does not hang when the helper is gone: the model thread gets an error', async () => {
    const { Model, counting } = await dist();
    const m = new Model();
    const t = counting.CountingThread.start(m.state.counters, 6, { maxKeys: 64, historySeconds: 60 })!;
    expect(t).not.toBeNull();
    t.close();
    const keys = new Float64Array(8 * 10);
    expect(() => t.count(keys, 10, new Uint8Array(10), 10, new Uint32Array(0), new Uint8Array(0), 0)).toThrow(/counting thread was closed/);
    await expect(t.finish()).rejects.toThrow(/counting thread/);
  });

  it('hand-over: a side whose peer stopped gives up with an error; a failed side wakes the other', () => {
    const sab = Handoff.memory();
    const producer = new Handoff(sab, 2, 1, 1, 'the test consumer', 1500);
    producer.published(1);
    producer.published(2);
    producer.waitForPlace(1); // one unreleased place: no wait
    const t0 = Date.now();
    expect(() => producer.waitForPlace(2)).toThrow(/the test consumer made no progress for 1.5 s/);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1400);
    const consumer = new Handoff(sab, 2, 1, 1, 'the test producer', null);
    consumer.waitForItem(1); // published: no wait
    consumer.released(2);
    producer.waitForPlace(3);
    producer.fail();
    expect(() => consumer.waitForItem(2)).toThrow(/the test producer failed/);
  });

  it('ctscope replay --report gives the same report with and without helper threads', () => {
    const bin = path.join(root, 'bin/ctscope.js');
    const run = (...extra: string[]) => {
      const r = JSON.parse(execFileSync(process.execPath, [bin, 'replay', path.join(root, 'share/sample.ctcap'), '--report', 'json', '--limit', '100', ...extra], { encoding: 'utf8' }));
      expect(r.replay.threads).toBe(extra.includes('--single-thread') ? 1 : HELPED);
      delete r.replay; // wall time, threads
      return r;
    };
    const threaded = run();
    expect(threaded.records.total).toBeGreaterThan(1000);
    expect(threaded.churn.src.length).toBeGreaterThan(0);
    expect(threaded).toEqual(run('--single-thread'));
    const whatIf = ['--what-if', 'tcp_timeout_time_wait=30,udp_timeout=10,max=512'];
    const simulated = run(...whatIf);
    expect(simulated.what_if).toBeDefined();
    expect(simulated).toEqual(run(...whatIf, '--single-thread'));
  });

  it('a reading thread gives the same report, errors and exit status as reading in one thread: every damaged capture, conntrack text', async () => {
    const bin = path.join(root, 'bin/ctscope.js');
    const fx = (d: string) => fs.readdirSync(path.join(root, 'test/fixtures', d)).filter((f) => !f.endsWith('.mjs') && !f.endsWith('.sh') && f !== 'expected.json').map((f) => [path.join(root, 'test/fixtures', d, f)]);
    // rotated captures: a whole chain, and one missing its third segment
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ctscope-threads-'));
    const chain = (name: string) => {
      const w = CaptureWriter.open(path.join(dir, name), { flushMs: 0, flushRecords: 20, rotateBytes: 6000, bootBaseNs: 0 });
      const gen = readConntrackText(path.join(root, 'test/fixtures/conntrack/plain-ts-id-ext.txt'));
      for (let r = gen.next(); !r.done; r = gen.next()) w.ingest(r.value);
      w.close();
      expect(w.stats().files.length).toBeGreaterThan(2);
      return w.stats().files;
    };
    chain('whole.ctcap');
    fs.rmSync(chain('cut.ctcap')[2]!);
    const inputs = [
      ...fx('damaged'),
      ...fx('conntrack'),
      [path.join(root, 'test/fixtures/conntrack/plain-list-ext-id.txt'), path.join(root, 'test/fixtures/conntrack/plain-ts-id-ext.txt')],
      [path.join(dir, 'whole.ctcap')],
      [path.join(dir, 'cut.ctcap')],
    ];
    expect(inputs.length).toBeGreaterThan(25);
    const run = (files: string[], extra: string[]) =>
      new Promise<{ code: number; out: unknown; err: string; threads: number | null }>((resolve) => {
        execFile(process.execPath, [bin, 'replay', ...files, '--report', 'json', ...extra], { encoding: 'utf8' }, (e, stdout, stderr) => {
          let out: unknown = stdout;
          let threads: number | null = null;
          try {
            const r = JSON.parse(stdout);
            threads = r.replay.threads;
            delete r.replay; // wall time, threads
            out = r;
          } catch {
            /* not a report: compared as text */
          }
          resolve({ code: e ? ((e as { code?: number }).code ?? -1) : 0, out, err: stderr, threads });
        });
      });
    const outcomes = new Set<number>();
    for (let i = 0; i < inputs.length; i += 4) {
      await Promise.all(
        inputs.slice(i, i + 4).map(async (files) => {
          const [threaded, single] = await Promise.all([run(files, []), run(files, ['--single-thread'])]);
          // both helpers ran where a report came out (on more than one CPU)
          if (threaded.threads !== null) {
            expect(threaded.threads, files.join(' ')).toBe(HELPED);
            expect(single.threads).toBe(1);
          }
          expect({ ...threaded, threads: 0 }, files.join(' ')).toEqual({ ...single, threads: 0 });
          expect(threaded.err, files.join(' ')).not.toMatch(/\n\s+at /); // no stack trace
          outcomes.add(threaded.code);
        }),
      );
    }
    // the corpus covers replays that work (partial or not) and inputs nothing can be read from
    expect([...outcomes].sort()).toEqual([0, 1]);
    fs.rmSync(dir, { recursive: true, force: true });
  }, 600_000); // ~60 CLI runs: about a minute alone, several beside other suites on a shared machine
});
