// The model's side of pods (src/workloads/pod-map.ts): which pod each record
// and each live entry belongs to. A record's pod is found as it is counted
// (the `pod` dimension's key); an entry's is frozen when it is opened, with
// its reply source address, in the flow table's pod columns — kept only once
// the node has pods, so elsewhere this costs nothing but a flag test.
//
// A pod the resolver learns of after its first entries were opened (it polls
// every second) gets them at that moment: entries with no pod are
// attributed again whenever pods are added, so occupancy names a new pod
// within one poll.

import { TWO32, knownAddressKey, RSADDR, type AddressTable } from './keys.js';
import { FF, NO_REPLY_SRC, type FlowTable } from './flow-table.js';
import type { OccupancyIndexes } from './occupancy-upkeep.js';
import { PodMap, type PodChange, type PodRecord } from './pod-map.js';
import { parseAddress } from '../records/address.js';
import { DIM } from './keys.js';

export class PodAttribution {
  readonly map: PodMap;

  constructor(
    private readonly flows: FlowTable,
    private readonly v6: AddressTable,
    private readonly occupancy: OccupancyIndexes,
    opts: { retainNs?: number } = {},
  ) {
    this.map = new PodMap({
      addressKey: (ip) => {
        const p = parseAddress(ip);
        if (!p) return null;
        if (p.family === 4) return ((p.bytes[0]! << 24) | (p.bytes[1]! << 16) | (p.bytes[2]! << 8) | p.bytes[3]!) >>> 0;
        return TWO32 + v6.intern(p.bytes, 0);
      },
      ...(opts.retainNs !== undefined ? { retainNs: opts.retainNs } : {}),
    });
  }

  /** Whether entries carry pods (the node has had one). */
  get on(): boolean {
    return this.flows.podOwner !== null;
  }

  /** The `pod` key of a record at byte `o` whose source address key is `src`. */
  ofRecord(bytes: Uint8Array, o: number, family: number, src: number, netns: number): number {
    return this.map.attribute(src, knownAddressKey(bytes, o + RSADDR, family, this.v6), netns);
  }

  /**
   * The pod columns of new entry e, set before it is indexed; `pod` is the
   * record's key when it was counted (else -1). Returns the flags to add.
   */
  onCreate(bytes: Uint8Array, o: number, family: number, e: number, src: number, netns: number, pod: number): number {
    const rs = knownAddressKey(bytes, o + RSADDR, family, this.v6);
    const owner = pod >= 0 ? pod : this.map.attribute(src, rs, netns);
    const v6 = family === 10;
    this.flows.setPod(e, owner, rs < 0 ? NO_REPLY_SRC : v6 ? rs - TWO32 : rs);
    return v6 ? FF.RSRC_V6 : 0;
  }

  /** Replace the live pods (one poll of the resolver). */
  sync(pods: PodRecord[], nowNs: number): PodChange {
    const change = this.map.sync(pods, nowNs);
    this.changed(change);
    return change;
  }

  /** Apply a recorded change (a replay); `full` replaces the map. */
  apply(change: PodChange, nowNs: number, full: boolean): void {
    if (full) this.changed(this.map.sync(change.upsert, nowNs));
    else {
      this.map.apply(change, nowNs);
      this.changed(change);
    }
  }

  private changed(change: PodChange): void {
    if (change.upsert.length === 0) return;
    if (!this.on) this.flows.enablePods();
    this.reattribute();
  }

  /** Entries with no pod that a pod now owns get it (their occupancy moves with them). */
  private reattribute(): void {
    const ft = this.flows;
    const owners = ft.podOwner!;
    const occ = this.occupancy;
    for (let e = 0; e < ft.end; e++) {
      if (owners[e] !== 0 || !ft.live(e)) continue;
      const code = this.map.attribute(ft.key(e, DIM.src), ft.replySrcKey(e), ft.netns(e));
      if (code === 0) continue;
      if (occ.list.length) occ.close(e);
      owners[e] = code;
      if (occ.list.length) occ.open(e);
    }
  }
}
