#!/usr/bin/env node
// The whole test suite, as `npm test` and CI run it: the unit tier in
// parallel, then the kernel tier and the guest tier one file at a time. Ends
// with the plain line `N passed, N failed` that CI reads.
//
// No silent skips: every skip says why (test/helpers/requires.ts prints it
// and leaves it in the file CTSCOPE_SKIP_LOG names, read here). A skip without
// a reason fails the run; so does, in CI (CI=true: scripts/setup.sh --test has
// run), a skip whose requirement the set-up provides, and a tier that did not
// run for such a reason. Only what this machine cannot do (no root, no BTF, a
// kernel that refuses) is a skip that passes, printed beside each test.
// Reasons are known per file; test/unit/skips.test.ts makes every skip in a
// file go through cannotRun(), so a file's reasons are its skips' reasons.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
process.chdir(root);

const CI = !!process.env.CI && process.env.CI !== 'false';

// The same checks the tests make (scripts/test-tiers.mjs; the guest harness's own).
const { kernelTier } = await import('./test-tiers.mjs');
const { guestSupport } = await import('./guest/harness.mjs');
const { judgeTier } = await import('./lib/judge-tier.mjs');
function kernelTierNeeds() {
  const k = kernelTier();
  if (!k.ok) return k;
  if (!fs.existsSync('build/Release/ctscope.node')) return { ok: false, kind: 'setup', why: 'native addon not built (make -s all; npm test builds it)' };
  return k;
}

const tiers = [
  { name: 'unit', dirs: ['test/unit'], parallel: true, needs: { ok: true } },
  { name: 'kernel', dirs: ['test/kernel'], parallel: false, needs: kernelTierNeeds() },
  { name: 'guest', dirs: ['test/guest'], parallel: false, needs: guestSupport() },
];

let passed = 0;
let failed = 0;
const problems = [];
const vitest = path.join(root, 'node_modules/.bin/vitest');
const only = process.argv.slice(2); // optional: tier names

for (const tier of tiers) {
  if (only.length && !only.includes(tier.name)) continue;
  const present = tier.dirs.filter((d) => fs.existsSync(d) && fs.readdirSync(d).some((f) => f.endsWith('.test.ts')));
  if (present.length === 0) continue;
  const out = path.join(os.tmpdir(), `ctscope-vitest-${tier.name}-${process.pid}.json`);
  const skipLog = path.join(os.tmpdir(), `ctscope-skips-${tier.name}-${process.pid}.jsonl`);
  fs.rmSync(skipLog, { force: true });
  const { needs } = tier;
  if (!needs.ok) console.log(`\n== ${tier.name} tests: this machine cannot run them (${needs.why}); their skips are reported below`);
  else console.log(`\n== ${tier.name} tests`);
  const args = ['run', ...present, '--reporter=default', '--reporter=json', `--outputFile.json=${out}`];
  if (!tier.parallel) args.push('--no-file-parallelism');
  const r = spawnSync(vitest, args, { stdio: 'inherit', env: { ...process.env, CTSCOPE_TEST_TIER: tier.name, CTSCOPE_SKIP_LOG: skipLog } });
  let report = null;
  try {
    report = JSON.parse(fs.readFileSync(out, 'utf8'));
  } catch {
    console.log(`(vitest exited ${r.status} and wrote no report)`);
  }
  fs.rmSync(out, { force: true });
  const log = fs.existsSync(skipLog) ? fs.readFileSync(skipLog, 'utf8') : '';
  fs.rmSync(skipLog, { force: true });
  const j = judgeTier({ tier: tier.name, needs, report, skipLog: log, ci: CI, rel: (f) => path.relative(root, f) });
  passed += j.passed;
  failed += j.failed;
  problems.push(...j.problems);
  for (const s of j.skipped) console.log(s);
}

if (problems.length) {
  console.log('\nProblems:');
  for (const p of problems) console.log(`  ${p}`);
}
console.log(`\n${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
