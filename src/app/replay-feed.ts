// The replay feed: a .ctcap capture or conntrack text, replayed on the file's
// clock into the same model as the live daemon (`ctscope replay`, `--serve`,
// and `ctscope start` where the daemon cannot run). Beside the model it keeps
// the whole-capture tallies of the replay report and, for --what-if, every
// flow's demand (capture/what-if.ts).

import os from 'node:os';
import type { AppOptions } from '../api/app.js';
import { openReplay, runReplay, type ReplayInput, type ReplayProgress, type ReplaySink, type ReplaySummary } from '../capture/replay.js';
import { ThreadedInput } from '../capture/read-thread.js';
import { buildReport, ReplayTally, type ReplayReport } from '../capture/report.js';
import { simulate } from '../capture/what-if.js';
import { DemandCollector } from '../capture/demand.js';
import type { WhatIfSpec } from '../capture/what-if-spec.js';
import { captureEnvironment } from '../advice/environment.js';
import type { Model } from '../model/model.js';
import type { SourceStatus } from '../records/sink.js';
import type { Delivery, Feed, FeedStatus } from './feed.js';

export interface ReplayOptions {
  /** Capture seconds per wall second (default Infinity: as fast as possible). */
  speed?: number;
  /** Keep every entry's lifetime for a --what-if simulation. */
  whatIf?: WhatIfSpec | null;
  /** The pipe '-' reads (default process.stdin). */
  stdin?: NodeJS.ReadableStream;
  /**
   * Read the input and count the heavy hitters in helper threads where there
   * is a CPU to spare: only for a replay asked at its end (a report, full
   * speed, no server), since the model refuses ranking queries meanwhile.
   */
  helperThreads?: boolean;
}

export type ReplayResult = { progress: ReplayProgress; summary: ReplaySummary };

export class ReplayFeed implements Feed {
  input: ReplayInput;
  /** Threads the replay runs on: 1, or with its reading and/or counting helpers. */
  threads = 1;
  tally: ReplayTally | null = null;
  /** The capture's demand, for a --what-if (capture/what-if.ts). */
  lifetimes: DemandCollector | null = null;
  /** Resolves when the whole input has been replayed (rejects with the input's error). */
  done: Promise<ReplayResult> = new Promise(() => {});
  private model: Model | null = null;
  private recorded: SourceStatus[];
  private readonly abort = new AbortController();
  private started = false;
  private finished: ReplayResult | null = null;
  private failure: string | null = null;

  /** Throws ReplayInputError when nothing can be read. */
  constructor(
    readonly files: string[],
    private readonly opts: ReplayOptions = {},
  ) {
    this.input = openReplay(files, opts.stdin ? { stdin: opts.stdin } : {});
    this.recorded = (this.input.header?.sources ?? []).map((s) => ({ name: s.name, state: 'stopped', hook: s.hook, records: 0, lost: { total: 0 } }));
  }

  attach(model: Model | null): void {
    if (!model) throw new Error('a replay needs a model');
    this.model = model;
    // Asked only at the end (a report, no server), and a CPU to spare: the
    // input is read (capture/read-thread.ts) and the heavy hitters are counted
    // (model/counting.ts) in helper threads.
    if (this.opts.helperThreads && os.availableParallelism() > 1) {
      const threaded = this.files.includes('-') ? null : ThreadedInput.wrap(this.input, this.files);
      if (threaded) {
        this.input = threaded;
        this.threads++;
      }
      if (model.countElsewhere()) this.threads++;
    }
    // whole-capture churn summaries only when the model's window cannot cover the capture
    const span = this.input.spanSeconds();
    this.tally = new ReplayTally(model, span === null || span + 2 > model.opts.historySeconds);
    this.lifetimes = this.opts.whatIf ? new DemandCollector() : null;
  }

  async start(to: Delivery): Promise<void> {
    const model = this.model!;
    const sinks: ReplaySink[] = [{ ingest: (b) => to.ingest(b), ingestProc: (s) => to.proc(s), advance: (ns) => to.advance(ns), pods: (p) => to.pods(p) }, this.tally!];
    if (this.lifetimes) sinks.push(this.lifetimes);
    sinks.push({
      ingest() {},
      status: (ts, s, shift) => {
        this.recorded = s.map((x) => ({ ...x, state: 'stopped' as const }));
        // the recording daemon sampled (--max-cpu): the model follows the same entries, and its answers say so
        if (shift !== undefined) to.sampling(ts, shift);
      },
    });
    this.started = true;
    this.done = runReplay(this.input, sinks, { speed: this.opts.speed ?? Infinity, signal: this.abort.signal })
      .then(async (progress) => {
        await model.countHere();
        return progress;
      })
      .then(
        (progress) => (this.finished = { progress, summary: this.input.summary() }),
        (e) => {
          model.stopCounting();
          this.failure = (e as Error).message;
          throw e;
        },
      );
  }

  async stop(): Promise<void> {
    this.abort.abort();
    if (!this.started) {
      // Never started: release what attach() and the constructor took.
      this.model?.stopCounting();
      (this.input as ReplayInput & { close?(): void }).close?.();
    }
  }

  status(): FeedStatus {
    const summary = this.finished?.summary;
    const lost = this.tally?.lostEvents ?? 0;
    const replay: SourceStatus = {
      name: 'replay',
      state: this.failure ? 'failed' : this.finished ? 'stopped' : 'running',
      hook: this.input.format === 'ctcap' ? 'ctcap file' : 'conntrack text',
      ...(this.failure ? { detail: this.failure } : this.finished ? { detail: 'replay finished; the model holds the state at the end of the capture' } : {}),
      records: this.finished ? this.finished.progress.records : (this.model?.records ?? 0),
      lost: { total: lost },
    };
    return {
      mode: 'replay',
      kernel: { release: this.input.header?.kernel ?? 'unknown (conntrack text)', btf: false },
      replay: { file: this.files.join(', '), partial: summary?.partial ?? false, ...(summary?.detail ? { detail: summary.detail } : {}) },
      sources: [replay, ...this.recorded],
      lost: { total: lost },
    };
  }

  api(): Pick<AppOptions, 'environment' | 'clock'> {
    // the recording host's entry size and memory as its capture recorded them, else the defaults
    const facts = this.input.header?.host_facts ?? null;
    return {
      environment: () => captureEnvironment(facts),
      // the capture's own clock; final once the whole input is in (its last second is then complete)
      clock: () => ({ epochOffsetNs: this.input.bootBaseNs, final: this.finished !== null || this.failure !== null }),
    };
  }

  /** The replay report of a finished replay (capture/report.ts). */
  report(r: ReplayResult, whatIf: WhatIfSpec | null, limit = 10): ReplayReport {
    return buildReport({
      model: this.model!,
      tally: this.tally!,
      input: this.input,
      summary: r.summary,
      progress: r.progress,
      limit,
      threads: this.threads,
      ...(whatIf && this.lifetimes ? { whatIf: simulate(this.lifetimes, whatIf) } : {}),
    });
  }
}
