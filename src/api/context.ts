// What the API reads. The daemon and the replayer each provide one; routes
// never reach into sources directly.

import type { SamplingStatus } from '../metrics/sampling.js';
import type { SourceStatus } from '../records/sink.js';
import type { WorkloadStatus } from '../workloads/resolver.js';

export interface StatusReport {
  version: string;
  mode: 'live' | 'replay';
  kernel: { release: string; btf: boolean };
  started_at: string;
  uptime_seconds: number;
  /** For replays: the file and whether it was cut short. */
  replay?: { file: string; partial: boolean; detail?: string };
  sources: SourceStatus[];
  /** Live only: per capability, the hook chosen and every refused candidate with its reason. */
  capabilities?: Array<{ capability: string; chosen: string | null; tried: Array<{ hook: string; result: string }> }>;
  /** Live only: what this daemon cannot see on this kernel, in words. */
  blind_spots?: string[];
  /** Where pods come from (the CRI socket, /proc) and how many are known: src/workloads/resolver.ts. */
  workloads?: WorkloadStatus;
  lost: { total: number };
  /** Live, with ctnetlink: the CPU budget (--max-cpu), the sampling it set, and the kernel's exact event counts. */
  sampling?: SamplingStatus;
}

/** Every namespace's conntrack table (defined with the accounts: /metrics reads it too). */
export type { TableView } from '../proc/accounts.js';
/** The model clock as the API reports it (series, events, the page's header). */
export interface ModelClock {
  /** Add to a model time (CLOCK_BOOTTIME ns of the recording host) to get Unix-epoch ns. */
  epochOffsetNs: number;
  /** True once nothing more will arrive (a finished replay): the model's current second is then complete. */
  final: boolean;
}
