// Building records in JavaScript: used by the text importer (conntrack -E),
// synthetic benchmarks and tests. The same layout table as the decoder.

import { FIELDS as F, RECORD_SIZE, RECORD_VERSION, AF_INET, AF_INET6 } from './layout.js';
import { parseAddress } from './address.js';

export interface RecordInit {
  kind: number;
  ts?: number; // ns
  /** Opaque entry id; a number (exact below 2^53) spares a BigInt per record. */
  id?: bigint | number;
  start?: number;
  packets?: number;
  bytes?: number;
  src?: string;
  dst?: string;
  rsrc?: string;
  rdst?: string;
  netns?: number;
  ifindex?: number;
  mark?: number;
  status?: number;
  cpu?: number;
  aux?: number;
  sport?: number;
  dport?: number;
  rsport?: number;
  rdport?: number;
  zone?: number;
  proto?: number;
  state?: number;
  tcpFlags?: number;
  icmpType?: number;
  icmpCode?: number;
  cause?: number;
  origin?: number;
  flags?: number;
}

/**
 * One record's fields as plain numbers, for writers that build millions of
 * records (the text importer): the caller fills one instance and reuses it,
 * so no object per record. Addresses are bytes: saddr, daddr, rsaddr, rdaddr
 * at 0, 16, 32, 48 of `addr` (16 each, IPv4 in the first 4).
 */
export class RecordFields {
  kind = 0;
  ts = 0;
  /** The 64-bit id as two unsigned 32-bit halves. */
  idLo = 0;
  idHi = 0;
  start = 0;
  packets = 0;
  bytes = 0;
  readonly addr = new Uint8Array(64);
  /** The same 64 bytes as four-byte words (copied word by word). */
  readonly addr32 = new Uint32Array(this.addr.buffer, 0, 16);
  netns = 0;
  ifindex = 0;
  mark = 0;
  status = 0;
  cpu = 0;
  aux = 0;
  sport = 0;
  dport = 0;
  rsport = 0;
  rdport = 0;
  zone = 0;
  /** AF_INET or AF_INET6. */
  family = AF_INET;
  proto = 0;
  state = 0;
  tcpFlags = 0;
  icmpType = 0;
  icmpCode = 0;
  cause = 0;
  origin = 0;
  flags = 0;

  /** Back to all zero (family AF_INET), as encodeRecord starts from. */
  reset(): void {
    this.kind = this.ts = this.idLo = this.idHi = this.start = this.packets = this.bytes = 0;
    this.addr.fill(0);
    this.netns = this.ifindex = this.mark = this.status = this.cpu = this.aux = 0;
    this.sport = this.dport = this.rsport = this.rdport = this.zone = 0;
    this.family = AF_INET;
    this.proto = this.state = this.tcpFlags = this.icmpType = this.icmpCode = this.cause = this.origin = this.flags = 0;
  }
}

// Bytes of a record no field covers (alignment holes, the tail), derived
// from the layout table: writeRecord zeroes only these instead of filling all
// 160 bytes before writing every field again.
const PADDING: readonly number[] = (() => {
  const covered = new Uint8Array(RECORD_SIZE);
  for (const f of Object.values(F)) covered.fill(1, f.offset, f.offset + f.size);
  const gaps: number[] = [];
  for (let i = 0; i < RECORD_SIZE; i++) if (!covered[i]) gaps.push(i);
  return gaps;
})();

const ADDR_FIELDS = [F.saddr.offset, F.daddr.offset, F.rsaddr.offset, F.rdaddr.offset] as const;

// Stores through Uint32Array/Uint16Array views of the batch: a DataView
// call per field was most of the writer's time. Only where the host is
// little-endian (the record's byte order) and the record 4-aligned, which the
// layout guarantees for its u32/u16 fields (checked here, not assumed);
// otherwise a DataView, one per buffer, reused.
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const ALIGNED = Object.values(F).every((f) => f.size === 1 || f.offset % Math.min(f.size, 4) === 0) && RECORD_SIZE % 4 === 0;
let viewBuffer: ArrayBufferLike | null = null;
let view: DataView | null = null;
let u32: Uint32Array | null = null;
let u16: Uint16Array | null = null;

