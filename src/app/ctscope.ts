// A running ctscope, assembled from parts: a feed (the live sources or a
// replay, feed.ts), the model it fills, a recorder writing a capture, the
// HTTP API and /metrics. `ctscope run`, `record`, `replay` (and `--serve`),
// `start` and the tests all build one here; the CLI only parses arguments.
//
//   feed ──records, /proc──► model ──► API (/v1/*, /metrics)
//                       └──► recorder (.ctcap)
//
// Start-up is all-or-nothing: if a step fails (the capture cannot be
// created, the address is in use), everything started before it is stopped
// and released — the feed's sources detached, the recorder closed (a file it
// created and never wrote removed), the server closed, the timers cleared —
// and the error is thrown. What an operator can fix is found before anything
// is attached: the options the feed refuses (an --ingress spec), a capture
// path that cannot be written, an address that cannot be listened on. A stop
// asked for during start-up (SIGTERM: `signal`) is honoured between any two
// steps: what started is stopped and StartAborted thrown. stop() does the
// same on the way out and may be called at any point, more than once.

import type { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { ApiAccess } from '../api/access.js';
import { buildApp } from '../api/app.js';
import type { StatusReport, TableView } from '../api/context.js';
import { DeferredCapture } from '../capture/recorder.js';
import type { CaptureWriterOptions } from '../capture/writer.js';
import { Exposition } from '../metrics/exposition.js';
import { writeModelMetrics } from '../metrics/model-families.js';
import { renderSourceMetrics, renderTableMetrics } from '../metrics/table-families.js';
import { Model, type ModelOptions } from '../model/model.js';
import type { ProcSnapshot } from '../proc/types.js';
import type { RecordColumns } from '../records/batch.js';
import type { SourceStatus } from '../records/sink.js';
import { VERSION } from '../version.js';
import { turn, type Delivery, type Feed, type FeedApi } from './feed.js';
import { checkListen, listenOn, type Listen } from './listen.js';
import { modelTable } from './model-views.js';
import { MemoryUpkeep } from './memory-upkeep.js';
import { statesFollowed } from './states-followed.js';
import { loadAddon } from '../native/addon.js';

export interface CtscopeOptions {
  feed: Feed;
  /** The model records go to: options for a new one, a model to use, or null for none (`ctscope record`). Default: a new one. */
  model?: ModelOptions | Model | null;
  /** Also record everything the feed delivers to this capture. */
  record?: { file: string } & Omit<CaptureWriterOptions, 'sources'>;
  /** Build the API (needs a model): `{}` for inject() only, with `listen` to serve it, `access` for TLS and a token; `logStream`: where its log goes (default stderr). */
  api?: { listen?: Listen; logStream?: Writable; access?: ApiAccess };
  /** Per-key series in /metrics for the top K keys (default: the model's topK). */
  metricsTopK?: number;
  /** Seconds between the capture's STATUS frames (default 10). */
  statusIntervalS?: number;
  /** Aborted when the operator asks to stop during start-up (SIGINT/SIGTERM). */
  signal?: AbortSignal;
}

/** Start-up stopped because the operator asked (the signal's reason, e.g. "SIGTERM"); everything started is stopped. */
export class StartAborted extends Error {
  constructor(readonly why: string) {
    super(`stopped during start-up (${why})`);
    this.name = 'StartAborted';
  }
}

export class Ctscope {
  readonly model: Model | null;
  readonly feed: Feed;
  readonly capture: DeferredCapture | null;
  app: FastifyInstance | null = null;
  /** The address the API is served on, when it listens. */
  address: string | null = null;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly startedAt = new Date();
  private stopped: Promise<void> | null = null;
  /** The sampling in force (1 entry in 2^shift followed), as the feed last said. */
  private shift = 0;

  private constructor(private readonly opts: CtscopeOptions) {
    this.feed = opts.feed;
    const m = opts.model === undefined ? {} : opts.model;
    this.model = m === null ? null : m instanceof Model ? m : new Model(m);
    if (opts.record) {
      const { file, ...writer } = opts.record;
      this.capture = new DeferredCapture(file, writer);
    } else this.capture = null;
  }

  /** Start every part in order; on a failure, stop what started and throw. */
  static async start(opts: CtscopeOptions): Promise<Ctscope> {
    const c = new Ctscope(opts);
    try {
      await c.startParts();
    } catch (e) {
      await c.stop('error');
      throw e;
    }
    return c;
  }

  private async startParts(): Promise<void> {
    const { feed, model, capture } = this;
    const { signal } = this.opts;
    const go = async () => {
      if (!signal) return;
      await turn();
      if (signal.aborted) throw new StartAborted(String(signal.reason ?? 'stop requested'));
    };
    // what an operator can fix, before anything is attached
    await go();
    feed.attach(model);
    // Tables are named as the feed knows their namespaces (host, /run/netns name, pid:N);
    // later namers (the Kubernetes resolver) override it.
    const names = feed.api().netnsNames;
    if (model && names) {
      // Asked once per table: the map is built once per turn of the event
      // loop, not once per table (1,000 tables were 1,000 maps of 1,000 names
      // for each /v1/table).
      let turnNames: ReadonlyMap<number, string> | null = null;
      model.tables.addNamer((n) => {
        if (!turnNames) {
          turnNames = names();
          setImmediate(() => (turnNames = null));
        }
        const name = turnNames.get(n);
        return name ? { name } : undefined;
      });
    }
    capture?.reserve();
    if (this.opts.api?.listen) await checkListen(this.opts.api.listen);
    await go();
    await feed.start(this.delivery(), signal);
    // What the sources can see decides what the model's states mean.
    if (model) model.statesFollowed = statesFollowed(feed.status().sources);
    await go();
    if (capture) {
      capture.open(feed.status().sources.map(DeferredCapture.sourceInfo));
      this.writeStatus();
      this.every((this.opts.statusIntervalS ?? 10) * 1000, () => this.writeStatus());
    }
    // The model's windows move with the clock even when no record arrives.
    const clock = feed.clock?.bind(feed);
    if (model && clock) this.every(250, () => model.advance(clock()));
    if (model) {
      // the C heap given back after the tables of gone namespaces are let go
      const upkeep = new MemoryUpkeep(
        () => model.tables.dropped,
        () => {
          try {
            return loadAddon().mallocTrim();
          } catch {
            return false; // no addon (a replay where none is built): nothing native to trim
          }
        },
      );
      this.every(30_000, () => upkeep.check());
    }
    if (this.opts.api) {
      if (!model) throw new Error('the API needs a model');
      this.app = await buildApp({
        status: () => this.status(),
        table: this.tableView(),
        metrics: () => this.metrics(),
        model,
        ...apiOf(feed),
        ...(this.opts.api.logStream ? { logStream: this.opts.api.logStream } : {}),
        ...(this.opts.api.access ? { access: this.opts.api.access } : {}),
      });
      await go();
      if (this.opts.api.listen) this.address = await listenOn(this.app, this.opts.api.listen);
    }
    await go();
  }

  /** Stop the API, the feed and the recorder (in that order); idempotent. */
  stop(reason = 'stopped'): Promise<void> {
    this.stopped ??= (async () => {
      for (const t of this.timers.splice(0)) clearInterval(t);
      await this.app?.close().catch(() => undefined);
      await this.feed.stop();
      this.writeStatus();
      this.capture?.writer?.close(reason);
      this.capture?.release();
    })();
    return this.stopped;
  }

  /**
   * A STATUS frame in the capture: the sources, and the sampling in force
   * (--max-cpu) when the feed has a budget. Written every statusIntervalS
   * and at every change of the sampling, so a replay follows the same
   * entries the live model did from the same point of the records.
   */
  private writeStatus(ts = this.clockNs(), shift = this.shift): void {
    const c = this.capture;
    if (!c) return;
    const sampled = shift > 0 || this.feed.status().sampling?.max_cpu;
    c.writeStatus(ts, this.sources(), sampled ? { one_in: 2 ** shift } : undefined);
  }

  /** Every source's status, the recorder's included. */
  sources(): SourceStatus[] {
    const out = this.feed.status().sources;
    const w = this.capture?.writer;
    if (w) out.push(w.status());
    return out;
  }

  status(): StatusReport {
    const f = this.feed.status();
    const w = this.capture?.writer;
    const sources = w ? [...f.sources, w.status()] : f.sources;
    return {
      version: VERSION,
      mode: f.mode,
      kernel: f.kernel,
      started_at: this.startedAt.toISOString(),
      uptime_seconds: Math.round((Date.now() - this.startedAt.getTime()) / 1000),
      ...(f.replay ? { replay: f.replay } : {}),
      sources,
      ...(f.capabilities ? { capabilities: f.capabilities } : {}),
      ...(f.blind_spots ? { blind_spots: f.blind_spots } : {}),
      ...(f.sampling ? { sampling: f.sampling } : {}),
      ...(f.workloads ? { workloads: f.workloads } : {}),
      lost: { total: f.lost.total + (w ? w.status().lost.total : 0) },
    };
  }

  /** The whole /metrics exposition: the table, the sources, what only the feed has, the model. */
  metrics(): string {
    const e = new Exposition();
    if (this.model) renderTableMetrics(e, this.tableView());
    renderSourceMetrics(e, this.status().sources);
    this.feed.writeMetrics?.(e);
    if (this.model) {
      const reasonName = this.feed.dropReasonName?.bind(this.feed);
      writeModelMetrics(e, this.model, { topK: this.opts.metricsTopK ?? this.model.opts.topK, ...(reasonName ? { reasonName } : {}) });
    }
    return e.text();
  }

  /** Every namespace's table: the model's accounts (fed the /proc snapshots the feed delivers). */
  private tableView(): TableView {
    if (!this.model) throw new Error('no table without a model');
    return modelTable(this.model);
  }

  /** Where the feed delivers: the model and the recorder. */
  private delivery(): Delivery {
    const { model, capture } = this;
    const ingest: (b: RecordColumns) => void =
      model && capture
        ? (b) => {
            model.ingest(b);
            capture.ingest(b);
          }
        : model
          ? (b) => model.ingest(b)
          : capture
            ? (b) => capture.ingest(b)
            : () => undefined;
    return {
      ingest,
      proc: (s: ProcSnapshot) => {
        model?.ingestProc(s);
        capture?.writeProc(s);
      },
      advance: (ns: number) => model?.advance(ns),
      sampling: (ns: number, shift: number) => {
        this.shift = shift;
        model?.setSampling(ns, shift);
        this.writeStatus(ns, shift);
      },
      vanish: (netns: number, atNs: number) => model?.tables.vanish(netns, atNs),
      pods: (p) => {
        model?.pods(p);
        capture?.writePods(p.ts, p);
      },
    };
  }

  /** The time stamped on the capture's STATUS frames: the feed's clock, else the model's. */
  private clockNs(): number {
    return this.feed.clock?.() ?? this.model?.nowNs ?? 0;
  }

  private every(ms: number, f: () => void): void {
    const t = setInterval(f, ms);
    t.unref();
    this.timers.push(t);
  }
}

/** What the feed adds to the API, without its namespace names (they name the tables: see start()). */
function apiOf(feed: Feed): Omit<FeedApi, 'netnsNames'> {
  const { netnsNames: _names, ...api } = feed.api();
  return api;
}
