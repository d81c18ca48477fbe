#!/usr/bin/env node
// `npm run bench`: every bench/*.mjs in turn (or those named on the command
// line), each printing its own markdown table. They measure, they do not
// assert: the figures and the commands that produced them go to BENCHMARKS.md.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
process.chdir(root);
const only = process.argv.slice(2);
const files = fs
  .readdirSync('bench')
  .filter((f) => f.endsWith('.mjs'))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort();
const cpu = (fs.readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/) ?? [])[1] ?? 'unknown CPU';
console.log(`# ctscope benchmarks — ${new Date().toISOString()}`);
console.log(`machine: ${os.cpus().length} × ${cpu}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, kernel ${os.release()}, node ${process.version}\n`);
let failed = 0;
for (const f of files) {
  console.log(`## bench/${f}\n`);
  const r = spawnSync(process.execPath, ['--expose-gc', path.join('bench', f)], { stdio: 'inherit' });
  if (r.status !== 0) {
    failed++;
    console.log(`bench/${f} exited with ${r.status}`);
  }
}
process.exit(failed ? 1 : 0);
