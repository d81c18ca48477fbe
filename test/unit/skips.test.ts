// Every skip in test/ says why: it goes through cannotRun()
// (test/helpers/requires.ts), which prints the reason and hands it to the
// runner. The runner can only tell which files gave reasons, not which tests,
// so a bare it.skip / .todo / .only, or a skipIf on a condition that did not
// come from cannotRun(), is refused here, where it is written.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const TEST = path.resolve(__dirname, '..');

function files(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(path.join(dir, e.name)) : e.name.endsWith('.test.ts') ? [path.join(dir, e.name)] : []));
}

/** What is wrong with the skips of one file's text ([] when nothing). */
export function skipProblems(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/\b(?:it|test|describe|suite)\.(skip|todo|only|runIf)\b/g)) out.push(`.${m[1]} (use skipIf(cannotRun(requirement)))`);
  const fromCannotRun = new Set([...text.matchAll(/\bconst (\w+) = cannotRun\(/g)].map((m) => m[1]!));
  for (const m of text.matchAll(/\.skipIf\(\s*(cannotRun\(|[^)(,]+)/g)) {
    const arg = m[1]!.trim();
    if (arg !== 'cannotRun(' && !fromCannotRun.has(arg)) out.push(`skipIf(${arg}): not a cannotRun() result`);
  }
  // a warning printed and the test passed anyway is a skip nobody counts
  if (/\bconsole\.warn\(/.test(text)) out.push('console.warn (a check left out must be a skipIf(cannotRun(requirement)) test of its own)');
  return out;
}

describe('skips', () => {
  it.each([
    ['it.skip("x", () => {})', 1],
    ['describe.todo("x")', 1],
    ['it.only("x", () => {})', 1],
    ['it.runIf(built)("x", () => {})', 1],
    ['const ok = fs.existsSync(p);\ndescribe.skipIf(!ok)("x", () => {})', 1],
    ['const skip = cannotRun(kernelTier());\ndescribe.skipIf(skip)("x", () => {})', 0],
    ['it.skipIf(cannotRun(command("promtool", "prometheus")))("x", () => {})', 0],
    ['describe.skipIf(skip).each(kernels)("x %s", () => {})', 1],
    ['if (p.error) console.warn("promtool missing");\nelse expect(p.status).toBe(0);', 1],
  ])('the check itself: %s -> %i problem(s)', (text, n) => {
    expect(skipProblems(text)).toHaveLength(n);
  });

  it('every skip in test/ goes through cannotRun()', () => {
    const bad = files(TEST).flatMap((f) => skipProblems(fs.readFileSync(f, 'utf8')).map((p) => `${path.relative(TEST, f)}: ${p}`));
    // this file's own examples are strings in a table, not skips
    expect(bad.filter((b) => !b.startsWith('unit/skips.test.ts'))).toEqual([]);
  });
});
