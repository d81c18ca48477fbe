// Imports what the standard tool prints: `conntrack -E -o timestamp,id[,extended]`
// event lines and `conntrack -L -o extended[,id]` table lines, into the same
// records a live source produces (built with encodeRecord), so a capture taken
// with conntrack-tools on any node replays through the same model.
//
//   [1795401539.747044]\t    [NEW] ipv4     2 udp      17 3 src=10.78.9.1 dst=10.78.9.2 sport=49657 dport=5300 [UNREPLIED] src=10.78.9.2 dst=10.78.9.1 sport=5300 dport=49657 id=358110238
//   ipv4     2 tcp      6 1 TIME_WAIT src=... packets=6 bytes=325 src=... [ASSURED] mark=0 delta-time=2 use=1 id=3031382142
//
// NEW is one allocation (ALLOC), UPDATE an UPDATE, DESTROY a DESTROY, a table
// line (no event tag) an entry alive at start (SEEN, cause AT_START). A line
// that cannot be read is counted and reported with its number and the reason,
// never silently dropped. conntrack's own messages (the "flow events have been
// shown" trailer, the ENOBUFS warning) are recognised; ENOBUFS becomes a LOSS
// record, because events were lost there.

import fs from 'node:fs';
import { encodeRecord } from '../records/encode.js';
import { parseAddress } from '../records/address.js';
import { decodeBatch, type RecordColumns } from '../records/batch.js';
import { AF_INET, AF_INET6, Cause, FIELDS, Flag, IPS, Kind, Origin, RECORD_SIZE, TCP_STATE_NAMES } from '../records/layout.js';

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

export class ImportError extends Error {
  constructor(
    message: string,
    readonly file: string,
    readonly offset: number,
  ) {
    super(message);
    this.name = 'ImportError';
  }
}

const MAX_LINE = 64 * 1024;
const TS_RE = /^\[(\d{1,12})\.(\d{1,9})\]$/;
const TCP_STATE: Record<string, number> = Object.fromEntries(TCP_STATE_NAMES.map((n, i) => [n, i]));
const PROTO_NUM: Record<string, number> = { tcp: 6, udp: 17, icmp: 1, icmpv6: 58, udplite: 136, sctp: 132, dccp: 33, gre: 47 };

interface Tuple {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  type: number;
  code: number;
  icmpId: number;
  hasIcmpId: boolean;
  packets: number;
  bytes: number;
}

