// Heavy-hitter counting of the model's pending keys, in this thread or in a
// helper thread.
//
// The model writes each counted record's eight dimension keys into pending
// columns and counts them at the end of a batch (or second) into the
// per-stream, per-dimension WindowedHeavyHitters: countPending() below. That
// counting reads nothing but those columns, so a replay that only reports at
// the end (`ctscope replay --report`, no --serve) runs it in a helper thread
// beside the flow table's work, a quarter of the replay's time on one core:
// CountingThread hands the columns over through a ring of slots in shared
// memory (no message, no allocation per batch), the helper counts them in
// the same order, and at the end gives its summaries back (HeavyState), which
// the model adopts. Same adds in the same order: the same summaries as
// counting in the model's own thread (test/unit/counting-thread.test.ts).
// Queries in between would see nothing, so the model refuses them.

import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { NDIMS } from './keys.js';
import { WindowedHeavyHitters, type HeavyHitterOptions, type HeavyState } from './heavy.js';

/**
 * Count n pending records into hh (index stream * NDIMS + dimension): keys
 * of dimension d at keys[d * stride + j], the record's stream at streams[j].
 * A dimension whose key is the same for all n (one netns, zone 0, no mark:
 * the common host) is counted once per stream. perStream: scratch of one
 * slot per stream.
 */
export function countPending(hh: WindowedHeavyHitters[], keys: Float64Array, stride: number, streams: Uint8Array, n: number, perStream: Float64Array): void {
  const nStreams = perStream.length;
  perStream.fill(0);
  for (let j = 0; j < n; j++) perStream[streams[j]!]!++;
  for (let d = 0; d < NDIMS; d++) {
    const base = d * stride;
    const k0 = keys[base]!;
    let j = 1;
    while (j < n && keys[base + j] === k0) j++;
    if (j === n) {
      for (let st = 0; st < nStreams; st++) if (perStream[st]! > 0) hh[st * NDIMS + d]!.add(k0, perStream[st]!);
      continue;
    }
    for (j = 0; j < n; j++) hh[streams[j]! * NDIMS + d]!.add(keys[base + j]!);
  }
}

/** Where the model's counting goes instead of its own thread. */
export interface CountingOffload {
  /** Count n records (as countPending); the columns may be reused once this returns. */
  count(keys: Float64Array, stride: number, streams: Uint8Array, n: number): void;
  /** The model's clock entered second `sec` (WindowedHeavyHitters.rollover). */
  rollover(sec: number): void;
  /** Everything handed over is counted: the summaries, in hh order. */
  finish(): Promise<HeavyState[]>;
  /** Stop the helper (also after a failure); idempotent. */
  close(): void;
}

// ---- the ring: SLOTS slots in one SharedArrayBuffer, one producer (the
// model's thread), one consumer (the helper). ctrl[WRITTEN] and
// ctrl[CONSUMED] count slots ever published and ever released; slot i % SLOTS.
const SLOTS = 8;
/** Records a slot holds; a larger flush takes several slots. */
export const SLOT_RECORDS = 8192;
const WRITTEN = 0;
const CONSUMED = 1;
const FAILED = 2;
const CMD_COUNT = 1;
const CMD_ROLLOVER = 2;
const CMD_FINISH = 3;
/** The model's thread gives up on a helper that has not released a slot for this long. */
const STALL_MS = 60_000;

class Ring {
  readonly ctrl: Int32Array;
  /** Per slot: command, argument (records, or the second). */
  readonly head: Float64Array;
  readonly keys: Float64Array[] = [];
  readonly streams: Uint8Array[] = [];

  constructor(readonly sab: SharedArrayBuffer) {
    this.ctrl = new Int32Array(sab, 0, 4);
    this.head = new Float64Array(sab, 16, 2 * SLOTS);
    const keysAt = 16 + 16 * SLOTS;
    const streamsAt = keysAt + SLOTS * NDIMS * SLOT_RECORDS * 8;
    for (let s = 0; s < SLOTS; s++) {
      this.keys.push(new Float64Array(sab, keysAt + s * NDIMS * SLOT_RECORDS * 8, NDIMS * SLOT_RECORDS));
      this.streams.push(new Uint8Array(sab, streamsAt + s * SLOT_RECORDS, SLOT_RECORDS));
    }
  }

  static bytes(): number {
    return 16 + 16 * SLOTS + SLOTS * NDIMS * SLOT_RECORDS * 8 + SLOTS * SLOT_RECORDS;
  }
}

export interface CountingWorkerData {
  sab: SharedArrayBuffer;
  tables: number;
  nStreams: number;
  heavy: HeavyHitterOptions;
}

