// The model's Prometheus series. Counters are totals since the daemon started
// (or since the replay began); per-key series exist only for the current
// top-K keys of a few dimensions, so cardinality stays bounded by K whatever
// the traffic. Names follow Prometheus conventions (base units, _total on
// counters, _seconds on durations).

import type { Model } from '../model/model.js';
import { DROP_KINDS } from '../model/model.js';
import { CAUSE_NAMES } from '../records/layout.js';
import { EXPORT_LE_SECONDS, exportCumulative } from '../model/histograms.js';
import { NSTATE_CODES, stateName } from '../model/states.js';
import { protoName, type Dimension } from '../model/keys.js';
import { Exposition } from './exposition.js';
import { podLabeller } from './pod-labels.js';

/** The unanswered-UDP threshold of the stale metrics (/v1/stale's default). */
export const STALE_UNREPLIED_MIN_AGE_S = 60;

export interface ModelMetricsOptions {
  /** Keys per dimension that get their own series. */
  topK: number;
  /** Window of the per-key rates, seconds (default 60). */
  windowSeconds?: number;
  /** Dimensions with per-key series (default src, dst, dport). */
  dimensions?: readonly Dimension[];
  /** Name of a kfree_skb drop reason (from BTF); default the number. */
  reasonName?: (reason: number) => string;
}

export function renderModelMetrics(model: Model, opts: ModelMetricsOptions): string {
  const out = new Exposition();
  writeModelMetrics(out, model, opts);
  return out.text();
}

