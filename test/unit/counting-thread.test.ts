// Heavy-hitter counting in a helper thread (src/model/counting.ts) must give
// the very summaries the model's own thread gives. The helper is a compiled
// worker module, so these tests load the model from dist/ (which `npm test`
// builds); the records are made with the sources' encoder as elsewhere.
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { Kind } from '../../src/records/layout.js';
import type { RecordInit } from '../../src/records/encode.js';
import { batch, SEC } from './model-batch.js';

const root = path.resolve(__dirname, '../..');
const distModel = path.join(root, 'dist/model/model.js');
const distCounting = path.join(root, 'dist/model/counting.js');

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
    const { counting } = await dist();
    const t = counting.CountingThread.start(6 * 8, 6, { maxKeys: 64, historySeconds: 60 })!;
    expect(t).not.toBeNull();
    t.close();
    const keys = new Float64Array(8 * 10);
    const streams = new Uint8Array(10);
    // more hand-overs than the ring has slots: the ninth would wait for the dead helper
    expect(() => {
      for (let i = 0; i < 20; i++) t.count(keys, 10, streams, 10);
    }).toThrow(/counting thread/);
    await expect(t.finish()).rejects.toThrow(/counting thread/);
  });

  it('ctscope replay --report gives the same report with and without helper threads', () => {
    const bin = path.join(root, 'bin/ctscope.js');
    const run = (...extra: string[]) => {
      const r = JSON.parse(execFileSync(process.execPath, [bin, 'replay', path.join(root, 'share/sample.ctcap'), '--report', 'json', '--limit', '100', ...extra], { encoding: 'utf8' }));
      delete r.replay; // wall time
      return r;
    };
    const threaded = run();
    expect(threaded.records.total).toBeGreaterThan(1000);
    expect(threaded.churn.src.length).toBeGreaterThan(0);
    expect(threaded).toEqual(run('--single-thread'));
  });
});
