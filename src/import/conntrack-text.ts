// Imports what the standard tool prints: `conntrack -E -o timestamp,id[,extended]`
// event lines and `conntrack -L -o extended[,id]` table lines, into the same
// records a live source produces (written by writeRecord, the writer under
// encodeRecord, from one reused RecordFields), so a capture taken
// with conntrack-tools on any node replays through the same model.
//
//   [1795401539.747044]\t    [NEW] ipv4     2 udp      17 3 src=10.78.9.1 dst=10.78.9.2 sport=49657 dport=5300 [UNREPLIED] src=10.78.9.2 dst=10.78.9.1 sport=5300 dport=49657 id=358110238
//   ipv4     2 tcp      6 1 TIME_WAIT src=... packets=6 bytes=325 src=... [ASSURED] mark=0 delta-time=2 use=1 id=3031382142
//
// The parser scans bytes, not strings: no split, no per-token string, IPv4
// addresses parsed while their token is scanned, plain IPv6 parsed in place
// (other forms through parseAddress and a small cache), no object per line,
// so a line costs well under two microseconds; strings are made only for
// lines it cannot read.
//
// NEW is one allocation (ALLOC), UPDATE an UPDATE, DESTROY a DESTROY, a table
// line (no event tag) an entry alive at start (SEEN, cause AT_START). A line
// that cannot be read is counted and reported with its number and the reason,
// never silently dropped. conntrack's own messages (the "flow events have been
// shown" trailer, the ENOBUFS warning) are recognised; ENOBUFS becomes a LOSS
// record, because events were lost there.
//
// Why one file of ~800 lines: the scanner (ConntrackTextImporter.parse and
// the byte helpers above it) is one pass over a line (~280 lines) whose state lives in a
// few locals, written for speed (BENCHMARKS.md, "Capture and replay": the
// string-based version read ~230 k lines/s, this one 1.0-1.2 M); the rest
// (file probing, the generator over files) is small and only serves it.

import fs from 'node:fs';
import { encodeRecord, RecordFields, writeRecord } from '../records/encode.js';
import { parseAddress } from '../records/address.js';
import { decodeBatch, type RecordColumns } from '../records/batch.js';
import { AF_INET, AF_INET6, Cause, Flag, IPS, Kind, Origin, RECORD_SIZE, TCP_STATE_NAMES } from '../records/layout.js';
import { UserError } from '../errors.js';

export interface UnparsedLine {
  line: number;
  text: string;
  why: string;
}

export interface ImportStats {
  lines: number;
  blank: number;
  /** Lines turned into records. */
  parsed: number;
  events: { new: number; update: number; destroy: number };
  /** Table lines (conntrack -L): entries alive at start. */
  seen: number;
  /** conntrack's own messages (trailer, warnings). */
  notices: { count: number; first: UnparsedLine[] };
  /** ENOBUFS warnings: events conntrack -E lost. */
  lossWarnings: number;
  unparsed: { count: number; first_lines: UnparsedLine[] };
  /** Unix seconds of the first and last timestamped line. */
  firstTs: number | null;
  lastTs: number | null;
  /** Which options the text was written with, as far as the lines show. */
  sawTimestamps: boolean;
  sawIds: boolean;
  sawExtended: boolean;
}

export interface ImporterOptions {
  /**
   * Unix seconds subtracted from every timestamp: records carry boot-time-like
   * ns that stay exact in a double; header boot_base_ns = baseSec·1e9.
   */
  baseSec: number;
  /** Unix seconds given to table lines read before any timestamped line. */
  tableTimeSec: number;
  /** Network namespace inode to put in records (text does not say). */
  netns?: number;
  /** Records per emitted batch (default 4096). */
  batchRecords?: number;
  /** Unparsed lines kept verbatim for the report (default 20). */
  keepLines?: number;
  emit: (bytes: Uint8Array, count: number) => void;
}