export function writeModelMetrics(out: Exposition, model: Model, opts: ModelMetricsOptions): void {
  const k = Math.max(0, Math.floor(opts.topK));
  const window = Math.max(1, Math.min(opts.windowSeconds ?? 60, model.opts.historySeconds));
  // on a node with pods, per-key series of pods and workloads too
  const dims = opts.dimensions ?? (model.podMap.empty ? (['src', 'dst', 'dport'] as const) : (['src', 'dst', 'dport', 'pod', 'workload'] as const));
  const pods = podLabeller(model.podMap);

  out.family('ctscope_records_ingested_total', 'counter', 'Records the model ingested, all kinds.');
  out.sample('ctscope_records_ingested_total', model.records);

  out.family('ctscope_conntrack_allocations_total', 'counter', 'Conntrack entries allocated (ALLOC records).');
  out.sample('ctscope_conntrack_allocations_total', model.counter('alloc'));

  out.family('ctscope_conntrack_destroys_total', 'counter', 'Conntrack entries destroyed, by cause (destroy_lost: gone during a netlink overrun, found by the resync).');
  for (let c = 0; c < CAUSE_NAMES.length; c++) out.sample('ctscope_conntrack_destroys_total', model.destroyCauses[c]!, { cause: CAUSE_NAMES[c]! });

  out.family('ctscope_conntrack_drops_total', 'counter', 'Packets dropped or entries evicted for conntrack, by kind: table_full, evicted (early_drop), insert_failed (clash), netfilter (kfree_skb with a netfilter drop reason).');
  for (const kind of DROP_KINDS) out.sample('ctscope_conntrack_drops_total', model.counter(kind), { kind });

  out.family('ctscope_netfilter_drops_total', 'counter', 'Netfilter packet drops by kfree_skb drop reason.');
  for (const [reason, n] of [...model.dropReasons].sort((a, b) => a[0] - b[0])) {
    out.sample('ctscope_netfilter_drops_total', n, { reason: opts.reasonName?.(reason) ?? String(reason) });
  }

  out.family('ctscope_model_lost_events_total', 'counter', 'Events the sources reported lost (LOSS records), as the model saw them.');
  out.sample('ctscope_model_lost_events_total', model.counter('lost'));

  out.family('ctscope_flows_live', 'gauge', 'Conntrack entries the model tracks now.');
  out.sample('ctscope_flows_live', model.flows.count);
  out.family('ctscope_flows_limit', 'gauge', 'Most entries the model tracks (--max-flows).');
  out.sample('ctscope_flows_limit', model.flows.maxFlows);
  out.family('ctscope_flows_evicted_total', 'counter', 'Entries the model stopped tracking because it held --max-flows entries.');
  out.sample('ctscope_flows_evicted_total', model.flows.evictions);

  // occupancy by protocol and state, and the top holders: from the
  // dimensions' occupancy indexes (built on the first scrape, kept while scraped)
  const occ = model.occupancySummary(k > 0 ? dims : [], k);
  const idx = model.occupancyIndexes();
  out.family('ctscope_model_occupancy_index_pairs', 'gauge', 'Distinct (key, protocol/state) pairs the occupancy index of a dimension holds (indexes exist for the dimensions being asked about; each costs the ingest one update per change).');
  for (const d of idx.perDim) out.sample('ctscope_model_occupancy_index_pairs', d.pairs, { dimension: d.dim });
  out.family('ctscope_model_lifetimes_sampled_out_total', 'counter', 'Destroys left out of the per-key median lifetimes because the model sampled them (above 200,000 destroys/s); the lifetime histograms have every destroy.');
  out.sample('ctscope_model_lifetimes_sampled_out_total', model.keyedLifetimesSkipped);
  const states = [...occ.states].sort((a, b) => a[0] - b[0]);
  out.family('ctscope_conntrack_entries', 'gauge', 'Live conntrack entries by protocol and state (UDP and others: UNREPLIED / REPLIED / ASSURED).');
  for (const [g, n] of states) out.sample('ctscope_conntrack_entries', n, { proto: protoName(Math.floor(g / NSTATE_CODES)), state: stateName(g % NSTATE_CODES) });

  // lifetimes histogram by protocol and final state
  out.family('ctscope_conntrack_lifetime_seconds', 'histogram', 'Lifetime of destroyed conntrack entries, allocation to destroy, by protocol and final state.');
  for (const [g, h] of [...model.lifetimes].sort((a, b) => a[0] - b[0])) {
    const labels = { proto: protoName(Math.floor(g / NSTATE_CODES)), state: stateName(g % NSTATE_CODES) };
    // one bound per octave (the model's buckets are finer: /v1/lifetimes' percentiles)
    const cum = exportCumulative(h.buckets);
    for (let n = 0; n < EXPORT_LE_SECONDS.length; n++) out.sample('ctscope_conntrack_lifetime_seconds_bucket', cum[n]!, { ...labels, le: String(EXPORT_LE_SECONDS[n]) });
    out.sample('ctscope_conntrack_lifetime_seconds_bucket', h.count, { ...labels, le: '+Inf' });
    out.sample('ctscope_conntrack_lifetime_seconds_sum', h.sumSeconds, labels);
    out.sample('ctscope_conntrack_lifetime_seconds_count', h.count, labels);
  }

  // per-key series: the current top-K only
  if (k > 0) {
    out.family('ctscope_top_allocations_per_second', 'gauge', `Allocation rate of the current top-K keys per dimension over the last ${window} s.`);
    for (const by of dims) {
      for (const it of model.churn({ by, window, limit: k }).items) out.sample('ctscope_top_allocations_per_second', it.rate, { dimension: by, key: it.key, ...pods(by, it.key) });
    }
    out.family('ctscope_top_drops_per_second', 'gauge', `Packets dropped per second (each once, as /v1/drops kind=all) of the current top-K keys per dimension over the last ${window} s.`);
    for (const by of dims) {
      for (const it of model.drops({ by, window, limit: k }).items) out.sample('ctscope_top_drops_per_second', it.rate, { dimension: by, key: it.key, ...pods(by, it.key) });
    }
    out.family('ctscope_top_entries', 'gauge', 'Live conntrack entries held by the current top-K keys per dimension.');
    for (const by of dims) {
      for (const it of occ.tops.get(by) ?? []) out.sample('ctscope_top_entries', it.count, { dimension: by, key: it.key, ...pods(by, it.key) });
    }
  }

  // stale entries (/v1/stale): what a rollout left pointing nowhere
  const stale = model.stale({ unrepliedMinAgeS: STALE_UNREPLIED_MIN_AGE_S });
  out.family('ctscope_stale_entries', 'gauge', `Live conntrack entries that point at a deleted pod's address (deleted_pod) or at a destination whose UDP entries have all gone unanswered for ${STALE_UNREPLIED_MIN_AGE_S} s (unreplied_udp); GET /v1/stale lists them with the conntrack -D command.`);
  out.family('ctscope_stale_destinations', 'gauge', 'Destinations with stale entries, by reason (as ctscope_stale_entries).');
  for (const reason of ['deleted_pod', 'unreplied_udp'] as const) {
    const gs = stale.filter((g) => g.reason === reason);
    out.sample('ctscope_stale_entries', gs.reduce((a, g) => a + g.entries, 0), { reason });
    out.sample('ctscope_stale_destinations', gs.length, { reason });
  }

}
