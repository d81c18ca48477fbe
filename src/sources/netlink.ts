// The ctnetlink source: conntrack lifecycles from netlink events, one native
// reader (native/netlink_source.cc, over netlink_reader.cc) per network
// namespace, all served by one thread (netlink_loop.cc), following
// namespaces as they come and go. Used where the kernel refuses function
// hooks (this machine: fentry EPERM, no kprobes).
//
// What a reader emits, per namespace (records carry the netns inode):
//   SEEN(at_start)… SYNC      the dump at start
//   ALLOC / UPDATE / DESTROY  events
//   LOSS                      an overrun (aux = 1: "at least one") or records
//                             refused by a full queue (aux = how many)
//   SEEN(at_resync)… SYNC     the dump after a loss
// SYNC (start_ns = dump begin, ts = dump end, cause DESTROY_LOST, aux =
// entries dumped): entries of that netns with no record since start_ns are
// gone. When a namespace vanishes, a SYNC with start_ns = ts = now and cause
// OTHER closes all of its entries.

import fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import { boottimeNs, loadAddon } from '../native/addon.js';
import { explainPermission } from '../privileges.js';
import { decodeBatch, DecodeScratch } from '../records/batch.js';
import { encodeRecord } from '../records/encode.js';
import { Cause, Kind, Origin, RECORD_SIZE } from '../records/layout.js';
import type { LossCounters, RecordSink, SourceState, SourceStatus } from '../records/sink.js';
import type { Source } from './source.js';
import { NetnsWatcher, type NetnsEntry, type NetnsScanOptions } from './netns.js';
import type { NetlinkDecoderFds, NetlinkReader, NetlinkReaderOptions, NetlinkReaderStats } from '../native/surface.js';

export type { NetlinkReader, NetlinkReaderOptions, NetlinkReaderStats };

/** A native reader for one namespace (throws AddonUnavailableError without the addon). */
export function createNetlinkReader(opts: NetlinkReaderOptions): NetlinkReader {
  return new (loadAddon().NetlinkSource)(opts);
}

// ---- sysctls doctor reports ----

export interface ConntrackAccounting {
  /** net.netfilter.nf_conntrack_acct: DESTROY carries packet/byte counters. */
  acct: boolean | null;
  /** net.netfilter.nf_conntrack_timestamp: DESTROY carries start/stop times. */
  timestamp: boolean | null;
}

const SYSCTL_ACCT = '/proc/sys/net/netfilter/nf_conntrack_acct';
const SYSCTL_TSTAMP = '/proc/sys/net/netfilter/nf_conntrack_timestamp';

function parseFlag(text: string | null | undefined): boolean | null {
  if (text === null || text === undefined) return null;
  const v = text.trim();
  return v === '' ? null : v !== '0';
}

/**
 * Whether conntrack accounting and timestamps are on, in ctscope's namespace
 * or (nsPath) another one; null where unreadable. Both are per namespace and
 * only affect entries created after they were turned on.
 */
export function conntrackAccounting(nsPath?: string): ConntrackAccounting {
  if (nsPath === undefined) {
    const read = (f: string) => {
      try {
        return fs.readFileSync(f, 'utf8');
      } catch {
        return null;
      }
    };
    return { acct: parseFlag(read(SYSCTL_ACCT)), timestamp: parseFlag(read(SYSCTL_TSTAMP)) };
  }
  try {
    const [a, t] = loadAddon().readInNetns(nsPath, [SYSCTL_ACCT, SYSCTL_TSTAMP]);
    return { acct: parseFlag(a), timestamp: parseFlag(t) };
  } catch {
    return { acct: null, timestamp: null };
  }
}

/**
 * Turn nf_conntrack_acct and nf_conntrack_timestamp on in a namespace. Only
 * called when the user asked for it (a flag): ctscope never changes a sysctl
 * on its own.
 */
export function enableConntrackAccounting(nsPath?: string): void {
  const args = ['sysctl', '-qw', 'net.netfilter.nf_conntrack_acct=1', 'net.netfilter.nf_conntrack_timestamp=1'];
  if (nsPath === undefined) execFileSync(args[0]!, args.slice(1), { stdio: 'pipe' });
  else execFileSync('nsenter', [`--net=${nsPath}`, ...args], { stdio: 'pipe' });
}

// ---- the source ----

