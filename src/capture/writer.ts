// Writes .ctcap files (format in ./format.ts). The writer is a RecordSink: the
// daemon hands it the same decoded batches it hands the model, and it stores
// their raw bytes untouched. Frames are written synchronously and whole, in
// order, so a process killed at any moment leaves every earlier frame intact;
// pending records are flushed at least every `flushMs` so a kill loses at most
// that much. A write error (disk full) stops the recording and is reported by
// status(), never thrown into the source pipeline; every record handed to the
// writer that is not in the file — the frame that failed, what was buffered,
// everything after — is counted as lost (status().lost, hence
// ctscope_records_lost_total{source="recorder"}).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FIELDS, RECORD_SIZE, RECORD_VERSION } from '../records/layout.js';
import type { RecordColumns } from '../records/batch.js';
import type { RecordSink, SourceStatus } from '../records/sink.js';
import type { ProcSnapshot } from '../proc/types.js';
import { boottimeNs } from '../native/addon.js';
import { VERSION } from '../version.js';
import type { PodChange, PodRecord } from '../model/pod-map.js';
import type { PodsPayload } from './pods-frame.js';
import {
  FORMAT_VERSION,
  FrameType,
  frameHeader,
  packr,
  preamble,
  type CaptureFooter,
  type CaptureHeader,
  type CaptureSourceInfo,
  type SamplingPayload,
  type StatusPayload,
} from './format.js';

export interface CaptureWriterOptions {
  /** Start a new file (FILE.1.ctcap, FILE.2.ctcap, ...) once one reaches this many bytes. */
  rotateBytes?: number;
  /** Sources and the hooks they got, stored in the header. */
  sources?: CaptureSourceInfo[];
  /** Records buffered before a frame is written (default 4096: 640 KiB). */
  flushRecords?: number;
  /** Longest time records wait in the buffer (default 1000 ms; 0: no timer). */
  flushMs?: number;
  /** Header overrides (importers and tests). */
  host?: string;
  kernel?: string;
  bootBaseNs?: number;
  origin?: string;
  /** The recording host's facts for the advice of a later replay. */
  hostFacts?: CaptureHeader['host_facts'];
  /** Wall clock in ms for the header and footer (tests and fixtures pin it). */
  nowMs?: () => number;
  /** Called when a new segment is opened (rotation), with its path. */
  onRotate?: (file: string) => void;
  /** Called once if writing fails; the writer then stops. */
  onError?: (err: Error) => void;
}

export interface CaptureWriterStats {
  file: string;
  files: string[];
  records: number;
  /** Records handed to the writer that are not in the file (see the top of this file). */
  lost: number;
  frames: number;
  procSnapshots: number;
  bytes: number;
  error: string | null;
  closed: boolean;
}

/** FILE.ctcap -> FILE.<n>.ctcap; other names get .<n> appended. */
export function segmentPath(base: string, segment: number): string {
  if (segment === 0) return base;
  return base.endsWith('.ctcap') ? `${base.slice(0, -6)}.${segment}.ctcap` : `${base}.${segment}`;
}

export class CaptureWriter implements RecordSink {
  private fd = -1;
  private segment = 0;
  /** The node's pods as last written (by uid), and the time of that change. */
  private readonly pods = new Map<string, PodRecord>();
  private podsTs = 0;
  private readonly files: string[] = [];
  private pending: Uint8Array;
  private pendingCount = 0;
  private timer: NodeJS.Timeout | null = null;
  private error: Error | null = null;
  private closed = false;
  /** Records handed over that will never be in the file (written after a failure, or in the frame that failed). */
  private lostRecords = 0;
  // per segment
  private segRecords = 0;
  private segFrames = 0;
  private segProc = 0;
  private segBytes = 0;
  private segKinds: number[] = [];
  private segFirstTs: number | null = null;
  private segLastTs: number | null = null;
  // whole recording
  private totalRecords = 0;
  private totalFrames = 0;
  private totalProc = 0;
  private totalBytes = 0;
  private readonly bootBaseNs: number;
  private readonly flushRecords: number;

  private constructor(
    readonly file: string,
    private readonly opts: CaptureWriterOptions,
  ) {
    this.flushRecords = Math.max(1, Math.min(opts.flushRecords ?? 4096, 65536));
    this.pending = new Uint8Array(this.flushRecords * RECORD_SIZE);
    this.bootBaseNs = opts.bootBaseNs ?? Date.now() * 1e6 - boottimeNs();
  }

  /** Create (truncate) `file` and write its header. Throws on I/O errors. */
  static open(file: string, opts: CaptureWriterOptions = {}): CaptureWriter {
    const w = new CaptureWriter(file, opts);
    w.openSegment();
    const ms = opts.flushMs ?? 1000;
    if (ms > 0) {
      w.timer = setInterval(() => w.flush(), ms);
      w.timer.unref();
    }
    return w;
  }

