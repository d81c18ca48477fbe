// The .ctcap capture file format (version 1).
//
//   preamble  : 8-byte magic "\x89CTCAP\r\n" + u32 LE format version
//   frame*    : u16 sync 0xCF7A (bytes CF 7A) | u8 type | u8 0 | u32 LE payload length
//               | u32 LE crc32 over (type, 0, length) and the payload | payload
//
// The first frame is a HEADER, the last a FOOTER (absent when the writer was
// killed). Payloads are msgpack. RECORDS frames carry the raw 160-byte records
// as one msgpack `bin` (decoded by src/records/batch.ts, never one object per
// field: that is what makes replay fast). The magic's high byte and CR LF catch
// files mangled by 7-bit or text-mode transfers, as PNG's does. Every frame has
// its own sync marker, length bound and checksum, so a reader can tell a cut-off
// tail from damage and can skip a damaged frame to the next good one.

import zlib from 'node:zlib';
import { Packr } from 'msgpackr';
import type { FieldName } from '../records/layout.js';

export const MAGIC = Uint8Array.from([0x89, 0x43, 0x54, 0x43, 0x41, 0x50, 0x0d, 0x0a]);
export const FORMAT_VERSION = 1;
export const PREAMBLE_SIZE = MAGIC.length + 4;
export const FRAME_HEADER_SIZE = 12;
export const SYNC0 = 0xcf;
export const SYNC1 = 0x7a;
/** No writer makes frames near this; a larger length field means damage. */
export const MAX_FRAME_PAYLOAD = 16 * 1024 * 1024;

export const FrameType = {
  HEADER: 1,
  RECORDS: 2,
  PROC: 3,
  STATUS: 4,
  FOOTER: 5,
  /** The node's pods as they change (src/workloads): so a replay names the same pods. */
  PODS: 6,
} as const;
export type FrameTypeValue = (typeof FrameType)[keyof typeof FrameType];
export const FRAME_TYPE_NAMES: Record<number, string> = { 1: 'header', 2: 'records', 3: 'proc', 4: 'status', 5: 'footer', 6: 'pods' };
/** The highest frame type this reader knows (a resync accepts frames up to it). */
export const LAST_FRAME_TYPE = FrameType.PODS;

export interface CaptureSourceInfo {
  name: string;
  hook: string | null;
  detail?: string;
}

export interface CaptureHeader {
  format: number;
  tool: string; // "ctscope 0.1.0"
  /** Wall-clock ms when the file was opened. */
  created_ms: number;
  host: string;
  kernel: string;
  /**
   * CLOCK_REALTIME − CLOCK_BOOTTIME in ns when the file was opened: add it to
   * a record's ts (boot-time ns) to get Unix-epoch ns. Held as a double: the
   * ~1 µs lost at 1.8e18 ns does not matter for display.
   */
  boot_base_ns: number;
  sources: CaptureSourceInfo[];
  record: { size: number; version: number; fields: Record<string, { offset: number; size: number }> };
  /** Segment number within a rotation (0 for the first file). */
  segment: number;
  /** Set by importers: where the records came from (e.g. "conntrack -E text"). */
  origin?: string;
  /** The recording host's facts the advice needs (what an entry costs, its memory), where readable. */
  host_facts?: { entry_bytes?: number; entry_bytes_source?: string; mem_total_bytes?: number };
}

export interface CaptureFooter {
  records: number;
  frames: number;
  proc_snapshots: number;
  /** Records per kind value (index = enum ctscope_kind). */
  kinds: number[];
  first_ts: number | null;
  last_ts: number | null;
  closed_ms: number;
  /** Why the writer stopped: 'closed', 'duration', 'rotate', 'signal', 'error'. */
  reason: string;
  /** File name (same directory) of the next segment when rotated. */
  next?: string;
}

export interface RecordsPayload {
  /** Record count. */
  n: number;
  /** n × record size bytes. */
  b: Uint8Array;
}

export interface StatusPayload {
  ts: number;
  sources: unknown[];
  /** From ts on, 1 ctnetlink entry in one_in was followed (--max-cpu); absent: the daemon had no budget. Older readers ignore it. */
  sampling?: SamplingPayload;
}

export interface SamplingPayload {
  /** A power of two, 1 (every entry) to 2^MAX_SAMPLING_SHIFT. */
  one_in: number;
}

/** The thinnest sampling a STATUS frame may say (src/sources/cpu-budget.ts goes to 2^16). */
export const MAX_SAMPLING_SHIFT = 31;

/** The shift of a STATUS frame's sampling, or null when it is not a power of two in range. */
export function samplingShift(s: unknown): number | null {
  const n = (s as { one_in?: unknown } | null)?.one_in;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) return null;
  const shift = Math.log2(n);
  return Number.isInteger(shift) && shift <= MAX_SAMPLING_SHIFT ? shift : null;
}

// One Packr for the whole process: plain maps, no record extension, so files
// stay readable by any msgpack implementation.
export const packr = new Packr({ useRecords: false, mapsAsObjects: true, variableMapSize: true });

const nativeCrc32 = (zlib as unknown as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;

let table: Uint32Array | null = null;
function tableCrc32(data: Uint8Array, value = 0): number {
  if (!table) {
    table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
  }
  let crc = (value ^ 0xffffffff) >>> 0;
  for (let i = 0; i < data.length; i++) crc = table[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** CRC-32 (IEEE, as zlib); node:zlib's when it has one (Node ≥ 20.15). */
export const crc32: (data: Uint8Array, value?: number) => number = nativeCrc32 ? (d, v) => nativeCrc32(d, v ?? 0) >>> 0 : tableCrc32;
export const crc32Fallback = tableCrc32;

export function preamble(version = FORMAT_VERSION): Uint8Array {
  const out = new Uint8Array(PREAMBLE_SIZE);
  out.set(MAGIC, 0);
  new DataView(out.buffer).setUint32(MAGIC.length, version, true);
  return out;
}

/** The 12-byte header of a frame whose payload is `payload`. */
export function frameHeader(type: number, payload: Uint8Array): Uint8Array {
  const h = new Uint8Array(FRAME_HEADER_SIZE);
  const dv = new DataView(h.buffer);
  h[0] = SYNC0;
  h[1] = SYNC1;
  h[2] = type;
  h[3] = 0;
  dv.setUint32(4, payload.length, true);
  dv.setUint32(8, crc32(payload, crc32(h.subarray(2, 8))), true);
  return h;
}

/** A whole frame (header + payload) as one buffer. */
export function encodeFrame(type: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER_SIZE + payload.length);
  out.set(frameHeader(type, payload), 0);
  out.set(payload, FRAME_HEADER_SIZE);
  return out;
}

export type { FieldName };
