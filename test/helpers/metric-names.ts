// Everything the daemon's /metrics can export, rendered by the renderers
// themselves over a model that has seen allocations, destroys, drops and a
// filling table (so the per-key, forecast and histogram families have
// samples). The alert rules (share/prometheus) and the Grafana dashboard
// (share/grafana) are checked against it: they may query only these series.

import { DelayHistogram, writeDelayMetrics } from '../../src/metrics/delay.js';
import { Exposition } from '../../src/metrics/exposition.js';
import { writeModelMetrics } from '../../src/metrics/model-families.js';
import { renderSourceMetrics, renderTableMetrics } from '../../src/metrics/table-families.js';
import { Model } from '../../src/model/model.js';
import type { ProcSnapshot } from '../../src/proc/types.js';
import { Cause, Kind } from '../../src/records/layout.js';
import type { RecordInit } from '../../src/records/encode.js';
import { batch, SEC } from '../unit/model-batch.js';

/** The full exposition text and the metric family names in it. */
export function exportedMetrics(): { text: string; names: Set<string> } {
  const model = new Model();
  const recs: RecordInit[] = [];
  for (let i = 0; i < 30; i++) {
    const r = { id: i + 1, src: `10.0.0.${1 + (i % 3)}`, dst: '10.0.9.9', sport: 4000 + i, dport: i % 2 ? 53 : 80, proto: i % 2 ? 17 : 6, netns: 7 };
    recs.push({ ...r, kind: Kind.ALLOC, ts: (1000 + i) * SEC, start: (1000 + i) * SEC, state: 1 });
    if (i < 10) recs.push({ ...r, kind: Kind.DESTROY, ts: (1031 + i) * SEC, cause: Cause.TIMEOUT });
  }
  for (let i = 0; i < 5; i++) recs.push({ kind: Kind.DROP, ts: (1045 + i) * SEC, src: '10.0.0.4', dst: '10.0.9.9', dport: 53, proto: 17, netns: 7, aux: 12 });
  recs.sort((a, b) => a.ts! - b.ts!);
  // a growing table, so the forecast series exist too
  for (let i = 0; i < 60; i++) {
    const s: ProcSnapshot = { ts: (1000 + i) * SEC, netns: 7, count: 100 + 10 * i, max: 1000, buckets: 256, stats: { drop: i, early_drop: 0, insert_failed: 0, found: 0, invalid: 0, ignore: 0, insert: 0, search_restart: 0 }, timeouts: { udp_timeout: 30 } };
    model.ingestProc(s);
  }
  model.ingest(batch(recs));
  const e = new Exposition();
  renderTableMetrics(e, model.tables);
  renderSourceMetrics(e, [{ name: 'netlink', state: 'running', hook: 'ctnetlink', records: 0, lost: { netlinkOverruns: 0, resyncs: 0, queueDropped: 0, total: 0 } }]);
  const delay = new DelayHistogram();
  delay.observe(batch(recs.slice(0, 3)), 1050 * SEC);
  writeDelayMetrics(e, new Map([['netlink', delay]]));
  writeModelMetrics(e, model, { topK: 5 });
  const text = e.text();
  return { text, names: new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!)) };
}

/** The metric names a PromQL expression reads. */
export function queriedNames(expr: string): string[] {
  return [...expr.matchAll(/\b((?:node|ctscope)_[a-z0-9_]+)/g)].map((m) => m[1]!);
}

/** Whether `name` is an exported family, or a series of an exported histogram (_bucket, _sum, _count). */
export function isExported(name: string, names: ReadonlySet<string>): boolean {
  return names.has(name) || names.has(name.replace(/_(bucket|sum|count)$/, ''));
}