function views(buf: ArrayBufferLike): void {
  viewBuffer = buf;
  view = new DataView(buf);
  u32 = new Uint32Array(buf, 0, buf.byteLength >>> 2);
  u16 = new Uint16Array(buf, 0, buf.byteLength >>> 1);
}

/** Write one record at byte offset `off` of `out`: every byte of it, padding zeroed. */
export function writeRecord(out: Uint8Array, off: number, r: RecordFields): void {
  if (out.buffer !== viewBuffer) views(out.buffer);
  const base = out.byteOffset + off;
  if (LITTLE_ENDIAN && ALIGNED && (base & 3) === 0) {
    const w = u32!;
    const h = u16!;
    const q = base >>> 2;
    w[q + (F.ts_ns.offset >>> 2)] = r.ts % 4294967296;
    w[q + (F.ts_ns.offset >>> 2) + 1] = Math.floor(r.ts / 4294967296);
    w[q + (F.id.offset >>> 2)] = r.idLo;
    w[q + (F.id.offset >>> 2) + 1] = r.idHi;
    w[q + (F.start_ns.offset >>> 2)] = r.start % 4294967296;
    w[q + (F.start_ns.offset >>> 2) + 1] = Math.floor(r.start / 4294967296);
    w[q + (F.packets.offset >>> 2)] = r.packets % 4294967296;
    w[q + (F.packets.offset >>> 2) + 1] = Math.floor(r.packets / 4294967296);
    w[q + (F.bytes.offset >>> 2)] = r.bytes % 4294967296;
    w[q + (F.bytes.offset >>> 2) + 1] = Math.floor(r.bytes / 4294967296);
    const a = r.addr32;
    for (let k = 0; k < 4; k++) {
      const o = q + (ADDR_FIELDS[k]! >>> 2);
      w[o] = a[k * 4]!;
      w[o + 1] = a[k * 4 + 1]!;
      w[o + 2] = a[k * 4 + 2]!;
      w[o + 3] = a[k * 4 + 3]!;
    }
    w[q + (F.netns.offset >>> 2)] = r.netns;
    w[q + (F.ifindex.offset >>> 2)] = r.ifindex;
    w[q + (F.mark.offset >>> 2)] = r.mark;
    w[q + (F.status.offset >>> 2)] = r.status;
    w[q + (F.cpu.offset >>> 2)] = r.cpu;
    w[q + (F.aux.offset >>> 2)] = r.aux;
    const d = base >>> 1;
    h[d + (F.sport.offset >>> 1)] = r.sport;
    h[d + (F.dport.offset >>> 1)] = r.dport;
    h[d + (F.rsport.offset >>> 1)] = r.rsport;
    h[d + (F.rdport.offset >>> 1)] = r.rdport;
    h[d + (F.zone.offset >>> 1)] = r.zone;
  } else {
    const dv = view!;
    putU64(dv, base + F.ts_ns.offset, r.ts);
    dv.setUint32(base + F.id.offset, r.idLo, true);
    dv.setUint32(base + F.id.offset + 4, r.idHi, true);
    putU64(dv, base + F.start_ns.offset, r.start);
    putU64(dv, base + F.packets.offset, r.packets);
    putU64(dv, base + F.bytes.offset, r.bytes);
    const a = r.addr;
    for (let k = 0; k < 4; k++) out.set(a.subarray(k * 16, k * 16 + 16), off + ADDR_FIELDS[k]!);
    dv.setUint32(base + F.netns.offset, r.netns, true);
    dv.setUint32(base + F.ifindex.offset, r.ifindex, true);
    dv.setUint32(base + F.mark.offset, r.mark, true);
    dv.setUint32(base + F.status.offset, r.status, true);
    dv.setUint32(base + F.cpu.offset, r.cpu, true);
    dv.setUint32(base + F.aux.offset, r.aux, true);
    dv.setUint16(base + F.sport.offset, r.sport, true);
    dv.setUint16(base + F.dport.offset, r.dport, true);
    dv.setUint16(base + F.rsport.offset, r.rsport, true);
    dv.setUint16(base + F.rdport.offset, r.rdport, true);
    dv.setUint16(base + F.zone.offset, r.zone, true);
  }
  out[off + F.version.offset] = RECORD_VERSION;
  out[off + F.kind.offset] = r.kind;
  out[off + F.family.offset] = r.family;
  out[off + F.proto.offset] = r.proto;
  out[off + F.state.offset] = r.state;
  out[off + F.tcp_flags.offset] = r.tcpFlags;
  out[off + F.icmp_type.offset] = r.icmpType;
  out[off + F.icmp_code.offset] = r.icmpCode;
  out[off + F.cause.offset] = r.cause;
  out[off + F.origin.offset] = r.origin;
  out[off + F.flags.offset] = r.flags;
  for (let i = 0; i < PADDING.length; i++) out[off + PADDING[i]!] = 0;
}

