// Address formatting and parsing for the 16-byte address fields of a record.
// IPv4 sits in the first 4 bytes (network order) with family AF_INET.

import { AF_INET6 } from './layout.js';

/** Format the 16 bytes at `off` of `bytes` as text for `family`. */
export function formatAddress(bytes: Uint8Array, off: number, family: number): string {
  if (family === AF_INET6) {
    const groups: number[] = [];
    for (let i = 0; i < 16; i += 2) groups.push((bytes[off + i]! << 8) | bytes[off + i + 1]!);
    return formatV6(groups);
  }
  return `${bytes[off]}.${bytes[off + 1]}.${bytes[off + 2]}.${bytes[off + 3]}`;
}

/** RFC 5952: the longest run (≥2) of zero groups becomes "::", lowercase hex. */
function formatV6(g: number[]): string {
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  // IPv4-mapped ::ffff:a.b.c.d
  if (bestStart === 0 && bestLen === 5 && g[5] === 0xffff) {
    return `::ffff:${g[6]! >> 8}.${g[6]! & 255}.${g[7]! >> 8}.${g[7]! & 255}`;
  }
  const hex = g.map((x) => x.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

export interface ParsedAddress {
  family: 4 | 6;
  bytes: Uint8Array; // 16 bytes, IPv4 in the first 4
}

const V4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** Parse an IPv4 or IPv6 address; null when it is not one. */
export function parseAddress(text: string): ParsedAddress | null {
  const out = new Uint8Array(16);
  const m = V4.exec(text);
  if (m) {
    for (let i = 0; i < 4; i++) {
      const n = Number(m[i + 1]);
      if (n > 255) return null;
      out[i] = n;
    }
    return { family: 4, bytes: out };
  }
  if (!text.includes(':') || text.length > 45) return null;
  let head = text;
  let v4tail: number[] | null = null;
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  if (tail.includes('.')) {
    const t = V4.exec(tail);
    if (!t) return null;
    v4tail = [1, 2, 3, 4].map((k) => Number(t[k]));
    if (v4tail.some((n) => n > 255)) return null;
    head = text.slice(0, lastColon + 1) + '0:0';
  }
  const parts = head.split('::');
  if (parts.length > 2) return null;
  const parse = (s: string): number[] | null => {
    if (s === '') return [];
    const gs = s.split(':');
    const r: number[] = [];
    for (const x of gs) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(x)) return null;
      r.push(parseInt(x, 16));
    }
    return r;
  };
  const a = parse(parts[0]!);
  const b = parts.length === 2 ? parse(parts[1]!) : [];
  if (!a || !b) return null;
  let groups: number[];
  if (parts.length === 2) {
    if (a.length + b.length > 7) return null;
    groups = [...a, ...new Array<number>(8 - a.length - b.length).fill(0), ...b];
  } else {
    if (a.length !== 8) return null;
    groups = a;
  }
  for (let i = 0; i < 8; i++) {
    out[i * 2] = groups[i]! >> 8;
    out[i * 2 + 1] = groups[i]! & 255;
  }
  if (v4tail) out.set(v4tail, 12);
  return { family: 6, bytes: out };
}
