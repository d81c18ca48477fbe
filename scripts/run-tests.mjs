#!/usr/bin/env node
// The whole test suite, as `npm test` and CI run it: the unit tier in
// parallel, then the kernel tier and the guest tier one file at a time. Ends
// with the plain line `N passed, N failed` that CI reads.
//
// No silent skips: a skipped test is a failure when this machine can run its
// tier (root, BTF, netns tools; qemu for the guest tier), so a suite that
// should have run and did not turns CI red. Where a tier cannot run, the
// reason is printed.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
process.chdir(root);

function has(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function kernelTierReason() {
  if (process.getuid?.() !== 0) return 'not root';
  if (!fs.existsSync('/sys/kernel/btf/vmlinux')) return 'no kernel BTF';
  for (const t of ['ip', 'nft', 'conntrack']) if (!has(t)) return `${t} missing`;
  if (!fs.existsSync('build/Release/ctscope.node')) return 'native addon not built';
  return null;
}

// The harness's own check (qemu, busybox-static, cpio, a Debian host, root).
const { guestSupport } = await import('./guest/harness.mjs');
function guestTierReason() {
  const g = guestSupport();
  return g.ok ? null : g.why;
}

const tiers = [
  { name: 'unit', dirs: ['test/unit'], parallel: true, reason: null },
  { name: 'kernel', dirs: ['test/kernel'], parallel: false, reason: kernelTierReason() },
  { name: 'guest', dirs: ['test/guest'], parallel: false, reason: guestTierReason() },
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
  if (tier.reason) console.log(`\n== ${tier.name} tests: this machine cannot run them (${tier.reason}); their skips are reported below`);
  else console.log(`\n== ${tier.name} tests`);
  const args = ['run', ...present, '--reporter=default', '--reporter=json', `--outputFile.json=${out}`];
  if (!tier.parallel) args.push('--no-file-parallelism');
  const r = spawnSync(vitest, args, { stdio: 'inherit', env: { ...process.env, CTSCOPE_TEST_TIER: tier.name } });
  let report;
  try {
    report = JSON.parse(fs.readFileSync(out, 'utf8'));
    fs.rmSync(out, { force: true });
  } catch {
    failed += 1;
    problems.push(`${tier.name}: vitest produced no report (exit ${r.status})`);
    continue;
  }
  for (const file of report.testResults ?? []) {
    if ((file.assertionResults ?? []).length === 0 && file.status === 'failed') {
      failed += 1;
      problems.push(`${path.relative(root, file.name)}: ${file.message?.split('\n')[0] ?? 'failed to load'}`);
    }
    for (const t of file.assertionResults ?? []) {
      const name = `${path.relative(root, file.name)} > ${t.fullName}`;
      if (t.status === 'passed') passed += 1;
      else if (t.status === 'failed') {
        failed += 1;
        problems.push(`FAILED ${name}`);
      } else if (!tier.reason) {
        // Skipped although this machine can run the tier.
        failed += 1;
        problems.push(`SKIPPED but runnable here: ${name}`);
      } else {
        console.log(`skipped (${tier.reason}): ${name}`);
      }
    }
  }
}

if (problems.length) {
  console.log('\nProblems:');
  for (const p of problems) console.log(`  ${p}`);
}
console.log(`\n${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
