// /metrics for the CPU budget (--max-cpu): how much of the ctnetlink stream is
// followed, and the kernel's exact event counts, which sampling never changes.

import type { Exposition } from './exposition.js';

/** The CPU budget's state (what /v1/status says under `sampling`). */
export interface SamplingStatus {
  /** Cores, or null without a budget. */
  max_cpu: number | null;
  /** 1 entry in one_in followed (1: all). */
  one_in: number;
  /** The process's CPU over the last interval, cores. */
  cpu: number;
  sampled_seconds: number;
  changes: number;
  /** Every ctnetlink event the kernel produced, exact, and what the filter refused (null: no filter). */
  events: { new: number; update: number; destroy: number } | null;
  refused: { new: number; update: number; destroy: number } | null;
  /** Why there is no filter (the kernel refused it), if so. */
  detail?: string;
  /** Live entries the model stopped following when the sampling was raised. */
  sampled_out_entries?: number;
}

export function renderSamplingMetrics(out: Exposition, s: SamplingStatus): void {
  out.family('ctscope_sampling_one_in', 'gauge', 'ctnetlink entries followed: 1 in this many, chosen by entry id (1: all; above 1 while the CPU budget --max-cpu is exceeded).');
  out.sample('ctscope_sampling_one_in', s.one_in);
  out.family('ctscope_sampling_seconds_total', 'counter', 'Seconds during which ctnetlink entries were sampled.');
  out.sample('ctscope_sampling_seconds_total', s.sampled_seconds);
  if (s.sampled_out_entries !== undefined) {
    out.family('ctscope_sampled_out_entries_total', 'counter', 'Live entries no longer followed because the sampling was raised (their further records are refused in the kernel).');
    out.sample('ctscope_sampled_out_entries_total', s.sampled_out_entries);
  }
  if (s.max_cpu !== null) {
    out.family('ctscope_cpu_budget_cores', 'gauge', 'The CPU budget (--max-cpu), in cores.');
    out.sample('ctscope_cpu_budget_cores', s.max_cpu);
  }
  if (s.events && s.refused) {
    out.family('ctscope_conntrack_events_total', 'counter', 'Conntrack events the kernel sent over ctnetlink, by kind, counted in the kernel: exact whatever the sampling.');
    out.family('ctscope_conntrack_events_sampled_out_total', 'counter', 'Of those, the events refused in the kernel (sampled out, or UPDATEs not needed).');
    for (const kind of ['new', 'update', 'destroy'] as const) {
      out.sample('ctscope_conntrack_events_total', s.events[kind], { kind });
      out.sample('ctscope_conntrack_events_sampled_out_total', s.refused[kind], { kind });
    }
  }
}
