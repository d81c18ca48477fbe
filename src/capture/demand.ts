// A capture's demand, for the what-if (what-if.ts): what arrived, whatever
// the table did with it — every flow the kernel admitted (its start, when it
// was last active, the timeout class it ended in, whether it got ASSURED)
// and every packet it refused for want of room (drop records, by tuple: a
// refused flow that retries is one flow), and the capture's /proc readings.
// A sink beside the model: it reads the decoded columns (the entry id, the
// state, status and timeout of each record) and keys a refused packet's
// addresses as the model does (model/keys.ts).

import type { RecordColumns } from '../records/batch.js';
import type { RecordSink } from '../records/sink.js';
import type { ProcSnapshot } from '../proc/types.js';
import { Cause, IPS, Kind, TCP_STATE_NAMES } from '../records/layout.js';
import { AddressTable, dstKeyOf, srcKeyOf } from '../model/keys.js';
import { timeoutClass } from './what-if-spec.js';
// How a flow ended, and what it was (DemandCollector.flags).
export const E_ASSURED = 1;
export const E_USER = 2; // deleted by a user (conntrack -D/-F): keeps its end
export const E_LOST = 4; // gone during a netlink overrun (found by a resync): keeps its end
export const E_EVICTED = 8; // evicted (the eBPF hook says so)
export const E_OPEN = 16; // alive at the end of the capture
export const E_SEEN = 32; // first seen in a dump (its making not in the capture); `lastEvent` is its known expiry minus T
export const E_NATURAL = 64; // cause unknown or timeout
export const E_CLOSING = 128; // a TCP entry in a closing state (the collector may evict it though assured)

class Col {
  a: Float64Array;
  constructor(n = 1024) {
    this.a = new Float64Array(n);
  }
  set(i: number, v: number): void {
    if (i >= this.a.length) {
      const b = new Float64Array(Math.max(this.a.length * 2, i + 1));
      b.set(this.a);
      this.a = b;
    }
    this.a[i] = v;
  }
}

/** TCP states an assured entry can be evicted in by the collector (tcp_can_early_drop). */
const TCP_CLOSING = new Set(['FIN_WAIT', 'CLOSE_WAIT', 'LAST_ACK', 'TIME_WAIT', 'CLOSE']);

/** A RecordSink that keeps the capture's demand: flows, refused packets, the kernel's readings. */
export class DemandCollector implements RecordSink {
  // finished (and, at the end, open) flows
  n = 0;
  readonly ns = new Col();
  readonly start = new Col();
  readonly lastEvent = new Col();
  readonly end = new Col();
  readonly cls = new Col();
  /** Timeout set with the flow's last event (seconds; 0 unknown). */
  readonly tLast = new Col();
  readonly flags = new Col();
  // live flows by id
  private readonly live = new Map<bigint, number>();
  private lStart: number[] = [];
  private lLast: number[] = [];
  /** When a record last named the flow (a resync's dump finds those not named since it began gone). */
  private lSeen: number[] = [];
  private lCls: number[] = [];
  private lT: number[] = [];
  private lFlags: number[] = [];
  private lNs: number[] = [];
  private free: number[] = [];
  // refused packets
  readonly refusedTs: number[] = [];
  readonly refusedNs: number[] = [];
  readonly refusedTuple: string[] = [];
  readonly refusedCls: number[] = [];
  /** Refused packets' IPv6 addresses as small keys (model/keys.ts); room for millions before two would share one. */
  private readonly v6 = new AddressTable(1 << 22);
  /** Destroys of flows the capture never saw made (eBPF, no dump): the kernel's count goes down. */
  readonly unknownEndTs: number[] = [];
  readonly unknownEndNs: number[] = [];
  /** Dumps of a namespace's table (a resync: SYNC records), when each began and ended: the kernel removed the expired entries they walked over. */
  readonly dumpStart: number[] = [];
  readonly dumpEnd: number[] = [];
  /** Timeout per class as seen in the records (aux of NEW/UPDATE), seconds. */
  readonly learned: (number | undefined)[] = [];
  /** The same per namespace (index): timeouts are per-namespace sysctls. */
  readonly learnedByNs: (number | undefined)[][] = [];
  readonly procs = new Map<number, ProcSnapshot[]>();
  readonly nsIndex = new Map<number, number>();
  readonly nsInode: number[] = [];
  firstTs = Infinity;
  lastTs = -Infinity;
  readonly maxFlows: number;
  truncatedFlows = 0;
  tableFullRecords = 0;
  dropRecords = 0;

  constructor(opts: { maxFlows?: number } = {}) {
    this.maxFlows = opts.maxFlows ?? 20_000_000;
  }

  private nsOf(inode: number): number {
    let i = this.nsIndex.get(inode);
    if (i === undefined) {
      i = this.nsInode.length;
      this.nsIndex.set(inode, i);
      this.nsInode.push(inode);
    }
    return i;
  }

  ingestProc(s: ProcSnapshot): void {
    this.nsOf(s.netns);
    let a = this.procs.get(s.netns);
    if (!a) this.procs.set(s.netns, (a = []));
    a.push(s);
    const t = s.ts / 1e9;
    if (t < this.firstTs) this.firstTs = t;
    if (t > this.lastTs) this.lastTs = t;
  }

