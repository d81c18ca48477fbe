// Decoding of record batches: the one place that reads the binary record.
// A batch (from the ring buffer, the netlink reader, a capture file or the
// text importer) is decoded into typed columns, never one object per record:
// consumers loop over indices. Addresses stay as bytes in the source buffer;
// keys are built from them only when a query asks (src/records/address.ts).

import { FIELDS as F, RECORD_SIZE, RECORD_VERSION } from './layout.js';
import { UserError } from '../errors.js';

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

export class RecordFormatError extends UserError {
  constructor(
    message: string,
    readonly index: number,
  ) {
    super(message);
  }
}

/**
 * Decode `count` records from `buf`. Throws RecordFormatError if the buffer is
 * shorter than count records or a record carries another format version.
 *
 * The columns every consumer reads per record (the model's: kind, times,
 * tuple, state, netns, ...) are decoded here, in one pass; the others (id,
 * counters, reply ports, cpu, ifindex, tcp flags, icmp, origin) are decoded
 * on first access, still here. The model reads ids and addresses from
 * `bytes` and never touches them, and the 64-bit id is the costly one (a
 * BigInt per record): decoding it eagerly was a third of a batch's decode.
 */
export function decodeBatch(buf: ArrayBuffer | Uint8Array, count?: number, scratch?: DecodeScratch): RecordColumns {
  const bytes = buf instanceof Uint8Array ? buf : new Uint8Array(buf);
  const n = count ?? Math.floor(bytes.byteLength / RECORD_SIZE);
  if (n * RECORD_SIZE > bytes.byteLength) {
    throw new RecordFormatError(`batch of ${n} records needs ${n * RECORD_SIZE} bytes, has ${bytes.byteLength}`, 0);
  }
  return new Columns(bytes.subarray(0, n * RECORD_SIZE), n, null, scratch);
}

/**
 * Where a live source decodes its batches' columns, reused from batch to
 * batch: a batch decoded into it is valid until the next one (the sink
 * contract, records/sink.ts). A new buffer per batch was 4 MB a second of
 * ArrayBuffers for V8 to account and sweep at 100,000 records/s.
 */
export class DecodeScratch {
  private buf = new ArrayBuffer(0);

  /** A buffer of at least `bytes` (grown to a power of two, never shrunk). */
  take(bytes: number): ArrayBuffer {
    if (this.buf.byteLength < bytes) {
      let size = 4096;
      while (size < bytes) size *= 2;
      this.buf = new ArrayBuffer(size);
    }
    return this.buf;
  }
}

// The eagerly decoded columns of a batch, in one buffer (one allocation a
// batch), in this order: 8-byte columns first, then 4-, 2-, 1-byte.
const HOT = [
  ['ts', Float64Array],
  ['start', Float64Array],
  ['netns', Uint32Array],
  ['mark', Uint32Array],
  ['status', Uint32Array],
  ['aux', Uint32Array],
  ['sport', Uint16Array],
  ['dport', Uint16Array],
  ['zone', Uint16Array],
  ['kind', Uint8Array],
  ['family', Uint8Array],
  ['proto', Uint8Array],
  ['state', Uint8Array],
  ['cause', Uint8Array],
  ['flags', Uint8Array],
] as const;
type HotName = (typeof HOT)[number][0];
const DECODED_BYTES_PER_RECORD = HOT.reduce((a, [, T]) => a + T.BYTES_PER_ELEMENT, 0);

/** Bytes a batch takes per record in copyBatch()'s layout: its decoded columns and the record. */
export const BATCH_BYTES_PER_RECORD = DECODED_BYTES_PER_RECORD + RECORD_SIZE;

/**
 * Copy records from..to-1 of `b`, decoded columns and raw bytes, into
 * `into` ((to - from) * BATCH_BYTES_PER_RECORD bytes at an 8-byte aligned
 * offset), for viewBatch() to read back without decoding: how a reading
 * thread hands batches over in shared memory (capture/read-thread.ts).
 */
export function copyBatch(b: RecordColumns, from: number, to: number, into: Uint8Array): void {
  const n = to - from;
  let at = into.byteOffset;
  for (const [name, T] of HOT) {
    new T(into.buffer as ArrayBuffer, at, n).set(b[name].subarray(from, to) as never);
    at += T.BYTES_PER_ELEMENT * n;
  }
  into.set(b.bytes.subarray(from * RECORD_SIZE, to * RECORD_SIZE), n * DECODED_BYTES_PER_RECORD);
}

/** A copy of batch `b` of its own (for a sink that keeps a lent batch past its call: records/sink.ts). */
export function keepBatch(b: RecordColumns): RecordColumns {
  const into = new Uint8Array(b.length * BATCH_BYTES_PER_RECORD);
  copyBatch(b, 0, b.length, into);
  return viewBatch(into, b.length);
}

/** The n-record batch copyBatch() wrote at `at`: views, valid while that memory holds it. */
export function viewBatch(at: Uint8Array, n: number): RecordColumns {
  const d = n * DECODED_BYTES_PER_RECORD;
  return new Columns(at.subarray(d, d + n * RECORD_SIZE), n, at);
}

class Columns implements RecordColumns {
  readonly ts!: Float64Array;
  readonly start!: Float64Array;
  readonly netns!: Uint32Array;
  readonly mark!: Uint32Array;
  readonly status!: Uint32Array;
  readonly aux!: Uint32Array;
  readonly sport!: Uint16Array;
  readonly dport!: Uint16Array;
  readonly zone!: Uint16Array;
  readonly kind!: Uint8Array;
  readonly family!: Uint8Array;
  readonly proto!: Uint8Array;
  readonly state!: Uint8Array;
  readonly cause!: Uint8Array;
  readonly flags!: Uint8Array;
  private readonly dv: DataView;
  private cold: ColdColumns | undefined;

