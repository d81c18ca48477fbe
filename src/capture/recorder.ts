// A capture file whose header waits for the sources. The header names the
// sources and the hooks they got, known only once they have started; what
// they deliver meanwhile (the ctnetlink dump at start) is held in memory —
// bounded: past EARLY_LIMIT bytes the file is opened without the hook names —
// and written first once the file opens. `ctscope record` and
// `ctscope run --record` both record through this.

import type { CaptureSourceInfo, SamplingPayload } from './format.js';
import { CaptureWriter, type CaptureWriterOptions } from './writer.js';
import type { RecordColumns } from '../records/batch.js';
import type { ProcSnapshot } from '../proc/types.js';
import type { PodChange } from '../model/pod-map.js';
import type { RecordSink, SourceStatus } from '../records/sink.js';
import { UserError } from '../errors.js';
import { hostFacts } from '../advice/environment.js';

const EARLY_LIMIT = 256 * 1024 * 1024;

interface EarlyStatus {
  status: { ts: number; sources: SourceStatus[]; sampling?: SamplingPayload };
}

export class DeferredCapture implements RecordSink {
  private w: CaptureWriter | null = null;
  private readonly early: Array<RecordColumns | ProcSnapshot | EarlyStatus | { pods: PodChange; ts: number }> = [];
  private earlyBytes = 0;

  constructor(
    readonly file: string,
    private readonly opts: Omit<CaptureWriterOptions, 'sources'> = {},
  ) {}

  get writer(): CaptureWriter | null {
    return this.w;
  }

  ingest(b: RecordColumns): void {
    if (this.w) return this.w.ingest(b);
    this.early.push(b);
    this.earlyBytes += b.bytes.length;
    if (this.earlyBytes > EARLY_LIMIT) this.open([]);
  }

  writeProc(p: ProcSnapshot): void {
    if (this.w) this.w.writeProc(p);
    else this.early.push(p);
  }

  /** A STATUS frame (capture/writer.ts writeStatus), kept in order with the records until the file opens. */
  writeStatus(ts: number, sources: SourceStatus[], sampling?: SamplingPayload): void {
    if (this.w) this.w.writeStatus(ts, sources, sampling);
    else this.early.push({ status: { ts, sources, ...(sampling ? { sampling } : {}) } });
  }

  /** The node's pods changed (kept in order with the records until the file is open). */
  writePods(ts: number, change: PodChange): void {
    if (this.w) this.w.writePods(ts, change);
    else this.early.push({ pods: change, ts });
  }

  /** Open the file with these sources in its header (once; later calls return the open writer). */
  open(sources: CaptureSourceInfo[]): CaptureWriter {
    if (this.w) return this.w;
    try {
      this.w = CaptureWriter.open(this.file, { hostFacts: hostFacts(), ...this.opts, sources });
    } catch (e) {
      throw new UserError(`cannot create ${this.file}: ${(e as NodeJS.ErrnoException).message}`);
    }
    for (const x of this.early.splice(0)) {
      if ('bytes' in x) this.w.ingest(x);
      else if ('status' in x) this.w.writeStatus(x.status.ts, x.status.sources, x.status.sampling);
      else if ('pods' in x) this.w.writePods(x.ts, x.pods);
      else this.w.writeProc(x);
    }
    this.earlyBytes = 0;
    return this.w;
  }

  /** The header's view of a source. */
  static sourceInfo(st: SourceStatus): CaptureSourceInfo {
    return { name: st.name, hook: st.hook, ...(st.detail ? { detail: st.detail } : {}) };
  }
}
