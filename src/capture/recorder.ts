// A capture file whose header waits for the sources. The header names the
// sources and the hooks they got, known only once they have started; what
// they deliver meanwhile (the ctnetlink dump at start) is held in memory —
// bounded: past EARLY_LIMIT bytes the file is opened without the hook names —
// and written first once the file opens. `ctscope record` and
// `ctscope run --record` both record through this.
//
// reserve() finds what an operator can fix (a directory given as the file,
// a read-only file system, a missing directory) before anything is attached,
// and release() takes back a file it created when the start-up fails before
// a byte was recorded.

import fs from 'node:fs';
import path from 'node:path';
import type { CaptureSourceInfo, SamplingPayload } from './format.js';
import { CaptureWriter, type CaptureWriterOptions } from './writer.js';
import { keepBatch, type RecordColumns } from '../records/batch.js';
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
  /** reserve() created the file (release() may remove it while it is empty). */
  private created = false;

  constructor(
    readonly file: string,
    private readonly opts: Omit<CaptureWriterOptions, 'sources'> = {},
  ) {}

  get writer(): CaptureWriter | null {
    return this.w;
  }

  ingest(b: RecordColumns): void {
    if (this.w) return this.w.ingest(b);
    // kept past the call: a copy (a live source lends its batch: records/sink.ts)
    this.early.push(keepBatch(b));
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

  /**
   * Check now that the capture can be written: the path names a file (not a
   * directory) that can be opened for writing where it is. Creates it, empty,
   * when absent. Throws UserError with the reason an operator can act on.
   */
  reserve(): void {
    const file = this.file;
    const cannot = (why: string) => new UserError(`cannot record to ${file}: ${why}`);
    let exists = true;
    try {
      if (fs.statSync(file).isDirectory()) throw cannot(`it is a directory (name a file in it, e.g. ${path.join(file, 'ctscope.ctcap')})`);
    } catch (e) {
      if (e instanceof UserError) throw e;
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw cannot(reason(e));
      exists = false;
    }
    let fd: number;
    try {
      // an existing file is opened without truncating it: the recording starts only once the sources run
      fd = fs.openSync(file, exists ? fs.constants.O_WRONLY : 'wx', 0o644);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw cannot(`the directory ${path.dirname(path.resolve(file))} does not exist`);
      throw cannot(reason(e));
    }
    fs.closeSync(fd);
    this.created = !exists;
  }

  /** After a failed start: remove the file reserve() created if nothing was written to it. */
  release(): void {
    if (this.w || !this.created) return;
    this.created = false;
    try {
      if (fs.statSync(this.file).size === 0) fs.unlinkSync(this.file);
    } catch {
      /* already gone */
    }
  }

  /** The header's view of a source. */
  static sourceInfo(st: SourceStatus): CaptureSourceInfo {
    return { name: st.name, hook: st.hook, ...(st.detail ? { detail: st.detail } : {}) };
  }
}

/** An errno in words an operator reads (EROFS, EACCES, ...), else the message. */
function reason(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  switch (err.code) {
    case 'EROFS':
      return 'the file system is read-only';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ENOTDIR':
      return 'a part of the path is not a directory';
    case 'ENOSPC':
      return 'no space left on the device';
    default:
      return err.message;
  }
}
