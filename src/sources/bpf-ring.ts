// The shape of the addon's RingSource (native/ring_source.cc): loads one of
// our BPF objects, attaches its programs and hands batches of records from
// its ring buffer to JavaScript. Every eBPF-backed source is one of these
// with different options (drops: bpf/drops.bpf.c; lifecycle: bpf/lifecycle.bpf.c).

import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { loadAddon } from '../native/addon.js';
import type { LossCounters } from '../records/sink.js';

/** A map key/value or rodata value: integers are written little-endian in the field's size. */
export type BpfScalar = number | bigint | boolean | Uint8Array;

export interface RingSourceOptions {
  /** Absolute path of a .bpf.o. */
  object: string;
  /** Autoload only these programs (default: the object's own autoload settings). */
  programs?: string[];
  /** Map contents written after load, before attach: { mapName: [[key, value], ...] }. */
  maps?: Record<string, Array<[BpfScalar, BpfScalar]>>;
  /** `const volatile` globals set before load, by name (sizes from the object's BTF). */
  rodata?: Record<string, BpfScalar>;
  /** The ring buffer map (default 'events'). */
  ringMap?: string;
  /** Ring size in bytes (power of two, multiple of the page size); default: the object's. */
  ringBytes?: number;
  /** A (PERCPU_)ARRAY map whose u64 at key 0 counts reserve failures. */
  lossMap?: string;
  /** Records per batch handed to onBatch (default 1024, 1..65536). */
  batchRecords?: number;
  /** Reader drain period in ms when no wakeup is forced (default 2, 1..60000; sources use 1..5). */
  pollMs?: number;
  /** Batches queued for the JS thread before new ones are refused and counted (default 64). */
  maxQueuedBatches?: number;
  /** Called on the JS thread with `count` records of RECORD_SIZE bytes. */
  onBatch: (buf: ArrayBuffer, count: number) => void;
}

export interface AttachFailure {
  program: string;
  errno: number;
  message: string;
}

export interface RingSourceStartResult {
  attached: string[];
  /** Programs that loaded but could not be attached (start() throws if none attached). */
  failed: AttachFailure[];
}

export interface RingSourceStats {
  /** Reserve failures per CPU from lossMap (empty without one). */
  perCpuReserveFailed: number[];
  /** Records refused because the JS queue was full. */
  queueDropped: number;
  /** Records handed to the JS queue. */
  delivered: number;
  /** Ring samples shorter than a record (never expected). */
  malformed: number;
  /** The reader thread stopped on this error; null while healthy. */
  readerError: string | null;
  running: boolean;
}

/**
 * A ring-buffer source's state and losses as /v1/status shows them: a dead
 * reader thread degrades a running source; reserve failures (per CPU), records
 * a full queue refused and batches that could not be decoded are all lost.
 */
export function ringSourceHealth(
  running: boolean,
  s: RingSourceStats | null,
  decodeErrors: number,
): { readerError: string | null; lost: LossCounters } {
  const perCpu = s?.perCpuReserveFailed ?? [];
  const queueDropped = s?.queueDropped ?? 0;
  return {
    readerError: running && s?.readerError ? `ring buffer reader stopped: ${s.readerError}` : null,
    lost: { ringbufReserveFailed: perCpu, queueDropped, total: perCpu.reduce((a, b) => a + b, 0) + queueDropped + decodeErrors },
  };
}

export interface ProbeResult {
  ok: boolean;
  errno: number;
  message: string;
  verifierLog?: string;
}

export interface RingSourceHandle {
  /** open -> autoload -> rodata -> load -> fill maps -> attach; starts the reader. */
  start(): RingSourceStartResult;
  stats(): RingSourceStats;
  /** Joins the reader, destroys links, closes the object. Idempotent. */
  stop(): void;
}

export interface RingSourceClass {
  new (options: RingSourceOptions): RingSourceHandle;
  /** Load and attach one program alone, then detach everything. */
  probe(object: string, program: string): ProbeResult;
}

/**
 * The error start() throws when the kernel refuses: code 'EBPFLOAD' (open or
 * load failed; `program` names the refused program when one was) or
 * 'EBPFATTACH' (nothing could be attached; `failures` lists each program).
 */
export interface BpfLoadError extends Error {
  code: 'EBPFLOAD' | 'EBPFATTACH';
  program: string | null;
  errno: number;
  verifierLog?: string;
  failures?: AttachFailure[];
}

export function isBpfLoadError(e: unknown): e is BpfLoadError {
  const code = (e as { code?: unknown } | null)?.code;
  return e instanceof Error && (code === 'EBPFLOAD' || code === 'EBPFATTACH');
}

export function ringSourceClass(): RingSourceClass {
  return loadAddon<{ RingSource: RingSourceClass }>().RingSource;
}

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Path of a compiled BPF object by its source name ('drops' -> bpf/.output/drops.bpf.o). */
export function bpfObjectPath(name: string): string {
  return path.join(root, 'bpf/.output', `${name}.bpf.o`);
}