export interface NetlinkSourceOptions extends NetnsScanOptions {
  /** A fixed receive buffer for every namespace (tests, benchmarks); default: see RCVBUF_*. */
  rcvbufBytes?: number;
  /** How far a namespace's buffer may grow with its event rate and overruns (default 128 MiB). */
  rcvbufMaxBytes?: number;
  batchRecords?: number;
  /**
   * Longest a record waits in a partial batch, ms (default 2, as the eBPF
   * readers): the API's staleness budget is 20 ms p99, and at 20 ms a record
   * waited up to that long at 50,000 events/s (bench/daemon-visibility.mjs).
   * Busy readers fill batches well before the deadline anyway.
   */
  pollMs?: number;
  maxQueuedBatches?: number;
  /** Namespace scan period (default 500 ms). */
  scanMs?: number;
  /** Which namespaces to follow (default: all). */
  include?(ns: NetnsEntry): boolean;
  /** Opt-in: turn on nf_conntrack_acct/timestamp in every followed namespace. */
  enableAccounting?: boolean;
  /** The event sockets' BPF filter (exact counts; sampling under a CPU budget). */
  filter?: { fd: number };
  /**
   * A decoder per reader instead of the filter (the same counts and
   * sampling; events as records in a ring, no datagram per event). Where the
   * kernel refuses it, the reader falls back on the filter, said in its status.
   */
  decoder?(): { fds: NetlinkDecoderFds; close(): void };
  /**
   * Namespaces read through a decoder at most (default MAX_DECODERS); those
   * followed after read datagrams through the filter.
   */
  maxDecoders?: number;
  /** Injected for tests; default the addon's reader. */
  createReader?(opts: NetlinkReaderOptions): NetlinkReader;
  /** CLOCK_BOOTTIME now, for the records this module writes itself. */
  now?(): number;
}

export interface NetnsFollowStatus {
  inode: number;
  name: string;
  path: string | null;
  state: 'running' | 'failed';
  accounting: ConntrackAccounting;
  error: string | null;
  stats: NetlinkReaderStats | null;
}

export interface NetlinkSourceStatus extends SourceStatus {
  namespaces: NetnsFollowStatus[];
  /** Namespaces followed earlier that are gone (most recent last, at most 32). */
  vanished: { inode: number; name: string; at: string }[];
  /** How many namespaces followed earlier are gone, all of them (the list above keeps the last 32). */
  vanishedTotal: number;
}

interface Follower {
  ns: NetnsEntry;
  reader: NetlinkReader | null;
  decoder: { fds: NetlinkDecoderFds; close(): void } | null;
  accounting: ConntrackAccounting;
  error: string | null;
  lastTry: number;
}

const RETRY_MS = 5000;
const DEFAULT_POLL_MS = 2;
// Each namespace's event socket buffer: an allowance the kernel charges only
// for what waits in it, so every namespace starts at the most (128 MiB lost
// nothing at ~180k events/s here). Starting the quiet ones at 4 MiB and
// growing with their rate lost the first events of an abrupt flood (17 in
// the CPU-budget kernel test); the reader still grows a smaller buffer given
// here (rcvbufBytes below rcvbufMaxBytes) with the rate and on an overrun.
const RCVBUF_MAX = 128 * 1024 * 1024;

interface Totals {
  overruns: number;
  resyncs: number;
  queueDropped: number;
  delivered: number;
}

const MAX_VANISHED = 32;

// A decoder is a BPF program loaded for its namespace and a 1 MiB ring mapped
// into the daemon: at 1,000 namespaces, loading them kept the JavaScript
// thread busy for minutes and mapped 1.6 GB. Its gain is per event, so it
// goes where the events are in the common case — ctscope's own namespace,
// followed first, and the first few others; the rest read datagrams through
// the filter, with the same exact counts and sampling.
const MAX_DECODERS = 32;

export class NetlinkSource implements Source {
  readonly name = 'netlink';
  private sink: RecordSink | null = null;
  /** Every batch's columns are decoded here (valid for the sink's call: records/sink.ts). */
  private readonly scratch = new DecodeScratch();
  private watcher: NetnsWatcher | null = null;
  private readonly followers = new Map<number, Follower>();
  private readonly vanished: { inode: number; name: string; at: string }[] = [];
  private vanishedTotal = 0;
  /** Counters of readers already stopped, so totals never go backwards. */
  private decoderError: string | null = null;
  private readonly retired: Totals = { overruns: 0, resyncs: 0, queueDropped: 0, delivered: 0 };
  private records = 0;
  private sinkErrors = 0;
  private lastSinkError: string | null = null;
  private state: SourceState = 'stopped';
  private failure: string | null = null;

  constructor(private readonly opts: NetlinkSourceOptions = {}) {}