const newTuple = (): Tuple => ({ src: '', dst: '', sport: 0, dport: 0, type: -1, code: -1, icmpId: 0, hasIcmpId: false, packets: -1, bytes: -1 });

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
  private readonly addrCache = new Map<string, Uint8Array | null>();
  private lineNo = 0;
  private pendingNoticeLines = 0;

  constructor(private readonly opts: ImporterOptions) {
    this.batchRecords = opts.batchRecords ?? 4096;
    this.keep = opts.keepLines ?? 20;
    this.buf = new Uint8Array(this.batchRecords * RECORD_SIZE);
    this.lastTsNs = Math.max(0, (opts.tableTimeSec - opts.baseSec) * 1e9);
  }

  /** Parse one line (without its newline). */
  pushLine(raw: string): void {
    this.lineNo++;
    this.stats.lines++;
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '') {
      this.stats.blank++;
      return;
    }
    if (line.length > MAX_LINE) {
      this.unparsed(line.slice(0, 200), `line longer than ${MAX_LINE} characters`);
      return;
    }
    const why = this.parse(line);
    if (why !== null) {
      if (this.notice(line)) return;
      this.unparsed(line, why);
    }
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

  private unparsed(text: string, why: string): void {
    const u = this.stats.unparsed;
    u.count++;
    if (u.first_lines.length < this.keep) u.first_lines.push({ line: this.lineNo, text: text.length > 300 ? `${text.slice(0, 300)}…` : text, why });
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
      this.add({ kind: Kind.LOSS, ts: this.lastTsNs, origin: Origin.IMPORT, netns: this.opts.netns ?? 0 }, null, null);
    }
    return true;
  }

  /** null when the line became a record, else why it could not be read. */
  private parse(line: string): string | null {
    const tok = line.split(/[ \t]+/);
    let i = 0;
    if (tok[0] === '') i++;
    let tsNs: number | null = null;
    let t = tok[i];
    if (t !== undefined && t.charCodeAt(0) === 91 /* [ */) {
      const m = TS_RE.exec(t);
      if (m) {
        const sec = Number(m[1]);
        const frac = m[2]!;
        tsNs = (sec - this.opts.baseSec) * 1e9 + Number(frac) * 10 ** (9 - frac.length);
        i++;
        t = tok[i];
      }
    }
    let kind: number = Kind.SEEN;
    if (t === '[NEW]') kind = Kind.ALLOC;
    else if (t === '[UPDATE]') kind = Kind.UPDATE;
    else if (t === '[DESTROY]') kind = Kind.DESTROY;
    if (kind !== Kind.SEEN) {
      i++;
      t = tok[i];
    } else if (t !== undefined && t.startsWith('[')) {
      return `unknown event tag ${t}`;
    }
    if (t === undefined) return 'no protocol after the event tag';
    if (t.startsWith('<')) return 'XML output (-o xml) is not supported; capture with -o timestamp,id,extended';
    let extended = false;
    if (t === 'ipv4' || t === 'ipv6') {
      extended = true;
      i += 2;
      t = tok[i];
    }
    if (t === undefined || !/^[a-z][a-z0-9-]*$/.test(t)) return `expected a protocol name, found '${t ?? ''}'`;
    const protoText = tok[i + 1];
    if (protoText === undefined || !/^\d{1,3}$/.test(protoText)) return `expected the protocol number after '${t}'`;
    const proto = Number(protoText);
    if (proto > 255) return `protocol number ${proto} out of range`;
    const known = PROTO_NUM[t];
    if (known !== undefined && known !== proto) return `protocol ${t} with number ${proto}`;
    i += 2;
    let timeout = -1;
    t = tok[i];
    if (t !== undefined && /^\d+$/.test(t)) {
      timeout = Number(t);
      i++;
      t = tok[i];
    }
    let state = 0;
    if (t !== undefined && /^[A-Z][A-Z_0-9]*$/.test(t)) {
      if (proto === 6) {
        const s = TCP_STATE[t];
        if (s === undefined) return `unknown TCP state ${t}`;
        state = s;
      }
      i++;
    }
    const tuples: Tuple[] = [];
    let cur: Tuple | null = null;
    let unreplied = false;
    let assured = false;
    let mark = 0;
    let zone = 0;
    let ctId: number | null = null;
    let delta = -1;
    const icmp = proto === 1 || proto === 58;
    for (; i < tok.length; i++) {
      const w = tok[i]!;
      if (w === '') continue;
      if (w.charCodeAt(0) === 91 /* [ */) {
        if (w === '[UNREPLIED]') unreplied = true;
        else if (w === '[ASSURED]') assured = true;
        // [OFFLOAD], [HW_OFFLOAD] and the like: flags we do not record
        continue;
      }
      const eq = w.indexOf('=');
      if (eq <= 0) return `unexpected word '${w}'`;
      const k = w.slice(0, eq);
      const v = w.slice(eq + 1);
      switch (k) {
        case 'src':
          if (tuples.length === 2) return 'more than two tuples';
          cur = newTuple();
          tuples.push(cur);
          cur.src = v;
          break;
        case 'dst':
          if (!cur) return 'dst= before src=';
          cur.dst = v;
          break;
        case 'sport':
        case 'dport': {
          if (!cur) return `${k}= before src=`;
          const n = toInt(v, 65535);
          if (n < 0) return `bad ${k}=${v}`;
          if (k === 'sport') cur.sport = n;
          else cur.dport = n;
          break;
        }
        case 'type':
        case 'code': {
          if (!cur) return `${k}= before src=`;
          const n = toInt(v, 255);
          if (n < 0) return `bad ${k}=${v}`;
          if (k === 'type') cur.type = n;
          else cur.code = n;
          break;
        }
        case 'id': {
          // ICMP tuples carry their echo id as id= too: the first id= after a
          // tuple's code= is the echo id, any other is the entry id.
          const n = toInt(v, 0xffffffff);
          if (n < 0) return `bad id=${v}`;
          if (icmp && cur && cur.code >= 0 && !cur.hasIcmpId) {
            cur.icmpId = n;
            cur.hasIcmpId = true;
          } else ctId = n;
          break;
        }
        case 'packets':
        case 'bytes': {
          if (!cur) return `${k}= before src=`;
          const n = toInt(v, Number.MAX_SAFE_INTEGER);
          if (n < 0) return `bad ${k}=${v}`;
          if (k === 'packets') cur.packets = n;
          else cur.bytes = n;
          break;
        }
        case 'mark': {
          const n = toInt(v, 0xffffffff);
          if (n < 0) return `bad mark=${v}`;
          mark = n;
          break;
        }
        case 'zone':
        case 'zone-orig': {
          const n = toInt(v, 65535);
          if (n < 0) return `bad ${k}=${v}`;
          zone = n;
          break;
        }
        case 'delta-time': {
          const n = toInt(v, Number.MAX_SAFE_INTEGER);
          if (n < 0) return `bad delta-time=${v}`;
          delta = n;
          break;
        }
        default:
          // use=, secctx=, labels=, helper=, zone-reply=, srckey=, vtag=, ...:
          // read but not recorded
          break;
      }
    }
    const orig = tuples[0];
    if (!orig || !orig.src || !orig.dst) return 'no src=/dst= tuple';
    const reply = tuples[1] ?? null;

    if (tsNs !== null) {
      this.stats.sawTimestamps = true;
      const sec = (tsNs / 1e9) + this.opts.baseSec;
      if (this.stats.firstTs === null) this.stats.firstTs = sec;
      this.stats.lastTs = sec;
      this.lastTsNs = tsNs;
    }
    if (ctId !== null) this.stats.sawIds = true;
    if (extended) this.stats.sawExtended = true;
    const ts = tsNs ?? this.lastTsNs;

    let status = IPS.CONFIRMED;
    if (!unreplied) status |= IPS.SEEN_REPLY;
    if (assured) status |= IPS.ASSURED;
    let flags = 0;
    let packets = 0;
    let bytes = 0;
    if (orig.packets >= 0 || (reply && reply.packets >= 0)) {
      flags |= Flag.HAS_COUNTERS;
      packets = Math.max(0, orig.packets) + Math.max(0, reply?.packets ?? 0);
      bytes = Math.max(0, orig.bytes) + Math.max(0, reply?.bytes ?? 0);
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
    const id = ctId !== null ? BigInt(ctId) : tupleId(proto, orig, zone);
    const rec = {
      kind,
      ts,
      id,
      start,
      packets,
      bytes,
      netns: this.opts.netns ?? 0,
      mark,
      status,
      aux: timeout >= 0 ? timeout : 0,
      sport: icmp ? orig.icmpId : orig.sport,
      dport: icmp ? 0 : orig.dport,
      rsport: reply ? (icmp ? reply.icmpId : reply.sport) : 0,
      rdport: reply ? (icmp ? 0 : reply.dport) : 0,
      zone,
      proto,
      state,
      icmpType: icmp && orig.type >= 0 ? orig.type : 0,
      icmpCode: icmp && orig.code >= 0 ? orig.code : 0,
      cause: kind === Kind.SEEN ? Cause.AT_START : Cause.UNKNOWN,
      origin: Origin.IMPORT,
      flags: flags | (reply ? Flag.HAS_REPLY : 0),
    };
    const why = this.add(rec, orig, reply);
    if (why) return why;
    this.stats.parsed++;
    if (kind === Kind.ALLOC) this.stats.events.new++;
    else if (kind === Kind.UPDATE) this.stats.events.update++;
    else if (kind === Kind.DESTROY) this.stats.events.destroy++;
    else this.stats.seen++;
    return null;
  }

  private add(rec: Parameters<typeof encodeRecord>[2], orig: Tuple | null, reply: Tuple | null): string | null {
    let family = 0;
    let a: (Uint8Array | null)[] = [];
    if (orig) {
      a = [this.addr(orig.src), this.addr(orig.dst), reply ? this.addr(reply.src) : null, reply ? this.addr(reply.dst) : null];
      if (!a[0]) return `bad address src=${orig.src}`;
      if (!a[1]) return `bad address dst=${orig.dst}`;
      if (reply && (!a[2] || !a[3])) return `bad address in the reply tuple`;
      family = a[0][16]!;
    }
    const off = this.n * RECORD_SIZE;
    encodeRecord(this.buf, off, rec);
    if (orig) {
      this.buf.set(a[0]!.subarray(0, 16), off + FIELDS.saddr.offset);
      this.buf.set(a[1]!.subarray(0, 16), off + FIELDS.daddr.offset);
      if (reply) {
        this.buf.set(a[2]!.subarray(0, 16), off + FIELDS.rsaddr.offset);
        this.buf.set(a[3]!.subarray(0, 16), off + FIELDS.rdaddr.offset);
      }
      this.buf[off + FIELDS.family.offset] = family === 6 ? AF_INET6 : AF_INET;
    }
    this.n++;
    if (this.n === this.batchRecords) this.flush();
    return null;
  }

  /** 16 address bytes + a 17th holding the family (4 or 6); cached, addresses repeat. */
  private addr(text: string): Uint8Array | null {
    let v = this.addrCache.get(text);
    if (v === undefined) {
      const p = parseAddress(text);
      if (p) {
        v = new Uint8Array(17);
        v.set(p.bytes, 0);
        v[16] = p.family;
      } else v = null;
      if (this.addrCache.size > 1 << 20) this.addrCache.clear();
      this.addrCache.set(text, v);
    }
    return v;
  }
}

