// Building record batches for the model's tests: encodeRecord + decodeBatch,
// the same path every source takes.
import { decodeBatch, type RecordColumns } from '../../src/records/batch.js';
import { encodeRecord, type RecordInit } from '../../src/records/encode.js';
import { RECORD_SIZE } from '../../src/records/layout.js';

export function batch(records: RecordInit[]): RecordColumns {
  const buf = new Uint8Array(records.length * RECORD_SIZE);
  records.forEach((r, i) => encodeRecord(buf, i * RECORD_SIZE, r));
  return decodeBatch(buf);
}

export const SEC = 1e9;