/** For tests: force the DataView path (big-endian hosts, unaligned records). */
export function writeRecordPortable(out: Uint8Array, off: number, r: RecordFields): void {
  // an odd byteOffset view of the same memory cannot take the aligned path
  const shifted = new Uint8Array(out.length + 1);
  writeRecord(shifted, off + 1, r);
  out.set(shifted.subarray(off + 1, off + 1 + RECORD_SIZE), off);
}

const scratch = new RecordFields();

/** Write one record at byte offset `off` of `out`. Throws TypeError for an address that is not one. */
export function encodeRecord(out: Uint8Array, off: number, r: RecordInit): void {
  const f = scratch;
  f.reset();
  f.kind = r.kind;
  f.ts = r.ts ?? 0;
  if (typeof r.id === 'bigint') {
    f.idLo = Number(r.id & 0xffffffffn);
    f.idHi = Number((r.id >> 32n) & 0xffffffffn);
  } else {
    const id = r.id ?? 0;
    f.idLo = id % 4294967296;
    f.idHi = Math.floor(id / 4294967296);
  }
  f.start = r.start ?? 0;
  f.packets = r.packets ?? 0;
  f.bytes = r.bytes ?? 0;
  let family = 0;
  const put = (k: number, a: string | undefined) => {
    if (a === undefined) return;
    const p = parseAddress(a);
    if (!p) throw new TypeError(`not an IP address: ${a}`);
    family = p.family;
    f.addr.set(p.bytes, k * 16);
  };
  put(0, r.src);
  put(1, r.dst);
  put(2, r.rsrc);
  put(3, r.rdst);
  f.family = family === 6 ? AF_INET6 : AF_INET;
  f.netns = r.netns ?? 0;
  f.ifindex = r.ifindex ?? 0;
  f.mark = r.mark ?? 0;
  f.status = r.status ?? 0;
  f.cpu = r.cpu ?? 0;
  f.aux = r.aux ?? 0;
  f.sport = r.sport ?? 0;
  f.dport = r.dport ?? 0;
  f.rsport = r.rsport ?? 0;
  f.rdport = r.rdport ?? 0;
  f.zone = r.zone ?? 0;
  f.proto = r.proto ?? 0;
  f.state = r.state ?? 0;
  f.tcpFlags = r.tcpFlags ?? 0;
  f.icmpType = r.icmpType ?? 0;
  f.icmpCode = r.icmpCode ?? 0;
  f.cause = r.cause ?? 0;
  f.origin = r.origin ?? 0;
  f.flags = r.flags ?? 0;
  writeRecord(out, off, f);
}

/** Encode a list of records into one batch buffer. */
export function encodeBatch(records: readonly RecordInit[]): Uint8Array {
  const out = new Uint8Array(records.length * RECORD_SIZE);
  records.forEach((r, i) => encodeRecord(out, i * RECORD_SIZE, r));
  return out;
}

function putU64(dv: DataView, off: number, v: number): void {
  dv.setUint32(off, v % 4294967296, true);
  dv.setUint32(off + 4, Math.floor(v / 4294967296), true);
}
