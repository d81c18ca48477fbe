// What crosses between every source of records (eBPF ring buffer, ctnetlink,
// a capture file, conntrack text) and its consumers (the model, the
// recorder, the status): a sink that takes decoded batches, and the status
// every source reports. Sources hand over batches, never one object per
// record.

import type { RecordColumns } from './batch.js';

/**
 * Receives decoded batches; the model and the recorder are sinks.
 *
 * A live source lends its batch for the call only: when ingest() returns,
 * the record bytes go back to the reader (native/batch_channel.h; a view
 * kept past the call reads as empty) and the columns' memory decodes the next
 * batch (records/batch.ts DecodeScratch). A sink that keeps records past
 * the call copies them (copyBatch, or the values it needs).
 */
export interface RecordSink {
  ingest(batch: RecordColumns): void;
}

export type SourceState = 'starting' | 'running' | 'degraded' | 'stopped' | 'failed' | 'unavailable';

export interface LossCounters {
  /** BPF ring-buffer reserve failures, per CPU (index = CPU). */
  ringbufReserveFailed?: number[];
  /** Runs of a tracing program the kernel skipped (already running on that CPU): events not recorded. */
  recursionMisses?: number;
  /** Records refused because the batch queue to JavaScript was full. */
  queueDropped?: number;
  /** Netlink overruns (ENOBUFS) seen. */
  netlinkOverruns?: number;
  /** Resync dumps done after overruns. */
  resyncs?: number;
  /** Total records known lost (sum of the above that count records). */
  total: number;
}

export interface SourceStatus {
  name: string; // 'drops', 'lifecycle', 'netlink', 'ingress', 'replay', 'proc'
  state: SourceState;
  /** The hook or mechanism in use, e.g. 'tp_btf:kfree_skb', 'ctnetlink'. */
  hook: string | null;
  /** Why the source is not running, or what it cannot see. */
  detail?: string;
  /** Records delivered so far. */
  records: number;
  lost: LossCounters;
  /** Live daemon: 99 % of this source's records reached the model within this many seconds (a histogram bound). */
  delay_p99_s?: number | null;
  /** The ctnetlink source: namespaces that went since start. */
  vanishedTotal?: number;
}
