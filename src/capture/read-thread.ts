// Reading a replay's input in a helper thread.
//
// Reading a capture (read, checksum, msgpack, decoding the record columns) is
// a sixth of a replay's time on one core (conntrack text: most of it), and
// none of it needs the model. ThreadedInput runs the file input in a worker
// (read-worker.ts), which hands each item over as it is read: a batch goes
// as its two buffers, records and decoded columns, transferred, not copied
// (records/batch.ts batchParts), through a MessageChannel the model's thread
// drains synchronously (receiveMessageOnPort), so items() stays a plain
// generator and the replay loop does not yield per batch. The worker stays
// at most AHEAD items ahead (src/handoff.ts), which bounds the memory of a
// fast reader in front of a slower model. Everything else about the input
// (format, header, clock base, time span, the summary at the end) is the
// same as without the thread: the worker runs exactly that input and sends
// its summary back.

import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import { batchFromParts, batchParts, type BatchParts } from '../records/batch.js';
import { Handoff } from '../handoff.js';
import type { CaptureHeader } from './format.js';
import { CaptureError, type CaptureItem } from './reader.js';
import { ReplayInputError, type ReplayFormat, type ReplayInput, type ReplaySummary } from './replay.js';

/** Items the reader may be ahead of the model (~10 MB of records at 4096 a frame). */
export const AHEAD = 16;

/** The model's thread gives up on a reader that stopped; the reader, woken when half the places are free, waits as long as the model takes. */
function handoff(sab: SharedArrayBuffer, side: 'model' | 'reader'): Handoff {
  return new Handoff(sab, AHEAD, 1, AHEAD / 2, side === 'model' ? 'the reading thread' : "the model's thread", side === 'model' ? undefined : null);
}

export interface ReadWorkerData {
  files: string[];
  ctrl: SharedArrayBuffer;
  port: MessagePort;
}

/** What the worker posts, in order. */
export type ReadMessage =
  | { t: 'records'; parts: BatchParts; offset: number }
  | { t: 'proc'; item: Extract<CaptureItem, { type: 'proc' }> }
  | { t: 'status'; item: Extract<CaptureItem, { type: 'status' }> }
  | { t: 'end'; summary: ReplaySummary }
  | { t: 'error'; name: string; message: string; file?: string; offset?: number };

/** The worker's side: post every item of `input`, staying at most AHEAD ahead. */
export function produce(open: () => ReplayInput, data: ReadWorkerData): void {
  const h = handoff(data.ctrl, 'reader');
  const port = data.port;
  let seq = 0;
  const post = (m: ReadMessage, transfer: ArrayBuffer[] = [], now = false) => {
    h.waitForPlace(seq);
    port.postMessage(m, transfer);
    h.published(++seq, now);
  };
  try {
    const input = open();
    const it = input.items();
    if (!(Symbol.iterator in it)) throw new Error('a streamed input cannot be read in a helper thread');
    for (const item of it) {
      if (item.type === 'records') {
        // decoded here; the model's thread only makes views of the columns
        const p = batchParts(item.batch);
        post({ t: 'records', parts: p, offset: item.offset }, [p.bytes.buffer as ArrayBuffer, p.decoded]);
      } else if (item.type === 'proc') post({ t: 'proc', item });
      else post({ t: 'status', item });
    }
    post({ t: 'end', summary: input.summary() }, [], true);
  } catch (e) {
    const err = e as Error & { file?: string; offset?: number };
    post({ t: 'error', name: err.name, message: err.message, file: err.file, offset: err.offset }, [], true);
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
    const sab = Handoff.memory();
    const h = handoff(sab, 'model');
    const { port1, port2 } = new MessageChannel();
    const worker = new Worker(this.url, { workerData: { files: this.paths, ctrl: sab, port: port2 } satisfies ReadWorkerData, transferList: [port2] });
    worker.unref();
    try {
      for (let seq = 0; ; ) {
        h.waitForItem(seq);
        // counted after it was posted: it is on the port
        const r = receiveMessageOnPort(port1);
        if (!r) throw new Error('the reading thread counted a message it did not post');
        const m = r.message as ReadMessage;
        h.released(++seq);
        switch (m.t) {
          case 'records':
            yield { type: 'records', batch: batchFromParts(m.parts), offset: m.offset };
            break;
          case 'proc':
          case 'status':
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
