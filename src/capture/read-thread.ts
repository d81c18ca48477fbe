// Reading a replay's input in a helper thread.
//
// Reading a capture (read, checksum, msgpack, decoding the record columns) is
// a sixth of a replay's time on one core (conntrack text: most of it), and
// none of it needs the model. ThreadedInput runs the file input in a worker
// (read-worker.ts), which writes each batch, raw records and decoded columns,
// into a ring of slots in shared memory (records/batch.ts copyBatch); the
// model's thread reads it in place (viewBatch): nothing is allocated,
// posted or collected per batch. The rare other items (/proc snapshots,
// source status, the summary at the end, an error) go through a
// MessageChannel the model's thread drains synchronously
// (receiveMessageOnPort) when the ring says one is next, so the order of
// items is the file's, and items() stays a plain generator: the replay loop
// does not yield per batch. A slot is reused once the next item is taken,
// so a batch is valid until then (the replay consumes each before the
// next). At most SLOTS items are in flight (src/handoff.ts), which bounds
// the memory of a fast reader in front of a slower model. Everything else
// about the input (format, header, clock base, time span, its summary) is
// the same as without the thread: the worker runs exactly that input.

import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import { BATCH_BYTES_PER_RECORD, copyBatch, viewBatch } from '../records/batch.js';
import { Handoff, HANDOFF_BYTES } from '../handoff.js';
import type { CaptureHeader } from './format.js';
import { CaptureError, type CaptureItem } from './reader.js';
import { ReplayInputError, type ReplayFormat, type ReplayInput, type ReplaySummary } from './replay.js';

/** Items in flight (slots of the ring). */
const SLOTS = 16;
/** Records a slot holds; a larger batch takes several. */
const SLOT_RECORDS = 4096;
const SLOT_BYTES = SLOT_RECORDS * BATCH_BYTES_PER_RECORD;
const HEAD_AT = HANDOFF_BYTES; // after the hand-over's counters
const HEAD = 2; // per slot: records (0: a message is next on the port), file offset
const SLOTS_AT = HEAD_AT + 8 * HEAD * SLOTS;

class Ring {
  readonly head: Float64Array;
  readonly slots: Uint8Array[] = [];

  private constructor(
    readonly handoff: Handoff,
    sab: SharedArrayBuffer,
  ) {
    this.head = new Float64Array(sab, HEAD_AT, HEAD * SLOTS);
    for (let s = 0; s < SLOTS; s++) this.slots.push(new Uint8Array(sab, SLOTS_AT + s * SLOT_BYTES, SLOT_BYTES));
  }

  static memory(): SharedArrayBuffer {
    return new SharedArrayBuffer(SLOTS_AT + SLOTS * SLOT_BYTES);
  }

  /** The model's thread gives up on a reader that stopped; the reader, woken when half the slots are free, waits as long as the model takes. */
  static open(sab: SharedArrayBuffer, side: 'model' | 'reader'): Ring {
    return new Ring(new Handoff(sab, SLOTS, 1, SLOTS / 2, side === 'model' ? 'the reading thread' : "the model's thread", side === 'model' ? undefined : null), sab);
  }
}

export interface ReadWorkerData {
  files: string[];
  sab: SharedArrayBuffer;
  port: MessagePort;
}

/** What goes through the port, in order with the ring's batches. */
type ReadMessage =
  | { t: 'proc'; item: Extract<CaptureItem, { type: 'proc' }> }
  | { t: 'status'; item: Extract<CaptureItem, { type: 'status' }> }
  | { t: 'pods'; item: Extract<CaptureItem, { type: 'pods' }> }
  | { t: 'end'; summary: ReplaySummary }
  | { t: 'error'; name: string; message: string; file?: string; offset?: number };

