// A bounded hand-over between two threads: one producer, one consumer, a
// number of places (ring slots, or items in flight), and two counters in
// shared memory — items ever published, items ever released.
//
// Why not a notify per item: waking a thread that waits is a futex wake, and
// on this kind of host (a VM) a cross-CPU wake-up costs 50–80 µs, as much as
// the model needs for a few hundred records. So a side that has nothing to do
// says it sleeps, and the other wakes it only once it is worth it: the
// consumer when `wakeConsumerAt` items are waiting (or at the end), the
// producer when `wakeProducerAt` places are free. Whichever thread is the
// bottleneck sets its own threshold to 1. Correct without locks because a
// sleeper raises its flag and then looks again before it waits, and a waker
// publishes and then looks at the flag (Atomics are sequentially consistent).

const PRODUCED = 0;
const CONSUMED = 1;
const PRODUCER_SLEEPS = 2;
const CONSUMER_SLEEPS = 3;
const FAILED = 4;
const WORDS = 5;
/** Bytes the counters take at the start of a shared buffer (8-aligned: what follows may be f64). */
export const HANDOFF_BYTES = 32;
/** A side gives up when the other has not moved for this long. */
const STALL_MS = 60_000;

export class Handoff {
  readonly ctrl: Int32Array;

  constructor(
    readonly sab: SharedArrayBuffer,
    /** Places: the producer waits when this many items are unreleased. */
    readonly capacity: number,
    readonly wakeConsumerAt: number,
    readonly wakeProducerAt: number,
    /** Names the other side in errors ("the counting thread"). */
    readonly peer: string,
    /**
     * Give up (throw) when the other side has not moved for this long: set on
     * the model's side, whose helper may have died; a helper waits as long as
     * the model's thread takes (it is terminated when no longer needed).
     */
    readonly giveUpAfterMs: number | null = STALL_MS,
  ) {
    this.ctrl = new Int32Array(sab, 0, WORDS);
  }

  /** Memory for the counters alone (a ring puts them at the start of its own buffer). */
  static memory(): SharedArrayBuffer {
    return new SharedArrayBuffer(HANDOFF_BYTES);
  }

  // ---- producer

  /** Wait until item number `seq` (0-based) has a place: fewer than capacity unreleased. */
  waitForPlace(seq: number): void {
    this.sleepUntil(PRODUCER_SLEEPS, () => seq - Atomics.load(this.ctrl, CONSUMED) < this.capacity);
  }

  /** Items 0..seq-1 are published; wake the consumer if it sleeps and enough wait (or `now`). */
  published(seq: number, now = false): void {
    Atomics.store(this.ctrl, PRODUCED, seq);
    if (Atomics.load(this.ctrl, CONSUMER_SLEEPS) === 1 && (now || seq - Atomics.load(this.ctrl, CONSUMED) >= this.wakeConsumerAt)) this.wake(CONSUMER_SLEEPS);
  }

  // ---- consumer

  /** Wait until item number `seq` is published. */
  waitForItem(seq: number): void {
    this.sleepUntil(CONSUMER_SLEEPS, () => Atomics.load(this.ctrl, PRODUCED) > seq);
  }

  /** Items 0..seq-1 are released; wake the producer if it sleeps and enough places are free. */
  released(seq: number): void {
    Atomics.store(this.ctrl, CONSUMED, seq);
    if (Atomics.load(this.ctrl, PRODUCER_SLEEPS) === 1 && this.capacity - (Atomics.load(this.ctrl, PRODUCED) - seq) >= this.wakeProducerAt) this.wake(PRODUCER_SLEEPS);
  }

  // ---- either

  /** This side failed: the other stops waiting and throws. */
  fail(): void {
    Atomics.store(this.ctrl, FAILED, 1);
    this.wake(PRODUCER_SLEEPS);
    this.wake(CONSUMER_SLEEPS);
  }

  get failed(): boolean {
    return Atomics.load(this.ctrl, FAILED) !== 0;
  }

  private wake(flag: number): void {
    Atomics.store(this.ctrl, flag, 0);
    Atomics.notify(this.ctrl, flag);
  }

  private sleepUntil(flag: number, ready: () => boolean): void {
    if (ready()) return;
    let slept = 0;
    for (;;) {
      if (this.failed) throw new Error(`${this.peer} failed`);
      Atomics.store(this.ctrl, flag, 1);
      if (ready()) break;
      // Woken (the flag cleared), or a second passed: look again.
      if (Atomics.wait(this.ctrl, flag, 1, 1000) === 'timed-out') {
        if (ready()) break;
        if (this.giveUpAfterMs !== null && (slept += 1000) >= this.giveUpAfterMs) {
          Atomics.store(this.ctrl, flag, 0);
          throw new Error(`${this.peer} made no progress for ${this.giveUpAfterMs / 1000} s`);
        }
      } else if (ready()) break;
    }
    Atomics.store(this.ctrl, flag, 0);
  }
}
