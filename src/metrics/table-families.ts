// The table's metrics. node_exporter's conntrack collector names are used
// where they mean the same thing (host namespace, same units, gauges as
// node_exporter declares them), so existing dashboards and alerts keep
// working; everything else is ctscope_*, per namespace.

import type { ProcSnapshot } from '../proc/types.js';
import type { SourceStatus } from '../records/sink.js';
import { Exposition } from './exposition.js';
import { utilizationLevel } from '../proc/parse.js';

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

export function renderTableMetrics(out: Exposition, host: ProcSnapshot | null, all: ProcSnapshot[]): void {
  if (host) {
    out.family('node_nf_conntrack_entries', 'gauge', 'Number of currently allocated flow entries for connection tracking.');
    out.sample('node_nf_conntrack_entries', host.count);
    out.family('node_nf_conntrack_entries_limit', 'gauge', 'Maximum size of connection tracking table.');
    out.sample('node_nf_conntrack_entries_limit', host.max);
    for (const [col, suffix] of Object.entries(NODE_EXPORTER_STATS)) {
      const v = host.stats[col];
      if (v === undefined) continue;
      const name = `node_nf_conntrack_stat_${suffix}`;
      out.family(name, 'gauge', `Conntrack statistic '${col}' from /proc/net/stat/nf_conntrack, summed over CPUs.`);
      out.sample(name, v);
    }
    const util = host.max > 0 ? host.count / host.max : 0;
    out.family('ctscope_table_utilization_ratio', 'gauge', 'nf_conntrack_count / nf_conntrack_max of the host namespace.');
    out.sample('ctscope_table_utilization_ratio', util);
    out.family('ctscope_table_level', 'gauge', 'Utilization level of the host table (1 for the current level): ok <70%, warn, action >=85%, critical >=95%.');
    const level = utilizationLevel(util);
    for (const l of LEVELS) out.sample('ctscope_table_level', l === level ? 1 : 0, { level: l });
    out.family('ctscope_table_buckets', 'gauge', 'nf_conntrack_buckets: hash table size.');
    out.sample('ctscope_table_buckets', host.buckets);
    out.family('ctscope_table_timeout_seconds', 'gauge', 'Conntrack timeout sysctls (net.netfilter.nf_conntrack_*timeout*).');
    for (const [k, v] of Object.entries(host.timeouts)) out.sample('ctscope_table_timeout_seconds', v, { timeout: k });
  }
  if (all.length) {
    out.family('ctscope_netns_entries', 'gauge', 'Conntrack entries per followed network namespace (by inode).');
    for (const s of all) out.sample('ctscope_netns_entries', s.count, { netns: s.netns });
    out.family('ctscope_netns_stat', 'gauge', 'All /proc/net/stat/nf_conntrack columns per namespace, summed over CPUs, by column name.');
    for (const s of all) {
      for (const [col, v] of Object.entries(s.stats)) out.sample('ctscope_netns_stat', v, { netns: s.netns, column: col });
    }
  }
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
  const nl = sources.filter((s) => s.lost.netlinkOverruns !== undefined);
  if (nl.length) {
    out.family('ctscope_netlink_overruns_total', 'counter', 'Netlink receive buffer overruns (ENOBUFS).');
    for (const s of nl) out.sample('ctscope_netlink_overruns_total', s.lost.netlinkOverruns!, { source: s.name });
    out.family('ctscope_netlink_resyncs_total', 'counter', 'Table dumps done to resynchronise after an overrun.');
    for (const s of nl) out.sample('ctscope_netlink_resyncs_total', s.lost.resyncs ?? 0, { source: s.name });
  }
}
