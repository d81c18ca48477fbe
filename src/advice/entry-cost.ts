// What one conntrack entry costs in memory: the one figure every rule uses.
// The kernel allocates entries from its own slab cache ("nf_conntrack"); the
// object size there is the truth for this kernel and its options (zones,
// labels, timestamps change it). /proc/slabinfo is root-only and a merged
// cache has no line of its own; SLUB's sysfs directory says the same where
// it exists. Otherwise the size measured on this project's machines. Each
// hash bucket is one pointer (an hlist_nulls_head).

import { readFileSync } from 'node:fs';

export interface EntryCost {
  /** Bytes of one entry (slab object size). */
  bytes: number;
  /** Bytes of one hash bucket. */
  bucket_bytes: number;
  /** Where `bytes` came from. */
  source: 'slabinfo' | 'sysfs' | 'capture' | 'default';
}

/** The entry size measured on this project's machines (6.1 and 6.18, x86_64). */
export const DEFAULT_ENTRY_BYTES = 256;
export const BUCKET_BYTES = 8;

export function defaultEntryCost(): EntryCost {
  return { bytes: DEFAULT_ENTRY_BYTES, bucket_bytes: BUCKET_BYTES, source: 'default' };
}

/** This host's entry cost (the defaults where the slab is unreadable). */
export function readEntryCost(proc = '/proc', sys = '/sys'): EntryCost {
  try {
    // name active_objs num_objs objsize ...
    const m = /^nf_conntrack\s+\d+\s+\d+\s+(\d+)/m.exec(readFileSync(`${proc}/slabinfo`, 'utf8'));
    if (m && Number(m[1]) > 0) return { bytes: Number(m[1]), bucket_bytes: BUCKET_BYTES, source: 'slabinfo' };
  } catch {
    /* root-only */
  }
  try {
    const n = Number(readFileSync(`${sys}/kernel/slab/nf_conntrack/object_size`, 'utf8').trim());
    if (n > 0) return { bytes: n, bucket_bytes: BUCKET_BYTES, source: 'sysfs' };
  } catch {
    /* not SLUB, or merged */
  }
  return defaultEntryCost();
}

/** Memory a table of `max` entries and `buckets` buckets takes when full, bytes. */
export function tableBytes(c: EntryCost, max: number, buckets: number): number {
  return max * c.bytes + buckets * c.bucket_bytes;
}

export function formatBytes(b: number): string {
  if (b >= 2 ** 30) return `${(b / 2 ** 30).toFixed(1)} GiB`;
  if (b >= 2 ** 20) return `${(b / 2 ** 20).toFixed(1)} MiB`;
  return `${Math.round(b / 1024)} KiB`;
}
