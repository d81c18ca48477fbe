// Replay inputs: a .ctcap capture (following its rotation chain) or conntrack
// text (`conntrack -E -o timestamp,id[,extended]`, `conntrack -L -o extended`,
// several files read as one on a shared clock), detected by content, yielding
// the same items: record batches, /proc snapshots, source status. Then
// runReplay() feeds them to sinks on the file's clock, as fast as possible or
// paced at --speed.
//
// (A little over 500 lines: the three inputs — a capture chain, text files, a
// pipe — implement one interface side by side, and runReplay is their one
// consumer; apart they would be read together anyway.)

import fs from 'node:fs';
import path from 'node:path';
import { decodeBatch, type RecordColumns } from '../records/batch.js';
import { RECORD_SIZE } from '../records/layout.js';
import type { ProcSnapshot } from '../proc/types.js';
import type { SourceStatus } from '../records/sink.js';
import { CaptureError, CaptureReader, looksLikeCapture, peekFooter, type CaptureIntegrity, type CaptureItem } from './reader.js';
import type { CaptureFooter, CaptureHeader } from './format.js';
import type { PodsPayload } from './pods-frame.js';
import { ConntrackTextImporter, ImportError, probeTextFile, readConntrackText, type ImportStats } from '../import/conntrack-text.js';
import { UserError } from '../errors.js';

export type ReplayFormat = 'ctcap' | 'conntrack-text';

export interface ReplayProblem {
  file: string;
  offset?: number;
  line?: number;
  message: string;
}

export interface ReplaySummary {
  format: ReplayFormat;
  files: string[];
  /** Something was lost: damaged or cut-off capture, missing segment, unparsed lines. */
  partial: boolean;
  /** One sentence for people: why it is partial. */
  detail: string | null;
  problems: ReplayProblem[];
  /** Per capture segment. */
  integrity: CaptureIntegrity[];
  /** Text imports: per-line statistics (summed over files). */
  import: ImportStats | null;
  records: number;
  procSnapshots: number;
}

export interface ReplayInput {
  readonly format: ReplayFormat;
  readonly files: string[];
  /** Add to a record's ts to get Unix-epoch ns. */
  readonly bootBaseNs: number;
  /** The first segment's header (captures only). */
  readonly header: CaptureHeader | null;
  items(): Generator<CaptureItem> | AsyncGenerator<CaptureItem>;
  /** Complete once items() has finished. */
  summary(): ReplaySummary;
  /** Seconds from first to last record if known before replaying (footers, last text line), else null. */
  spanSeconds(): number | null;
}

/** A replay that cannot start: the message says what and where. */
export class ReplayInputError extends UserError {
  constructor(message: string) {
    super(message);
  }
}

function head(file: string, n: number): { bytes: Buffer; size: number; mtimeSec: number } {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new ReplayInputError(`cannot open ${file}: ${err.code === 'ENOENT' ? 'no such file' : err.code === 'EISDIR' ? 'is a directory' : err.message}`);
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw new ReplayInputError(`${file} is not a regular file`);
    const b = Buffer.alloc(Math.min(n, st.size));
    let got = 0;
    while (got < b.length) {
      const r = fs.readSync(fd, b, got, b.length - got, got);
      if (r === 0) break;
      got += r;
    }
    return { bytes: b.subarray(0, got), size: st.size, mtimeSec: st.mtimeMs / 1000 };
  } finally {
    fs.closeSync(fd);
  }
}

/** Open one capture or one or more conntrack text files. Throws ReplayInputError. */
export function openReplay(files: string[], opts: { stdin?: NodeJS.ReadableStream } = {}): ReplayInput {
  if (files.length === 0) throw new ReplayInputError('no input file');
  if (files.includes('-')) {
    if (files.length > 1) throw new ReplayInputError("'-' (conntrack text on standard input) cannot be combined with files");
    return new StreamInput(opts.stdin ?? process.stdin);
  }
  const heads = files.map((f) => ({ file: f, ...head(f, 64 * 1024) }));
  for (const h of heads) if (h.size === 0) throw new ReplayInputError(`${h.file} is empty (0 bytes): nothing to replay`);
  const isCap = heads.map((h) => looksLikeCapture(h.bytes));
  if (isCap.some(Boolean)) {
    if (files.length > 1) throw new ReplayInputError('replay takes one .ctcap file (rotated segments are followed from the first), or conntrack text files; not both');
    return new CaptureInput(files[0]!);
  }
  return new TextInput(heads);
}

