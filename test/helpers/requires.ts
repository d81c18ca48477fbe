// Why a test does not run here. Every skip in test/ goes through cannotRun():
// it prints the reason when the file is collected (in the file's output, where
// a person reads it) and hands it to the runner (scripts/run-tests.mjs, through
// the file CTSCOPE_SKIP_LOG names), which prints it beside each skipped test
// and fails the run on a skip without a reason, and in CI on a skip whose
// requirement the set-up provides: a suite this machine can run must run.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import type { Requirement } from '../../scripts/test-tiers.mjs';
import { ADDON_PATH } from '../../src/native/addon.js';
import { bpfObjectPath } from '../../src/sources/bpf-ring.js';

export type { Requirement };

const reported = new Set<string>();

/** True when the tests must not run here; says why, once per file and reason. */
export function cannotRun(r: Requirement): boolean {
  if (r.ok) return false;
  const file = expect.getState().testPath ?? 'unknown file';
  const why = r.why ?? 'no reason given';
  const kind = r.kind ?? 'setup';
  if (reported.has(`${file}\0${why}`)) return true;
  reported.add(`${file}\0${why}`);
  console.warn(`skipped here (${kind}): ${path.relative(process.cwd(), file)}: ${why}`);
  const log = process.env.CTSCOPE_SKIP_LOG;
  if (log) fs.appendFileSync(log, `${JSON.stringify({ file, why, kind })}\n`);
  return true;
}

/** The first requirement not met, else met. */
export function all(...rs: Requirement[]): Requirement {
  return rs.find((r) => !r.ok) ?? { ok: true };
}

/** The native addon and, where named, BPF objects are built (make -s all; npm test builds them). */
export function built(...objects: string[]): Requirement {
  for (const p of [ADDON_PATH, ...objects.map((o) => bpfObjectPath(o))]) {
    if (!fs.existsSync(p)) return { ok: false, kind: 'setup', why: `${path.relative(process.cwd(), p)} is not built (make -s all; npm test builds it)` };
  }
  return { ok: true };
}

/** A command on PATH, from the Debian package that has it. */
export function command(cmd: string, pkg: string): Requirement {
  const ok = spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
  return ok ? { ok } : { ok, kind: 'setup', why: `${cmd} is missing (Debian package ${pkg}; scripts/setup.sh --test installs it)` };
}
