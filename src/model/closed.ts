// A ring of recently closed entries (typed columns, no object per destroy),
// so /v1/flows/:id can still tell an entry's end after it left the table.

import type { FlowTable } from './flow-table.js';

export class ClosedFlows {
  private next = 0;
  readonly idLo: Uint32Array;
  readonly idHi: Uint32Array;
  readonly start: Float64Array;
  readonly end: Float64Array;
  readonly since: Float64Array;
  readonly lifetime: Float64Array;
  readonly src: Uint32Array;
  readonly dst: Uint32Array;
  readonly sport: Uint16Array;
  readonly dport: Uint16Array;
  readonly netns: Uint32Array;
  readonly mark: Uint32Array;
  readonly zone: Uint16Array;
  readonly proto: Uint8Array;
  readonly status: Uint16Array;
  readonly flags: Uint8Array;
  readonly cause: Uint8Array;
  readonly hist: Uint32Array;

  constructor(readonly size: number) {
    const n = Math.max(1, size);
    this.idLo = new Uint32Array(n);
    this.idHi = new Uint32Array(n);
    this.start = new Float64Array(n);
    this.end = new Float64Array(n);
    this.since = new Float64Array(n);
    this.lifetime = new Float64Array(n);
    this.src = new Uint32Array(n);
    this.dst = new Uint32Array(n);
    this.sport = new Uint16Array(n);
    this.dport = new Uint16Array(n);
    this.netns = new Uint32Array(n);
    this.mark = new Uint32Array(n);
    this.zone = new Uint16Array(n);
    this.proto = new Uint8Array(n);
    this.status = new Uint16Array(n);
    this.flags = new Uint8Array(n);
    this.cause = new Uint8Array(n);
    this.hist = new Uint32Array(n);
  }

  push(ft: FlowTable, s: number, endNs: number, cause: number, lifetimeNs: number): void {
    const i = this.next;
    this.next = (i + 1) % this.idLo.length;
    this.idLo[i] = ft.idLo(s);
    this.idHi[i] = ft.idHi(s);
    this.start[i] = ft.start(s);
    this.end[i] = endNs;
    this.since[i] = ft.sinceNs(s);
    this.lifetime[i] = lifetimeNs;
    this.src[i] = ft.src(s);
    this.dst[i] = ft.dst(s);
    this.sport[i] = ft.sport(s);
    this.dport[i] = ft.dport(s);
    this.netns[i] = ft.netns(s);
    this.mark[i] = ft.mark(s);
    this.zone[i] = ft.zone(s);
    this.proto[i] = ft.proto(s);
    this.status[i] = ft.status(s);
    this.flags[i] = ft.flags(s);
    this.cause[i] = cause;
    this.hist[i] = ft.hist(s);
  }

  /** Index of the k-th newest entry (k = 1: the newest), or -1 past the oldest held. */
  newest(k: number): number {
    const n = this.idLo.length;
    if (k < 1 || k > n) return -1;
    const i = (this.next - k + n) % n;
    return this.idLo[i] === 0 && this.idHi[i] === 0 ? -1 : i;
  }

  /** Newest closed entry with this id, or -1. */
  find(lo: number, hi: number): number {
    const n = this.idLo.length;
    for (let k = 1; k <= n; k++) {
      const i = (this.next - k + n) % n;
      if (this.idLo[i] === lo && this.idHi[i] === hi && (lo !== 0 || hi !== 0)) return i;
    }
    return -1;
  }
}
