// The model's per-key counting — heavy hitters and per-key lifetimes — of its
// pending columns, in this thread or in a helper thread.
//
// The model writes each counted record's eight dimension keys into pending
// columns, and for each destroy the column of its keys and its lifetime's
// bucket, and counts them at the end of a batch (or second): countPending()
// below, into the per-stream, per-dimension WindowedHeavyHitters and the
// per-dimension KeyedLifetimes. That reads nothing but those columns, so a
// replay that only reports at the end (`ctscope replay --report`, no
// --serve) runs it in a helper thread beside the flow table's work — a third
// of the replay's time on one core. CountingThread hands the columns over
// through a ring of slots in shared memory (no message, no allocation per
// batch), the helper counts them in the same order, and at the end gives its
// tables back (CountersState), which the model adopts. Same adds in the same
// order: the same answers as counting in the model's own thread
// (test/unit/replay-threads.test.ts). Queries in between would see nothing,
// so the model refuses them.

import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { NDIMS } from './keys.js';
import { Handoff, HANDOFF_BYTES } from '../handoff.js';
import { keyHash, WindowedHeavyHitters, type HeavyHitterOptions, type HeavyState } from './heavy.js';
import { KEYED_BUCKETS, KeyedLifetimes, type KeyedLifetimesState } from './histograms.js';

/**
 * Something beside the heavy hitters that reads the counted records' keys —
 * the replay report's whole-capture summaries (capture/report.ts) — so that
 * no one computes a record's keys but the model. Called on the model's thread
 * with the pending columns (keys of dimension d at keys[d * stride + j], the
 * record's stream at streams[j]) before they are counted here or handed to a
 * helper thread.
 */
export interface PendingReader {
  readPending(keys: Float64Array, stride: number, streams: Uint8Array, n: number): void;
}

/** What countPending() counts into. */
export interface Counters {
  /** Index stream * NDIMS + dimension. */
  hh: WindowedHeavyHitters[];
  /** Per dimension; null where another structure answers (by protocol). */
  lifetimes: (KeyedLifetimes | null)[];
}

export interface CountersState {
  hh: HeavyState[];
  lifetimes: (KeyedLifetimesState | null)[];
}

/**
 * Count n pending records: keys of dimension d at keys[d * stride + j], the
 * record's stream at streams[j]; and m destroys, the j-th with its keys in
 * column lifeAt[j] (rising) and its lifetime in bucket lifeBucket[j] (histograms.ts KEYED_SCALE).
 *
 * In chunks of CHUNK records, the helper's slots: whichever thread counts,
 * the same adds in the same order. Per chunk, a dimension whose key is the
 * same for all records (one netns, zone 0, no mark: the common host) is
 * counted once per stream; one with few keys (protocols, ports, a service's
 * destinations) once per key and stream (BatchTally); the others one record
 * at a time.
 */
export function countPending(
  c: Counters,
  keys: Float64Array,
  stride: number,
  streams: Uint8Array,
  n: number,
  lifeAt: Uint32Array,
  lifeBucket: Uint8Array,
  m: number,
  scratch: CountScratch,
): void {
  let j = 0;
  for (let from = 0; from < n; from += CHUNK) {
    const to = Math.min(n, from + CHUNK);
    const j0 = j;
    while (j < m && lifeAt[j]! < to) j++;
    countHeavy(c.hh, keys, stride, streams, from, to, scratch);
    if (j > j0) countLifetimes(c.lifetimes, keys, stride, lifeAt, lifeBucket, j0, j);
  }
}

/** Records a chunk of countPending() holds (and a slot of the helper's ring). */
export const CHUNK = 4096;

function countHeavy(hh: WindowedHeavyHitters[], keys: Float64Array, stride: number, streams: Uint8Array, from: number, to: number, scratch: CountScratch): void {
  const perStream = scratch.perStream;
  const nStreams = perStream.length;
  perStream.fill(0);
  for (let j = from; j < to; j++) perStream[streams[j]!]!++;
  for (let d = 0; d < NDIMS; d++) {
    const base = d * stride;
    const k0 = keys[base + from]!;
    let j = from + 1;
    while (j < to && keys[base + j] === k0) j++;
    if (j === to) {
      for (let st = 0; st < nStreams; st++) if (perStream[st]! > 0) hh[st * NDIMS + d]!.add(k0, perStream[st]!);
      continue;
    }
    if (scratch.tally(d, keys, base, streams, from, to)) {
      scratch.tallied.forEach((k, st, count) => hh[st * NDIMS + d]!.add(k, count));
      continue;
    }
    for (j = from; j < to; j++) hh[streams[j]! * NDIMS + d]!.add(keys[base + j]!);
  }
}

