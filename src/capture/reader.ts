// Reads .ctcap files (format in ./format.ts) frame by frame with bounded
// memory: a read window plus at most one frame (MAX_FRAME_PAYLOAD). A file
// that cannot be read at all (empty, not a capture, unknown version, damaged
// header, other record layout) throws CaptureError naming the byte offset. Any
// later problem — a cut-off tail, a flipped bit, a garbage length — is recorded
// in `integrity` with its offset; damaged frames are skipped by scanning for the
// next frame whose marker, bound and checksum are valid, so a replay keeps
// everything that is intact and says what it lost.
//
// (A little over 500 lines: one reader — the read window, the frame scan and
// its recovery, and the checks of each frame type's payload share the
// reader's position and integrity record; the PODS frame's field checks are
// already apart, pods-frame.ts.)

import fs from 'node:fs';
import { decodeBatch, RecordFormatError, type RecordColumns } from '../records/batch.js';
import { FIELDS, RECORD_SIZE, RECORD_VERSION } from '../records/layout.js';
import type { ProcSnapshot } from '../proc/types.js';
import type { SourceStatus } from '../records/sink.js';
import { parsePodsPayload, type PodsPayload } from './pods-frame.js';
import {
  crc32,
  FORMAT_VERSION,
  FRAME_HEADER_SIZE,
  FRAME_TYPE_NAMES,
  FrameType,
  LAST_FRAME_TYPE,
  MAGIC,
  MAX_FRAME_PAYLOAD,
  packr,
  PREAMBLE_SIZE,
  samplingShift,
  SYNC0,
  SYNC1,
  type CaptureFooter,
  type CaptureHeader,
} from './format.js';
import { UserError } from '../errors.js';

export class CaptureError extends UserError {
  constructor(
    message: string,
    readonly file: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

export interface CaptureProblem {
  /** Byte offset in the file where the problem starts. */
  offset: number;
  message: string;
}

export interface CaptureIntegrity {
  file: string;
  fileSize: number;
  /** Something is missing: no footer, a cut-off tail or skipped frames. */
  partial: boolean;
  /** The footer was read and its counts match what was read. */
  complete: boolean;
  /** The file ends inside a frame (a writer killed mid-write). */
  truncated: boolean;
  footer: CaptureFooter | null;
  frames: number;
  records: number;
  procSnapshots: number;
  damagedFrames: number;
  unknownFrames: number;
  skippedBytes: number;
  /** Offset just past the last good frame. */
  goodUntil: number;
  problems: CaptureProblem[];
  /** All problems, including those not kept in `problems` (capped at 50). */
  problemCount: number;
}

export type CaptureItem =
  | { type: 'records'; batch: RecordColumns; offset: number }
  | { type: 'proc'; snapshot: ProcSnapshot; offset: number }
  | { type: 'status'; ts: number; sources: SourceStatus[]; offset: number; samplingShift?: number }
  | { type: 'pods'; pods: PodsPayload; offset: number };

const WINDOW = 4 * 1024 * 1024;
const MAX_PROBLEMS = 50;
const fmtBytes = (n: number) => (n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : `${n} bytes`);

/** True when `file` starts with the .ctcap magic (used to tell captures from conntrack text). */
export function looksLikeCapture(head: Uint8Array): boolean {
  const n = Math.min(head.length, MAGIC.length);
  if (n < 4) return false;
  for (let i = 0; i < n; i++) if (head[i] !== MAGIC[i]) return false;
  return true;
}

/**
 * The footer of a capture file, read from its tail without reading the rest
 * (null when the file has none or it is damaged): lets a replay know the
 * capture's time span before it starts.
 */
export function peekFooter(file: string): CaptureFooter | null {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return null;
  }
  try {
    const size = fs.fstatSync(fd).size;
    const n = Math.min(size, 64 * 1024);
    const b = Buffer.alloc(n);
    fs.readSync(fd, b, 0, n, size - n);
    for (let i = n - FRAME_HEADER_SIZE; i >= 0; i--) {
      if (b[i] !== SYNC0 || b[i + 1] !== SYNC1 || b[i + 2] !== FrameType.FOOTER) continue;
      const len = b.readUInt32LE(i + 4);
      if (i + FRAME_HEADER_SIZE + len !== n) continue;
      const payload = b.subarray(i + FRAME_HEADER_SIZE);
      if (crc32(payload, crc32(b.subarray(i + 2, i + 8))) !== b.readUInt32LE(i + 8)) return null;
      const f: unknown = packr.unpack(payload);
      return footerProblem(f) === null ? (f as CaptureFooter) : null;
    }
    return null;
  } catch {
    return null;
  } finally {
    fs.closeSync(fd);
  }
}

export class CaptureReader {
  readonly header: CaptureHeader;
  readonly integrity: CaptureIntegrity;
  private readonly fd: number;
  private buf: Buffer = Buffer.alloc(0);
  private bufStart = 0;
  private bufLen = 0;
  private pos: number;
  private done = false;

