// The live daemon: sources -> (model, recorder) -> API.
//
// Each source starts on its own: one the kernel refuses keeps its reason
// (state 'failed' / 'unavailable') instead of stopping the others, and what
// the chosen hooks cannot see is reported as blind spots in /v1/status. The
// lifecycle capabilities take the eBPF hooks this kernel allows; whatever
// falls back to ctnetlink is served by the netlink source, which also names
// the namespaces the /proc poller reads.

import fs from 'node:fs';
import os from 'node:os';
import type { FastifyInstance } from 'fastify';
import { buildApp } from './api/app.js';
import type { StatusReport, TableView } from './api/context.js';
import { DeferredCapture } from './capture/recorder.js';
import type { Listen } from './cli/args.js';
import { DelayTap, writeDelayMetrics, type DelayHistogram } from './metrics/delay.js';
import { Exposition } from './metrics/exposition.js';
import { writeModelMetrics } from './metrics/model.js';
import { renderSourceMetrics, renderTableMetrics } from './metrics/table.js';
import { readAdviceEnvironment } from './model/advice.js';
import { Model } from './model/model.js';
import { boottimeNs } from './native/addon.js';
import { ProcPoller } from './proc/poller.js';
import type { ProcSnapshot } from './proc/types.js';
import type { RecordColumns } from './records/batch.js';
import { DropSource } from './sources/bpf-drops.js';
import { createIngress, type IngressWiring } from './sources/ingress-wiring.js';
import { LifecycleSource, type HookMode } from './sources/lifecycle.js';
import { NetlinkSource } from './sources/netlink.js';
import { scanNamespaces } from './sources/netns.js';
import type { RecordSink, Source, SourceStatus } from './sources/source.js';
import { UserError } from './errors.js';
import { VERSION } from './version.js';

type Capability = NonNullable<StatusReport['capabilities']>[number];

/** What a recorder needs from the live side. */
export interface LiveHandle {
  /** Current status of every source (names, hooks, loss counters). */
  status(): SourceStatus[];
  stop(): Promise<void>;
}

/** Start the live sources delivering into `sink` and snapshots into `onProc`. */
export type StartSources = (sink: RecordSink, onProc: (s: ProcSnapshot) => void, opts: { procIntervalMs: number }) => Promise<LiveHandle>;

export interface LiveOptions {
  hooks: HookMode;
  procIntervalMs: number;
  /** Turn on nf_conntrack_acct/timestamp in followed namespaces (opt-in: ctscope changes no sysctl unasked). */
  enableAccounting?: boolean;
}

/**
 * The kernel-facing sources and the /proc poller, started together. Used by
 * the daemon and by `ctscope record` (through startLiveSources).
 */
export class LiveSources implements LiveHandle {
  readonly lifecycle: LifecycleSource;
  readonly drops = new DropSource();
  netlink: NetlinkSource | null = null;
  private readonly extra: Source[] = [];
  private poller: ProcPoller | null = null;
  /** Per source, the delay of its records to the model (ctscope_record_delay_seconds). */
  readonly delays = new Map<string, DelayHistogram>();

  private constructor(opts: LiveOptions) {
    this.lifecycle = new LifecycleSource({ hooks: opts.hooks });
  }

  static async start(sink: RecordSink, onProc: (s: ProcSnapshot) => void, opts: LiveOptions, extra: Source[] = []): Promise<LiveSources> {
    const live = new LiveSources(opts);
    const tap = (name: string): RecordSink => {
      const t = new DelayTap(sink, boottimeNs);
      live.delays.set(name, t.histogram);
      return t;
    };
    // The lifecycle source first: what it cannot hook decides whether ctnetlink is needed.
    await live.lifecycle.start(tap(live.lifecycle.name)).catch(() => undefined); // its status() says why
    if (opts.hooks === 'netlink' || live.lifecycle.netlinkCapabilities().length > 0) {
      live.netlink = new NetlinkSource(opts.enableAccounting ? { enableAccounting: true } : {});
      await live.netlink.start(tap(live.netlink.name)).catch(() => undefined);
    }
    await live.drops.start(tap(live.drops.name)).catch(() => undefined);
    for (const s of extra) {
      live.extra.push(s);
      await s.start(tap(s.name)).catch(() => undefined);
    }
    live.poller = new ProcPoller({ intervalMs: opts.procIntervalMs, namespaces: () => live.namespacePaths(), onSnapshot: onProc });
    live.poller.start();
    return live;
  }

