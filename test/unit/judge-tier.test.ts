// The test runner's rules (scripts/lib/judge-tier.mjs, used by
// scripts/run-tests.mjs for `npm test` and CI): a skip without a reason fails
// the run; in CI a skip, or a whole tier left out, for a reason the set-up
// provides fails it too; only the machine's own limits (no root, a kernel
// that refuses) skip and pass, with the reason printed beside each test.
import { describe, expect, it } from 'vitest';
import { judgeTier } from '../../scripts/lib/judge-tier.mjs';

const FILE = '/repo/test/kernel/x.test.ts';
const report = (...statuses: string[]) => ({ testResults: [{ name: FILE, status: 'passed', assertionResults: statuses.map((status, i) => ({ status, fullName: `t${i}` })) }] });
const reason = (kind: string, why: string) => `${JSON.stringify({ file: FILE, why, kind })}\n`;
const judge = (o: { statuses?: string[]; skipLog?: string; ci?: boolean; needs?: { ok: boolean; kind?: string; why?: string }; report?: null }) =>
  judgeTier({
    tier: 'kernel',
    needs: o.needs ?? { ok: true },
    report: o.report === null ? null : report(...(o.statuses ?? [])),
    skipLog: o.skipLog ?? '',
    ci: o.ci ?? false,
    rel: (f: string) => f.replace('/repo/', ''),
  });

describe('judgeTier', () => {
  it.each([
    ['all passed', { statuses: ['passed', 'passed'] }, 2, 0, 0],
    ['a failure', { statuses: ['passed', 'failed'] }, 1, 1, 0],
    ['a skip with no reason printed', { statuses: ['skipped'] }, 0, 1, 0],
    ['a todo with no reason printed', { statuses: ['todo'] }, 0, 1, 0],
    ['a skip for the machine, outside CI', { statuses: ['skipped'], skipLog: reason('machine', 'no BTF') }, 0, 0, 1],
    ['a skip for the machine, in CI', { statuses: ['skipped'], skipLog: reason('machine', 'no BTF'), ci: true }, 0, 0, 1],
    ['a skip for the set-up, outside CI (npm test without the set-up)', { statuses: ['skipped'], skipLog: reason('setup', 'promtool is missing') }, 0, 0, 1],
    ['a skip for the set-up in CI: the set-up provides it, so it must run', { statuses: ['skipped'], skipLog: reason('setup', 'promtool is missing'), ci: true }, 0, 1, 0],
    ['a tier the set-up should have made runnable, in CI', { needs: { ok: false, kind: 'setup', why: 'addon not built' }, ci: true }, 0, 1, 0],
    ['a tier this machine cannot run, in CI', { needs: { ok: false, kind: 'machine', why: 'not root' }, ci: true }, 0, 0, 0],
    ['no report at all', { report: null }, 0, 1, 0],
  ] as const)('%s', (_what, o, passed, failed, skipped) => {
    const j = judge(o as Parameters<typeof judge>[0]);
    expect([j.passed, j.failed, j.skipped.length]).toEqual([passed, failed, skipped]);
    expect(j.problems).toHaveLength(failed);
  });

  it('prints the reason beside each skipped test, and names the test that lacks one', () => {
    expect(judge({ statuses: ['skipped'], skipLog: reason('machine', 'no BTF') }).skipped).toEqual(['skipped (no BTF): test/kernel/x.test.ts > t0']);
    expect(judge({ statuses: ['skipped'] }).problems).toEqual(['SKIPPED without a reason (skipped): test/kernel/x.test.ts > t0']);
  });
});
