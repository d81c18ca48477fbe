// Keys of the model's dimensions as plain numbers (< 2^53), computed from the
// record bytes without building a string per record. Strings are made only
// when a query formats its answer.
//
//   src, dst   IPv4: the address as a u32 (network order read big-endian);
//              IPv6: 2^32 + an interned id (AddressTable)
//   dport      the port; proto, netns, zone, mark: the value
//   src,dport  srcKey * 65536 + dport
//   pod        the entry's pod and how it was found: pod id * 4 + via
//              (src/workloads/pod-map.ts attribute(); 0: no pod)
//
// k8s_namespace and workload are not counted: they are rollups of `pod`
// (every pod has one namespace and one workload), summed when asked.

import { AF_INET6, FIELDS, RECORD_SIZE } from '../records/layout.js';
import type { RecordColumns } from '../records/batch.js';
import { formatAddress } from '../records/address.js';

/** The dimensions the model counts, in the order of their index. */
export const COUNTED_DIMENSIONS = ['src', 'dst', 'dport', 'proto', 'netns', 'zone', 'mark', 'src,dport', 'pod'] as const;
/** The dimensions a question may rank by: the counted ones and the pod rollups. */
export const DIMENSIONS = [...COUNTED_DIMENSIONS, 'k8s_namespace', 'workload'] as const;
export type Dimension = (typeof DIMENSIONS)[number];
export type PodDimension = 'pod' | 'k8s_namespace' | 'workload';
export const DIM = { src: 0, dst: 1, dport: 2, proto: 3, netns: 4, zone: 5, mark: 6, src_dport: 7, pod: 8 } as const;
export const NDIMS = COUNTED_DIMENSIONS.length;

/** The counted dimension a question by `d` reads (a rollup reads `pod`); -1 when unknown. */
export function dimIndex(d: Dimension): number {
  if (d === 'k8s_namespace' || d === 'workload') return DIM.pod;
  return (COUNTED_DIMENSIONS as readonly string[]).indexOf(d);
}

export function isPodDimension(d: Dimension): d is PodDimension {
  return d === 'pod' || d === 'k8s_namespace' || d === 'workload';
}

/** IPv6 address keys are TWO32 + the address's intern id; IPv4 keys are the u32 address. */
export const TWO32 = 4294967296;

/** Key that stands for every IPv6 address once the intern table is full. */
export const V6_OVERFLOW_ID = 0;

/**
 * IPv6 addresses interned to small ids (open addressing over 4-word keys).
 * Bounded: once `capacity` addresses are known, further ones share the id
 * V6_OVERFLOW_ID, formatted as "ipv6-other" (reported in stats()).
 */
export class AddressTable {
  private words: Uint32Array; // per id: 4 words
  private slots: Int32Array; // hash slot -> id, -1 empty
  private next = 1;
  overflowed = 0;

  constructor(readonly capacity = 1 << 18) {
    this.words = new Uint32Array(4 * 1024);
    this.slots = new Int32Array(2048).fill(-1);
  }

  get size(): number {
    return this.next - 1;
  }

  intern(b: Uint8Array, off: number): number {
    const id = this.find(b, off);
    if (id >= 0) return id;
    if (this.next > this.capacity) {
      this.overflowed++;
      return V6_OVERFLOW_ID;
    }
    const nid = this.next++;
    if (nid * 4 + 4 > this.words.length) {
      const w = new Uint32Array(this.words.length * 2);
      w.set(this.words);
      this.words = w;
    }
    const o = nid * 4;
    for (let i = 0; i < 4; i++) this.words[o + i] = word(b, off + i * 4);
    if (this.next * 2 > this.slots.length) this.rehash(this.slots.length * 2);
    else this.place(nid, this.hashAt(o));
    return nid;
  }

  /** Id of the 16 bytes at `off`, -1 when not interned. */
  find(b: Uint8Array, off: number): number {
    const w0 = word(b, off);
    const w1 = word(b, off + 4);
    const w2 = word(b, off + 8);
    const w3 = word(b, off + 12);
    const mask = this.slots.length - 1;
    for (let s = hash4(w0, w1, w2, w3) & mask; ; s = (s + 1) & mask) {
      const id = this.slots[s]!;
      if (id < 0) return -1;
      const o = id * 4;
      if (this.words[o] === w0 && this.words[o + 1] === w1 && this.words[o + 2] === w2 && this.words[o + 3] === w3) return id;
    }
  }

  private hashAt(o: number): number {
    return hash4(this.words[o]!, this.words[o + 1]!, this.words[o + 2]!, this.words[o + 3]!);
  }

