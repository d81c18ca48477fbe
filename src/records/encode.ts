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

// One DataView per buffer, reused: the importer writes millions of records
// into the same batch buffer, and a view per record was a tenth of its time.
let viewBuffer: ArrayBufferLike | null = null;
let view: DataView | null = null;

/** Write one record at byte offset `off` of `out`. */
export function encodeRecord(out: Uint8Array, off: number, r: RecordInit): void {
  out.fill(0, off, off + RECORD_SIZE);
  if (out.buffer !== viewBuffer) {
    viewBuffer = out.buffer;
    view = new DataView(out.buffer);
  }
  const base = out.byteOffset + off;
  const dv = view!;
  putU64(dv, base + F.ts_ns.offset, r.ts ?? 0);
  if (typeof r.id === 'bigint') dv.setBigUint64(base + F.id.offset, r.id, true);
  else putU64(dv, base + F.id.offset, r.id ?? 0);
  putU64(dv, base + F.start_ns.offset, r.start ?? 0);
  putU64(dv, base + F.packets.offset, r.packets ?? 0);
  putU64(dv, base + F.bytes.offset, r.bytes ?? 0);
  let family = 0;
  const put = (field: 'saddr' | 'daddr' | 'rsaddr' | 'rdaddr', a: string | undefined) => {
    if (a === undefined) return;
    const p = parseAddress(a);
    if (!p) throw new TypeError(`not an IP address: ${a}`);
    family = p.family;
    out.set(p.bytes, off + F[field].offset);
  };
  put('saddr', r.src);
  put('daddr', r.dst);
  put('rsaddr', r.rsrc);
  put('rdaddr', r.rdst);
  dv.setUint32(base + F.netns.offset, r.netns ?? 0, true);
  dv.setUint32(base + F.ifindex.offset, r.ifindex ?? 0, true);
  dv.setUint32(base + F.mark.offset, r.mark ?? 0, true);
  dv.setUint32(base + F.status.offset, r.status ?? 0, true);
  dv.setUint32(base + F.cpu.offset, r.cpu ?? 0, true);
  dv.setUint32(base + F.aux.offset, r.aux ?? 0, true);
  dv.setUint16(base + F.sport.offset, r.sport ?? 0, true);
  dv.setUint16(base + F.dport.offset, r.dport ?? 0, true);
  dv.setUint16(base + F.rsport.offset, r.rsport ?? 0, true);
  dv.setUint16(base + F.rdport.offset, r.rdport ?? 0, true);
  dv.setUint16(base + F.zone.offset, r.zone ?? 0, true);
  dv.setUint8(base + F.version.offset, RECORD_VERSION);
  dv.setUint8(base + F.kind.offset, r.kind);
  dv.setUint8(base + F.family.offset, family === 0 ? AF_INET : family === 6 ? AF_INET6 : AF_INET);
  dv.setUint8(base + F.proto.offset, r.proto ?? 0);
  dv.setUint8(base + F.state.offset, r.state ?? 0);
  dv.setUint8(base + F.tcp_flags.offset, r.tcpFlags ?? 0);
  dv.setUint8(base + F.icmp_type.offset, r.icmpType ?? 0);
  dv.setUint8(base + F.icmp_code.offset, r.icmpCode ?? 0);
  dv.setUint8(base + F.cause.offset, r.cause ?? 0);
  dv.setUint8(base + F.origin.offset, r.origin ?? 0);
  dv.setUint8(base + F.flags.offset, r.flags ?? 0);
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