/** More segments than any rotation makes (a day at 1 MiB each is 86,400 at most): a chain this long is not a recording. */
export const MAX_SEGMENTS = 100_000;

/** The file a footer's `next` names: in the same directory, whatever path it carries. */
function nextSegmentPath(file: string, next: string): string {
  return path.join(path.dirname(file), path.basename(next));
}

/** A file's identity for loop detection (its real path; the name when it cannot be resolved). */
function identity(file: string): string {
  try {
    return fs.realpathSync(file);
  } catch {
    return path.resolve(file);
  }
}

/**
 * The chain of segments from `first` as their footers name them, read from
 * the files' tails only. A chain that comes back to a segment already in it
 * (a footer naming its own file, or an earlier one) would replay forever:
 * that is a ReplayInputError before anything is replayed.
 */
function segmentChain(first: string): { files: string[]; footers: Array<CaptureFooter | null> } {
  const files = [first];
  const footers: Array<CaptureFooter | null> = [];
  const seen = new Set([identity(first)]);
  for (let file = first; ; ) {
    const f = peekFooter(file);
    footers.push(f);
    if (!f?.next) break;
    const nf = nextSegmentPath(file, f.next);
    if (!fs.existsSync(nf)) break; // reported as a missing segment when the replay gets there
    if (seen.has(identity(nf))) {
      throw new ReplayInputError(
        identity(nf) === identity(file)
          ? `${file} names itself as its next segment: a loop that would replay forever`
          : `${file} names ${nf} as its next segment, which is already in the chain from ${first}: a loop that would replay forever`,
      );
    }
    if (files.length >= MAX_SEGMENTS) throw new ReplayInputError(`${first} starts a chain of more than ${MAX_SEGMENTS} segments: not a recording this build replays`);
    seen.add(identity(nf));
    files.push(nf);
    file = nf;
  }
  return { files, footers };
}

class CaptureInput implements ReplayInput {
  readonly format = 'ctcap' as const;
  readonly files: string[] = [];
  readonly header: CaptureHeader;
  readonly bootBaseNs: number;
  private readonly integrity: CaptureIntegrity[] = [];
  private readonly problems: ReplayProblem[] = [];
  private first: CaptureReader;
  private readonly chain: ReturnType<typeof segmentChain>;

  constructor(file: string) {
    try {
      this.first = CaptureReader.open(file);
    } catch (e) {
      if (e instanceof CaptureError) throw new ReplayInputError(e.message);
      throw e;
    }
    try {
      this.chain = segmentChain(file);
    } catch (e) {
      this.first.close();
      throw e;
    }
    this.header = this.first.header;
    this.bootBaseNs = this.header.boot_base_ns;
  }

  *items(): Generator<CaptureItem> {
    let reader: CaptureReader | null = this.first;
    let expectSeg = this.header.segment ?? 0;
    // the chain was checked at open; files changed since must not loop either
    const seen = new Set<string>();
    while (reader) {
      this.files.push(reader.file);
      seen.add(identity(reader.file));
      try {
        yield* reader.items();
      } finally {
        reader.close();
      }
      const ig = reader.integrity;
      this.integrity.push(ig);
      for (const p of ig.problems) this.problems.push({ file: reader.file, offset: p.offset, message: p.message });
      const next = ig.footer?.next;
      reader = null;
      if (next) {
        const nf = nextSegmentPath(this.files[this.files.length - 1]!, next);
        if (seen.has(identity(nf)) || this.files.length >= MAX_SEGMENTS) {
          this.problems.push({ file: nf, message: `the next segment ${nf} is already in the chain (changed while replaying?): the replay ends here` });
          break;
        }
        if (!fs.existsSync(nf)) {
          this.problems.push({ file: nf, message: `the next segment ${nf} (named in the footer) is missing: the replay ends early` });
          break;
        }
        try {
          reader = CaptureReader.open(nf);
        } catch (e) {
          this.problems.push({ file: nf, offset: (e as CaptureError).offset ?? 0, message: (e as Error).message });
          break;
        }
        expectSeg++;
        if (reader.header.segment !== expectSeg) {
          this.problems.push({ file: nf, message: `segment number ${reader.header.segment}, expected ${expectSeg} (a different recording?)` });
        }
      }
    }
  }

