// Building records in JavaScript: used by the text importer (conntrack -E),
// synthetic benchmarks and tests. The same layout table as the decoder.

import { FIELDS as F, RECORD_SIZE, RECORD_VERSION, AF_INET, AF_INET6 } from './layout.js';
import { parseAddress } from './address.js';

export interface RecordInit {
  kind: number;
  ts?: number; // ns
  id?: bigint;
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

/** Write one record at byte offset `off` of `out`. */
export function encodeRecord(out: Uint8Array, off: number, r: RecordInit): void {
  out.fill(0, off, off + RECORD_SIZE);
  const dv = new DataView(out.buffer, out.byteOffset + off, RECORD_SIZE);
  putU64(dv, F.ts_ns.offset, r.ts ?? 0);
  dv.setBigUint64(F.id.offset, r.id ?? 0n, true);
  putU64(dv, F.start_ns.offset, r.start ?? 0);
  putU64(dv, F.packets.offset, r.packets ?? 0);
  putU64(dv, F.bytes.offset, r.bytes ?? 0);
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
  dv.setUint32(F.netns.offset, r.netns ?? 0, true);
  dv.setUint32(F.ifindex.offset, r.ifindex ?? 0, true);
  dv.setUint32(F.mark.offset, r.mark ?? 0, true);
  dv.setUint32(F.status.offset, r.status ?? 0, true);
  dv.setUint32(F.cpu.offset, r.cpu ?? 0, true);
  dv.setUint32(F.aux.offset, r.aux ?? 0, true);
  dv.setUint16(F.sport.offset, r.sport ?? 0, true);
  dv.setUint16(F.dport.offset, r.dport ?? 0, true);
  dv.setUint16(F.rsport.offset, r.rsport ?? 0, true);
  dv.setUint16(F.rdport.offset, r.rdport ?? 0, true);
  dv.setUint16(F.zone.offset, r.zone ?? 0, true);
  dv.setUint8(F.version.offset, RECORD_VERSION);
  dv.setUint8(F.kind.offset, r.kind);
  dv.setUint8(F.family.offset, family === 0 ? AF_INET : family === 6 ? AF_INET6 : AF_INET);
  dv.setUint8(F.proto.offset, r.proto ?? 0);
  dv.setUint8(F.state.offset, r.state ?? 0);
  dv.setUint8(F.tcp_flags.offset, r.tcpFlags ?? 0);
  dv.setUint8(F.icmp_type.offset, r.icmpType ?? 0);
  dv.setUint8(F.icmp_code.offset, r.icmpCode ?? 0);
  dv.setUint8(F.cause.offset, r.cause ?? 0);
  dv.setUint8(F.origin.offset, r.origin ?? 0);
  dv.setUint8(F.flags.offset, r.flags ?? 0);
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