export class ImportError extends UserError {
  constructor(
    message: string,
    readonly file: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

const MAX_LINE = 64 * 1024;
const TCP_STATES: readonly string[] = TCP_STATE_NAMES;
const PROTO_NAMES: ReadonlyArray<[string, number]> = [
  ['tcp', 6],
  ['udp', 17],
  ['icmp', 1],
  ['icmpv6', 58],
  ['udplite', 136],
  ['sctp', 132],
  ['dccp', 33],
  ['gre', 47],
];
const SP = 32;
const TAB = 9;
const CR = 13;
const LB = 91; // [
const RB = 93; // ]
const EQ = 61; // =

const isSpace = (c: number | undefined) => c === SP || c === TAB || c === CR;
const POW10 = [1, 10, 100, 1000, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];
const isDigit = (c: number | undefined) => c !== undefined && c >= 48 && c <= 57;

/** Do bytes [s, e) spell `lit`? */
function eq(b: Uint8Array, s: number, e: number, lit: string): boolean {
  if (e - s !== lit.length) return false;
  for (let i = 0; i < lit.length; i++) if (b[s + i] !== lit.charCodeAt(i)) return false;
  return true;
}

function text(b: Uint8Array, s: number, e: number): string {
  return Buffer.from(b.buffer, b.byteOffset + s, e - s).toString('latin1');
}

/** Decimal (or 0x hex) at [s, e); -1 when not a number or above max. */
function num(b: Uint8Array, s: number, e: number, max: number): number {
  if (e <= s || e - s > 16) return -1;
  let n = 0;
  if (e - s > 2 && b[s] === 48 && b[s + 1] === 120) {
    for (let i = s + 2; i < e; i++) {
      const c = b[i]!;
      const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
      if (d < 0) return -1;
      n = n * 16 + d;
    }
  } else {
    for (let i = s; i < e; i++) {
      const d = b[i]! - 48;
      if (d < 0 || d > 9) return -1;
      n = n * 10 + d;
    }
  }
  return n > max ? -1 : n;
}

/** Parse dotted IPv4 at [s, e) into out[o..o+4); false when not one. */
function v4(b: Uint8Array, s: number, e: number, out: Uint8Array, o: number): boolean {
  let part = 0;
  let val = 0;
  let digits = 0;
  for (let i = s; i < e; i++) {
    const c = b[i]!;
    if (c === 46) {
      if (digits === 0 || part === 3) return false;
      out[o + part++] = val;
      val = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      val = val * 10 + (c - 48);
      if (++digits > 3 || val > 255) return false;
    } else return false;
  }
  if (part !== 3 || digits === 0) return false;
  out[o + 3] = val;
  return true;
}

/**
 * Parse plain IPv6 text (hex groups, at most one "::") at [s, e) into
 * out[o..o+16), in place: no string per address. False for anything else
 * (also a dotted IPv4 tail or a zone): the caller then asks parseAddress, so
 * whatever this accepts reads exactly as parseAddress reads it.
 */
export function v6(b: Uint8Array, s: number, e: number, out: Uint8Array, o: number): boolean {
  if (e - s < 2 || e - s > 39) return false;
  let n = 0; // groups written
  let gap = -1; // the group index "::" stands at
  let i = s;
  if (b[i] === 58) {
    if (b[i + 1] !== 58) return false;
    gap = 0;
    i += 2;
  }
  while (i < e) {
    let v = 0;
    let d = 0;
    for (; i < e; i++) {
      const c = b[i]!;
      const h = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
      if (h < 0) break;
      if (++d > 4) return false;
      v = v * 16 + h;
    }
    if (d === 0 || n === 8) return false;
    out[o + 2 * n] = v >> 8;
    out[o + 2 * n + 1] = v & 255;
    n++;
    if (i === e) break;
    if (b[i] !== 58) return false;
    i++;
    if (i < e && b[i] === 58) {
      if (gap >= 0) return false;
      gap = n;
      i++;
    } else if (i === e) return false;
  }
  if (gap < 0) return n === 8;
  if (n > 7) return false;
  // the groups after "::" move to the end, zeros fill the gap
  const shift = (8 - n) * 2;
  for (let k = o + 2 * n - 1; k >= o + 2 * gap; k--) out[k + shift] = out[k]!;
  out.fill(0, o + 2 * gap, o + 2 * gap + shift);
  return true;
}

/** A push parser: feed lines, get record batches through `emit`. */
export class ConntrackTextImporter {
  readonly stats: ImportStats = {
    lines: 0,
    blank: 0,
    parsed: 0,
    events: { new: 0, update: 0, destroy: 0 },
    seen: 0,
    notices: { count: 0, first: [] },
    lossWarnings: 0,
    unparsed: { count: 0, first_lines: [] },
    firstTs: null,
    lastTs: null,
    sawTimestamps: false,
    sawIds: false,
    sawExtended: false,
  };
  private readonly batchRecords: number;
  private readonly keep: number;
  private buf: Uint8Array;
  private n = 0;
  private lastTsNs: number;
  private readonly v6Cache = new Map<string, Uint8Array | null>();
  private lineNo = 0;
  private pendingNoticeLines = 0;
  // the line being parsed (reused, no allocation per line)
  private nt = 0;
  private readonly srcS = new Int32Array(2);
  private readonly srcE = new Int32Array(2);
  private readonly dstS = new Int32Array(2);
  private readonly dstE = new Int32Array(2);
  private readonly sport = new Int32Array(2);
  private readonly dport = new Int32Array(2);
  private readonly type = new Int32Array(2);
  private readonly code = new Int32Array(2);
  private readonly icmpId = new Int32Array(2);
  private readonly hasIcmpId = new Uint8Array(2);
  private readonly packets = new Float64Array(2);
  private readonly bytes = new Float64Array(2);
  // the record being built: one object for every line, written by writeRecord
  private readonly rec = new RecordFields();
  private readonly addr = this.rec.addr; // 4 × 16: src, dst, rsrc, rdst
  /** Which of the four addresses addrTok already read as IPv4. */
  private readonly v4ok = new Uint8Array(4);
  private tokEnd = 0;

  private readonly baseSec: number;

  constructor(private readonly opts: ImporterOptions) {
    this.baseSec = opts.baseSec;
    this.batchRecords = opts.batchRecords ?? 4096;
    this.keep = opts.keepLines ?? 20;
    this.buf = new Uint8Array(this.batchRecords * RECORD_SIZE);
    this.lastTsNs = Math.max(0, (opts.tableTimeSec - opts.baseSec) * 1e9);
  }

  /** Parse one line (without its newline). */
  pushLine(line: string): void {
    const b = Buffer.from(line, 'latin1');
    this.pushBytes(b, 0, b.length);
  }

  /** Parse the line at bytes [s, e) of `b` (without its newline). */
  pushBytes(b: Uint8Array, s: number, e: number): void {
    this.lineNo++;
    this.stats.lines++;
    let p = s;
    while (p < e && isSpace(b[p])) p++;
    if (p === e) {
      this.stats.blank++;
      return;
    }
    if (e - s > MAX_LINE) {
      this.unparsed(text(b, s, s + 200), `line longer than ${MAX_LINE} characters`);
      return;
    }
    const why = this.parse(b, p, e);
    if (why !== null) {
      const line = text(b, s, e).replace(/\r$/, '');
      if (this.notice(line)) return;
      this.unparsed(line, why);
    }
  }

  /** A line longer than any conntrack line (binary garbage): counted, not kept. */
  pushOverlong(head: Uint8Array): void {
    this.lineNo++;
    this.stats.lines++;
    this.unparsed(text(head, 0, Math.min(200, head.length)), `line longer than ${MAX_LINE} characters`);
  }

  /** Emit the records parsed so far as a (short) batch now: for live pipes. */
  flushNow(): void {
    this.flush();
  }

  /** Flush the last partial batch; returns the statistics. */
  end(): ImportStats {
    this.flush();
    return this.stats;
  }

  private flush(): void {
    if (this.n === 0) return;
    const out = this.buf.subarray(0, this.n * RECORD_SIZE);
    this.opts.emit(out, this.n);
    // consumers may keep the batch's bytes: never reuse them
    this.buf = new Uint8Array(this.batchRecords * RECORD_SIZE);
    this.n = 0;
  }

  private unparsed(line: string, why: string): void {
    const u = this.stats.unparsed;
    u.count++;
    if (u.first_lines.length < this.keep) u.first_lines.push({ line: this.lineNo, text: line.length > 300 ? `${line.slice(0, 300)}…` : line, why });
  }

  /** conntrack-tools' own messages: recognised, reported, not records. */
  private notice(line: string): boolean {
    const isTrailer = /^conntrack v\d[\d.]* \(conntrack-tools\):/.test(line);
    const enobufs = /hit ENOBUFS/i.test(line);
    // the two explanatory lines conntrack prints after the ENOBUFS warning
    const followUp = this.pendingNoticeLines > 0 && /^(This message means|Please, check)/.test(line);
    if (!isTrailer && !enobufs && !followUp) return false;
    if (followUp) this.pendingNoticeLines--;
    const n = this.stats.notices;
    n.count++;
    if (n.first.length < this.keep) n.first.push({ line: this.lineNo, text: line, why: enobufs ? 'conntrack lost events (ENOBUFS)' : 'conntrack message' });
    if (enobufs) {
      this.stats.lossWarnings++;
      this.pendingNoticeLines = 2;
      // aux 0: conntrack does not say how many events were lost
      const off = this.n * RECORD_SIZE;
      encodeRecord(this.buf, off, { kind: Kind.LOSS, ts: this.lastTsNs, origin: Origin.IMPORT, netns: this.opts.netns ?? 0 });
      if (++this.n === this.batchRecords) this.flush();
    }
    return true;
  }

  /**
   * The number token starting at s (ends at a blank or e; this.tokEnd is set
   * to its end): decimal parsed while scanning; anything else through num().
   */
  private numTok(b: Uint8Array, s: number, e: number, max: number): number {
    let n = 0;
    let i = s;
    for (; i < e; i++) {
      const c = b[i]!;
      if (c === SP || c === TAB || c === CR) break;
      const d = c - 48;
      if (d < 0 || d > 9) {
        n = -1;
        break;
      }
      n = n * 10 + d;
    }
    if (n < 0 || i === s || i - s > 16) {
      let w = i;
      while (w < e && !isSpace(b[w])) w++;
      this.tokEnd = w;
      return num(b, s, w, max);
    }
    this.tokEnd = i;
    return n > max ? -1 : n;
  }

  /**
   * The address token starting at s: returns its end (a blank or e), and
   * when it is dotted IPv4 (as v4() reads it) writes it to this.addr[o..o+16)
   * and sets v4ok[o / 16], so an IPv4 address is scanned once, not twice.
   */
  private addrTok(b: Uint8Array, s: number, e: number, o: number): number {
    let part = 0;
    let val = 0;
    let digits = 0;
    let ok = true;
    const out = this.addr;
    let i = s;
    for (; i < e; i++) {
      const c = b[i]!;
      if (c === SP || c === TAB || c === CR) break;
      if (!ok) continue;
      if (c === 46) {
        if (digits === 0 || part === 3) ok = false;
        else {
          out[o + part++] = val;
          val = 0;
          digits = 0;
        }
      } else if (c >= 48 && c <= 57) {
        val = val * 10 + (c - 48);
        if (++digits > 3 || val > 255) ok = false;
      } else ok = false;
    }
    if (ok && part === 3 && digits > 0) {
      out[o + 3] = val;
      for (let j = o + 4; j < o + 16; j++) out[j] = 0;
      this.v4ok[o >>> 4] = 1;
    } else this.v4ok[o >>> 4] = 0;
    return i;
  }

  /** Address at [s, e) into this.addr[o..o+16); 4 or 6, 0 when not an address. */
  private address(b: Uint8Array, s: number, e: number, o: number): number {
    const out = this.addr;
    if (v4(b, s, e, out, o)) {
      // a loop: fill() is a runtime call, four of them a line showed in profiles
      for (let i = o + 4; i < o + 16; i++) out[i] = 0;
      return 4;
    }
    if (v6(b, s, e, out, o)) return 6;
    const t = text(b, s, e);
    let v = this.v6Cache.get(t);
    if (v === undefined) {
      const p = parseAddress(t);
      v = p && p.family === 6 ? p.bytes : null;
      if (this.v6Cache.size >= 1 << 16) this.v6Cache.clear();
      this.v6Cache.set(t, v);
    }
    if (!v) return 0;
    out.set(v, o);
    return 6;
  }

  /** null when the line at [p, e) became a record, else why it could not be read. */
  private parse(b: Uint8Array, p: number, e: number): string | null {
    // [sec.usec]
    let tsNs = -1;
    if (b[p] === LB && isDigit(b[p + 1])) {
      let q = p + 1;
      let sec = 0;
      while (q < e && isDigit(b[q])) sec = sec * 10 + (b[q++]! - 48);
      if (b[q] !== 46) return 'bad timestamp';
      q++;
      let frac = 0;
      let fd = 0;
      while (q < e && isDigit(b[q]) && fd < 9) {
        frac = frac * 10 + (b[q++]! - 48);
        fd++;
      }
      if (b[q] !== RB || fd === 0) return 'bad timestamp';
      tsNs = (sec - this.baseSec) * 1e9 + frac * POW10[9 - fd]!;
      p = q + 1;
      while (p < e && isSpace(b[p])) p++;
    }
    // [NEW] / [UPDATE] / [DESTROY]
    let kind: number = Kind.SEEN;
    if (b[p] === LB) {
      let q = p + 1;
      while (q < e && b[q] !== RB && !isSpace(b[q])) q++;
      if (eq(b, p + 1, q, 'NEW')) kind = Kind.ALLOC;
      else if (eq(b, p + 1, q, 'UPDATE')) kind = Kind.UPDATE;
      else if (eq(b, p + 1, q, 'DESTROY')) kind = Kind.DESTROY;
      else return `unknown event tag ${text(b, p, Math.min(e, q + 1))}`;
      p = q + 1;
      while (p < e && isSpace(b[p])) p++;
    }
    if (p >= e) return 'no protocol after the event tag';
    if (b[p] === 60 /* < */) return 'XML output (-o xml) is not supported; capture with -o timestamp,id,extended';
    // words: [ipv4 2] proto num [timeout] [STATE]
    let w = p;
    while (w < e && !isSpace(b[w])) w++;
    let extended = false;
    if (eq(b, p, w, 'ipv4') || eq(b, p, w, 'ipv6')) {
      extended = true;
      p = w;
      while (p < e && isSpace(b[p])) p++;
      while (p < e && !isSpace(b[p])) p++; // the family number
      while (p < e && isSpace(b[p])) p++;
      w = p;
      while (w < e && !isSpace(b[w])) w++;
    }
    const nameS = p;
    const nameE = w;
    {
      const c = b[nameS];
      if (c === undefined || c < 97 || c > 122) return `expected a protocol name, found '${text(b, nameS, nameE)}'`;
    }
    p = w;
    while (p < e && isSpace(b[p])) p++;
    w = p;
    while (w < e && !isSpace(b[w])) w++;
    const proto = num(b, p, w, 255);
    if (proto < 0 || w - p > 3 || b[p] === 48 && w - p > 1) return `expected the protocol number after '${text(b, nameS, nameE)}'`;
    for (let i = 0; i < PROTO_NAMES.length; i++) {
      const [name, n] = PROTO_NAMES[i]!;
      if (eq(b, nameS, nameE, name)) {
        if (n !== proto) return `protocol ${name} with number ${proto}`;
        break;
      }
    }
    p = w;
    while (p < e && isSpace(b[p])) p++;
    let timeout = -1;
    if (isDigit(b[p])) {
      w = p;
      while (w < e && !isSpace(b[w])) w++;
      timeout = num(b, p, w, 0xffffffff);
      if (timeout < 0) return `bad timeout '${text(b, p, w)}'`;
      p = w;
      while (p < e && isSpace(b[p])) p++;
    }
    let state = 0;
    if (b[p] !== undefined && b[p]! >= 65 && b[p]! <= 90) {
      w = p;
      while (w < e && !isSpace(b[w])) w++;
      if (proto === 6) {
        state = -1;
        for (let i = 0; i < TCP_STATES.length; i++) {
          if (eq(b, p, w, TCP_STATES[i]!)) {
            state = i;
            break;
          }
        }
        if (state < 0) return `unknown TCP state ${text(b, p, w)}`;
      }
      p = w;
    }
    // key=value pairs and [FLAGS]
    this.nt = 0;
    let cur = -1;
    let unreplied = false;
    let assured = false;
    let mark = 0;
    let zone = 0;
    let ctId = -1;
    let delta = -1;
    const icmp = proto === 1 || proto === 58;
    while (p < e) {
      while (p < e && isSpace(b[p])) p++;
      if (p >= e) break;
      // the key up to '=': values are then scanned once, numbers parsed as they are scanned
      let k = p;
      let c = b[k];
      while (k < e && c !== EQ && c !== SP && c !== TAB && c !== CR) c = b[++k];
      if (c !== EQ || k === p || b[p] === LB) {
        w = k;
        while (w < e && !isSpace(b[w])) w++;
        if (b[p] !== LB) return `unexpected word '${text(b, p, w)}'`;
        if (eq(b, p, w, '[UNREPLIED]')) unreplied = true;
        else if (eq(b, p, w, '[ASSURED]')) assured = true;
        // [OFFLOAD], [HW_OFFLOAD] and the like: flags we do not record
        p = w;
        continue;
      }
      const vs = k + 1;
      const kl = k - p;
      // keys told apart by length, first two and last character (src, dst,
      // sport, dport, id, type, code, packets, bytes, mark, zone): no string compare
      const c0 = b[p]!;
      const c1 = b[p + 1];
      const cl = b[k - 1];
      if (kl === 3 && c0 === 115 && c1 === 114 && cl === 99) {
        if (this.nt === 2) return 'more than two tuples';
        cur = this.nt++;
        w = this.addrTok(b, vs, e, cur * 32);
        this.srcS[cur] = vs;
        this.srcE[cur] = w;
        this.dstS[cur] = this.dstE[cur] = 0;
        this.v4ok[cur * 2 + 1] = 0;
        this.sport[cur] = this.dport[cur] = this.icmpId[cur] = 0;
        this.type[cur] = this.code[cur] = -1;
        this.hasIcmpId[cur] = 0;
        this.packets[cur] = this.bytes[cur] = -1;
      } else if (kl === 3 && c0 === 100 && c1 === 115 && cl === 116) {
        if (cur < 0) return 'dst= before src=';
        w = this.addrTok(b, vs, e, cur * 32 + 16);
        this.dstS[cur] = vs;
        this.dstE[cur] = w;
      } else if (kl === 5 && (c0 === 115 || c0 === 100) && c1 === 112 && cl === 116) {
        if (cur < 0) return `${text(b, p, k)}= before src=`;
        const n = this.numTok(b, vs, e, 65535);
        w = this.tokEnd;
        if (n < 0) return `bad ${text(b, p, w)}`;
        if (c0 === 115) this.sport[cur] = n;
        else this.dport[cur] = n;
      } else if (kl === 2 && c0 === 105 && c1 === 100) {
        // ICMP tuples carry their echo id as id= too: the first id= after a
        // tuple's code= is the echo id, any other is the entry id.
        const n = this.numTok(b, vs, e, 0xffffffff);
        w = this.tokEnd;
        if (n < 0) return `bad ${text(b, p, w)}`;
        if (icmp && cur >= 0 && this.code[cur]! >= 0 && !this.hasIcmpId[cur]) {
          this.icmpId[cur] = n;
          this.hasIcmpId[cur] = 1;
        } else ctId = n;
      } else if (kl === 4 && ((c0 === 116 && c1 === 121 && cl === 101) || (c0 === 99 && c1 === 111 && cl === 101))) {
        if (cur < 0) return `${text(b, p, k)}= before src=`;
        const n = this.numTok(b, vs, e, 255);
        w = this.tokEnd;
        if (n < 0) return `bad ${text(b, p, w)}`;
        if (c0 === 116) this.type[cur] = n;
        else this.code[cur] = n;
      } else if ((kl === 7 && c0 === 112 && c1 === 97 && cl === 115) || (kl === 5 && c0 === 98 && c1 === 121 && cl === 115)) {
        if (cur < 0) return `${text(b, p, k)}= before src=`;
        const n = this.numTok(b, vs, e, Number.MAX_SAFE_INTEGER);
        w = this.tokEnd;
        if (n < 0) return `bad ${text(b, p, w)}`;
        if (kl === 7) this.packets[cur] = n;
        else this.bytes[cur] = n;
      } else if (kl === 4 && c0 === 109 && c1 === 97 && cl === 107) {
        mark = this.numTok(b, vs, e, 0xffffffff);
        w = this.tokEnd;
        if (mark < 0) return `bad ${text(b, p, w)}`;
      } else if ((kl === 4 && c0 === 122 && c1 === 111 && cl === 101) || (kl === 9 && eq(b, p, k, 'zone-orig'))) {
        zone = this.numTok(b, vs, e, 65535);
        w = this.tokEnd;
        if (zone < 0) return `bad ${text(b, p, w)}`;
      } else if (kl === 10 && eq(b, p, k, 'delta-time')) {
        delta = this.numTok(b, vs, e, Number.MAX_SAFE_INTEGER);
        w = this.tokEnd;
        if (delta < 0) return `bad ${text(b, p, w)}`;
      } else {
        w = vs;
        while (w < e && !isSpace(b[w])) w++;
      }
      // use=, secctx=, labels=, helper=, zone-reply=, srckey=, vtag=, ...: read, not recorded
      p = w;
    }
    if (this.nt === 0 || this.dstE[0] === 0) return 'no src=/dst= tuple';
    const hasReply = this.nt === 2 && this.dstE[1] !== 0;
    // IPv4 was read while scanning (addrTok); anything else is read here
    const ok = this.v4ok;
    const fam = ok[0] ? 4 : this.address(b, this.srcS[0]!, this.srcE[0]!, 0);
    if (!fam) return `bad address src=${text(b, this.srcS[0]!, this.srcE[0]!)}`;
    if ((ok[1] ? 4 : this.address(b, this.dstS[0]!, this.dstE[0]!, 16)) !== fam) return `bad address dst=${text(b, this.dstS[0]!, this.dstE[0]!)}`;
    if (hasReply) {
      if ((ok[2] ? 4 : this.address(b, this.srcS[1]!, this.srcE[1]!, 32)) !== fam || (ok[3] ? 4 : this.address(b, this.dstS[1]!, this.dstE[1]!, 48)) !== fam) {
        return 'bad address in the reply tuple';
      }
    }

    const st = this.stats;
    if (tsNs >= 0) {
      st.sawTimestamps = true;
      const sec = tsNs / 1e9 + this.opts.baseSec;
      if (st.firstTs === null) st.firstTs = sec;
      st.lastTs = sec;
      this.lastTsNs = tsNs;
    }
    if (ctId >= 0) st.sawIds = true;
    if (extended) st.sawExtended = true;
    const ts = tsNs >= 0 ? tsNs : this.lastTsNs;

    let status = IPS.CONFIRMED;
    if (!unreplied) status |= IPS.SEEN_REPLY;
    if (assured) status |= IPS.ASSURED;
    let flags = hasReply ? Flag.HAS_REPLY : 0;
    let packets = 0;
    let bytes = 0;
    const p0 = this.packets[0]!;
    const p1 = hasReply ? this.packets[1]! : -1;
    if (p0 >= 0 || p1 >= 0) {
      flags |= Flag.HAS_COUNTERS;
      packets = Math.max(0, p0) + Math.max(0, p1);
      bytes = Math.max(0, this.bytes[0]!) + Math.max(0, hasReply ? this.bytes[1]! : 0);
    }
    let start = 0;
    if (kind === Kind.ALLOC) {
      start = ts;
      flags |= Flag.HAS_START;
    } else if (delta >= 0) {
      // delta-time (nf_conntrack_timestamp) is whole seconds of age
      start = Math.max(0, ts - delta * 1e9);
      if (kind === Kind.SEEN) flags |= Flag.HAS_START;
    }
    const r = this.rec;
    r.kind = kind;
    r.ts = ts;
    if (ctId >= 0) {
      r.idLo = ctId;
      r.idHi = 0;
    } else this.tupleId(proto, zone);
    r.start = start;
    r.packets = packets;
    r.bytes = bytes;
    // a table line without a reply tuple: no stale reply address from the line before
    if (!hasReply) this.addr.fill(0, 32, 64);
    r.netns = this.opts.netns ?? 0;
    r.mark = mark;
    r.status = status;
    r.aux = timeout >= 0 ? timeout : 0;
    r.sport = icmp ? this.icmpId[0]! : this.sport[0]!;
    r.dport = icmp ? 0 : this.dport[0]!;
    r.rsport = hasReply ? (icmp ? this.icmpId[1]! : this.sport[1]!) : 0;
    r.rdport = hasReply ? (icmp ? 0 : this.dport[1]!) : 0;
    r.zone = zone;
    r.family = fam === 6 ? AF_INET6 : AF_INET;
    r.proto = proto;
    r.state = state;
    r.icmpType = icmp && this.type[0]! >= 0 ? this.type[0]! : 0;
    r.icmpCode = icmp && this.code[0]! >= 0 ? this.code[0]! : 0;
    r.cause = kind === Kind.SEEN ? Cause.AT_START : Cause.UNKNOWN;
    r.origin = Origin.IMPORT;
    r.flags = flags;
    writeRecord(this.buf, this.n * RECORD_SIZE, r);
    if (++this.n === this.batchRecords) this.flush();

    st.parsed++;
    if (kind === Kind.ALLOC) st.events.new++;
    else if (kind === Kind.UPDATE) st.events.update++;
    else if (kind === Kind.DESTROY) st.events.destroy++;
    else st.seen++;
    return null;
  }

  /** An entry id for lines printed without id=: FNV-1a of the original tuple, into this.rec. */
  private tupleId(proto: number, zone: number): void {
    let h1 = 0x811c9dc5;
    let h2 = 0x01000193;
    const mix = (c: number) => {
      h1 = Math.imul(h1 ^ c, 0x01000193) >>> 0;
      h2 = Math.imul(h2 ^ c, 0x5bd1e995) >>> 0;
    };
    for (let i = 0; i < 32; i++) mix(this.addr[i]!);
    for (const v of [proto, this.sport[0]!, this.dport[0]!, this.icmpId[0]!, this.type[0]!, zone]) {
      mix(v & 255);
      mix((v >>> 8) & 255);
    }
    // high bit set: cannot collide with a kernel id (32-bit)
    this.rec.idLo = h1;
    this.rec.idHi = (h2 | 0x80000000) >>> 0;
  }
}

export interface TextFileInfo {
  /** Unix seconds of the first timestamped line, or the file's mtime. */
  firstSec: number;
  sawTimestamp: boolean;
}

/** Look at the start of a text file: is it text, and when does it start? Throws ImportError. */
export function probeTextFile(file: string, head: Uint8Array, mtimeSec: number): TextFileInfo {
  const nul = head.indexOf(0);
  if (nul >= 0) {
    throw new ImportError(`${file} is neither a ctscope capture (no CTCAP magic at byte 0) nor conntrack text (binary data at byte ${nul})`, file, nul);
  }
  const text = Buffer.from(head).toString('latin1');
  const m = /^\[(\d{1,12})\.\d{1,9}\]/m.exec(text);
  if (m) return { firstSec: Number(m[1]), sawTimestamp: true };
  return { firstSec: Math.floor(mtimeSec), sawTimestamp: false };
}

export interface TextImportResult {
  stats: ImportStats;
  baseSec: number;
}

/**
 * Read a conntrack text file in chunks, yielding decoded record batches.
 * Memory: one chunk, one batch, one line. The result (stats) is returned when
 * the generator finishes.
 */
export function* readConntrackText(
  file: string,
  opts: {
    netns?: number;
    batchRecords?: number;
    chunkBytes?: number;
    /** Shared time base when several files are read as one (see probeTextFile). */
    baseSec?: number;
    /** Time given to table lines before any timestamp (default: the first timestamp or mtime). */
    tableTimeSec?: number;
  } = {},
): Generator<RecordColumns, TextImportResult, void> {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new ImportError(`cannot open ${file}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`, file, 0);
  }
  try {
    const st = fs.fstatSync(fd);
    const chunkBytes = opts.chunkBytes ?? 1 << 20;
    const chunk = Buffer.allocUnsafe(chunkBytes);
    const got = fs.readSync(fd, chunk, 0, chunkBytes, 0);
    if (got === 0) throw new ImportError(`${file} is empty (0 bytes)`, file, 0);
    const info = probeTextFile(file, chunk.subarray(0, Math.min(got, 64 * 1024)), st.mtimeMs / 1000);
    // records count from one second before the first line, exact in a double
    const baseSec = opts.baseSec ?? info.firstSec - 1;
    const out: RecordColumns[] = [];
    const imp = new ConntrackTextImporter({
      baseSec,
      tableTimeSec: opts.tableTimeSec ?? info.firstSec,
      batchRecords: opts.batchRecords ?? 4096,
      ...(opts.netns !== undefined ? { netns: opts.netns } : {}),
      emit: (bytes, count) => out.push(decodeBatch(bytes, count)),
    });
    // Lines are scanned in the chunk's bytes; an incomplete last line moves to
    // the front of the buffer and the next read continues after it.
    let filePos = got;
    let have = got;
    let skipping = false; // inside a line longer than the buffer
    for (;;) {
      let s = 0;
      for (;;) {
        const nl = chunk.indexOf(10, s);
        if (nl < 0 || nl >= have) break;
        if (skipping) skipping = false;
        else imp.pushBytes(chunk, s, nl);
        s = nl + 1;
      }
      const rest = have - s;
      if (rest > 0 && s === 0 && have === chunk.length) {
        // no newline in a whole buffer: not a conntrack line; report once, skip to its end
        if (!skipping) imp.pushOverlong(chunk.subarray(0, 200));
        skipping = true;
        have = 0;
      } else {
        chunk.copy(chunk, 0, s, have);
        have = rest;
      }
      while (out.length) yield out.shift()!;
      const n = fs.readSync(fd, chunk, have, chunk.length - have, filePos);
      if (n === 0) break;
      filePos += n;
      have += n;
    }
    if (have > 0 && !skipping) imp.pushBytes(chunk, 0, have);
    const stats = imp.end();
    while (out.length) yield out.shift()!;
    return { stats, baseSec };
  } finally {
    fs.closeSync(fd);
  }
}
