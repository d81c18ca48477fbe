#!/usr/bin/env node
// The fuzz campaign (issue 17): structural fuzzing of ctscope's decoders for
// longer than CI affords. CI runs a bounded, seeded slice of the same
// properties on every run (test/unit/fuzz-decoders.test.ts) and every
// checked-in crasher (test/fixtures/fuzz/).
//
//   node scripts/fuzz.mjs [--target capture|text|netlink|all] [--minutes M | --runs N]
//                         [--seed S] [--budget-ms B] [--save]
//
// capture, text: hostile .ctcap chains and conntrack text (scripts/fuzz/cases.mjs)
//   replayed in a worker thread with a heap limit and a time budget per case
//   (scripts/fuzz/pool.mjs); the property: exit 0/1/2, no stack trace, one
//   sentence on failure, no 500 from the API served over the result.
// netlink: the ctnetlink message decoder (native/netlink_decode.cc) under
//   libFuzzer with AddressSanitizer and UndefinedBehaviorSanitizer
//   (native/fuzz/netlink_fuzz.cc, built by `make fuzz`), coverage-guided, from
//   the corpus in test/fixtures/fuzz/netlink/.
//
// A failing case is shrunk and, with --save, written to test/fixtures/fuzz/
// where CI replays it from then on. Prints cases run, cases/s and findings.
// Build first: `make -s ts` (and `make fuzz` for netlink).

import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    target: { type: 'string', default: 'all' },
    minutes: { type: 'string' },
    runs: { type: 'string' },
    seed: { type: 'string' },
    'budget-ms': { type: 'string', default: '15000' },
    save: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  process.stdout.write(fs.readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(1, 22).map((l) => l.replace(/^\/\/ ?/, '')).join('\n') + '\n');
  process.exit(0);
}
const targets = values.target === 'all' ? ['capture', 'text', 'netlink'] : values.target.split(',');
const minutes = values.minutes !== undefined ? Number(values.minutes) : values.runs !== undefined ? Infinity : 10;
const runsPerTarget = values.runs !== undefined ? Number(values.runs) : Infinity;
const deadlinePerTarget = (minutes * 60_000) / targets.length;
let seed = values.seed !== undefined ? Number(values.seed) : Date.now() % 2 ** 31;
const fixtures = path.join(root, 'test/fixtures/fuzz');

const summary = [];

async function jsTarget(name) {
  const { targets: arbs } = await import('./fuzz/cases.mjs');
  const { FuzzPool, verdict } = await import('./fuzz/pool.mjs');
  const pool = new FuzzPool({ budgetMs: Number(values['budget-ms']) });
  const start = Date.now();
  let runs = 0;
  const findings = [];
  const codes = {};
  try {
    while (runs < runsPerTarget && Date.now() - start < deadlinePerTarget) {
      const batch = Math.min(200, runsPerTarget - runs);
      const s = seed++;
      const r = await fc.check(
        fc.asyncProperty(arbs[name], async (c) => {
          const res = await pool.run(c);
          codes[res.code ?? (res.timedOut ? 'timeout' : 'crash')] = (codes[res.code ?? (res.timedOut ? 'timeout' : 'crash')] ?? 0) + 1;
          const v = verdict(res);
          if (v) throw new Error(v);
        }),
        { numRuns: batch, seed: s, interruptAfterTimeLimit: Math.max(1000, deadlinePerTarget - (Date.now() - start)) },
      );
      runs += r.numRuns;
      if (r.failed) {
        const c = r.counterexample[0];
        const why = r.errorInstance?.message ?? String(r.error);
        const id = crypto.createHash('sha1').update(JSON.stringify(c)).digest('hex').slice(0, 10);
        findings.push({ id, seed: s, why: why.slice(0, 300) });
        console.log(`[${name}] FINDING (seed ${s}): ${why.slice(0, 2000)}`);
        if (values.save) {
          fs.mkdirSync(path.join(fixtures, name), { recursive: true });
          const f = path.join(fixtures, name, `${id}.json`);
          fs.writeFileSync(f, JSON.stringify({ found: why.split('\n')[0].slice(0, 300), ...c }, null, 1) + '\n');
          console.log(`[${name}] saved ${path.relative(root, f)}`);
        }
      }
      if (r.interrupted) break;
    }
  } finally {
    await pool.close();
  }
  const secs = (Date.now() - start) / 1000;
  summary.push({ target: name, cases: runs, seconds: Math.round(secs), per_second: +(runs / secs).toFixed(2), exit_codes: codes, findings: findings.length });
}

function netlinkTarget() {
  const bin = path.join(root, 'fuzz-build/netlink_fuzz');
  if (!fs.existsSync(bin)) {
    console.log(`[netlink] ${path.relative(root, bin)} missing: run 'make fuzz' (needs clang with libFuzzer: libclang-rt-14-dev)`);
    summary.push({ target: 'netlink', cases: 0, findings: 'not built' });
    return;
  }
  const corpus = path.join(root, 'test/fixtures/fuzz/netlink');
  const work = fs.mkdtempSync('/tmp/ctscope-netlink-corpus-');
  for (const f of fs.readdirSync(corpus)) fs.copyFileSync(path.join(corpus, f), path.join(work, f));
  const artifacts = values.save ? `${corpus}/` : `${work}/crash-`;
  const args = [work, `-artifact_prefix=${artifacts}`, `-seed=${seed}`, '-rss_limit_mb=512', '-timeout=5', '-print_final_stats=1'];
  if (Number.isFinite(runsPerTarget)) args.push(`-runs=${runsPerTarget}`);
  else args.push(`-max_total_time=${Math.max(1, Math.round(deadlinePerTarget / 1000))}`);
  const t0 = Date.now();
  const r = spawnSync(bin, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  const out = r.stdout + r.stderr;
  const runs = Number(/stat::number_of_executed_units:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const cov = /cov: (\d+) ft: (\d+)/.exec(out.split('\n').filter((l) => l.includes('cov:')).pop() ?? '');
  const failed = r.status !== 0;
  if (failed) console.log(`[netlink] FINDING:\n${out.split('\n').filter((l) => /ERROR|SUMMARY|crash-|Test unit written/.test(l)).join('\n')}`);
  fs.rmSync(work, { recursive: true, force: true });
  const secs = (Date.now() - t0) / 1000;
  summary.push({ target: 'netlink', cases: runs, seconds: Math.round(secs), per_second: Math.round(runs / secs), coverage_edges: cov ? Number(cov[1]) : null, findings: failed ? 1 : 0 });
}

for (const t of targets) {
  if (t === 'netlink') netlinkTarget();
  else await jsTarget(t);
}
console.log(JSON.stringify({ seed: values.seed ?? 'time', summary }, null, 1));
process.exitCode = summary.some((s) => typeof s.findings === 'number' && s.findings > 0) ? 1 : 0;