/** The helper's side: count every slot in order until FINISH; returns the summaries. */
export function serveRing(data: CountingWorkerData): HeavyState[] {
  const ring = new Ring(data.sab);
  const hh = Array.from({ length: data.tables }, () => new WindowedHeavyHitters(data.heavy));
  const perStream = new Float64Array(data.nStreams);
  const { ctrl, head } = ring;
  for (let seq = 0; ; seq++) {
    while (Atomics.load(ctrl, WRITTEN) === seq) Atomics.wait(ctrl, WRITTEN, seq);
    const s = seq % SLOTS;
    const cmd = head[2 * s]!;
    const arg = head[2 * s + 1]!;
    if (cmd === CMD_COUNT) countPending(hh, ring.keys[s]!, SLOT_RECORDS, ring.streams[s]!, arg, perStream);
    else if (cmd === CMD_ROLLOVER) for (const h of hh) h.rollover(arg);
    Atomics.store(ctrl, CONSUMED, seq + 1);
    Atomics.notify(ctrl, CONSUMED);
    if (cmd === CMD_FINISH) return hh.map((h) => h.state());
  }
}

/** Marks the ring failed (the helper threw) so that the model's thread stops waiting. */
export function failRing(sab: SharedArrayBuffer): void {
  const ctrl = new Int32Array(sab, 0, 4);
  Atomics.store(ctrl, FAILED, 1);
  Atomics.notify(ctrl, CONSUMED);
}

/** The model's side of a helper thread that counts (see the top of this file). */
export class CountingThread implements CountingOffload {
  private readonly ring: Ring;
  private readonly worker: Worker;
  private seq = 0;
  private readonly result: Promise<HeavyState[]>;
  private closed = false;

  /**
   * A helper counting into `tables` summaries of `nStreams` streams; null when
   * the helper's compiled module is not there (running from the TypeScript
   * sources, as the unit tests do): the model then counts in its own thread.
   */
  static start(tables: number, nStreams: number, heavy: HeavyHitterOptions): CountingThread | null {
    const url = new URL('./counting-worker.js', import.meta.url);
    if (!fs.existsSync(fileURLToPath(url))) return null;
    return new CountingThread(url, { sab: new SharedArrayBuffer(Ring.bytes()), tables, nStreams, heavy });
  }

  private constructor(url: URL, data: CountingWorkerData) {
    this.ring = new Ring(data.sab);
    this.worker = new Worker(url, { workerData: data });
    this.worker.unref();
    this.result = new Promise<HeavyState[]>((resolve, reject) => {
      this.worker.once('message', (m: { states?: HeavyState[]; error?: string }) => {
        if (m.states) resolve(m.states);
        else reject(new Error(`the counting thread failed: ${m.error ?? 'unknown error'}`));
      });
      this.worker.once('error', (e) => reject(new Error(`the counting thread failed: ${e.message}`)));
      this.worker.once('exit', (code) => reject(new Error(`the counting thread exited (code ${code}) before it finished`)));
    });
    this.result.catch(() => undefined); // observed by finish()
  }

  /** The next free slot (waits while the helper is SLOTS slots behind). */
  private claim(): number {
    const { ctrl } = this.ring;
    let waited = 0;
    for (;;) {
      if (Atomics.load(ctrl, FAILED) !== 0) throw new Error('the counting thread failed (see its error)');
      const consumed = Atomics.load(ctrl, CONSUMED);
      if (this.seq - consumed < SLOTS) return this.seq % SLOTS;
      if (this.closed) throw new Error('the counting thread was closed');
      if (Atomics.wait(ctrl, CONSUMED, consumed, 1000) === 'timed-out' && (waited += 1000) >= STALL_MS) {
        throw new Error(`the counting thread made no progress for ${STALL_MS / 1000} s`);
      }
    }
  }

  private publish(s: number, cmd: number, arg: number): void {
    const { ctrl, head } = this.ring;
    head[2 * s] = cmd;
    head[2 * s + 1] = arg;
    Atomics.store(ctrl, WRITTEN, ++this.seq);
    Atomics.notify(ctrl, WRITTEN);
  }

  count(keys: Float64Array, stride: number, streams: Uint8Array, n: number): void {
    for (let from = 0; from < n; from += SLOT_RECORDS) {
      const m = Math.min(SLOT_RECORDS, n - from);
      const s = this.claim();
      const rk = this.ring.keys[s]!;
      for (let d = 0; d < NDIMS; d++) rk.set(keys.subarray(d * stride + from, d * stride + from + m), d * SLOT_RECORDS);
      this.ring.streams[s]!.set(streams.subarray(from, from + m));
      this.publish(s, CMD_COUNT, m);
    }
  }

  rollover(sec: number): void {
    this.publish(this.claim(), CMD_ROLLOVER, sec);
  }

  async finish(): Promise<HeavyState[]> {
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