  /** Namespaces the poller reads besides the host one: those ctnetlink follows, else a scan. */
  private namespacePaths(): Map<number, string> {
    const out = new Map<number, string>();
    if (this.netlink) {
      for (const n of this.netlink.status().namespaces) if (n.path) out.set(n.inode, n.path);
      return out;
    }
    try {
      for (const n of scanNamespaces({ processes: false }).values()) if (n.path) out.set(n.inode, n.path);
    } catch {
      /* /run/netns unreadable: the host namespace only */
    }
    return out;
  }

  /** Namespace names as the sources know them (host, /run/netns name, pid:N), by inode. */
  netnsNames(): Map<number, string> {
    if (this.netlink) return new Map(this.netlink.status().namespaces.map((n) => [n.inode, n.name]));
    try {
      return new Map([...scanNamespaces({ processes: false }).values()].map((n) => [n.inode, n.name]));
    } catch {
      return new Map();
    }
  }

  get table(): TableView {
    return this.poller!;
  }

  sources(): Source[] {
    return [this.lifecycle, ...(this.netlink ? [this.netlink] : []), this.drops, ...this.extra];
  }

  status(): SourceStatus[] {
    const out = this.sources().map((s) => s.status());
    const p = this.poller;
    if (p) {
      out.push({
        name: 'proc',
        state: p.lastError ? 'degraded' : 'running',
        hook: '/proc/sys/net/netfilter',
        ...(p.lastError ? { detail: p.lastError } : {}),
        records: 0,
        lost: { total: 0 },
      });
    }
    return out;
  }

  /** Per capability: the hook in use and what was refused (the doctor's view, as started). */
  capabilities(): Capability[] {
    const strip = (t: { hook: string; result: string }) => ({ hook: t.hook, result: t.result });
    const out: Capability[] = this.lifecycle.capabilities().map((c) => ({ capability: c.capability, chosen: c.chosen, tried: c.tried.map(strip) }));
    const d = this.drops.status();
    const ok = d.state === 'running' || d.state === 'degraded';
    out.push({ capability: 'drops', chosen: ok ? d.hook : null, tried: [{ hook: 'tp_btf:kfree_skb', result: ok ? 'attached' : (d.detail ?? d.state) }] });
    return out;
  }

  blindSpots(): string[] {
    const out = this.lifecycle.blindSpots();
    // eBPF hooks see births and deaths, not the state changes in between
    // (ctnetlink UPDATE events do, but carry other entry ids).
    if (!this.netlink && this.lifecycle.capabilities().some((c) => c.programs.length > 0)) {
      out.push('state changes between allocation and destroy: occupancy by state shows the state at allocation (run with --hooks netlink for live states)');
    }
    const d = this.drops.status();
    if (d.state !== 'running' && d.state !== 'degraded') out.push(`drops: netfilter drops are only counted by /proc/net/stat/nf_conntrack (${d.detail ?? d.state})`);
    return out;
  }

  async stop(): Promise<void> {
    this.poller?.stop();
    // Every source detaches even when another one fails to.
    for (const s of this.sources()) await s.stop().catch(() => undefined);
  }
}

/** For `ctscope record`: the daemon's own source set (see record.ts). */
export const startLiveSources: StartSources = async (sink, onProc, opts) => LiveSources.start(sink, onProc, { hooks: 'auto', procIntervalMs: opts.procIntervalMs });

export interface DaemonOptions {
  listen: Listen;
  hooks: HookMode;
  /** Also record to this .ctcap file. */
  record?: string;
  /** --ingress SPEC[,SPEC] and --ingress-hook. */
  ingress?: { spec: string; hook?: string };
  maxFlows: number;
  metricsTopK: number;
  enableAccounting?: boolean;
  procIntervalMs?: number;
}

/** Hands a batch to several sinks (the model, the recorder). */
class Fanout implements RecordSink {
  constructor(private readonly sinks: RecordSink[]) {}
  ingest(batch: RecordColumns): void {
    for (const s of this.sinks) s.ingest(batch);
  }
}

export class Daemon {
  readonly model: Model;
  private live: LiveSources | null = null;
  private ingress: IngressWiring | null = null;
  private capture: DeferredCapture | null = null;
  private app: FastifyInstance | null = null;
  private tick: NodeJS.Timeout | null = null;
  private statusTimer: NodeJS.Timeout | null = null;
  private readonly startedAt = new Date();
  private readonly btf = fs.existsSync('/sys/kernel/btf/vmlinux');

