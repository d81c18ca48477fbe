// An entry id's two 32-bit halves read straight from a record's bytes: the
// model keys its flow table by them and never builds the 64-bit BigInt the
// decoded `id` column would cost per record (see batch.ts).

import { FIELDS } from './layout.js';

const ID = FIELDS.id.offset;

/** Low 32 bits of the id of the record at byte offset `o` (little-endian). */
export function readIdLo(b: Uint8Array, o: number): number {
  const p = o + ID;
  return (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) >>> 0;
}

/** High 32 bits of the id of the record at byte offset `o`. */
export function readIdHi(b: Uint8Array, o: number): number {
  const p = o + ID + 4;
  return (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) >>> 0;
}