  /** Release the first segment (the input is read elsewhere: read-thread.ts); items() cannot run after. */
  close(): void {
    this.first.close();
  }

  spanSeconds(): number | null {
    // first and last segment footers; a segment without one: unknown
    const { footers } = this.chain;
    const first = footers[0]?.first_ts ?? null;
    const last = footers[footers.length - 1]?.last_ts ?? null;
    if (first === null || last === null) return null;
    return Math.max(0, (last - first) / 1e9);
  }

  summary(): ReplaySummary {
    const partial = this.problems.length > 0 || this.integrity.some((i) => i.partial);
    const records = this.integrity.reduce((a, i) => a + i.records, 0);
    const first = this.problems[0];
    return {
      format: this.format,
      files: [...this.files],
      partial,
      detail: partial && first ? `${first.file}${first.offset !== undefined ? ` at byte ${first.offset}` : ''}: ${first.message}` : null,
      problems: [...this.problems],
      integrity: [...this.integrity],
      import: null,
      records,
      procSnapshots: this.integrity.reduce((a, i) => a + i.procSnapshots, 0),
    };
  }
}

class TextInput implements ReplayInput {
  readonly format = 'conntrack-text' as const;
  readonly files: string[];
  readonly header = null;
  readonly bootBaseNs: number;
  private readonly baseSec: number;
  private readonly tableTime: number[];
  private stats: ImportStats | null = null;
  private readonly problems: ReplayProblem[] = [];
  private records = 0;

  constructor(heads: { file: string; bytes: Buffer; mtimeSec: number }[]) {
    this.files = heads.map((h) => h.file);
    const infos = heads.map((h) => {
      try {
        return probeTextFile(h.file, h.bytes, h.mtimeSec);
      } catch (e) {
        if (e instanceof ImportError) throw new ReplayInputError(e.message);
        throw e;
      }
    });
    // One clock for all files: a table file (-L, no timestamps) is taken at
    // the time the next timestamped file starts.
    const stamped = infos.filter((i) => i.sawTimestamp).map((i) => i.firstSec);
    const first = stamped.length ? Math.min(...stamped) : Math.min(...infos.map((i) => i.firstSec));
    this.baseSec = first - 1;
    this.bootBaseNs = this.baseSec * 1e9;
    this.tableTime = infos.map((info, i) => {
      if (info.sawTimestamp) return info.firstSec;
      const later = infos.slice(i + 1).find((x) => x.sawTimestamp);
      return later ? later.firstSec : first;
    });
  }

  spanSeconds(): number | null {
    // the last timestamp of any file, read from its tail
    let last = -Infinity;
    for (const file of this.files) {
      try {
        const fd = fs.openSync(file, 'r');
        try {
          const size = fs.fstatSync(fd).size;
          const n = Math.min(size, 64 * 1024);
          const b = Buffer.alloc(n);
          fs.readSync(fd, b, 0, n, size - n);
          const text = b.toString('latin1');
          const re = /^\[(\d{1,12})\.(\d{1,9})\]/gm;
          for (let m = re.exec(text); m; m = re.exec(text)) last = Math.max(last, Number(m[1]) + 1);
        } finally {
          fs.closeSync(fd);
        }
      } catch {
        return null;
      }
    }
    return Number.isFinite(last) ? Math.max(0, last - (this.baseSec + 1)) : 0;
  }

