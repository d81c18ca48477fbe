// The Grafana dashboard (share/grafana/ctscope.json, the one file the
// Kubernetes deployment also ships): a dashboard Grafana can import (its
// model's fields, a Prometheus data source variable, every panel on it), and
// every query reads only series ctscope's /metrics exports — and returns data
// over them: each panel's expression is evaluated by promtool over input
// series taken from a real exposition (the renderers' own output).

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { exportedMetrics, isExported, queriedNames } from '../helpers/metric-names.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const file = path.join(root, 'share/grafana/ctscope.json');
const dash = JSON.parse(fs.readFileSync(file, 'utf8'));

interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { h: number; w: number; x: number; y: number };
  datasource?: { type: string; uid: string };
  targets?: Array<{ expr: string; refId: string; datasource?: { uid: string } }>;
}
const panels = dash.panels as Panel[];
const queries = panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p, expr: t.expr })));

/** A query as Prometheus receives it: Grafana's variables replaced by what they stand for. */
function concrete(expr: string): string {
  return expr.replaceAll('$__rate_interval', '5m').replaceAll('"$instance"', '".*"').replaceAll('"$dimension"', '"src"');
}

describe('share/grafana/ctscope.json', () => {
  it('is one dashboard Grafana imports: model fields, a Prometheus data source variable, panels on the grid', () => {
    expect(fs.readdirSync(path.join(root, 'share/grafana'))).toEqual(['ctscope.json']); // one dashboard, not two
    expect(dash).toMatchObject({ uid: 'ctscope-conntrack', title: expect.any(String), schemaVersion: expect.any(Number), timezone: 'utc' });
    const vars = dash.templating.list as Array<{ name: string; type: string; query: unknown }>;
    expect(vars.find((v) => v.name === 'datasource')).toMatchObject({ type: 'datasource', query: 'prometheus' });
    expect(vars.map((v) => v.name)).toEqual(['datasource', 'instance', 'dimension']);
    const ids = panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of panels) {
      const g = p.gridPos;
      expect(g.x + g.w, p.title).toBeLessThanOrEqual(24);
      expect(g.w * g.h, p.title).toBeGreaterThan(0);
      for (const t of p.targets ?? []) {
        expect(p.datasource ?? t.datasource, p.title).toMatchObject({ uid: '${datasource}' });
        expect(t.refId).toMatch(/^[A-Z]$/);
      }
    }
    // the panels the page has: tables, allocations, drops, occupancy, lifetimes, sources
    for (const want of [/utilization/i, /time to full/i, /allocations/i, /dropped packets/i, /by kind/i, /protocol and state/i, /lifetimes/i, /sources/i, /lost records/i]) {
      expect(panels.some((p) => want.test(p.title)), String(want)).toBe(true);
    }
    expect(queries.length).toBeGreaterThanOrEqual(15);
  });

  it('queries only series ctscope exports', () => {
    const { names } = exportedMetrics();
    for (const q of queries) {
      const used = queriedNames(q.expr);
      expect(used.length, q.panel.title).toBeGreaterThan(0);
      for (const n of used) expect(isExported(n, names), `${q.panel.title}: ${n}`).toBe(true);
    }
  });

  it('every panel query parses and returns data over a real exposition (promtool)', () => {
    const check = spawnSync('promtool', ['--version']);
    expect(check.error, 'promtool is installed by scripts/setup.sh --test (Debian package prometheus)').toBeUndefined();
    const { text } = exportedMetrics();
    // every sample of the exposition as an input series, rising by one a minute (counters and histograms stay monotonic)
    const series = text
      .split('\n')
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => {
        const m = /^([a-z_:][a-z0-9_:]*)(\{.*\})? (\S+)$/.exec(l)!;
        expect(m, l).not.toBeNull();
        const labels = m[2] ? m[2].slice(1, -1) : '';
        const v = Number(m[3]);
        return { series: `${m[1]}{${labels ? `${labels},` : ''}instance="node-a",job="ctscope"}`, values: `${Number.isFinite(v) ? v : 1e9}+1x30` };
      });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ctscope-grafana-'));
    try {
      // each query as an alert that fires when the query returns anything
      const rules = queries.map((q, i) => `      - alert: q${i}\n        expr: ${JSON.stringify(`count(${concrete(q.expr)}) > 0`)}\n`).join('');
      fs.writeFileSync(path.join(dir, 'rules.yml'), `groups:\n  - name: panels\n    rules:\n${rules}`);
      const lint = spawnSync('promtool', ['check', 'rules', path.join(dir, 'rules.yml')], { encoding: 'utf8' });
      expect(lint.status, lint.stdout + lint.stderr).toBe(0);
      const tests = {
        rule_files: ['rules.yml'],
        evaluation_interval: '1m',
        tests: [{ interval: '1m', input_series: series, alert_rule_test: queries.map((_q, i) => ({ eval_time: '20m', alertname: `q${i}`, exp_alerts: [{ exp_labels: {} }] })) }],
      };
      fs.writeFileSync(path.join(dir, 'test.yml'), JSON.stringify(tests)); // JSON is YAML
      const run = spawnSync('promtool', ['test', 'rules', path.join(dir, 'test.yml')], { encoding: 'utf8' });
      const failing = [...(run.stdout + run.stderr).matchAll(/alertname: q(\d+)/g)].map((m) => `${queries[Number(m[1])]!.panel.title}: ${queries[Number(m[1])]!.expr}`);
      expect(failing, run.stdout + run.stderr).toEqual([]);
      expect(run.status, run.stdout + run.stderr).toBe(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