  private place(id: number, h: number): void {
    const mask = this.slots.length - 1;
    let s = h & mask;
    while (this.slots[s]! >= 0) s = (s + 1) & mask;
    this.slots[s] = id;
  }

  private rehash(size: number): void {
    this.slots = new Int32Array(size).fill(-1);
    for (let id = 1; id < this.next; id++) this.place(id, this.hashAt(id * 4));
  }

  format(id: number): string {
    if (id === V6_OVERFLOW_ID || id >= this.next) return 'ipv6-other';
    const b = new Uint8Array(16);
    const o = id * 4;
    for (let i = 0; i < 4; i++) {
      const w = this.words[o + i]!;
      b[i * 4] = w >>> 24;
      b[i * 4 + 1] = (w >>> 16) & 255;
      b[i * 4 + 2] = (w >>> 8) & 255;
      b[i * 4 + 3] = w & 255;
    }
    return formatAddress(b, 0, AF_INET6);
  }

  /** Key of a parsed address (for filters); -1 when the IPv6 address was never seen. */
  lookup(bytes: Uint8Array, v6: boolean): number {
    if (!v6) return word(bytes, 0);
    const id = this.find(bytes, 0);
    return id < 0 ? -1 : TWO32 + id;
  }
}

function word(b: Uint8Array, off: number): number {
  return ((b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!) >>> 0;
}

function hash4(w0: number, w1: number, w2: number, w3: number): number {
  const h = Math.imul(w0 ^ Math.imul(w1, 0x9e3779b1) ^ Math.imul(w2, 0x85ebca6b) ^ Math.imul(w3, 0xc2b2ae35), 0x27d4eb2f);
  return h ^ (h >>> 15);
}

/** The address key at byte offset `off` of a record of `family`. */
export function addressKey(b: Uint8Array, off: number, family: number, v6: AddressTable): number {
  if (family === AF_INET6) return TWO32 + v6.intern(b, off);
  return ((b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!) >>> 0;
}

export const SADDR = FIELDS.saddr.offset;
export const DADDR = FIELDS.daddr.offset;
export const RSADDR = FIELDS.rsaddr.offset;

/** The key of record i's original source address (the model's batch loop reads it at its running offset, the same field). */
export function srcKeyOf(b: RecordColumns, i: number, v6: AddressTable): number {
  return addressKey(b.bytes, i * RECORD_SIZE + SADDR, b.family[i]!, v6);
}

/** The key of record i's original destination address. */
export function dstKeyOf(b: RecordColumns, i: number, v6: AddressTable): number {
  return addressKey(b.bytes, i * RECORD_SIZE + DADDR, b.family[i]!, v6);
}

/**
 * The key of the address at `off` if the model knows it, without interning a
 * new IPv6 address (-1 then: no pod holds an address the model never saw).
 */
export function knownAddressKey(b: Uint8Array, off: number, family: number, v6: AddressTable): number {
  if (family === AF_INET6) {
    const id = v6.find(b, off);
    return id < 0 ? -1 : TWO32 + id;
  }
  return ((b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!) >>> 0;
}

export function formatAddressKey(k: number, v6: AddressTable): string {
  if (k >= TWO32) return v6.format(k - TWO32);
  return `${k >>> 24}.${(k >>> 16) & 255}.${(k >>> 8) & 255}.${k & 255}`;
}

const PROTO_NAMES: Record<number, string> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 33: 'dccp', 47: 'gre', 58: 'icmpv6', 132: 'sctp', 136: 'udplite' };

export function protoName(p: number): string {
  return PROTO_NAMES[p] ?? String(p);
}

/** Protocol number from a name or a decimal; -1 when neither. */
export function protoNumber(s: string): number {
  for (const [n, name] of Object.entries(PROTO_NAMES)) if (name === s) return Number(n);
  return /^\d{1,3}$/.test(s) && Number(s) < 256 ? Number(s) : -1;
}

/** Text of a key of dimension `dim` (index into DIMENSIONS). */
export function formatKey(dim: number, k: number, v6: AddressTable): string {
  switch (dim) {
    case DIM.src:
    case DIM.dst:
      return formatAddressKey(k, v6);
    case DIM.proto:
      return protoName(k);
    case DIM.src_dport: {
      const a = Math.floor(k / 65536);
      const port = k - a * 65536;
      return a >= TWO32 ? `[${formatAddressKey(a, v6)}]:${port}` : `${formatAddressKey(a, v6)}:${port}`;
    }
    default:
      return String(k);
  }
}
