// Decoding of record batches: the one place that reads the binary record.
// A batch (from the ring buffer, the netlink reader, a capture file or the
// text importer) is decoded into typed columns, never one object per record:
// consumers loop over indices. Addresses stay as bytes in the source buffer;
// keys are built from them only when a query asks (src/records/address.ts).

import { FIELDS as F, RECORD_SIZE, RECORD_VERSION } from './layout.js';

export interface RecordColumns {
  /** Number of records. */
  readonly length: number;
  /** The raw records (RECORD_SIZE bytes each); address fields are read from here. */
  readonly bytes: Uint8Array;
  readonly ts: Float64Array; // ns, CLOCK_BOOTTIME (exact below 2^53 ns, i.e. 104 days)
  readonly id: BigUint64Array;
  readonly start: Float64Array;
  readonly packets: Float64Array;
  readonly byteCount: Float64Array;
  readonly netns: Uint32Array;
  readonly ifindex: Uint32Array;
  readonly mark: Uint32Array;
  readonly status: Uint32Array;
  readonly cpu: Uint32Array;
  readonly aux: Uint32Array;
  readonly sport: Uint16Array;
  readonly dport: Uint16Array;
  readonly rsport: Uint16Array;
  readonly rdport: Uint16Array;
  readonly zone: Uint16Array;
  readonly kind: Uint8Array;
  readonly family: Uint8Array;
  readonly proto: Uint8Array;
  readonly state: Uint8Array;
  readonly tcpFlags: Uint8Array;
  readonly icmpType: Uint8Array;
  readonly icmpCode: Uint8Array;
  readonly cause: Uint8Array;
  readonly origin: Uint8Array;
  readonly flags: Uint8Array;
}

export class RecordFormatError extends Error {
  constructor(
    message: string,
    readonly index: number,
  ) {
    super(message);
    this.name = 'RecordFormatError';
  }
}

/**
 * Decode `count` records from `buf`. Throws RecordFormatError if the buffer is
 * shorter than count records or a record carries another format version.
 */
export function decodeBatch(buf: ArrayBuffer | Uint8Array, count?: number): RecordColumns {
  const bytes = buf instanceof Uint8Array ? buf : new Uint8Array(buf);
  const n = count ?? Math.floor(bytes.byteLength / RECORD_SIZE);
  if (n * RECORD_SIZE > bytes.byteLength) {
    throw new RecordFormatError(`batch of ${n} records needs ${n * RECORD_SIZE} bytes, has ${bytes.byteLength}`, 0);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, n * RECORD_SIZE);
  const c = {
    length: n,
    bytes: bytes.subarray(0, n * RECORD_SIZE),
    ts: new Float64Array(n),
    id: new BigUint64Array(n),
    start: new Float64Array(n),
    packets: new Float64Array(n),
    byteCount: new Float64Array(n),
    netns: new Uint32Array(n),
    ifindex: new Uint32Array(n),
    mark: new Uint32Array(n),
    status: new Uint32Array(n),
    cpu: new Uint32Array(n),
    aux: new Uint32Array(n),
    sport: new Uint16Array(n),
    dport: new Uint16Array(n),
    rsport: new Uint16Array(n),
    rdport: new Uint16Array(n),
    zone: new Uint16Array(n),
    kind: new Uint8Array(n),
    family: new Uint8Array(n),
    proto: new Uint8Array(n),
    state: new Uint8Array(n),
    tcpFlags: new Uint8Array(n),
    icmpType: new Uint8Array(n),
    icmpCode: new Uint8Array(n),
    cause: new Uint8Array(n),
    origin: new Uint8Array(n),
    flags: new Uint8Array(n),
  };
  for (let i = 0, o = 0; i < n; i++, o += RECORD_SIZE) {
    const v = dv.getUint8(o + F.version.offset);
    if (v !== RECORD_VERSION) {
      throw new RecordFormatError(`record ${i} has format version ${v}, this build reads ${RECORD_VERSION}`, i);
    }
    c.ts[i] = u64(dv, o + F.ts_ns.offset);
    c.id[i] = dv.getBigUint64(o + F.id.offset, true);
    c.start[i] = u64(dv, o + F.start_ns.offset);
    c.packets[i] = u64(dv, o + F.packets.offset);
    c.byteCount[i] = u64(dv, o + F.bytes.offset);
    c.netns[i] = dv.getUint32(o + F.netns.offset, true);
    c.ifindex[i] = dv.getUint32(o + F.ifindex.offset, true);
    c.mark[i] = dv.getUint32(o + F.mark.offset, true);
    c.status[i] = dv.getUint32(o + F.status.offset, true);
    c.cpu[i] = dv.getUint32(o + F.cpu.offset, true);
    c.aux[i] = dv.getUint32(o + F.aux.offset, true);
    c.sport[i] = dv.getUint16(o + F.sport.offset, true);
    c.dport[i] = dv.getUint16(o + F.dport.offset, true);
    c.rsport[i] = dv.getUint16(o + F.rsport.offset, true);
    c.rdport[i] = dv.getUint16(o + F.rdport.offset, true);
    c.zone[i] = dv.getUint16(o + F.zone.offset, true);
    c.kind[i] = dv.getUint8(o + F.kind.offset);
    c.family[i] = dv.getUint8(o + F.family.offset);
    c.proto[i] = dv.getUint8(o + F.proto.offset);
    c.state[i] = dv.getUint8(o + F.state.offset);
    c.tcpFlags[i] = dv.getUint8(o + F.tcp_flags.offset);
    c.icmpType[i] = dv.getUint8(o + F.icmp_type.offset);
    c.icmpCode[i] = dv.getUint8(o + F.icmp_code.offset);
    c.cause[i] = dv.getUint8(o + F.cause.offset);
    c.origin[i] = dv.getUint8(o + F.origin.offset);
    c.flags[i] = dv.getUint8(o + F.flags.offset);
  }
  return c;
}

/** Little-endian u64 as a double: exact below 2^53. */
function u64(dv: DataView, off: number): number {
  return dv.getUint32(off, true) + dv.getUint32(off + 4, true) * 4294967296;
}