/** Destroys j0..j1-1 into the per-key lifetimes. */
function countLifetimes(lifetimes: (KeyedLifetimes | null)[], keys: Float64Array, stride: number, lifeAt: Uint32Array, lifeBucket: Uint8Array, j0: number, j1: number): void {
  let perBucket: Float64Array | null = null;
  for (let d = 0; d < NDIMS; d++) {
    const kl = lifetimes[d];
    if (!kl) continue;
    const base = d * stride;
    const k0 = keys[base + lifeAt[j0]!]!;
    let j = j0 + 1;
    while (j < j1 && keys[base + lifeAt[j]!] === k0) j++;
    // one key all along (a dimension constant over the chunk), already kept: one add per bucket
    if (j === j1) {
      if (!perBucket) {
        perBucket = scratchBuckets.fill(0);
        for (let i = j0; i < j1; i++) perBucket[lifeBucket[i]!]!++;
      }
      if (kl.addCounts(k0, perBucket)) continue;
    }
    for (j = j0; j < j1; j++) kl.addBucket(keys[base + lifeAt[j]!]!, lifeBucket[j]!);
  }
}
const scratchBuckets = new Float64Array(KEYED_BUCKETS);

/**
 * Counts per (key, stream) of one batch, while they are few: a small
 * open-addressing table that stays in L1. Adding a key's count once is the
 * same to a heavy-hitter summary as adding it one at a time, except for the
 * order of newcomers to a full set (Space-Saving with weights keeps the same
 * guarantee); a batch with more than MAX_PAIRS pairs is counted record by
 * record instead.
 */
class BatchTally {
  static readonly MAX_PAIRS = 512;
  private readonly keys = new Float64Array(2048);
  private readonly streams = new Uint8Array(2048);
  private readonly counts = new Float64Array(2048); // 0: free
  private readonly used = new Uint16Array(BatchTally.MAX_PAIRS);
  private nUsed = 0;

  /** Count records from..to-1; false (and nothing kept) once they have more than MAX_PAIRS pairs. */
  fill(keys: Float64Array, base: number, streams: Uint8Array, from: number, to: number): boolean {
    this.clear();
    const K = this.keys;
    const S = this.streams;
    const C = this.counts;
    for (let j = from; j < to; j++) {
      const k = keys[base + j]!;
      const st = streams[j]!;
      let i = (keyHash(k) ^ Math.imul(st, 0x9e3779b1)) & 2047;
      for (;;) {
        const c = C[i]!;
        if (c === 0) {
          if (this.nUsed === BatchTally.MAX_PAIRS) {
            this.clear();
            return false;
          }
          K[i] = k;
          S[i] = st;
          C[i] = 1;
          this.used[this.nUsed++] = i;
          break;
        }
        if (K[i] === k && S[i] === st) {
          C[i] = c + 1;
          break;
        }
        i = (i + 1) & 2047;
      }
    }
    return true;
  }

  /** f(key, stream, count) per pair, in first-seen order. */
  forEach(f: (k: number, st: number, count: number) => void): void {
    for (let u = 0; u < this.nUsed; u++) {
      const i = this.used[u]!;
      f(this.keys[i]!, this.streams[i]!, this.counts[i]!);
    }
  }

  private clear(): void {
    for (let u = 0; u < this.nUsed; u++) this.counts[this.used[u]!] = 0;
    this.nUsed = 0;
  }
}

/** countPending()'s scratch: per-stream counts, and which dimensions tally per batch. */
export class CountScratch {
  readonly perStream: Float64Array;
  readonly tallied = new BatchTally();
  // Batches to count record by record before trying to tally a dimension again
  // (one with many keys in a batch — sources — would fail every time).
  private readonly skip = new Int32Array(NDIMS);
  /** Chunks of a dimension counted per key (for tests and profiles). */
  talliedChunks = 0;

  constructor(nStreams: number) {
    this.perStream = new Float64Array(nStreams);
  }

  /** Tally dimension d's records from..to-1 when they are likely to have few keys. */
  tally(d: number, keys: Float64Array, base: number, streams: Uint8Array, from: number, to: number): boolean {
    if (to - from < 64) return false;
    if (this.skip[d]! > 0) {
      this.skip[d]!--;
      return false;
    }
    if (this.tallied.fill(keys, base, streams, from, to)) {
      this.talliedChunks++;
      return true;
    }
    this.skip[d] = 64;
    return false;
  }
}