  *items(): Generator<CaptureItem> {
    for (let f = 0; f < this.files.length; f++) {
      const file = this.files[f]!;
      const gen = readConntrackText(file, { baseSec: this.baseSec, tableTimeSec: this.tableTime[f]! });
      let r: IteratorResult<RecordColumns, { stats: ImportStats }>;
      try {
        while (!(r = gen.next()).done) {
          this.records += r.value.length;
          yield { type: 'records', batch: r.value, offset: 0 };
        }
      } catch (e) {
        if (e instanceof ImportError) throw new ReplayInputError(e.message);
        throw e;
      }
      this.merge(file, r.value.stats);
    }
  }

  private merge(file: string, s: ImportStats): void {
    for (const u of s.unparsed.first_lines) this.problems.push({ file, line: u.line, message: `line ${u.line}: ${u.why}` });
    if (!this.stats) {
      this.stats = structuredClone(s);
      if (this.files.length > 1) for (const u of this.stats.unparsed.first_lines) u.text = `${path.basename(file)}:${u.line}: ${u.text}`;
      return;
    }
    const t = this.stats;
    t.lines += s.lines;
    t.blank += s.blank;
    t.parsed += s.parsed;
    t.events.new += s.events.new;
    t.events.update += s.events.update;
    t.events.destroy += s.events.destroy;
    t.seen += s.seen;
    t.notices.count += s.notices.count;
    t.notices.first.push(...s.notices.first.slice(0, Math.max(0, 20 - t.notices.first.length)));
    t.lossWarnings += s.lossWarnings;
    t.unparsed.count += s.unparsed.count;
    for (const u of s.unparsed.first_lines) if (t.unparsed.first_lines.length < 20) t.unparsed.first_lines.push({ ...u, text: `${path.basename(file)}:${u.line}: ${u.text}` });
    if (s.firstTs !== null && (t.firstTs === null || s.firstTs < t.firstTs)) t.firstTs = s.firstTs;
    if (s.lastTs !== null && (t.lastTs === null || s.lastTs > t.lastTs)) t.lastTs = s.lastTs;
    t.sawTimestamps ||= s.sawTimestamps;
    t.sawIds ||= s.sawIds;
    t.sawExtended ||= s.sawExtended;
  }

  summary(): ReplaySummary {
    const s = this.stats;
    const untimed = !!s && s.events.new + s.events.update + s.events.destroy > 0 && !s.sawTimestamps;
    if (untimed && !this.problems.some((p) => p.message.startsWith('events without timestamps'))) {
      this.problems.push({
        file: this.files.join(', '),
        message: 'events without timestamps (conntrack -E was run without -o timestamp): they all count at one instant, so rates and lifetimes are meaningless',
      });
    }
    const partial = !!s && (s.unparsed.count > 0 || s.lossWarnings > 0 || untimed);
    let detail: string | null = untimed ? this.problems[this.problems.length - 1]!.message : null;
    if (s && s.unparsed.count > 0) detail = `${s.unparsed.count} line(s) could not be read (first: ${this.problems[0]?.file} ${this.problems[0]?.message})`;
    else if (s && s.lossWarnings > 0) detail = `conntrack reported lost events (ENOBUFS) ${s.lossWarnings} time(s) while capturing`;
    return {
      format: this.format,
      files: [...this.files],
      partial,
      detail,
      problems: [...this.problems],
      integrity: [],
      import: s,
      records: this.records,
      procSnapshots: 0,
    };
  }
}

/**
 * conntrack text arriving on a pipe (`stdbuf -oL conntrack -E -o
 * timestamp,id,extended | ctscope replay - --serve`): parsed as it comes, the
 * clock set by the first timestamp; the replay ends when the pipe closes.
 */
class StreamInput implements ReplayInput {
  readonly format = 'conntrack-text' as const;
  readonly files = ['-'];
  readonly header = null;
  bootBaseNs = 0;
  private stats: ImportStats | null = null;
  private records = 0;
  private readonly problems: ReplayProblem[] = [];