  /** decoded: the columns as copyBatch() laid them out, or null to decode them from bytes. */
  constructor(
    readonly bytes: Uint8Array,
    readonly length: number,
    decoded: Uint8Array | null,
    scratch?: DecodeScratch,
  ) {
    const n = length;
    const dv = (this.dv = new DataView(bytes.buffer, bytes.byteOffset, n * RECORD_SIZE));
    const buf = (decoded ? decoded.buffer : scratch ? scratch.take(n * DECODED_BYTES_PER_RECORD) : new ArrayBuffer(n * DECODED_BYTES_PER_RECORD)) as ArrayBuffer;
    let at = decoded ? decoded.byteOffset : 0;
    const cols = this as unknown as Record<HotName, InstanceType<(typeof HOT)[number][1]>>;
    for (const [name, T] of HOT) {
      cols[name] = new T(buf, at, n);
      at += T.BYTES_PER_ELEMENT * n;
    }
    if (decoded) return;
    const { ts, start, netns, mark, status, aux, sport, dport, zone, kind, family, proto, state, cause, flags } = this;
    for (let i = 0, o = 0; i < n; i++, o += RECORD_SIZE) {
      const v = bytes[o + F.version.offset]!;
      if (v !== RECORD_VERSION) {
        throw new RecordFormatError(`record ${i} has format version ${v}, this build reads ${RECORD_VERSION}`, i);
      }
      ts[i] = u64(dv, o + F.ts_ns.offset);
      start[i] = u64(dv, o + F.start_ns.offset);
      netns[i] = dv.getUint32(o + F.netns.offset, true);
      mark[i] = dv.getUint32(o + F.mark.offset, true);
      status[i] = dv.getUint32(o + F.status.offset, true);
      aux[i] = dv.getUint32(o + F.aux.offset, true);
      sport[i] = dv.getUint16(o + F.sport.offset, true);
      dport[i] = dv.getUint16(o + F.dport.offset, true);
      zone[i] = dv.getUint16(o + F.zone.offset, true);
      kind[i] = bytes[o + F.kind.offset]!;
      family[i] = bytes[o + F.family.offset]!;
      proto[i] = bytes[o + F.proto.offset]!;
      state[i] = bytes[o + F.state.offset]!;
      cause[i] = bytes[o + F.cause.offset]!;
      flags[i] = bytes[o + F.flags.offset]!;
    }
  }

  private get c(): ColdColumns {
    return (this.cold ??= decodeCold(this.dv, this.length));
  }
  get id(): BigUint64Array {
    return this.c.id;
  }
  get packets(): Float64Array {
    return this.c.packets;
  }
  get byteCount(): Float64Array {
    return this.c.byteCount;
  }
  get ifindex(): Uint32Array {
    return this.c.ifindex;
  }
  get cpu(): Uint32Array {
    return this.c.cpu;
  }
  get rsport(): Uint16Array {
    return this.c.rsport;
  }
  get rdport(): Uint16Array {
    return this.c.rdport;
  }
  get tcpFlags(): Uint8Array {
    return this.c.tcpFlags;
  }
  get icmpType(): Uint8Array {
    return this.c.icmpType;
  }
  get icmpCode(): Uint8Array {
    return this.c.icmpCode;
  }
  get origin(): Uint8Array {
    return this.c.origin;
  }
}

interface ColdColumns {
  id: BigUint64Array;
  packets: Float64Array;
  byteCount: Float64Array;
  ifindex: Uint32Array;
  cpu: Uint32Array;
  rsport: Uint16Array;
  rdport: Uint16Array;
  tcpFlags: Uint8Array;
  icmpType: Uint8Array;
  icmpCode: Uint8Array;
  origin: Uint8Array;
}

function decodeCold(dv: DataView, n: number): ColdColumns {
  const c: ColdColumns = {
    id: new BigUint64Array(n),
    packets: new Float64Array(n),
    byteCount: new Float64Array(n),
    ifindex: new Uint32Array(n),
    cpu: new Uint32Array(n),
    rsport: new Uint16Array(n),
    rdport: new Uint16Array(n),
    tcpFlags: new Uint8Array(n),
    icmpType: new Uint8Array(n),
    icmpCode: new Uint8Array(n),
    origin: new Uint8Array(n),
  };
  for (let i = 0, o = 0; i < n; i++, o += RECORD_SIZE) {
    c.id[i] = dv.getBigUint64(o + F.id.offset, true);
    c.packets[i] = u64(dv, o + F.packets.offset);
    c.byteCount[i] = u64(dv, o + F.bytes.offset);
    c.ifindex[i] = dv.getUint32(o + F.ifindex.offset, true);
    c.cpu[i] = dv.getUint32(o + F.cpu.offset, true);
    c.rsport[i] = dv.getUint16(o + F.rsport.offset, true);
    c.rdport[i] = dv.getUint16(o + F.rdport.offset, true);
    c.tcpFlags[i] = dv.getUint8(o + F.tcp_flags.offset);
    c.icmpType[i] = dv.getUint8(o + F.icmp_type.offset);
    c.icmpCode[i] = dv.getUint8(o + F.icmp_code.offset);
    c.origin[i] = dv.getUint8(o + F.origin.offset);
  }
  return c;
}

/** Little-endian u64 as a double: exact below 2^53. */
function u64(dv: DataView, off: number): number {
  return dv.getUint32(off, true) + dv.getUint32(off + 4, true) * 4294967296;
}