  async start(sink: RecordSink): Promise<void> {
    if (this.sink) throw new Error('netlink source already started');
    this.sink = sink;
    this.state = 'starting';
    const create = this.opts.createReader ?? createNetlinkReader;
    try {
      // Fail early and clearly when the addon is missing.
      if (!this.opts.createReader) loadAddon();
    } catch (e) {
      this.state = 'unavailable';
      this.failure = (e as Error).message;
      this.sink = null;
      throw e;
    }
    this.watcher = new NetnsWatcher({
      ...this.opts,
      onAppear: (ns) => this.follow(ns, create),
      onVanish: (ns) => this.unfollow(ns),
      onScanned: (current) => this.retryFailed(current, create),
    });
    this.watcher.start();
    const host = [...this.followers.values()].find((f) => f.ns.path === undefined);
    if (this.followers.size > 0 && ![...this.followers.values()].some((f) => f.reader)) {
      this.state = 'failed';
      this.failure = host?.error ?? 'no namespace could be followed';
    } else {
      this.state = 'running';
    }
  }

  async stop(): Promise<void> {
    this.watcher?.stop();
    this.watcher = null;
    for (const f of this.followers.values()) this.retire(f);
    this.followers.clear();
    this.sink = null;
    this.state = 'stopped';
  }

  /** Every reader lists its table again (after sampling ends: the entries refused meanwhile). */
  resyncAll(): void {
    for (const f of this.followers.values()) f.reader?.resync();
  }

  /** Scan for namespaces now (the watcher does this every scanMs and on /run/netns changes). */
  rescan(): void {
    this.watcher?.scan();
  }

  /** The namespaces followed (or tried), without their readers' figures: cheap enough for every poll. */
  followed(): NetnsEntry[] {
    return [...this.followers.values()].map((f) => f.ns);
  }

  status(): NetlinkSourceStatus {
    const t: Totals = { ...this.retired };
    const namespaces: NetnsFollowStatus[] = [];
    let failed = 0;
    let resyncing = 0;
    for (const f of this.followers.values()) {
      const s = f.reader ? f.reader.stats() : null;
      if (s) {
        t.overruns += s.overruns;
        t.resyncs += s.resyncs;
        t.queueDropped += s.queueDropped;
        t.delivered += s.delivered;
        if (s.resyncing) resyncing++;
      } else {
        failed++;
      }
      namespaces.push({
        inode: f.ns.inode,
        name: f.ns.name,
        path: f.ns.path ?? null,
        state: f.reader ? 'running' : 'failed',
        accounting: f.accounting,
        error: f.error ?? s?.lastError ?? null,
        stats: s,
      });
    }
    const lost: LossCounters = {
      netlinkOverruns: t.overruns,
      resyncs: t.resyncs,
      queueDropped: t.queueDropped,
      // An overrun lost at least one event; the queue count is exact.
      total: t.overruns + t.queueDropped,
    };
    let state = this.state;
    if (state === 'running' && (failed > 0 || this.sinkErrors > 0)) state = 'degraded';
    const parts = [`following ${namespaces.length - failed} namespace(s)`];
    if (failed) parts.push(`${failed} could not be entered`);
    if (resyncing) parts.push(`${resyncing} resyncing after a loss`);
    if (this.vanished.length) {
      const v = this.vanished[this.vanished.length - 1]!;
      // the count, not the capped list's length (issue 17: "32 vanished" after 200 went)
      parts.push(`${this.vanishedTotal} vanished (last: ${v.name}, netns ${v.inode}, at ${v.at})`);
    }
    if (this.sinkErrors) parts.push(`${this.sinkErrors} batch(es) rejected by the consumer: ${this.lastSinkError}`);
    if (this.decoderError) parts.push(`events read as datagrams (the kernel refused the decoder: ${this.decoderError})`);
    else if (this.opts.decoder) {
      let plain = 0;
      for (const f of this.followers.values()) if (f.reader && !f.decoder) plain++;
      if (plain) parts.push(`${plain} namespace(s) read as datagrams (decoders are kept for ${this.maxDecoders()}: each is a program and a 1 MiB ring)`);
    }
    parts.push('blind to table-full tuples and eviction victims (netlink does not report them)');
    return {
      name: this.name,
      state,
      hook: 'ctnetlink',
      detail: this.failure ?? parts.join('; '),
      records: this.records,
      lost,
      namespaces,
      vanished: [...this.vanished],
      vanishedTotal: this.vanishedTotal,
    };
  }

  private follow(ns: NetnsEntry, create: (o: NetlinkReaderOptions) => NetlinkReader): void {
    if (this.opts.include && !this.opts.include(ns)) return;
    const f: Follower = { ns, reader: null, decoder: null, accounting: { acct: null, timestamp: null }, error: null, lastTry: 0 };
    this.followers.set(ns.inode, f);
    this.tryStart(f, create);
  }

