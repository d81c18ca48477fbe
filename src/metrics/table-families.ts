// The table's metrics. node_exporter's conntrack collector names are used
// where they mean the same thing (host namespace, same units, gauges as
// node_exporter declares them), so existing dashboards and alerts keep
// working; everything else is ctscope_*, per namespace.

import type { TableAccountView, TableView } from '../proc/accounts.js';
import type { SourceStatus } from '../records/sink.js';
import { Exposition } from './exposition.js';

/** node_exporter: column of /proc/net/stat/nf_conntrack -> metric suffix. */
const NODE_EXPORTER_STATS: Record<string, string> = {
  found: 'found',
  invalid: 'invalid',
  ignore: 'ignore',
  insert: 'insert',
  insert_failed: 'insert_failed',
  drop: 'drop',
  early_drop: 'early_drop',
  search_restart: 'search_restart',
};

const LEVELS = ['ok', 'warn', 'action', 'critical'] as const;

/**
 * The tables: node_exporter's names for the host namespace (what
 * node_exporter itself would show), then ctscope's per table, named
 * (`netns` inode and `name`), and the table in most danger once more under
 * its own names so a dashboard's headline and an alert can speak of it.
 */
export function renderTableMetrics(out: Exposition, tables: TableView): void {
  const host = tables.snapshot();
  if (host) {
    out.family('node_nf_conntrack_entries', 'gauge', 'Number of currently allocated flow entries for connection tracking.');
    out.sample('node_nf_conntrack_entries', host.count);
    out.family('node_nf_conntrack_entries_limit', 'gauge', 'Maximum size of connection tracking table.');
    out.sample('node_nf_conntrack_entries_limit', host.max);
    for (const [col, suffix] of Object.entries(NODE_EXPORTER_STATS)) {
      const v = host.stats[col];
      if (v === undefined) continue;
      const name = `node_nf_conntrack_stat_${suffix}`;
      out.family(name, 'gauge', `Conntrack statistic '${col}' from /proc/net/stat/nf_conntrack (or ctnetlink where that file is absent), summed over CPUs, host namespace.`);
      out.sample(name, v);
    }
    out.family('ctscope_table_buckets', 'gauge', 'nf_conntrack_buckets: hash table size.');
    out.sample('ctscope_table_buckets', host.buckets);
    out.family('ctscope_table_timeout_seconds', 'gauge', 'Conntrack timeout sysctls of the host namespace (net.netfilter.nf_conntrack_*timeout*).');
    for (const [k, v] of Object.entries(host.timeouts)) out.sample('ctscope_table_timeout_seconds', v, { timeout: k });
  }
  const all = tables.list().filter((t) => !t.gone);
  if (!all.length) return;
  const lab = (t: TableAccountView) => ({ netns: t.netns, name: t.name });
  out.family('ctscope_table_entries', 'gauge', 'Conntrack entries per table (network namespace): nf_conntrack_count.');
  for (const t of all) out.sample('ctscope_table_entries', t.count, lab(t));
  out.family('ctscope_table_utilization_ratio', 'gauge', 'nf_conntrack_count / nf_conntrack_max per table.');
  for (const t of all) out.sample('ctscope_table_utilization_ratio', t.utilization, lab(t));
  out.family('ctscope_table_level', 'gauge', 'Utilization level per table (1 for the current level): ok <70%, warn, action >=85%, critical >=95%.');
  for (const t of all) for (const l of LEVELS) out.sample('ctscope_table_level', l === t.level ? 1 : 0, { ...lab(t), level: l });
  out.family('ctscope_table_drops_total', 'counter', "Packets the kernel dropped for want of room in this table (its 'drop' counter).");
  for (const t of all) if (typeof t.stats.drop === 'number') out.sample('ctscope_table_drops_total', t.stats.drop, lab(t));
  out.family('ctscope_table_early_drops_total', 'counter', "Entries the kernel evicted to make room in this table (its 'early_drop' counter).");
  for (const t of all) if (typeof t.stats.early_drop === 'number') out.sample('ctscope_table_early_drops_total', t.stats.early_drop, lab(t));
  out.family('ctscope_table_stat', 'gauge', 'Every per-CPU statistic of each table, summed over CPUs, by column name; source: /proc or ctnetlink.');
  for (const t of all) for (const [col, v] of Object.entries(t.stats)) out.sample('ctscope_table_stat', v, { ...lab(t), column: col, source: t.stats_source ?? 'proc' });
  out.family('ctscope_forecast_time_to_full_seconds', 'gauge', 'Seconds until the table is full (0: full; +Inf: no trend).');
  for (const t of all) out.sample('ctscope_forecast_time_to_full_seconds', t.forecast.time_to_full_s ?? Infinity, lab(t));
  out.family('ctscope_forecast_confidence_ratio', 'gauge', 'Confidence of the time-to-full forecast, 0..1 (0: no trend).');
  for (const t of all) out.sample('ctscope_forecast_confidence_ratio', t.forecast.confidence, lab(t));
  const top = all[0]!;
  out.family('ctscope_table_most_endangered_utilization_ratio', 'gauge', 'Utilization of the table in most danger (by level, then drops per second, then utilization), named by its labels.');
  out.sample('ctscope_table_most_endangered_utilization_ratio', top.utilization, { ...lab(top), level: top.level });
}