  constructor(private readonly stream: NodeJS.ReadableStream) {}

  spanSeconds(): number | null {
    return null;
  }

  async *items(): AsyncGenerator<CaptureItem> {
    const out: RecordColumns[] = [];
    let imp: ConntrackTextImporter | null = null;
    let carry: Buffer = Buffer.alloc(0);
    let skipping = false;
    const feed = (b: Buffer, final: boolean) => {
      if (b.length === 0) return;
      if (!imp) {
        const nul = b.indexOf(0);
        if (nul >= 0) throw new ReplayInputError(`standard input is not conntrack text (binary data at byte ${nul})`);
        const m = /^\[(\d{1,12})\.\d{1,9}\]/m.exec(b.toString('latin1', 0, Math.min(b.length, 64 * 1024)));
        const first = m ? Number(m[1]) : Math.floor(Date.now() / 1000);
        this.bootBaseNs = (first - 1) * 1e9;
        imp = new ConntrackTextImporter({ baseSec: first - 1, tableTimeSec: first, emit: (bytes, count) => out.push(decodeBatch(bytes, count)) });
      }
      let s = 0;
      for (;;) {
        const nl = b.indexOf(10, s);
        if (nl < 0) break;
        if (skipping) skipping = false;
        else imp.pushBytes(b, s, nl);
        s = nl + 1;
      }
      carry = b.subarray(s);
      if (carry.length > 1 << 20) {
        if (!skipping) imp.pushOverlong(carry.subarray(0, 200));
        skipping = true;
        carry = Buffer.alloc(0);
      }
      if (final && carry.length && !skipping) imp.pushBytes(carry, 0, carry.length);
    };
    for await (const chunk of this.stream as AsyncIterable<Buffer | string>) {
      const b = typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk;
      feed(carry.length ? Buffer.concat([carry, b]) : b, false);
      // a pipe is live: hand over what arrived rather than wait for a full batch
      (imp as ConntrackTextImporter | null)?.flushNow();
      while (out.length) {
        const batch = out.shift()!;
        this.records += batch.length;
        yield { type: 'records', batch, offset: 0 };
      }
    }
    feed(carry, true);
    if (!imp) throw new ReplayInputError('standard input was empty: nothing to replay');
    this.stats = (imp as ConntrackTextImporter).end();
    while (out.length) {
      const batch = out.shift()!;
      this.records += batch.length;
      yield { type: 'records', batch, offset: 0 };
    }
    for (const u of this.stats.unparsed.first_lines) this.problems.push({ file: '-', line: u.line, message: `line ${u.line}: ${u.why}` });
  }

  summary(): ReplaySummary {
    const s = this.stats;
    const partial = !!s && (s.unparsed.count > 0 || s.lossWarnings > 0);
    return {
      format: this.format,
      files: ['-'],
      partial,
      detail: s && s.unparsed.count > 0 ? `${s.unparsed.count} line(s) could not be read (first: ${this.problems[0]?.message})` : s && s.lossWarnings > 0 ? `conntrack reported lost events (ENOBUFS) ${s.lossWarnings} time(s)` : null,
      problems: [...this.problems],
      integrity: [],
      import: s,
      records: this.records,
      procSnapshots: 0,
    };
  }
}

/** Where replayed items go. The model implements all three. */
export interface ReplaySink {
  ingest(batch: RecordColumns): void;
  ingestProc?(snapshot: ProcSnapshot): void;
  /** The file's clock moved to `nowNs` (boot-time ns). */
  advance?(nowNs: number): void;
  /** A STATUS frame: the sources as recorded, and the sampling in force from ts on when the daemon had a CPU budget. */
  status?(ts: number, sources: SourceStatus[], samplingShift?: number): void;
  /** The node's pods changed at `pods.ts` (a PODS frame). */
  pods?(pods: PodsPayload): void;
}

export interface ReplayRunOptions {
  /** Capture seconds per wall second; Infinity (default) = as fast as possible. */
  speed?: number;
  /** Stop early (the --serve server closing). */
  signal?: AbortSignal;
}