  /** A namespace we could not enter (its process exited mid-way, say) is retried under its current path. */
  private retryFailed(current: ReadonlyMap<number, NetnsEntry>, create: (o: NetlinkReaderOptions) => NetlinkReader): void {
    const now = Date.now();
    for (const f of this.followers.values()) {
      if (f.reader || now - f.lastTry < RETRY_MS) continue;
      const ns = current.get(f.ns.inode);
      if (!ns) continue;
      f.ns = ns;
      this.tryStart(f, create);
    }
  }

  private tryStart(f: Follower, create: (o: NetlinkReaderOptions) => NetlinkReader): void {
    const ns = f.ns;
    f.lastTry = Date.now();
    f.error = null;
    try {
      if (this.opts.enableAccounting) enableConntrackAccounting(ns.path);
    } catch (e) {
      f.error = `could not enable accounting: ${explainPermission((e as Error).message.split('\n')[0] ?? '')}`;
    }
    f.accounting = conntrackAccounting(ns.path);
    const decoder = this.newDecoder();
    const reader = create({
      netnsPath: ns.path,
      rcvbufBytes: this.opts.rcvbufBytes ?? this.opts.rcvbufMaxBytes ?? RCVBUF_MAX,
      rcvbufMaxBytes: this.opts.rcvbufMaxBytes ?? this.opts.rcvbufBytes ?? RCVBUF_MAX,
      batchRecords: this.opts.batchRecords,
      pollMs: this.opts.pollMs ?? DEFAULT_POLL_MS,
      maxQueuedBatches: this.opts.maxQueuedBatches,
      ...(this.opts.filter ? { filterFd: this.opts.filter.fd } : {}),
      ...(decoder ? { decoder: decoder.fds } : {}),
      onBatch: (buf, count) => this.onBatch(buf, count),
    });
    f.decoder = decoder;
    try {
      const inode = reader.start();
      if (inode !== ns.inode) {
        // The path now names another namespace (pid reused): not this one.
        reader.stop();
        throw new Error(`${ns.path} is now netns ${inode}, not ${ns.inode}`);
      }
      f.reader = reader;
    } catch (e) {
      f.decoder?.close();
      f.decoder = null;
      // Retried by retryFailed() while the namespace still exists.
      const msg = (e as Error).message;
      f.error = explainPermission(msg);
    }
  }

  /** A decoder for the next reader; null (the filter instead) where the kernel refuses it. */
  private newDecoder(): { fds: NetlinkDecoderFds; close(): void } | null {
    if (!this.opts.decoder || this.decoderError) return null;
    let inUse = 0;
    for (const f of this.followers.values()) if (f.decoder) inUse++;
    if (inUse >= this.maxDecoders()) return null;
    try {
      return this.opts.decoder();
    } catch (e) {
      // Refused once, refused for every namespace: said once in the status.
      this.decoderError = (e as Error).message.split('\n')[0]!;
      return null;
    }
  }

  private maxDecoders(): number {
    return this.opts.maxDecoders ?? MAX_DECODERS;
  }

  private unfollow(ns: NetnsEntry): void {
    const f = this.followers.get(ns.inode);
    if (!f) return;
    this.followers.delete(ns.inode);
    this.retire(f);
    this.vanishedTotal++;
    this.vanished.push({ inode: ns.inode, name: ns.name, at: new Date().toISOString() });
    if (this.vanished.length > MAX_VANISHED) this.vanished.shift();
    // Its entries died with it, and no DESTROY will ever say so.
    const buf = new Uint8Array(RECORD_SIZE);
    const now = this.opts.now?.() ?? boottimeNs();
    encodeRecord(buf, 0, {
      kind: Kind.SYNC,
      ts: now,
      start: now,
      netns: ns.inode,
      cause: Cause.OTHER,
      origin: Origin.NETLINK,
    });
    this.deliver(buf.buffer, 1);
  }

  private retire(f: Follower): void {
    if (!f.reader) {
      f.decoder?.close();
      f.decoder = null;
      return;
    }
    f.reader.stop();
    // after the reader: it detached the decoder and read its ring
    f.decoder?.close();
    f.decoder = null;
    const s = f.reader.stats();
    this.retired.overruns += s.overruns;
    this.retired.resyncs += s.resyncs;
    this.retired.queueDropped += s.queueDropped;
    this.retired.delivered += s.delivered;
    f.reader = null;
  }

  private onBatch(buf: ArrayBuffer, count: number): void {
    this.deliver(buf, count);
  }

  private deliver(buf: ArrayBuffer, count: number): void {
    const sink = this.sink;
    if (!sink) return;
    this.records += count;
    try {
      sink.ingest(decodeBatch(buf, count, this.scratch));
    } catch (e) {
      // Called from the native thread-safe function: a throw here would take
      // the process down. Count it and keep going.
      this.sinkErrors++;
      this.lastSinkError = (e as Error).message;
    }
  }
}

