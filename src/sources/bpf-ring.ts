// The one base of every eBPF-backed source (drops: bpf/drops.bpf.c;
// lifecycle: bpf/lifecycle.bpf.c): the addon's RingSource
// (native/ring_source.cc) loads the object, attaches its programs and hands
// batches of records from its ring buffer to JavaScript; this class decodes
// them into the sink, counts what could not be decoded, stops, and reports
// state and losses. A subclass decides what to load (open()) and names its hook.
//
// What the ring source loses (reserve failures, runs the kernel skipped,
// records a full queue refused, batches not decoded) reaches the sink too, as
// LOSS records (aux = how many) at most once a second and at stop: the
// model's lost count, the advice's "counts are lower bounds" and a
// recording then say it, as they do for ctnetlink's overruns.

import { loadAddon } from '../native/addon.js';
import type { BpfLoadError, RingSourceClass, RingSourceHandle, RingSourceOptions, RingSourceStartResult, RingSourceStats } from '../native/surface.js';
import { decodeBatch, DecodeScratch } from '../records/batch.js';
import { encodeRecord } from '../records/encode.js';
import { Kind, RECORD_SIZE } from '../records/layout.js';
import { boottimeNs } from '../native/addon.js';
import type { LossCounters, RecordSink, SourceState, SourceStatus } from '../records/sink.js';
import type { Source } from './source.js';

export type {
  AttachFailure,
  BpfLoadError,
  BpfScalar,
  ProbeResult,
  RingSourceClass,
  RingSourceHandle,
  RingSourceOptions,
  RingSourceStartResult,
  RingSourceStats,
} from '../native/surface.js';

export abstract class BpfRingSource implements Source {
  abstract readonly name: string;
  protected ring: RingSourceHandle | null = null;
  protected state: SourceState = 'stopped';
  protected detail: string | undefined;
  private records = 0;
  /** Every batch's columns are decoded here (valid for the sink's call: records/sink.ts). */
  private readonly scratch = new DecodeScratch();
  private decodeErrors = 0;
  private lastStats: RingSourceStats | null = null;
  private loss: LossTeller | null = null;
  private lossTimer: NodeJS.Timeout | null = null;

  abstract start(sink: RecordSink): Promise<void>;

  /** The hook as /v1/status names it (null: none attached). */
  protected abstract hookName(): string | null;

  /** Load `opts.object`, attach, and read its ring into `sink` from now on. */
  protected open(sink: RecordSink, opts: Omit<RingSourceOptions, 'onBatch'>): RingSourceStartResult {
    const ring = new (ringSourceClass())({ ...opts, onBatch: (buf, count) => this.onBatch(sink, buf, count) });
    const res = ring.start();
    this.ring = ring;
    this.loss = new LossTeller(sink);
    this.lossTimer = setInterval(() => this.tellLoss(), LOSS_CHECK_MS);
    this.lossTimer.unref();
    return res;
  }

  private tellLoss(): void {
    if (!this.loss) return;
    const total = ringSourceHealth(this.ring !== null, this.ring ? this.ring.stats() : this.lastStats, this.decodeErrors).lost.total;
    const err = this.loss.tell(total, boottimeNs());
    if (err) this.detail = `loss record not ingested: ${err}`;
  }

  private onBatch(sink: RecordSink, buf: ArrayBuffer, count: number): void {
    // Runs from the addon's queue: an exception here would kill the daemon.
    try {
      const cols = decodeBatch(buf, count, this.scratch);
      this.records += cols.length;
      sink.ingest(cols);
    } catch (e) {
      this.decodeErrors += count;
      this.detail = `batch not ingested: ${(e as Error).message}`;
    }
  }

  async stop(): Promise<void> {
    if (!this.ring) {
      if (this.state !== 'failed' && this.state !== 'unavailable') this.state = 'stopped';
      return;
    }
    if (this.lossTimer) clearInterval(this.lossTimer);
    this.lossTimer = null;
    this.ring.stop();
    this.lastStats = this.ring.stats();
    this.ring = null;
    // what was lost up to the end reaches the sink before it closes
    this.tellLoss();
    this.loss = null;
    if (this.state !== 'failed') this.state = 'stopped';
  }

  status(): SourceStatus {
    const h = ringSourceHealth(this.ring !== null, this.ring ? this.ring.stats() : this.lastStats, this.decodeErrors);
    const out: SourceStatus = { name: this.name, state: h.readerError ? 'degraded' : this.state, hook: this.hookName(), records: this.records, lost: h.lost };
    const detail = h.readerError ?? this.detail;
    if (detail !== undefined) out.detail = detail;
    return out;
  }
}

/**
 * A ring-buffer source's state and losses as /v1/status shows them: a dead
 * reader thread degrades a running source; reserve failures (per CPU), runs
 * the kernel skipped (recursion), records a full queue refused and batches
 * that could not be decoded are all lost.
 */
export function ringSourceHealth(
  running: boolean,
  s: RingSourceStats | null,
  decodeErrors: number,
): { readerError: string | null; lost: LossCounters } {
  const perCpu = s?.perCpuReserveFailed ?? [];
  const queueDropped = s?.queueDropped ?? 0;
  const recursionMisses = s?.recursionMisses ?? 0;
  return {
    readerError: running && s?.readerError ? `ring buffer reader stopped: ${s.readerError}` : null,
    lost: { ringbufReserveFailed: perCpu, recursionMisses, queueDropped, total: perCpu.reduce((a, b) => a + b, 0) + recursionMisses + queueDropped + decodeErrors },
  };
}

/** How often a ring source turns new losses into a LOSS record. */
export const LOSS_CHECK_MS = 1000;

/** Turns a source's growing loss total into LOSS records (aux = the losses since the last one) into a sink. */
export class LossTeller {
  private told = 0;
  private readonly rec = new Uint8Array(RECORD_SIZE);

  constructor(private readonly sink: RecordSink) {}

  /** One LOSS record stamped `tsNs` if `total` grew since the last call; an error's message, or null. */
  tell(total: number, tsNs: number): string | null {
    if (total <= this.told) return null;
    encodeRecord(this.rec, 0, { kind: Kind.LOSS, ts: tsNs, aux: total - this.told });
    this.told = total;
    try {
      this.sink.ingest(decodeBatch(this.rec, 1));
      return null;
    } catch (e) {
      return (e as Error).message;
    }
  }
}

export function isBpfLoadError(e: unknown): e is BpfLoadError {
  const code = (e as { code?: unknown } | null)?.code;
  return e instanceof Error && (code === 'EBPFLOAD' || code === 'EBPFATTACH');
}

export function ringSourceClass(): RingSourceClass {
  return loadAddon().RingSource;
}

export { bpfObjectPath } from '../native/addon.js';