export interface ReplayProgress {
  records: number;
  firstTs: number | null;
  lastTs: number | null;
  wallMs: number;
}

/** Feed every item of `input` to `sinks` in order; returns when the input is done. */
export async function runReplay(input: ReplayInput, sinks: ReplaySink[], opts: ReplayRunOptions = {}): Promise<ReplayProgress> {
  const speed = opts.speed ?? Infinity;
  const paced = Number.isFinite(speed);
  const t0 = performance.now();
  const p: ReplayProgress = { records: 0, firstTs: null, lastTs: null, wallMs: 0 };
  let wallStart = 0;
  let capStart = 0;
  let lastYield = performance.now();
  // sync for files (no await per item on the hot path), async for a pipe
  const it = input.items();
  const next = (): IteratorResult<CaptureItem> | Promise<IteratorResult<CaptureItem>> => it.next();
  // Stopped early (aborted, or a sink threw): close the input, so that a
  // reading thread ends with it.
  try {
    for (;;) {
      let r = next();
      if (r instanceof Promise) r = await r;
      if (r.done) break;
      const item = r.value;
      if (opts.signal?.aborted) break;
      let ts: number;
      if (item.type === 'records') {
        const b = item.batch;
        if (b.length === 0) continue;
        ts = b.ts[b.length - 1]!;
        if (p.firstTs === null || b.ts[0]! < p.firstTs) p.firstTs = b.ts[0]!;
        if (!paced) {
          for (const s of sinks) s.ingest(b);
          p.records += b.length;
        } else {
          // deliver in slices of ~20 ms of wall time, each when its first record is due
          for (let i = 0; i < b.length; ) {
            const t = b.ts[i]!;
            let j = i + 1;
            while (j < b.length && b.ts[j]! < t + 20e6 * speed) j++;
            await pace(t);
            if (opts.signal?.aborted) break;
            const part = i === 0 && j === b.length ? b : decodeBatch(b.bytes.subarray(i * RECORD_SIZE, j * RECORD_SIZE), j - i);
            for (const s of sinks) s.ingest(part);
            p.records += part.length;
            const last = part.ts[part.length - 1]!;
            if (p.lastTs === null || last > p.lastTs) {
              p.lastTs = last;
              for (const s of sinks) s.advance?.(last);
            }
            i = j;
          }
        }
      } else if (item.type === 'proc') {
        ts = item.snapshot.ts;
        if (paced) await pace(ts);
        for (const s of sinks) s.ingestProc?.(item.snapshot);
      } else if (item.type === 'pods') {
        // in file order between the records, so attribution sees the map the live daemon saw
        for (const s of sinks) s.pods?.(item.pods);
        continue;
      } else {
        // status frames carry the writer's clock, not an event time: they do not move the replay clock
        for (const s of sinks) s.status?.(item.ts, item.sources, item.samplingShift);
        continue;
      }
      if (p.lastTs === null || ts > p.lastTs) {
        p.lastTs = ts;
        for (const s of sinks) s.advance?.(ts);
      }
      // let a --serve server answer while replaying at full speed
      if (!paced && performance.now() - lastYield > 50) {
        await new Promise((r) => setImmediate(r));
        lastYield = performance.now();
      }
    }
  } finally {
    const closing = it.return?.(undefined);
    if (closing instanceof Promise) await closing.catch(() => undefined);
  }
  p.wallMs = performance.now() - t0;
  return p;

  async function pace(ts: number): Promise<void> {
    if (wallStart === 0) {
      wallStart = performance.now();
      capStart = ts;
      return;
    }
    const due = wallStart + (ts - capStart) / 1e6 / speed;
    let wait = due - performance.now();
    if (wait > 1) {
      while (wait > 1 && !opts.signal?.aborted) {
        await new Promise((r) => setTimeout(r, Math.min(wait, 1000)));
        wait = due - performance.now();
      }
      lastYield = performance.now();
    } else if (performance.now() - lastYield > 50) {
      await new Promise((r) => setImmediate(r));
      lastYield = performance.now();
    }
  }
}
