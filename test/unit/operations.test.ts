// What ships for operators beside the daemon: the Prometheus alert rules
// (share/prometheus) and the systemd unit (share/systemd). The rules must
// pass promtool, fire as their unit tests say, and name only series that
// ctscope's /metrics really exports.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { exportedMetrics, isExported, queriedNames } from '../helpers/metric-names.js';
import { cannotRun, command } from '../helpers/requires.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const rules = path.join(root, 'share/prometheus/ctscope-alerts.yml');
const noPromtool = cannotRun(command('promtool', 'prometheus'));

describe('operations files', () => {
  it.skipIf(noPromtool)('the alert rules pass promtool and their unit tests', () => {
    const check = spawnSync('promtool', ['check', 'rules', rules], { encoding: 'utf8' });
    expect(check.status, check.stdout + check.stderr).toBe(0);
    const test = spawnSync('promtool', ['test', 'rules', path.join(root, 'test/fixtures/prometheus/alerts.test.yml')], { encoding: 'utf8' });
    expect(test.status, test.stdout + test.stderr).toBe(0);
  });

  it('the alert rules use only series /metrics exports', () => {
    const { names } = exportedMetrics();
    const exprs = [...fs.readFileSync(rules, 'utf8').matchAll(/^\s+expr: (.+)$/gm)].map((m) => m[1]!);
    expect(exprs.length).toBeGreaterThanOrEqual(5);
    const used = new Set(exprs.flatMap(queriedNames));
    expect(used.size).toBeGreaterThan(0);
    for (const n of used) expect(isExported(n, names), n).toBe(true);
  });

  it('the systemd unit starts the installed ctscope (a bare name: /usr/bin or /usr/local/bin), on loopback, stopped by SIGTERM', () => {
    const unit = fs.readFileSync(path.join(root, 'share/systemd/ctscope.service'), 'utf8');
    const exec = /^ExecStart=(\S+) (.*)$/m.exec(unit);
    expect(exec).not.toBeNull();
    expect(exec![1]).toBe(JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).name); // the package's bin
    expect(Object.keys(JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).bin)).toEqual([exec![1]]);
    expect(exec![2]).toMatch(/^run --listen 127\.0\.0\.1:\d+$/);
    expect(unit).toMatch(/^KillSignal=SIGTERM$/m);
    expect(unit).toMatch(/^RuntimeDirectory=ctscope$/m); // /run/ctscope/id.key, the per-boot id key
  });
});
