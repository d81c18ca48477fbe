// Live entries by (key of one dimension, protocol/state group), kept up to
// date as entries open, change state and leave, so that /v1/occupancy and the
// /metrics holders answer from a table of distinct (key, group) pairs instead
// of a scan of every live flow (tens of milliseconds at a few hundred
// thousand flows, under load).
//
// An index costs the ingest one update per open/close/state change, so the
// model keeps one only for a dimension that is being asked about: the first
// question builds it from one scan of the flow table, and it is dropped once
// nobody has asked for `idleSeconds` (see occupancy-upkeep.ts).
//
// Open addressing with linear probing over (key, group); a pair whose count
// returns to 0 is removed by backward shift (no tombstones), so the table
// holds exactly the pairs with live entries.

import { keyHash, pow2, shiftsBack } from './heavy.js';

export class OccupancyIndex {
  private keys: Float64Array;
  private groups: Uint32Array;
  private counts: Float64Array; // 0: empty slot
  private mask: number;
  size = 0;
  /** Model clock (ns) of the last question that used this index. */
  lastUsedNs = 0;

  constructor(
    /** Dimension index (keys.ts DIM). */
    readonly dim: number,
    capacity = 1024,
  ) {
    const cap = pow2(capacity * 2);
    this.keys = new Float64Array(cap);
    this.groups = new Uint32Array(cap);
    this.counts = new Float64Array(cap);
    this.mask = cap - 1;
  }

  private home(k: number, g: number): number {
    return (keyHash(k) ^ Math.imul(g + 1, 0x9e3779b1)) & this.mask;
  }

  /** One more live entry of (key k, group g). */
  inc(k: number, g: number): void {
    const { keys, groups, counts, mask } = this;
    let s = this.home(k, g);
    for (; counts[s] !== 0; s = (s + 1) & mask) {
      if (keys[s] === k && groups[s] === g) {
        counts[s]!++;
        return;
      }
    }
    keys[s] = k;
    groups[s] = g;
    counts[s] = 1;
    if (++this.size * 2 > mask + 1) this.grow();
  }

  /** One live entry of (key k, group g) fewer; the pair goes when none is left. */
  dec(k: number, g: number): void {
    const { keys, groups, counts, mask } = this;
    let s = this.home(k, g);
    for (; counts[s] !== 0; s = (s + 1) & mask) {
      if (keys[s] === k && groups[s] === g) {
        if (--counts[s]! === 0) this.removeAt(s);
        return;
      }
    }
    // Not there: an update path missed an inc. The model's consistency test
    // (test/unit/model-occupancy.test.ts) guards every path; count it.
    this.misses++;
  }

  /** dec() calls that found nothing (0 unless a model path is wrong). */
  misses = 0;

  private removeAt(hole: number): void {
    const { keys, groups, counts, mask } = this;
    let j = hole;
    for (;;) {
      j = (j + 1) & mask;
      if (counts[j] === 0) break;
      const home = this.home(keys[j]!, groups[j]!);
      if (shiftsBack(home, hole, j)) {
        keys[hole] = keys[j]!;
        groups[hole] = groups[j]!;
        counts[hole] = counts[j]!;
        hole = j;
      }
    }
    counts[hole] = 0;
    this.size--;
  }

  private grow(): void {
    const { keys, groups, counts } = this;
    const cap = keys.length * 2;
    this.keys = new Float64Array(cap);
    this.groups = new Uint32Array(cap);
    this.counts = new Float64Array(cap);
    this.mask = cap - 1;
    this.size = 0;
    for (let i = 0; i < keys.length; i++) {
      const n = counts[i]!;
      if (n === 0) continue;
      let s = this.home(keys[i]!, groups[i]!);
      while (this.counts[s] !== 0) s = (s + 1) & this.mask;
      this.keys[s] = keys[i]!;
      this.groups[s] = groups[i]!;
      this.counts[s] = n;
      this.size++;
    }
  }

  /** Call f(key, group, live entries) for every pair. */
  forEach(f: (key: number, group: number, n: number) => void): void {
    const { keys, groups, counts } = this;
    for (let i = 0; i < counts.length; i++) if (counts[i] !== 0) f(keys[i]!, groups[i]!, counts[i]!);
  }

  /** Bytes held. */
  bytes(): number {
    return this.keys.byteLength + this.groups.byteLength + this.counts.byteLength;
  }
}
