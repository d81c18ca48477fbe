// The decoders under structural fuzzing (issue 17), a bounded and seeded
// slice on every run; the campaign (scripts/fuzz.mjs) runs the same
// properties for as long as one likes. Properties: whatever the input, the
// replay finishes within its budget and heap limit with exit 0, 1 or 2, one
// sentence and no stack trace on failure, and the API served over what it
// read answers no 500 (scripts/fuzz/pool.mjs verdict()). The netlink decoder
// runs under libFuzzer with AddressSanitizer and UBSan (native/fuzz/).
// Every crasher found so far is in test/fixtures/fuzz/ and replayed here.
//
// Runs against dist/ and fuzz-build/ (npm test builds both: make, make fuzz).

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const fixtures = path.join(root, 'test/fixtures/fuzz');
const fuzzBin = path.join(root, 'fuzz-build/netlink_fuzz');

type Case = { target: string; files: Array<{ name: string; base64?: string; text?: string }>; argv: string[]; serve?: boolean };
interface Pool {
  run(c: Case): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}
let pool: Pool;
let verdict: (r: Record<string, unknown>) => string | null;
let arbs: Record<'capture' | 'text', fc.Arbitrary<Case>>;

beforeAll(async () => {
  expect(fs.existsSync(path.join(root, 'dist/cli/commands/replay.js')), 'dist/ missing: run make -s ts').toBe(true);
  const p = await import(path.join(root, 'scripts/fuzz/pool.mjs'));
  const c = await import(path.join(root, 'scripts/fuzz/cases.mjs'));
  // a generous budget: CI machines are shared (a case takes ~50-300 ms when idle)
  pool = new p.FuzzPool({ budgetMs: 60_000, heapMb: 512 });
  verdict = p.verdict;
  arbs = c.targets;
});
afterAll(async () => pool?.close());

/** Cases per target per CI run; the campaign runs thousands (BENCHMARKS.md). */
const RUNS = Number(process.env.CTSCOPE_FUZZ_RUNS ?? 20);

describe('structural fuzzing of the file decoders (bounded, seeded)', () => {
  for (const target of ['capture', 'text'] as const) {
    it(`${target}: ${RUNS} hostile inputs replay to exit 0/1/2 with no stack trace and no 500`, async () => {
      const seen: Record<string, number> = {};
      await fc.assert(
        fc.asyncProperty(arbs[target], async (c) => {
          const r = await pool.run(c);
          seen[String(r.code)] = (seen[String(r.code)] ?? 0) + 1;
          const v = verdict(r);
          if (v) throw new Error(v);
        }),
        { numRuns: RUNS, seed: 17, endOnFailure: true },
      );
      // the slice reaches both the refusals and the replays behind them
      expect(Object.keys(seen).sort()).toEqual(expect.arrayContaining(['0', '1']));
    }, 600_000);
  }

  const saved = ['capture', 'text'].flatMap((t) => (fs.existsSync(path.join(fixtures, t)) ? fs.readdirSync(path.join(fixtures, t)).map((f) => path.join(t, f)) : []));
  for (const f of saved) {
    it(`saved crasher ${f} passes now`, async () => {
      const c = JSON.parse(fs.readFileSync(path.join(fixtures, f), 'utf8')) as Case;
      expect(verdict(await pool.run(c)), f).toBeNull();
    }, 120_000);
  }
});

describe('the hostile captures of issue 17 through the real command line', () => {
  // a fresh process each: exit code, stderr and time as an operator sees them
  const damaged = path.join(root, 'test/fixtures/damaged');
  for (const [file, says] of [
    ['loop-self.ctcap', /names itself as its next segment/],
    ['loop-a.ctcap', /already in the chain/],
    ['header-nan-boot.ctcap', /boot_base_ns NaN, which is not a time/],
  ] as const) {
    it(`${file}: exit 1 at once with one sentence`, () => {
      const t0 = Date.now();
      const r = spawnSync(process.execPath, [path.join(root, 'bin/ctscope.js'), 'replay', path.join(damaged, file), '--report', 'text'], { encoding: 'utf8', timeout: 60_000 });
      expect(r.status, r.stderr).toBe(1);
      expect(r.stderr).toMatch(says);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).not.toMatch(/\n\s+at |internal error/);
      expect(r.stdout).toBe('');
      // bounded: well within the budget even on a busy machine (it used to spin forever)
      expect(Date.now() - t0).toBeLessThan(30_000);
    });
  }
});

describe('the ctnetlink decoder under libFuzzer (ASan, UBSan)', () => {
  const corpus = path.join(fixtures, 'netlink');
  it('the saved crashers and real datagrams decode without a sanitizer report', () => {
    expect(fs.existsSync(fuzzBin), `${fuzzBin} missing: run make fuzz (scripts/setup.sh --test does)`).toBe(true);
    const files = fs.readdirSync(corpus).map((f) => path.join(corpus, f));
    expect(files.some((f) => path.basename(f).startsWith('crash-'))).toBe(true);
    const r = spawnSync(fuzzBin, files, { encoding: 'utf8' });
    expect(r.status, r.stderr.slice(-3000)).toBe(0);
  });

  it('a bounded coverage-guided run from the corpus finds nothing', () => {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'ctscope-nlfuzz-'));
    try {
      for (const f of fs.readdirSync(corpus)) fs.copyFileSync(path.join(corpus, f), path.join(work, f));
      const r = spawnSync(fuzzBin, [work, '-runs=30000', '-seed=17', '-rss_limit_mb=512', '-timeout=10', `-artifact_prefix=${work}/`], { encoding: 'utf8', timeout: 300_000 });
      expect(r.status, r.stderr.split('\n').filter((l) => /ERROR|SUMMARY|runtime error/.test(l)).join('\n')).toBe(0);
      expect(r.stderr).toMatch(/Done 30000 runs/);
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
  }, 300_000);
});