/** Where the model's counting goes instead of its own thread. */
export interface CountingOffload {
  /** As countPending (without the scratch); the columns may be reused once this returns. */
  count(keys: Float64Array, stride: number, streams: Uint8Array, n: number, lifeAt: Uint32Array, lifeBucket: Uint8Array, m: number): void;
  /** The model's clock entered second `sec` (WindowedHeavyHitters.rollover). */
  rollover(sec: number): void;
  /** Everything handed over is counted: the tables. */
  finish(): Promise<CountersState>;
  /** Stop the helper (also after a failure); idempotent. */
  close(): void;
}

// ---- the ring: SLOTS slots in one SharedArrayBuffer after the hand-over's
// counters (src/handoff.ts); slot i % SLOTS. The helper is woken once half
// the ring waits (it counts faster than the model fills it), the model's
// thread as soon as a slot is free (it is the one that sets the pace).
const SLOTS = 32;
/** Records a slot holds: a chunk (a larger flush takes several slots, as countPending() several chunks). */
const SLOT_RECORDS = CHUNK;
const CMD_COUNT = 1;
const CMD_ROLLOVER = 2;
const CMD_FINISH = 3;
const HEAD_AT = HANDOFF_BYTES; // after the hand-over's counters
const HEAD = 3; // per slot: command, records or second, destroys
const SLOT_BYTES = NDIMS * SLOT_RECORDS * 8 + SLOT_RECORDS * 4 + SLOT_RECORDS * 2; // keys, lifeAt, streams + lifeBucket

class Ring {
  readonly head: Float64Array;
  readonly keys: Float64Array[] = [];
  readonly lifeAt: Uint32Array[] = [];
  readonly streams: Uint8Array[] = [];
  readonly lifeBucket: Uint8Array[] = [];

  private constructor(readonly handoff: Handoff, sab: SharedArrayBuffer) {
    this.head = new Float64Array(sab, HEAD_AT, HEAD * SLOTS);
    let at = HEAD_AT + 8 * HEAD * SLOTS;
    for (let s = 0; s < SLOTS; s++, at += SLOT_BYTES) {
      this.keys.push(new Float64Array(sab, at, NDIMS * SLOT_RECORDS));
      this.lifeAt.push(new Uint32Array(sab, at + NDIMS * SLOT_RECORDS * 8, SLOT_RECORDS));
      this.streams.push(new Uint8Array(sab, at + NDIMS * SLOT_RECORDS * 8 + SLOT_RECORDS * 4, SLOT_RECORDS));
      this.lifeBucket.push(new Uint8Array(sab, at + NDIMS * SLOT_RECORDS * 8 + SLOT_RECORDS * 5, SLOT_RECORDS));
    }
  }

  static memory(): SharedArrayBuffer {
    return new SharedArrayBuffer(HEAD_AT + 8 * HEAD * SLOTS + SLOTS * SLOT_BYTES);
  }

  /** The model's side gives up on a helper that stopped; the helper waits for the model as long as it takes. */
  static open(sab: SharedArrayBuffer, side: 'model' | 'helper'): Ring {
    const h = new Handoff(sab, SLOTS, SLOTS / 2, 1, side === 'model' ? 'the counting thread' : "the model's thread", side === 'model' ? undefined : null);
    return new Ring(h, sab);
  }
}

export interface CountingWorkerData {
  sab: SharedArrayBuffer;
  nStreams: number;
  heavy: HeavyHitterOptions;
  heavyTables: number;
  /** Per dimension: KeyedLifetimes' maxKeys, or null for none. */
  lifetimes: (number | null)[];
}

/** The helper's side: count every slot in order until FINISH; returns the tables. */
export function serveRing(data: CountingWorkerData): CountersState {
  const ring = Ring.open(data.sab, 'helper');
  const c: Counters = {
    hh: Array.from({ length: data.heavyTables }, () => new WindowedHeavyHitters(data.heavy)),
    lifetimes: data.lifetimes.map((k) => (k === null ? null : new KeyedLifetimes(k))),
  };
  const scratch = new CountScratch(data.nStreams);
  const { head, handoff } = ring;
  for (let seq = 0; ; seq++) {
    handoff.waitForItem(seq);
    const s = seq % SLOTS;
    const cmd = head[HEAD * s]!;
    const arg = head[HEAD * s + 1]!;
    if (cmd === CMD_COUNT) countPending(c, ring.keys[s]!, SLOT_RECORDS, ring.streams[s]!, arg, ring.lifeAt[s]!, ring.lifeBucket[s]!, head[HEAD * s + 2]!, scratch);
    else if (cmd === CMD_ROLLOVER) for (const h of c.hh) h.rollover(arg);
    handoff.released(seq + 1);
    if (cmd === CMD_FINISH) return { hh: c.hh.map((h) => h.state()), lifetimes: c.lifetimes.map((l) => l?.state() ?? null) };
  }
}

