// The batch loop: one pass over a decoded batch's columns, record by record,
// in the records' order. Each record moves the clock, counts into the totals,
// goes to its entry's lifecycle (entry.ts) and, if it is one of the ranked
// streams, has its eight dimension keys written into the pending columns.
//
// Two things make it fast at millions of records/s:
// - before a run of WARM_RECORDS records is walked, the flow-table memory
//   their lifecycle records will read is touched in one pass with no
//   dependency between iterations (FlowTable.warm), so the CPU overlaps
//   those cache misses instead of waiting for each in turn;
// - counting is deferred to the end of the batch (or of the second) and done
//   one dimension at a time (counting.ts countPending, here or in a helper
//   thread): each heavy-hitter table then stays in cache for a whole run of
//   keys instead of eight tables being touched per record.

import type { RecordColumns } from '../records/batch.js';
import { RECORD_SIZE } from '../records/layout.js';
import { Cause, Kind } from '../records/layout.js';
import { readIdHi, readIdLo } from '../records/id.js';
import { addressKey, DADDR, DIM, NDIMS, SADDR } from './keys.js';
import { countPending, CountScratch } from './counting.js';
import { C } from './totals.js';
import { FF, FlowTable } from './flow-table.js';
import { EntryLifecycle } from './entry.js';
import { S_ALLOC, S_DESTROY, S_EVICTED, S_INSERT_FAILED, S_NETFILTER, S_TABLE_FULL, STREAMS, type ModelState } from './model-state.js';

/** Records whose flow-table memory is warmed at once. */
const WARM_RECORDS = 256;

export class BatchIngest {
  private readonly entries: EntryLifecycle;
  private readonly countScratch = new CountScratch(STREAMS.length);
  private readonly hashes = new Uint32Array(WARM_RECORDS);
  private sink = 0;
  // The pending columns: the keys of counted records (d * pendCap + j), their
  // streams, and per destroy the column of its keys and its lifetime's bucket.
  private pendCap = 0;
  private pendN = 0;
  private pendKeys = new Float64Array(0);
  private pendStream = new Uint8Array(0);
  private lifeN = 0;
  private lifeAt = new Uint32Array(0);
  private lifeBucket = new Uint8Array(0);
  /** The address keys of the record count() wrote last (create() takes them from here). */
  private lastSrc = 0;
  private lastDst = 0;
  private lastPod = 0;

  constructor(private readonly st: ModelState) {
    this.entries = new EntryLifecycle(st);
  }

  ingest(b: RecordColumns): void {
    const st = this.st;
    const totals = st.totals;
    const entries = this.entries;
    const n = b.length;
    st.batches++;
    st.records += n;
    if (n > this.pendCap) this.growPending(n);
    for (let i = 0, o = 0; i < n; i++, o += RECORD_SIZE) {
      // Warm the flow table for the next WARM_RECORDS records (few enough
      // that what is warmed is still in cache when they are walked).
      if (i % WARM_RECORDS === 0) this.prefetch(b, i, Math.min(n, i + WARM_RECORDS));
      const ts = b.ts[i]!;
      if (ts > st.nowNs || st.curSec < 0) {
        if (ts >= st.nextSecNs || st.curSec < 0) {
          // Counts pending for the current second go in before it is frozen.
          this.flush();
          st.advance(ts);
        } else st.nowNs = ts;
      }
      const kind = b.kind[i]!;
      switch (kind) {
        case Kind.ALLOC:
          this.count(b, i, o, S_ALLOC);
          totals.add(C.alloc);
          entries.open(b, i, o, 0, this.lastSrc, this.lastDst, this.lastPod);
          break;
        case Kind.DESTROY: {
          const j = this.count(b, i, o, S_DESTROY);
          totals.add(C.destroy);
          const bucket = entries.destroy(b, i, o);
          // Per-key lifetimes (the median in churn answers): every destroy, or
          // under heavy load one in LIFETIME_SAMPLE chosen by the entry's id (an
          // unbiased sample of every key). The histograms stay exact.
          if (bucket >= 0) {
            if (st.lifeSample === 1 || (Math.imul(readIdLo(b.bytes, o), 0x9e3779b1) >>> 30) === 0) {
              const m = this.lifeN++;
              this.lifeAt[m] = j;
              this.lifeBucket[m] = bucket;
            } else st.keyedLifetimesSkipped++;
          }
          break;
        }
        case Kind.UPDATE:
        case Kind.CONFIRM:
          totals.add(kind === Kind.UPDATE ? C.update : C.confirm);
          entries.change(b, i, o, kind === Kind.CONFIRM);
          break;
        case Kind.SEEN:
          totals.add(C.seen);
          entries.open(b, i, o, b.cause[i] === Cause.AT_RESYNC ? FF.OPEN_SEEN | FF.AT_RESYNC : FF.OPEN_SEEN, -1, -1, -1);
          break;
        case Kind.DROP: {
          this.count(b, i, o, S_NETFILTER);
          totals.add(C.netfilter);
          const r = b.aux[i]!;
          st.dropReasons.set(r, (st.dropReasons.get(r) ?? 0) + 1);
          break;
        }
        case Kind.TABLE_FULL:
          this.count(b, i, o, S_TABLE_FULL);
          totals.add(C.table_full);
          break;
        case Kind.EVICT:
          this.count(b, i, o, S_EVICTED);
          totals.add(C.evicted);
          break;
        case Kind.INSERT_FAILED:
          this.count(b, i, o, S_INSERT_FAILED);
          totals.add(C.insert_failed);
          break;
        case Kind.LOSS:
          totals.add(C.lost, b.aux[i]!);
          break;
        case Kind.SYNC:
          entries.sync(b.netns[i]!, b.start[i]!, b.cause[i]!, ts);
          break;
        default:
          break;
      }
    }
    this.flush();
  }