  ingest(batch: RecordColumns): void {
    this.ingestRaw(batch.bytes, batch.length);
  }

  /** Store `count` raw records (RECORD_SIZE bytes each) from `bytes`. */
  ingestRaw(bytes: Uint8Array, count: number = Math.floor(bytes.length / RECORD_SIZE)): void {
    if (count * RECORD_SIZE > bytes.length) throw new RangeError(`ingestRaw: ${count} records need ${count * RECORD_SIZE} bytes, got ${bytes.length}`);
    if (this.closed || this.error) {
      this.lostRecords += count;
      return;
    }
    let i = 0;
    while (i < count) {
      const room = this.flushRecords - this.pendingCount;
      const take = Math.min(room, count - i);
      this.pending.set(bytes.subarray(i * RECORD_SIZE, (i + take) * RECORD_SIZE), this.pendingCount * RECORD_SIZE);
      this.pendingCount += take;
      i += take;
      if (this.pendingCount === this.flushRecords) this.flush();
      if (this.closed || this.error) {
        this.lostRecords += count - i;
        return;
      }
    }
  }

  /** Store a /proc snapshot (after the records received so far, keeping file order = time order). */
  writeProc(snapshot: ProcSnapshot): void {
    if (this.closed || this.error) return;
    this.flush();
    this.writeFrame(FrameType.PROC, packr.pack(snapshot));
    this.segProc++;
    this.totalProc++;
  }

  /**
   * Store the sources' status (hooks, loss counters) at boot-time `ts`, and
   * the sampling in force from then on when the daemon has a CPU budget.
   * Written after the records received so far: a replay applies the
   * sampling at the same point of the records as the live model did.
   */
  writeStatus(ts: number, sources: SourceStatus[], sampling?: SamplingPayload): void {
    if (this.closed || this.error) return;
    this.flush();
    const p: StatusPayload = { ts, sources, ...(sampling ? { sampling } : {}) };
    this.writeFrame(FrameType.STATUS, packr.pack(p));
  }

  /**
   * Store a change of the node's pods at boot-time `ts` (after the records
   * received so far). The writer keeps the whole map, written in full at the
   * start of every later segment.
   */
  writePods(ts: number, change: PodChange): void {
    if (this.closed || this.error) return;
    for (const uid of change.remove) this.pods.delete(uid);
    for (const p of change.upsert) this.pods.set(p.uid, p);
    this.flush();
    this.podsTs = ts;
    this.writeFrame(FrameType.PODS, packr.pack({ ts, full: false, upsert: change.upsert, remove: change.remove } satisfies PodsPayload));
  }

  /** Write buffered records as a frame now. */
  flush(): void {
    if (this.pendingCount === 0 || this.closed || this.error) return;
    const n = this.pendingCount;
    const b = this.pending.subarray(0, n * RECORD_SIZE);
    this.pendingCount = 0;
    // counted before the write: a rotation right after it writes this segment's footer
    this.count(b, n);
    this.writeFrame(FrameType.RECORDS, packr.pack({ n, b }));
    if (this.error && !this.wroteLast) {
      // the frame did not make it (whole): its records are not in the file
      this.totalRecords -= n;
      this.lostRecords += n;
    }
  }

  /** Flush, write the footer and close. Safe to call twice. */
  close(reason = 'closed'): void {
    if (this.closed) return;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (!this.error) {
      this.flush();
      this.writeFooter(reason);
    }
    this.closed = true;
    if (this.fd >= 0) {
      try {
        fs.closeSync(this.fd);
      } catch {
        /* nothing more to lose */
      }
      this.fd = -1;
    }
  }

  stats(): CaptureWriterStats {
    return {
      file: this.file,
      files: [...this.files],
      records: this.totalRecords + this.pendingCount,
      lost: this.lostRecords,
      frames: this.totalFrames,
      procSnapshots: this.totalProc,
      bytes: this.totalBytes,
      error: this.error ? this.error.message : null,
      closed: this.closed,
    };
  }

  /** The recorder as a status line for /v1/status. */
  status(): SourceStatus {
    return {
      name: 'recorder',
      state: this.error ? 'failed' : this.closed ? 'stopped' : 'running',
      hook: this.files[this.files.length - 1] ?? this.file,
      ...(this.error ? { detail: `recording stopped: ${this.error.message}` } : {}),
      records: this.totalRecords + this.pendingCount,
      lost: { total: this.lostRecords },
    };
  }