  ingest(b: RecordColumns): void {
    for (let i = 0; i < b.length; i++) {
      const ts = b.ts[i]! / 1e9;
      if (ts < this.firstTs) this.firstTs = ts;
      if (ts > this.lastTs) this.lastTs = ts;
      const kind = b.kind[i]!;
      switch (kind) {
        case Kind.ALLOC:
        case Kind.SEEN:
        case Kind.UPDATE:
        case Kind.CONFIRM: {
          const id = b.id[i]!;
          const cls = timeoutClass(b.proto[i]!, b.state[i]!, b.status[i]!);
          const aux = b.aux[i]!;
          if ((kind === Kind.ALLOC || kind === Kind.UPDATE) && aux > 0) {
            this.learned[cls] = aux;
            (this.learnedByNs[this.nsOf(b.netns[i]!)] ??= [])[cls] = aux;
          }
          let slot = this.live.get(id);
          const assured = b.status[i]! & IPS.ASSURED ? E_ASSURED : 0;
          const closing = b.proto[i] === 6 && TCP_CLOSING.has(TCP_STATE_NAMES[b.state[i]!] ?? '') ? E_CLOSING : 0;
          if (slot === undefined) {
            if (kind === Kind.CONFIRM) break; // the ALLOC opens it
            slot = this.free.pop() ?? this.lStart.length;
            this.live.set(id, slot);
            this.lSeen[slot] = ts;
            this.lStart[slot] = kind === Kind.ALLOC ? ts : Math.min(ts, this.firstTs);
            this.lNs[slot] = this.nsOf(b.netns[i]!);
            this.lFlags[slot] = assured | closing | (kind === Kind.SEEN ? E_SEEN : 0);
            this.lCls[slot] = cls;
            // a dumped entry's aux is the time it has left: its expiry is known
            this.lT[slot] = kind === Kind.SEEN ? 0 : aux;
            this.lLast[slot] = kind === Kind.SEEN && aux > 0 ? ts + aux : ts;
            break;
          }
          this.lSeen[slot] = ts;
          if (kind === Kind.ALLOC) {
            // the id came back (reused): the old flow ended unseen
            this.finish(slot, ts, E_NATURAL);
            this.lStart[slot] = ts;
            this.lNs[slot] = this.nsOf(b.netns[i]!);
            this.lFlags[slot] = assured | closing;
            this.lCls[slot] = cls;
            this.lT[slot] = aux;
            this.lLast[slot] = ts;
            break;
          }
          if (kind === Kind.CONFIRM) break;
          if (kind === Kind.SEEN) {
            // a later dump (a resync): aux is the time it has left, its expiry
            this.lFlags[slot] = this.lFlags[slot]! | assured;
            if (aux > 0 && this.lFlags[slot]! & E_SEEN) this.lLast[slot] = ts + aux;
            else if (aux > 0 && this.lT[slot]! > 0) this.lLast[slot] = Math.max(this.lLast[slot]!, ts + aux - this.lT[slot]!);
            break;
          }
          this.lCls[slot] = cls;
          this.lFlags[slot] = (this.lFlags[slot]! & ~E_CLOSING & ~E_SEEN) | assured | closing | (this.lFlags[slot]! & E_ASSURED);
          if (aux > 0) this.lT[slot] = aux;
          this.lLast[slot] = Math.max(this.lFlags[slot]! & E_SEEN ? 0 : this.lLast[slot]!, ts);
          break;
        }
        case Kind.DESTROY: {
          const id = b.id[i]!;
          const slot = this.live.get(id);
          if (slot === undefined) {
            this.unknownEndTs.push(ts);
            this.unknownEndNs.push(this.nsOf(b.netns[i]!));
            break;
          }
          this.live.delete(id);
          const cause = b.cause[i]!;
          if (b.status[i]! & IPS.ASSURED) this.lFlags[slot] = this.lFlags[slot]! | E_ASSURED;
          const how = cause === Cause.USER ? E_USER : cause === Cause.EVICTED ? E_EVICTED : cause === Cause.DESTROY_LOST ? E_LOST : E_NATURAL;
          this.finish(slot, ts, how);
          this.free.push(slot);
          break;
        }
        case Kind.SYNC: {
          // live flows of that namespace not seen since the dump began are gone
          const ns = this.nsOf(b.netns[i]!);
          const since = b.start[i]! / 1e9;
          this.dumpStart.push(since);
          this.dumpEnd.push(ts);
          for (const [id, slot] of this.live) {
            if (this.lNs[slot] === ns && this.lSeen[slot]! < since) {
              this.live.delete(id);
              this.finish(slot, ts, E_LOST);
              this.free.push(slot);
            }
          }
          break;
        }
        case Kind.TABLE_FULL:
        case Kind.DROP: {
          if (kind === Kind.TABLE_FULL) this.tableFullRecords++;
          else this.dropRecords++;
          this.refusedTs.push(ts);
          this.refusedNs.push(this.nsOf(b.netns[i]!));
          // a refused packet's flow: protocol, ports and the addresses' keys (a retry is the same flow)
          this.refusedTuple.push(`${b.proto[i]}|${b.sport[i]}|${b.dport[i]}|${srcKeyOf(b, i, this.v6)}|${dstKeyOf(b, i, this.v6)}`);
          this.refusedCls.push(timeoutClass(b.proto[i]!, b.proto[i] === 6 ? 1 : 0, 0));
          break;
        }
        default:
          break;
      }
    }
  }

  private finish(slot: number, end: number, how: number): void {
    if (this.n >= this.maxFlows) {
      this.truncatedFlows++;
      return;
    }
    const k = this.n++;
    this.ns.set(k, this.lNs[slot]!);
    this.start.set(k, this.lStart[slot]!);
    this.lastEvent.set(k, this.lLast[slot]!);
    this.end.set(k, end);
    this.cls.set(k, this.lCls[slot]!);
    this.tLast.set(k, this.lT[slot]!);
    this.flags.set(k, this.lFlags[slot]! | how);
  }

  /** Close the collection: flows still alive stay open to the capture's end. */
  close(): void {
    for (const slot of this.live.values()) this.finish(slot, this.lastTs, E_OPEN);
    this.live.clear();
  }
}