  /** Count what is pending (here or in the helper thread); the columns are free again after. */
  flush(): void {
    const n = this.pendN;
    const m = this.lifeN;
    if (n === 0 && m === 0) return;
    const st = this.st;
    for (const r of st.pendingReaders) r.readPending(this.pendKeys, this.pendCap, this.pendStream, n);
    if (st.offload) st.offload.count(this.pendKeys, this.pendCap, this.pendStream, n, this.lifeAt, this.lifeBucket, m);
    else countPending(st.counters, this.pendKeys, this.pendCap, this.pendStream, n, this.lifeAt, this.lifeBucket, m, this.countScratch);
    this.pendN = 0;
    this.lifeN = 0;
  }

  /** Warm the flow table's memory for the lifecycle records of b[from, to) (FlowTable.warm). */
  private prefetch(b: RecordColumns, from: number, to: number): void {
    const bytes = b.bytes;
    const kind = b.kind;
    const hashes = this.hashes;
    let m = 0;
    for (let i = from, o = from * RECORD_SIZE; i < to; i++, o += RECORD_SIZE) {
      const k = kind[i]!;
      if (k === Kind.ALLOC || k === Kind.DESTROY || k === Kind.UPDATE || k === Kind.CONFIRM) hashes[m++] = FlowTable.hash(readIdLo(bytes, o), readIdHi(bytes, o));
    }
    this.sink ^= this.st.flows.warm(hashes, m);
  }

  private growPending(n: number): void {
    this.flush();
    this.pendCap = Math.max(n, 1024);
    this.pendKeys = new Float64Array(NDIMS * this.pendCap);
    this.pendStream = new Uint8Array(this.pendCap);
    this.lifeAt = new Uint32Array(this.pendCap);
    this.lifeBucket = new Uint8Array(this.pendCap);
  }

  /**
   * The dimension keys of record i, written straight into the next pending
   * column (counted into `stream` at the next flush); returns the column.
   * Its address keys and pod are left in lastSrc/lastDst/lastPod for the entry's creation.
   */
  private count(b: RecordColumns, i: number, o: number, stream: number): number {
    const j = this.pendN++;
    const cap = this.pendCap;
    const keys = this.pendKeys;
    const fam = b.family[i]!;
    const v6 = this.st.v6;
    const src = addressKey(b.bytes, o + SADDR, fam, v6);
    const dst = addressKey(b.bytes, o + DADDR, fam, v6);
    const dport = b.dport[i]!;
    this.lastSrc = src;
    this.lastDst = dst;
    keys[DIM.src * cap + j] = src;
    keys[DIM.dst * cap + j] = dst;
    keys[DIM.dport * cap + j] = dport;
    keys[DIM.proto * cap + j] = b.proto[i]!;
    keys[DIM.netns * cap + j] = b.netns[i]!;
    keys[DIM.zone * cap + j] = b.zone[i]!;
    keys[DIM.mark * cap + j] = b.mark[i]!;
    keys[DIM.src_dport * cap + j] = src * 65536 + dport;
    // a node without pods: one key (0), which the counting takes in one add per chunk
    const pod = this.st.pods.on ? this.st.pods.ofRecord(b.bytes, o, fam, src, b.netns[i]!) : 0;
    keys[DIM.pod * cap + j] = pod;
    this.lastPod = pod;
    this.pendStream[j] = stream;
    return j;
  }
}
