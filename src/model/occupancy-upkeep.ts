// The occupancy indexes the model keeps (one OccupancyIndex per dimension
// being asked about, occupancy-index.ts) and their upkeep: every open, state
// change, close and eviction of an entry goes through here, so an index,
// once built, stays exact. The first question by a dimension builds its index
// from one scan of the flow table; an index nobody asked about for
// `idleSeconds` (model clock) is dropped, since each costs the ingest one
// update per change.

import { DIMENSIONS, NDIMS, type Dimension } from './keys.js';
import type { FlowTable } from './flow-table.js';
import { OccupancyIndex } from './occupancy-index.js';

export class OccupancyIndexes {
  private readonly byDim: (OccupancyIndex | undefined)[] = new Array(NDIMS).fill(undefined);
  /** The indexes that exist; the ingest checks `list.length` before calling the upkeep. */
  list: OccupancyIndex[] = [];

  constructor(
    private readonly flows: FlowTable,
    /** false: no index is kept, every question scans the table. */
    private readonly enabled: boolean,
    private readonly idleNs: number,
  ) {}

  /** Entry e was opened (or is back after a resync). */
  open(e: number): void {
    const g = this.flows.group(e);
    for (const x of this.list) x.inc(this.flows.key(e, x.dim), g);
  }

  /** Entry e is about to leave the table (destroy, resync, eviction). */
  close(e: number): void {
    const g = this.flows.group(e);
    for (const x of this.list) x.dec(this.flows.key(e, x.dim), g);
  }

  /** Entry e moved from group `from` to group `to` (a state change). */
  move(e: number, from: number, to: number): void {
    for (const x of this.list) {
      const k = this.flows.key(e, x.dim);
      x.dec(k, from);
      x.inc(k, to);
    }
  }

  /** Entry e's key in dimension d becomes `key` (a mark set after it opened); call before the entry's field changes. */
  rekey(e: number, d: number, key: number): void {
    const x = this.byDim[d];
    if (!x) return;
    const g = this.flows.group(e);
    x.dec(this.flows.key(e, d), g);
    x.inc(key, g);
  }

  /** One scan of the table into a new index of dimension d (not kept). */
  scan(d: number): OccupancyIndex {
    const x = new OccupancyIndex(d, 1024);
    const ft = this.flows;
    for (let e = 0; e < ft.end; e++) if (ft.live(e)) x.inc(ft.key(e, d), ft.group(e));
    return x;
  }

  /**
   * The index of dimension d: kept up to date from the first question on
   * (built then by one scan), or, with indexes off, a scan made for this
   * question only. `nowNs` marks it used.
   */
  index(d: number, nowNs: number): OccupancyIndex {
    if (!this.enabled) return this.scan(d);
    let x = this.byDim[d];
    if (!x) {
      x = this.byDim[d] = this.scan(d);
      this.list = this.byDim.filter((o): o is OccupancyIndex => o !== undefined);
    }
    x.lastUsedNs = nowNs;
    return x;
  }

  /** The index of dimension d if one is kept now (without marking it used). */
  kept(d: number): OccupancyIndex | undefined {
    return this.byDim[d];
  }

  /** Drop the indexes nobody asked about for idleSeconds (called as the clock moves). */
  expire(nowNs: number): void {
    let dropped = false;
    for (const x of this.list) {
      if (nowNs - x.lastUsedNs > this.idleNs) {
        this.byDim[x.dim] = undefined;
        dropped = true;
      }
    }
    if (dropped) this.list = this.byDim.filter((o): o is OccupancyIndex => o !== undefined);
  }

  /** Dimensions with an index now, and dec() calls that found nothing (always 0 unless a path is wrong). */
  stats(): { dims: Dimension[]; perDim: Array<{ dim: Dimension; pairs: number }>; pairs: number; bytes: number; misses: number } {
    return {
      dims: this.list.map((x) => DIMENSIONS[x.dim]!),
      perDim: this.list.map((x) => ({ dim: DIMENSIONS[x.dim]!, pairs: x.size })),
      pairs: this.list.reduce((a, x) => a + x.size, 0),
      bytes: this.list.reduce((a, x) => a + x.bytes(), 0),
      misses: this.list.reduce((a, x) => a + x.misses, 0),
    };
  }
}