  private header(): CaptureHeader {
    const fields: Record<string, { offset: number; size: number }> = {};
    for (const [k, v] of Object.entries(FIELDS)) fields[k] = { offset: v.offset, size: v.size };
    return {
      format: FORMAT_VERSION,
      tool: `ctscope ${VERSION}`,
      created_ms: (this.opts.nowMs ?? Date.now)(),
      host: this.opts.host ?? os.hostname(),
      kernel: this.opts.kernel ?? os.release(),
      boot_base_ns: this.bootBaseNs,
      sources: this.opts.sources ?? [],
      record: { size: RECORD_SIZE, version: RECORD_VERSION, fields },
      segment: this.segment,
      ...(this.opts.origin ? { origin: this.opts.origin } : {}),
      ...(this.opts.hostFacts ? { host_facts: this.opts.hostFacts } : {}),
    };
  }

  private openSegment(): void {
    const file = segmentPath(this.file, this.segment);
    this.fd = fs.openSync(file, 'w', 0o644);
    this.files.push(file);
    this.segRecords = this.segFrames = this.segProc = this.segBytes = 0;
    this.segKinds = [];
    this.segFirstTs = this.segLastTs = null;
    this.writeBytes(preamble());
    this.writeFrame(FrameType.HEADER, packr.pack(this.header()));
    // a rotated segment starts with the pods of the node, so it replays on its own
    if (this.segment > 0 && this.pods.size) {
      this.writeFrame(FrameType.PODS, packr.pack({ ts: this.podsTs, full: true, upsert: [...this.pods.values()], remove: [] } satisfies PodsPayload));
    }
  }

  private writeFooter(reason: string, next?: string): void {
    const footer: CaptureFooter = {
      records: this.segRecords,
      frames: this.segFrames,
      proc_snapshots: this.segProc,
      kinds: this.segKinds.map((x) => x ?? 0),
      first_ts: this.segFirstTs,
      last_ts: this.segLastTs,
      closed_ms: (this.opts.nowMs ?? Date.now)(),
      reason,
      ...(next ? { next: path.basename(next) } : {}),
    };
    this.writeFrame(FrameType.FOOTER, packr.pack(footer));
  }

  private rotate(): void {
    const next = segmentPath(this.file, this.segment + 1);
    this.writeFooter('rotate', next);
    fs.closeSync(this.fd);
    this.fd = -1;
    this.segment++;
    this.openSegment();
    this.opts.onRotate?.(next);
  }

  private count(b: Uint8Array, n: number): void {
    const dv = new DataView(b.buffer, b.byteOffset, b.length);
    const kindOff = FIELDS.kind.offset;
    for (let i = 0, o = 0; i < n; i++, o += RECORD_SIZE) {
      const k = b[o + kindOff]!;
      this.segKinds[k] = (this.segKinds[k] ?? 0) + 1;
    }
    const first = dv.getUint32(0, true) + dv.getUint32(4, true) * 4294967296;
    const lo = (n - 1) * RECORD_SIZE;
    const last = dv.getUint32(lo, true) + dv.getUint32(lo + 4, true) * 4294967296;
    if (this.segFirstTs === null || first < this.segFirstTs) this.segFirstTs = first;
    if (this.segLastTs === null || last > this.segLastTs) this.segLastTs = last;
    this.segRecords += n;
    this.totalRecords += n;
  }

  /** Whether the last writeFrame() put its frame in the file whole (a rotation failing after it does not undo that). */
  private wroteLast = false;

  private writeFrame(type: number, payload: Uint8Array): void {
    this.wroteLast = false;
    if (this.error) return;
    this.writeBytes(frameHeader(type, payload), payload);
    if (this.error) return;
    this.wroteLast = true;
    this.segFrames++;
    this.totalFrames++;
    if (type !== FrameType.FOOTER && type !== FrameType.HEADER && this.opts.rotateBytes && this.segBytes >= this.opts.rotateBytes && !this.error) {
      try {
        this.rotate();
      } catch (e) {
        this.fail(e as Error);
      }
    }
  }

  private writeBytes(...parts: Uint8Array[]): void {
    if (this.error) return;
    try {
      let len = 0;
      for (const p of parts) len += p.length;
      let done = fs.writevSync(this.fd, parts);
      // writev may write less than asked (signals, quotas): finish byte-exactly
      // so the file never holds a frame header without its payload mid-file.
      if (done < len) {
        const all = Buffer.concat(parts);
        while (done < len) done += fs.writeSync(this.fd, all, done, len - done);
      }
      this.segBytes += len;
      this.totalBytes += len;
    } catch (e) {
      this.fail(e as Error);
    }
  }

  private fail(e: Error): void {
    if (this.error) return;
    this.error = new Error(`writing ${this.files[this.files.length - 1] ?? this.file}: ${e.message}`);
    // buffered records will not be written either
    this.lostRecords += this.pendingCount;
    this.pendingCount = 0;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.opts.onError?.(this.error);
  }
}
