// How scripts/run-tests.mjs judges one tier's vitest report: what passed,
// what failed, and what was skipped and why. Separate so that the rules —
// no skip without a reason; in CI no skip, and no tier left out, for a reason
// the set-up provides — are tested (test/unit/judge-tier.test.ts) and not
// only trusted.

/**
 * @param {object} x
 * @param {string} x.tier tier name (unit, kernel, guest)
 * @param {{ ok: boolean, kind?: string, why?: string }} x.needs what the tier needs, as checked before it ran
 * @param {{ testResults?: Array<{ name: string, status?: string, message?: string, assertionResults?: Array<{ status: string, fullName: string }> }> } | null} x.report vitest's JSON report, null when it wrote none
 * @param {string} x.skipLog the lines cannotRun() appended (JSON: file, why, kind)
 * @param {boolean} x.ci CI=true: the set-up has run, so only the machine's own limits may skip
 * @param {(file: string) => string} x.rel how a test file is named in the output
 * @returns {{ passed: number, failed: number, problems: string[], skipped: string[] }}
 */
export function judgeTier({ tier, needs, report, skipLog, ci, rel }) {
  let passed = 0;
  let failed = 0;
  const problems = [];
  const skipped = [];
  if (!needs.ok && ci && needs.kind !== 'machine') {
    failed += 1;
    problems.push(`${tier} tier did not run in CI although the set-up provides what it lacks: ${needs.why}`);
  }
  if (!report) {
    failed += 1;
    problems.push(`${tier}: vitest produced no report`);
    return { passed, failed, problems, skipped };
  }
  // file -> the reasons its skips were given (a file may print one from each of its workers' runs)
  const reasons = new Map();
  for (const line of skipLog.split('\n')) {
    if (!line) continue;
    const s = JSON.parse(line);
    const list = reasons.get(s.file) ?? [];
    if (!list.some((y) => y.why === s.why)) list.push(s);
    reasons.set(s.file, list);
  }
  for (const file of report.testResults ?? []) {
    if ((file.assertionResults ?? []).length === 0 && file.status === 'failed') {
      failed += 1;
      problems.push(`${rel(file.name)}: ${file.message?.split('\n')[0] ?? 'failed to load'}`);
    }
    const why = reasons.get(file.name) ?? [];
    for (const t of file.assertionResults ?? []) {
      const name = `${rel(file.name)} > ${t.fullName}`;
      if (t.status === 'passed') passed += 1;
      else if (t.status === 'failed') {
        failed += 1;
        problems.push(`FAILED ${name}`);
      } else if (why.length === 0) {
        failed += 1;
        problems.push(`SKIPPED without a reason (${t.status}): ${name}`);
      } else if (ci && why.some((w) => w.kind !== 'machine')) {
        failed += 1;
        problems.push(`SKIPPED in CI although the set-up provides it (${why.map((w) => w.why).join('; ')}): ${name}`);
      } else {
        skipped.push(`skipped (${why.map((w) => w.why).join('; ')}): ${name}`);
      }
    }
  }
  return { passed, failed, problems, skipped };
}