/** Marks the ring failed (the helper threw) so that the model's thread stops waiting. */
export function failRing(sab: SharedArrayBuffer): void {
  Ring.open(sab, 'helper').handoff.fail();
}

/** Tables continuing from a helper's state. */
export function adoptCounters(s: CountersState): Counters {
  return { hh: s.hh.map((h) => WindowedHeavyHitters.fromState(h)), lifetimes: s.lifetimes.map((l) => (l ? KeyedLifetimes.fromState(l) : null)) };
}

/** The model's side of a helper thread that counts (see the top of this file). */
export class CountingThread implements CountingOffload {
  private readonly ring: Ring;
  private readonly worker: Worker;
  private seq = 0;
  private readonly result: Promise<CountersState>;
  private closed = false;

  /**
   * A helper counting into tables shaped like `c`; null when the helper's
   * compiled module is not there (running from the TypeScript sources, as
   * the unit tests do): the model then counts in its own thread.
   */
  static start(c: Counters, nStreams: number, heavy: HeavyHitterOptions): CountingThread | null {
    const url = new URL('./counting-worker.js', import.meta.url);
    if (!fs.existsSync(fileURLToPath(url))) return null;
    return new CountingThread(url, { sab: Ring.memory(), nStreams, heavy, heavyTables: c.hh.length, lifetimes: c.lifetimes.map((l) => l?.maxKeys ?? null) });
  }

  private constructor(url: URL, data: CountingWorkerData) {
    this.ring = Ring.open(data.sab, 'model');
    this.worker = new Worker(url, { workerData: data });
    this.worker.unref();
    this.result = new Promise<CountersState>((resolve, reject) => {
      this.worker.once('message', (m: { state?: CountersState; error?: string }) => {
        if (m.state) resolve(m.state);
        else reject(new Error(`the counting thread failed: ${m.error ?? 'unknown error'}`));
      });
      this.worker.once('error', (e) => reject(new Error(`the counting thread failed: ${e.message}`)));
      this.worker.once('exit', (code) => reject(new Error(`the counting thread exited (code ${code}) before it finished`)));
    });
    this.result.catch(() => undefined); // observed by finish()
  }

  /** The next free slot (waits while the helper is SLOTS slots behind). */
  private claim(): number {
    if (this.closed) throw new Error('the counting thread was closed');
    this.ring.handoff.waitForPlace(this.seq);
    return this.seq % SLOTS;
  }

  private publish(s: number, cmd: number, arg: number, destroys = 0): void {
    const { head, handoff } = this.ring;
    head[HEAD * s] = cmd;
    head[HEAD * s + 1] = arg;
    head[HEAD * s + 2] = destroys;
    handoff.published(++this.seq, cmd === CMD_FINISH);
  }

  count(keys: Float64Array, stride: number, streams: Uint8Array, n: number, lifeAt: Uint32Array, lifeBucket: Uint8Array, m: number): void {
    const ring = this.ring;
    // lifeAt rises (destroys in record order): each slot takes the destroys of its records
    let j = 0;
    for (let from = 0; from < n; from += SLOT_RECORDS) {
      const len = Math.min(SLOT_RECORDS, n - from);
      const s = this.claim();
      const rk = ring.keys[s]!;
      for (let d = 0; d < NDIMS; d++) rk.set(keys.subarray(d * stride + from, d * stride + from + len), d * SLOT_RECORDS);
      ring.streams[s]!.set(streams.subarray(from, from + len));
      const at = ring.lifeAt[s]!;
      const lb = ring.lifeBucket[s]!;
      let k = 0;
      for (; j < m && lifeAt[j]! < from + len; j++, k++) {
        at[k] = lifeAt[j]! - from;
        lb[k] = lifeBucket[j]!;
      }
      this.publish(s, CMD_COUNT, len, k);
    }
  }

  rollover(sec: number): void {
    this.publish(this.claim(), CMD_ROLLOVER, sec);
  }

  async finish(): Promise<CountersState> {
    this.publish(this.claim(), CMD_FINISH, 0);
    try {
      return await this.result;
    } finally {
      this.close();
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    void this.worker.terminate();
  }
}