export function renderSourceMetrics(out: Exposition, sources: SourceStatus[]): void {
  out.family('ctscope_source_up', 'gauge', 'Whether a source of records is running (1) or not (0), with the hook it uses.');
  for (const s of sources) out.sample('ctscope_source_up', s.state === 'running' || s.state === 'degraded' ? 1 : 0, { source: s.name, hook: s.hook ?? 'none' });
  out.family('ctscope_source_records_total', 'counter', 'Records delivered by a source.');
  for (const s of sources) out.sample('ctscope_source_records_total', s.records, { source: s.name });
  out.family('ctscope_records_lost_total', 'counter', 'Records known to be lost by a source (all mechanisms; see the families below for where).');
  for (const s of sources) out.sample('ctscope_records_lost_total', s.lost.total, { source: s.name });
  const qsrc = sources.filter((s) => s.lost.queueDropped !== undefined);
  if (qsrc.length) {
    out.family('ctscope_batch_queue_dropped_records_total', 'counter', 'Records refused because the batch queue to the control plane was full.');
    for (const s of qsrc) out.sample('ctscope_batch_queue_dropped_records_total', s.lost.queueDropped!, { source: s.name });
  }
  const rbsrc = sources.filter((s) => s.lost.ringbufReserveFailed);
  if (rbsrc.length) {
    out.family('ctscope_ringbuf_reserve_failures_total', 'counter', 'BPF ring buffer reserve failures, per CPU.');
    for (const s of rbsrc) s.lost.ringbufReserveFailed!.forEach((v, cpu) => out.sample('ctscope_ringbuf_reserve_failures_total', v, { source: s.name, cpu }));
  }
  const rsrc = sources.filter((s) => s.lost.recursionMisses !== undefined);
  if (rsrc.length) {
    out.family('ctscope_bpf_recursion_misses_total', 'counter', 'Runs of a source\'s BPF programs the kernel skipped because the program was already running on that CPU (events not recorded).');
    for (const s of rsrc) out.sample('ctscope_bpf_recursion_misses_total', s.lost.recursionMisses!, { source: s.name });
  }
  const nl = sources.filter((s) => s.lost.netlinkOverruns !== undefined);
  if (nl.length) {
    out.family('ctscope_netlink_overruns_total', 'counter', 'Netlink receive buffer overruns (ENOBUFS).');
    for (const s of nl) out.sample('ctscope_netlink_overruns_total', s.lost.netlinkOverruns!, { source: s.name });
    out.family('ctscope_netlink_resyncs_total', 'counter', 'Table dumps done to resynchronise after an overrun.');
    for (const s of nl) out.sample('ctscope_netlink_resyncs_total', s.lost.resyncs ?? 0, { source: s.name });
  }
}