  constructor(private readonly opts: DaemonOptions) {
    this.model = new Model({ maxFlows: opts.maxFlows, topK: opts.metricsTopK });
    // Bad --ingress values fail here, before anything is attached.
    if (opts.ingress) this.ingress = createIngress({ spec: opts.ingress.spec, hook: opts.ingress.hook, model: this.model });
    if (opts.record) this.capture = new DeferredCapture(opts.record);
  }

  /** Start everything; resolves to the address served. */
  async start(): Promise<string> {
    const sinks: RecordSink[] = [this.model];
    if (this.capture) sinks.push(this.capture);
    const onProc = (s: ProcSnapshot) => {
      this.model.ingestProc(s);
      this.capture?.writeProc(s);
    };
    this.live = await LiveSources.start(
      new Fanout(sinks),
      onProc,
      { hooks: this.opts.hooks, procIntervalMs: this.opts.procIntervalMs ?? 1000, ...(this.opts.enableAccounting ? { enableAccounting: true } : {}) },
      this.ingress ? [this.ingress.source] : [],
    );
    if (this.capture) {
      const w = this.capture.open(this.live.status().map(DeferredCapture.sourceInfo));
      w.writeStatus(boottimeNs(), this.live.status());
      this.statusTimer = setInterval(() => w.writeStatus(boottimeNs(), this.sourceStatus()), 10_000);
      this.statusTimer.unref();
    }
    // The model's windows move with the clock even when no record arrives.
    this.tick = setInterval(() => this.model.advance(boottimeNs()), 250);
    this.tick.unref();

    try {
      this.app = await buildApp({
        status: () => this.statusReport(),
        table: this.live.table,
        metrics: () => this.metrics(),
        model: this.model,
        environment: () => readAdviceEnvironment(),
        netnsNames: () => this.live?.netnsNames() ?? new Map(),
        ...(this.ingress ? { moreAdvice: () => this.ingress!.advice(), arrivals: this.ingress.arrivals } : {}),
      });
      return await this.app.listen({ host: this.opts.listen.host, port: this.opts.listen.port });
    } catch (e) {
      await this.stop();
      const err = e as NodeJS.ErrnoException;
      if (err.code === 'EADDRINUSE' || err.code === 'EADDRNOTAVAIL' || err.code === 'EACCES') {
        throw new UserError(`cannot listen on ${this.opts.listen.host}:${this.opts.listen.port}: ${err.code} (another daemon running? choose another --listen)`);
      }
      throw e;
    }
  }

  async stop(): Promise<void> {
    if (this.tick) clearInterval(this.tick);
    if (this.statusTimer) clearInterval(this.statusTimer);
    this.tick = this.statusTimer = null;
    await this.app?.close().catch(() => undefined);
    this.app = null;
    await this.live?.stop();
    const w = this.capture?.writer;
    if (w) {
      w.writeStatus(boottimeNs(), this.sourceStatus());
      w.close('daemon stopped');
    }
  }

  private sourceStatus(): SourceStatus[] {
    const out = this.live ? this.live.status() : [];
    for (const s of out) {
      const h = this.live!.delays.get(s.name);
      if (h && h.count > 0) s.delay_p99_s = h.quantileBound(0.99);
    }
    const w = this.capture?.writer;
    if (w) out.push(w.status());
    return out;
  }

  statusReport(): StatusReport {
    const sources = this.sourceStatus();
    return {
      version: VERSION,
      mode: 'live',
      kernel: { release: os.release(), btf: this.btf },
      started_at: this.startedAt.toISOString(),
      uptime_seconds: Math.round((Date.now() - this.startedAt.getTime()) / 1000),
      sources,
      capabilities: this.live?.capabilities() ?? [],
      blind_spots: this.live?.blindSpots() ?? [],
      lost: { total: sources.reduce((a, s) => a + s.lost.total, 0) },
    };
  }

  private metrics(): string {
    const e = new Exposition();
    const table = this.live!.table;
    renderTableMetrics(e, table.host(), table.all());
    renderSourceMetrics(e, this.sourceStatus());
    writeDelayMetrics(e, this.live!.delays);
    const reasons = this.live!.drops.reasons();
    writeModelMetrics(e, this.model, { topK: this.opts.metricsTopK, reasonName: (r) => reasons[r] ?? String(r) });
    const text = e.text();
    return this.ingress ? text + this.ingress.metrics() : text;
  }
}