/** The worker's side: every item of `input` into the ring, in order. */
export function produce(open: () => ReplayInput, data: ReadWorkerData): void {
  const ring = Ring.open(data.sab, 'reader');
  const { handoff: h, head } = ring;
  let seq = 0;
  const slot = (records: number, offset: number): number => {
    h.waitForPlace(seq);
    const s = seq % SLOTS;
    head[HEAD * s] = records;
    head[HEAD * s + 1] = offset;
    return s;
  };
  const post = (m: ReadMessage, now = false) => {
    slot(0, 0);
    data.port.postMessage(m);
    h.published(++seq, now);
  };
  try {
    const input = open();
    const it = input.items();
    if (!(Symbol.iterator in it)) throw new Error('a streamed input cannot be read in a helper thread');
    for (const item of it) {
      if (item.type === 'records') {
        const b = item.batch;
        for (let from = 0; from < b.length; from += SLOT_RECORDS) {
          const to = Math.min(b.length, from + SLOT_RECORDS);
          const s = slot(to - from, item.offset);
          copyBatch(b, from, to, ring.slots[s]!);
          h.published(++seq);
        }
      } else if (item.type === 'proc') post({ t: 'proc', item });
      else if (item.type === 'pods') post({ t: 'pods', item });
      else post({ t: 'status', item });
    }
    post({ t: 'end', summary: input.summary() }, true);
  } catch (e) {
    const err = e as Error & { file?: string; offset?: number };
    post({ t: 'error', name: err.name, message: err.message, file: err.file, offset: err.offset }, true);
  }
}

/** A file input read in a helper thread (see the top of this file). */
export class ThreadedInput implements ReplayInput {
  readonly format: ReplayFormat;
  readonly header: CaptureHeader | null;
  readonly bootBaseNs: number;
  private finalSummary: ReplaySummary | null = null;

  /**
   * `inner`, opened in this thread (its checks and header), read in a
   * worker; null when the worker's compiled module is not there (running
   * from the TypeScript sources): read `inner` here then.
   */
  static wrap(inner: ReplayInput & { close?(): void }, files: string[]): ThreadedInput | null {
    const url = new URL('./read-worker.js', import.meta.url);
    if (!fs.existsSync(fileURLToPath(url))) return null;
    inner.close?.();
    return new ThreadedInput(inner, files, url);
  }

  private constructor(
    private readonly inner: ReplayInput,
    private readonly paths: string[],
    private readonly url: URL,
  ) {
    this.format = inner.format;
    this.header = inner.header;
    this.bootBaseNs = inner.bootBaseNs;
  }

  get files(): string[] {
    return this.finalSummary?.files ?? this.paths;
  }

  spanSeconds(): number | null {
    return this.inner.spanSeconds();
  }

  summary(): ReplaySummary {
    if (!this.finalSummary) throw new Error('summary() before the input was read to its end');
    return this.finalSummary;
  }

  *items(): Generator<CaptureItem> {
    const sab = Ring.memory();
    const ring = Ring.open(sab, 'model');
    const { handoff: h, head } = ring;
    const { port1, port2 } = new MessageChannel();
    const worker = new Worker(this.url, { workerData: { files: this.paths, sab, port: port2 } satisfies ReadWorkerData, transferList: [port2] });
    worker.unref();
    try {
      for (let seq = 0; ; ) {
        h.waitForItem(seq);
        const s = seq % SLOTS;
        const records = head[HEAD * s]!;
        if (records > 0) {
          yield { type: 'records', batch: viewBatch(ring.slots[s]!, records), offset: head[HEAD * s + 1]! };
          // taken: the slot is free again
          h.released(++seq);
          continue;
        }
        // a message is next: posted before its slot was published, so it is on the port
        const r = receiveMessageOnPort(port1);
        if (!r) throw new Error('the reading thread published a message it did not post');
        h.released(++seq);
        const m = r.message as ReadMessage;
        switch (m.t) {
          case 'proc':
          case 'status':
          case 'pods':
            yield m.item;
            break;
          case 'end':
            this.finalSummary = m.summary;
            return;
          case 'error':
            // the same error the input throws when read in this thread
            if (m.name === 'ReplayInputError') throw new ReplayInputError(m.message);
            if (m.name === 'CaptureError') throw new CaptureError(m.message, m.file ?? '', m.offset ?? 0);
            throw new Error(`reading ${this.paths.join(', ')} failed: ${m.message}`);
        }
      }
    } finally {
      port1.close();
      void worker.terminate();
    }
  }
}
