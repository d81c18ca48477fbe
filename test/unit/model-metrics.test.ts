// The model's /metrics text: bounded per-key series and promtool-clean.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { Model } from '../../src/model/model.js';
import { renderModelMetrics } from '../../src/metrics/model-families.js';
import { Cause, Kind } from '../../src/records/layout.js';
import type { RecordInit } from '../../src/records/encode.js';
import { batch, SEC } from './model-batch.js';
import { cannotRun, command } from '../helpers/requires.js';

function busyModel(): Model {
  const m = new Model();
  const recs: RecordInit[] = [];
  let id = 1n;
  for (let s = 0; s < 40; s++) {
    for (let i = 0; i <= s; i++) recs.push({ kind: Kind.ALLOC, id: id++, ts: 10 * SEC, start: 10 * SEC, src: `10.0.1.${s}`, dst: '10.0.0.9', dport: 1000 + s, proto: 17 });
  }
  for (let i = 1n; i < 30n; i++) recs.push({ kind: Kind.DESTROY, id: i, ts: 12 * SEC, src: '10.0.1.39', proto: 17, cause: Cause.TIMEOUT });
  for (let i = 0; i < 7; i++) recs.push({ kind: Kind.DROP, ts: 12 * SEC, src: '10.0.2.1', proto: 6, dport: 80, aux: 12 });
  for (let i = 0; i < 5; i++) recs.push({ kind: Kind.TABLE_FULL, ts: 12 * SEC, src: '10.0.2.2', proto: 17 });
  m.ingest(batch(recs));
  for (let t = 0; t < 5; t++) m.ingestProc({ ts: (8 + t) * SEC, netns: 1, count: 100 + t, max: 1000, buckets: 1024, stats: {}, timeouts: {} });
  return m;
}

describe('renderModelMetrics', () => {
  it('has totals, drops by kind, lifetimes and only the top-K per key', () => {
    const text = renderModelMetrics(busyModel(), { topK: 5 });
    expect(text).toContain('ctscope_conntrack_allocations_total 820');
    expect(text).toContain('ctscope_conntrack_destroys_total{cause="timeout"} 29');
    expect(text).toContain('ctscope_conntrack_drops_total{kind="table_full"} 5');
    expect(text).toContain('ctscope_conntrack_drops_total{kind="netfilter"} 7');
    expect(text).toContain('ctscope_netfilter_drops_total{reason="12"} 7');
    expect(text).toContain('ctscope_conntrack_lifetime_seconds_count{proto="udp",state="UNREPLIED"} 29');
    const perKey = text.split('\n').filter((l) => l.startsWith('ctscope_top_allocations_per_second{dimension="src"'));
    expect(perKey).toHaveLength(5);
    expect(perKey[0]).toContain('key="10.0.1.39"');
    expect(text.split('\n').filter((l) => l.startsWith('ctscope_top_entries{dimension="dport"'))).toHaveLength(5);
  });

  it('reports the occupancy indexes the scrape keeps and the lifetimes it sampled out', () => {
    const m = busyModel();
    expect(renderModelMetrics(m, { topK: 0 })).not.toContain('ctscope_model_occupancy_index_pairs{');
    const text = renderModelMetrics(m, { topK: 5 });
    // Source s (port 1000 + s) opened s + 1 entries, ids in order; destroying ids 1-29 closed
    // every entry of sources 0-6 (1 + 2 + ... + 7 = 28) and one of source 7: 33 sources and
    // ports left, one destination, all UDP UNREPLIED.
    expect(text).toContain('ctscope_model_occupancy_index_pairs{dimension="src"} 33');
    expect(text).toContain('ctscope_model_occupancy_index_pairs{dimension="dst"} 1');
    expect(text).toContain('ctscope_model_occupancy_index_pairs{dimension="dport"} 33');
    expect(text).toContain('ctscope_model_lifetimes_sampled_out_total 0');
  });

  it.skipIf(cannotRun(command('promtool', 'prometheus')))('passes promtool check metrics', () => {
    const text = renderModelMetrics(busyModel(), { topK: 5 });
    const p = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(p.stdout + p.stderr).toBe('');
    expect(p.status).toBe(0);
  });
});