function toInt(v: string, max: number): number {
  if (v.length === 0 || v.length > 16) return -1;
  let n = 0;
  if (v.startsWith('0x')) {
    if (!/^0x[0-9a-fA-F]+$/.test(v)) return -1;
    n = parseInt(v, 16);
  } else {
    for (let i = 0; i < v.length; i++) {
      const c = v.charCodeAt(i) - 48;
      if (c < 0 || c > 9) return -1;
      n = n * 10 + c;
    }
  }
  return n > max ? -1 : n;
}

/** An entry id for lines printed without id=: FNV-1a of the original tuple. */
function tupleId(proto: number, t: Tuple, zone: number): bigint {
  const s = `${proto}|${t.src}|${t.dst}|${t.sport}|${t.dport}|${t.icmpId}|${t.type}|${zone}`;
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193) >>> 0;
    h2 = Math.imul(h2 ^ c, 0x5bd1e995) >>> 0;
  }
  // high bit set: cannot collide with a kernel id (32-bit)
  return (BigInt(h2 | 0x80000000) << 32n) | BigInt(h1);
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
    let got = fs.readSync(fd, chunk, 0, chunkBytes, 0);
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
    let pos = 0;
    let rest = '';
    let skippingLong = false;
    while (got > 0) {
      const text = rest + chunk.toString('latin1', 0, got);
      pos += got;
      let start = 0;
      for (;;) {
        const nl = text.indexOf('\n', start);
        if (nl < 0) break;
        if (skippingLong) skippingLong = false;
        else imp.pushLine(text.slice(start, nl));
        start = nl + 1;
      }
      rest = text.slice(start);
      if (rest.length > MAX_LINE) {
        // a line without end (binary garbage): report it once, skip to its newline
        imp.pushLine(rest);
        rest = '';
        skippingLong = true;
      }
      while (out.length) yield out.shift()!;
      got = fs.readSync(fd, chunk, 0, chunkBytes, pos);
    }
    if (rest !== '' && !skippingLong) imp.pushLine(rest);
    const stats = imp.end();
    while (out.length) yield out.shift()!;
    return { stats, baseSec };
  } finally {
    fs.closeSync(fd);
  }
}