  private constructor(
    readonly file: string,
    fd: number,
    size: number,
  ) {
    this.fd = fd;
    this.integrity = {
      file,
      fileSize: size,
      partial: false,
      complete: false,
      truncated: false,
      footer: null,
      frames: 0,
      records: 0,
      procSnapshots: 0,
      damagedFrames: 0,
      unknownFrames: 0,
      skippedBytes: 0,
      goodUntil: PREAMBLE_SIZE,
      problems: [],
      problemCount: 0,
    };
    this.pos = PREAMBLE_SIZE;
    this.header = this.readHeader();
  }

  /** Open a capture and read its preamble and header; throws CaptureError. */
  static open(file: string): CaptureReader {
    let fd: number;
    try {
      fd = fs.openSync(file, 'r');
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw new CaptureError(`cannot open ${file}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`, file, 0);
    }
    try {
      const st = fs.fstatSync(fd);
      if (!st.isFile()) throw new CaptureError(`${file} is not a regular file`, file, 0);
      return new CaptureReader(file, fd, st.size);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  private closed = false;

  /** Idempotent (a second close must not close a descriptor number reused since). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    fs.closeSync(this.fd);
  }

  /** Frames after the header, in file order. Fills `integrity` as it goes. */
  *items(): Generator<CaptureItem> {
    const size = this.integrity.fileSize;
    while (!this.done && this.pos < size) {
      const at = this.pos;
      if (size - at < FRAME_HEADER_SIZE) {
        this.truncatedAt(at, `file ends ${size - at} bytes into a frame header at byte ${at}`);
        break;
      }
      const h = this.view(at, FRAME_HEADER_SIZE);
      const type = h[2]!;
      const len = h.readUInt32LE(4);
      if (h[0] !== SYNC0 || h[1] !== SYNC1) {
        this.damage(at, `no frame marker at byte ${at} (damaged data)`);
        continue;
      }
      if (len > MAX_FRAME_PAYLOAD) {
        this.damage(at, `frame at byte ${at} claims ${fmtBytes(len)}, over the ${fmtBytes(MAX_FRAME_PAYLOAD)} bound (damaged length field)`);
        continue;
      }
      if (at + FRAME_HEADER_SIZE + len > size) {
        // A garbage length or a cut-off tail: if an intact frame follows, it was damage.
        const next = this.resync(at + 1);
        if (next < 0) {
          this.truncatedAt(
            at,
            `file ends inside a ${FRAME_TYPE_NAMES[type] ?? `type-${type}`} frame at byte ${at} (needs ${len} bytes, ${size - at - FRAME_HEADER_SIZE} present): cut off mid-write`,
          );
          break;
        }
        this.problem(at, `frame at byte ${at} claims ${fmtBytes(len)}, past the end of the file (damaged length field); skipped ${next - at} bytes`);
        this.integrity.damagedFrames++;
        this.integrity.skippedBytes += next - at;
        this.pos = next;
        continue;
      }
      const crcWant = h.readUInt32LE(8);
      const head6 = Buffer.from(h.subarray(2, 8));
      const payload = this.view(at + FRAME_HEADER_SIZE, len);
      if (crc32(payload, crc32(head6)) !== crcWant) {
        this.damage(at, `checksum mismatch in the ${FRAME_TYPE_NAMES[type] ?? `type-${type}`} frame at byte ${at} (${len} bytes)`);
        continue;
      }
      this.pos = at + FRAME_HEADER_SIZE + len;
      const item = this.decodeFrame(type, payload, at);
      if (item) yield item;
    }
    this.finish();
  }

  private decodeFrame(type: number, payload: Uint8Array, at: number): CaptureItem | null {
    const ig = this.integrity;
    let value: unknown;
    try {
      value = packr.unpack(payload);
    } catch (e) {
      this.skipFrame(at, `${FRAME_TYPE_NAMES[type] ?? 'unknown'} frame at byte ${at} does not decode: ${(e as Error).message}`);
      return null;
    }
    const obj = value as Record<string, unknown> | null;
    switch (type) {
      case FrameType.RECORDS: {
        const n = obj?.n;
        const b = obj?.b;
        if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || !(b instanceof Uint8Array) || b.length !== n * RECORD_SIZE) {
          this.skipFrame(at, `records frame at byte ${at} is malformed (count and byte length disagree)`);
          return null;
        }
        let batch: RecordColumns;
        try {
          // A copy (Buffer.slice would be a view): consumers may keep the raw
          // bytes (addresses, lazily decoded columns), and the read window is reused.
          batch = decodeBatch(new Uint8Array(b), n);
        } catch (e) {
          if (!(e instanceof RecordFormatError)) throw e;
          this.skipFrame(at, `records frame at byte ${at}: ${e.message}`);
          return null;
        }
        this.good();
        ig.records += n;
        return { type: 'records', batch, offset: at };
      }
      case FrameType.PROC: {
        if (!obj || !isTime(obj.ts) || !isCount(obj.count)) {
          this.skipFrame(at, `proc frame at byte ${at} is malformed`);
          return null;
        }
        this.good();
        ig.procSnapshots++;
        return {
          type: 'proc',
          snapshot: {
            ts: obj.ts,
            netns: isU32(obj.netns) ? obj.netns : 0,
            count: obj.count,
            max: isCount(obj.max) ? obj.max : 0,
            buckets: isCount(obj.buckets) ? obj.buckets : 0,
            stats: countMap(obj.stats),
            timeouts: countMap(obj.timeouts),
            ...(obj.stats_source === 'proc' || obj.stats_source === 'ctnetlink' ? { stats_source: obj.stats_source } : {}),
            ...(typeof obj.cookie === 'string' && /^\d{1,20}$/.test(obj.cookie) ? { cookie: obj.cookie } : {}),
            ...(typeof obj.name === 'string' && obj.name.length <= 256 ? { name: obj.name } : {}),
          },
          offset: at,
        };
      }
      case FrameType.STATUS: {
        const shift = obj?.sampling === undefined ? undefined : samplingShift(obj.sampling);
        const sources = obj && isTime(obj.ts) && Array.isArray(obj.sources) ? obj.sources.map(sourceStatus) : null;
        if (!sources || sources.includes(null) || shift === null) {
          this.skipFrame(at, `status frame at byte ${at} is malformed${shift === null ? ' (sampling.one_in is not a power of two)' : ''}`);
          return null;
        }
        this.good();
        return { type: 'status', ts: obj!.ts as number, sources: sources as SourceStatus[], offset: at, ...(shift !== undefined ? { samplingShift: shift } : {}) };
      }
      case FrameType.PODS: {
        const pods = parsePodsPayload(obj);
        if (!pods) {
          this.skipFrame(at, `pods frame at byte ${at} is malformed`);
          return null;
        }
        this.good();
        return { type: 'pods', pods, offset: at };
      }
      case FrameType.FOOTER: {
        const why = footerProblem(obj);
        if (why) {
          this.skipFrame(at, `footer at byte ${at} is malformed (${why})`);
          return null;
        }
        this.good();
        ig.footer = obj as unknown as CaptureFooter;
        if (this.pos < ig.fileSize) {
          this.problem(this.pos, `${ig.fileSize - this.pos} bytes after the footer at byte ${at} ignored`);
        }
        this.done = true;
        return null;
      }
      case FrameType.HEADER:
        this.skipFrame(at, `a second header frame at byte ${at} (concatenated files?) ignored`);
        return null;
      default:
        // A newer writer's frame type with a valid checksum: skip it, it is not damage.
        this.good();
        ig.unknownFrames++;
        return null;
    }
  }

  private readHeader(): CaptureHeader {
    const { file } = this;
    const size = this.integrity.fileSize;
    if (size === 0) throw new CaptureError(`${file} is empty (0 bytes): nothing was recorded`, file, 0);
    const pre = this.view(0, Math.min(size, PREAMBLE_SIZE));
    if (!looksLikeCapture(pre) || (size < MAGIC.length && pre.length < 4)) {
      throw new CaptureError(`${file} is not a ctscope capture (no CTCAP magic at byte 0)`, file, 0);
    }
    if (size < PREAMBLE_SIZE) throw new CaptureError(`${file} is cut off inside its preamble (${size} bytes): nothing usable`, file, size);
    const version = pre.readUInt32LE(MAGIC.length);
    if (version !== FORMAT_VERSION) {
      throw new CaptureError(
        version > FORMAT_VERSION
          ? `${file} is capture format version ${version}, newer than this build reads (${FORMAT_VERSION}): upgrade ctscope`
          : `${file} has unknown capture format version ${version} at byte ${MAGIC.length} (this build reads ${FORMAT_VERSION})`,
        file,
        MAGIC.length,
      );
    }
    const at = PREAMBLE_SIZE;
    if (size < at + FRAME_HEADER_SIZE) throw new CaptureError(`${file} is cut off before its header frame (byte ${size}): nothing usable`, file, size);
    const h = this.view(at, FRAME_HEADER_SIZE);
    const len = h.readUInt32LE(4);
    if (h[0] !== SYNC0 || h[1] !== SYNC1 || h[2] !== FrameType.HEADER) {
      throw new CaptureError(`${file}: no header frame at byte ${at} (damaged)`, file, at);
    }
    if (len > MAX_FRAME_PAYLOAD) throw new CaptureError(`${file}: header frame at byte ${at} claims ${fmtBytes(len)} (damaged length field)`, file, at);
    if (at + FRAME_HEADER_SIZE + len > size) {
      throw new CaptureError(`${file} is cut off inside its header frame at byte ${at} (needs ${len} bytes, ${size - at - FRAME_HEADER_SIZE} present)`, file, size);
    }
    const head6 = Buffer.from(h.subarray(2, 8));
    const crcWant = h.readUInt32LE(8);
    const payload = this.view(at + FRAME_HEADER_SIZE, len);
    if (crc32(payload, crc32(head6)) !== crcWant) throw new CaptureError(`${file}: checksum mismatch in the header frame at byte ${at} (damaged)`, file, at);
    let hdr: CaptureHeader;
    try {
      hdr = packr.unpack(payload) as CaptureHeader;
    } catch (e) {
      throw new CaptureError(`${file}: header frame at byte ${at} does not decode: ${(e as Error).message}`, file, at);
    }
    if (!hdr || typeof hdr !== 'object' || !hdr.record || typeof hdr.record.size !== 'number') {
      throw new CaptureError(`${file}: header frame at byte ${at} lacks the record layout`, file, at);
    }
    checkLayout(file, hdr, at);
    checkHeader(file, hdr, at);
    this.pos = at + FRAME_HEADER_SIZE + len;
    this.integrity.frames = 1;
    this.integrity.goodUntil = this.pos;
    return hdr;
  }

  private finish(): void {
    const ig = this.integrity;
    if (!ig.footer) {
      this.problem(ig.goodUntil, `no footer: the writer did not finish (killed, or still recording); replayed the ${ig.frames} complete frames up to byte ${ig.goodUntil}`);
    }
    if (ig.footer && ig.footer.records !== ig.records) {
      this.problem(ig.goodUntil, `footer counts ${ig.footer.records} records, ${ig.records} were read intact`);
    }
    // any problem at all (even bytes after the footer) is worth a flag
    ig.partial = !ig.footer || ig.truncated || ig.damagedFrames > 0 || ig.problemCount > 0;
    ig.complete = !ig.partial;
  }

  private good(): void {
    this.integrity.frames++;
    this.integrity.goodUntil = this.pos;
  }

  private skipFrame(at: number, message: string): void {
    this.integrity.damagedFrames++;
    this.problem(at, message);
  }

  private truncatedAt(at: number, message: string): void {
    this.integrity.truncated = true;
    this.problem(at, message);
    this.done = true;
  }

  /** Damage at `at`: record it, and move to the next intact frame (or the end). */
  private damage(at: number, message: string): void {
    const next = this.resync(at + 1);
    const end = next < 0 ? this.integrity.fileSize : next;
    this.integrity.damagedFrames++;
    this.integrity.skippedBytes += end - at;
    this.problem(at, `${message}; skipped ${end - at} bytes${next < 0 ? ' to the end of the file' : ` to the next intact frame at byte ${next}`}`);
    this.pos = end;
    if (next < 0) this.done = true;
  }

  private problem(offset: number, message: string): void {
    this.integrity.problemCount++;
    if (this.integrity.problems.length < MAX_PROBLEMS) this.integrity.problems.push({ offset, message });
  }

  /** The next offset ≥ from holding an intact frame of a known type; -1 if none. */
  private resync(from: number): number {
    const size = this.integrity.fileSize;
    let p = from;
    while (p + FRAME_HEADER_SIZE <= size) {
      const chunkLen = Math.min(WINDOW, size - p);
      let i = 0;
      for (;;) {
        // re-taken each time: checking a candidate's payload may move the window
        const c = this.view(p, chunkLen);
        i = c.indexOf(SYNC0, i);
        if (i < 0 || i + 1 >= chunkLen) break;
        if (c[i + 1] === SYNC1 && this.intactAt(p + i)) return p + i;
        i++;
      }
      if (p + chunkLen >= size) break;
      p += chunkLen - 1; // overlap one byte: a marker may straddle two chunks
    }
    return -1;
  }

  private intactAt(at: number): boolean {
    const size = this.integrity.fileSize;
    if (at + FRAME_HEADER_SIZE > size) return false;
    const h = this.view(at, FRAME_HEADER_SIZE);
    const type = h[2]!;
    if (type < FrameType.RECORDS || type > LAST_FRAME_TYPE || h[3] !== 0) return false;
    const len = h.readUInt32LE(4);
    if (len > MAX_FRAME_PAYLOAD || at + FRAME_HEADER_SIZE + len > size) return false;
    const head6 = Buffer.from(h.subarray(2, 8));
    const crcWant = h.readUInt32LE(8);
    return crc32(this.view(at + FRAME_HEADER_SIZE, len), crc32(head6)) === crcWant;
  }

  /** `len` bytes at file offset `off` (valid until the next call). */
  private view(off: number, len: number): Buffer {
    if (off >= this.bufStart && off + len <= this.bufStart + this.bufLen) {
      return this.buf.subarray(off - this.bufStart, off - this.bufStart + len);
    }
    const want = Math.max(len, WINDOW);
    if (this.buf.length < want) this.buf = Buffer.allocUnsafe(want);
    const toRead = Math.min(this.buf.length, this.integrity.fileSize - off);
    let got = 0;
    while (got < toRead) {
      const n = fs.readSync(this.fd, this.buf, got, toRead - got, off + got);
      if (n === 0) break;
      got += n;
    }
    this.bufStart = off;
    this.bufLen = got;
    if (got < len) throw new CaptureError(`${this.file} shrank while being read (at byte ${off + got})`, this.file, off + got);
    return this.buf.subarray(0, len);
  }
}

// A frame's checksum says the bytes are as written, not that the writer was
// ours: everything read from a frame is checked for the type and range the
// rest of ctscope relies on (finite times, counts that are counts, strings
// that are strings), so a hostile or corrupt-but-checksummed file ends in a
// sentence or a skipped frame, never in NaN dates, endless loops or a crash.

/** Boot-time or epoch nanoseconds: finite, not negative, below 2^63 (year 2262 as epoch ns). */
function isTime(x: unknown): x is number {
  return typeof x === 'number' && x >= 0 && x < 2 ** 63;
}
function isCount(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}
function isU32(x: unknown): x is number {
  return isCount(x) && x <= 0xffffffff;
}
function isObject(x: unknown): x is Record<string, unknown> {
  return !!x && typeof x === 'object' && !Array.isArray(x) && !(x instanceof Uint8Array);
}

/** The finite numbers of a name → number map (/proc columns, timeouts); anything else is left out. */
function countMap(x: unknown): Record<string, number> {
  const out: Record<string, number> = {};
  if (!isObject(x)) return out;
  for (const [k, v] of Object.entries(x)) if (typeof v === 'number' && Number.isFinite(v) && k !== '__proto__') out[k] = v;
  return out;
}

/** A source's status as written by a recorder, or null when it is not one. */
function sourceStatus(x: unknown): SourceStatus | null {
  if (!isObject(x) || typeof x.name !== 'string' || typeof x.state !== 'string') return null;
  if (x.hook !== null && typeof x.hook !== 'string') return null;
  if (!isCount(x.records) || !isObject(x.lost) || !isCount(x.lost.total)) return null;
  const l = x.lost;
  if (l.ringbufReserveFailed !== undefined && !(Array.isArray(l.ringbufReserveFailed) && l.ringbufReserveFailed.length <= 4096 && l.ringbufReserveFailed.every(isCount))) return null;
  for (const k of ['queueDropped', 'netlinkOverruns', 'resyncs', 'recursionMisses'] as const) if (l[k] !== undefined && !isCount(l[k])) return null;
  const out: SourceStatus = {
    name: x.name,
    state: x.state as SourceStatus['state'],
    hook: x.hook,
    records: x.records,
    lost: { ...(l as unknown as SourceStatus['lost']) },
  };
  if (typeof x.detail === 'string') out.detail = x.detail;
  if (typeof x.delay_p99_s === 'number' && Number.isFinite(x.delay_p99_s)) out.delay_p99_s = x.delay_p99_s;
  return out;
}

/** Why `x` is not a footer, or null when it is one. */
function footerProblem(x: unknown): string | null {
  if (!isObject(x)) return 'not a map';
  if (!isCount(x.records)) return 'records is not a count';
  for (const k of ['first_ts', 'last_ts'] as const) if (x[k] !== undefined && x[k] !== null && !isTime(x[k])) return `${k} is not a time`;
  if (x.next !== undefined && (typeof x.next !== 'string' || x.next === '' || x.next.includes('\0') || x.next.length > 4096)) return 'next is not a file name';
  if (x.kinds !== undefined && !(Array.isArray(x.kinds) && x.kinds.length <= 256 && x.kinds.every((k) => k === undefined || k === null || isCount(k)))) return 'kinds is not a list of counts';
  return null;
}

/** The header's fields other than the record layout: their types, and times that are times. */
function checkHeader(file: string, hdr: CaptureHeader, at: number): void {
  const bad = (what: string) => new CaptureError(`${file}: the header frame at byte ${at} ${what}: not a capture this build can replay`, file, at);
  const h = hdr as unknown as Record<string, unknown>;
  if (h.boot_base_ns === undefined) hdr.boot_base_ns = 0;
  else if (!isTime(h.boot_base_ns)) throw bad(`has boot_base_ns ${String(h.boot_base_ns)}, which is not a time in ns since 1970`);
  if (h.segment === undefined) hdr.segment = 0;
  else if (!isCount(h.segment)) throw bad(`has segment ${String(h.segment)}, which is not a segment number`);
  for (const k of ['tool', 'host', 'kernel', 'origin'] as const) {
    if (h[k] !== undefined && typeof h[k] !== 'string') throw bad(`has a non-text ${k} field`);
  }
  if (h.created_ms !== undefined && !(typeof h.created_ms === 'number' && Number.isFinite(h.created_ms))) throw bad('has a creation time that is not a number');
  if (h.sources === undefined) hdr.sources = [];
  else if (!Array.isArray(h.sources) || !h.sources.every((s) => isObject(s) && typeof s.name === 'string' && (s.hook === null || typeof s.hook === 'string'))) {
    throw bad('lists its sources in a form this build does not know');
  }
}

function checkLayout(file: string, hdr: CaptureHeader, at: number): void {
  const r = hdr.record;
  if (r.size !== RECORD_SIZE || r.version !== RECORD_VERSION) {
    throw new CaptureError(
      `${file} holds records of version ${r.version} (${r.size} bytes); this build reads version ${RECORD_VERSION} (${RECORD_SIZE} bytes): replay it with the ctscope that wrote it (${hdr.tool ?? 'unknown'})`,
      file,
      at,
    );
  }
  for (const [name, f] of Object.entries(FIELDS)) {
    const g = r.fields?.[name];
    if (!g || g.offset !== f.offset || g.size !== f.size) {
      throw new CaptureError(`${file}: record field ${name} is at a different place than this build expects (header at byte ${at})`, file, at);
    }
  }
}
