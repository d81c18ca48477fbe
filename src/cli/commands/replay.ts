// ctscope replay FILE [FILE...] [--report json|text] [--serve [--listen HOST:PORT]]
//                [--speed X|max] [--what-if SPEC] [--limit N] [--single-thread]
//
// Replays a .ctcap capture or conntrack text through the same model as the
// live daemon, on the file's clock, and prints a report and/or serves the
// same HTTP API. Exit codes: 0 replayed (possibly partial: flagged in the
// report and on stderr), 1 nothing usable could be read, 2 usage errors.

import os from 'node:os';
import type { FastifyInstance } from 'fastify';
import { parse, parseListen, UsageError, type Listen } from '../args.js';
import { Model } from '../../model/model.js';
import { openReplay, runReplay, ReplayInputError, type ReplayInput, type ReplayProgress, type ReplaySink, type ReplaySummary } from '../../capture/replay.js';
import { ThreadedInput } from '../../capture/read-thread.js';
import { buildReport, formatReportText, ReplayTally, type ReplayReport } from '../../capture/report.js';
import { LifetimeCollector, parseWhatIf, simulate, WhatIfSpecError, type WhatIfSpec } from '../../capture/what-if.js';
import { buildApp } from '../../api/app.js';
import type { StatusReport, TableView } from '../../api/context.js';
import type { SourceStatus } from '../../sources/source.js';
import { modelMetrics, modelTable } from '../../app/model-views.js';
import { VERSION } from '../../version.js';
import { UserError } from '../../errors.js';

export const REPLAY_USAGE = `usage: ctscope replay FILE [FILE...] [--report json|text] [--serve [--listen HOST:PORT]]
                      [--speed X|max] [--what-if SPEC] [--limit N] [--single-thread]

Replay a capture through the same model as the live daemon.
  FILE              a .ctcap capture (rotated segments are followed), or text
                    written by 'conntrack -E -o timestamp,id[,extended]'; a
                    'conntrack -L -o extended,id' file given first is the table
                    at start; '-' reads conntrack text from a pipe as it comes:
                    stdbuf -oL conntrack -E -o timestamp,id,extended |
                      ctscope replay - --serve
  --report FMT      print a report: text (default without --serve) or json
  --serve           serve the HTTP API over the replayed model (as live)
  --listen H:P      where to serve (default 127.0.0.1:9640)
  --speed X|max     capture seconds per wall second (default max)
  --what-if SPEC    re-simulate under other timeouts / limit, e.g.
                    'tcp_timeout_time_wait=30,udp_timeout=10,max=65536'
  --limit N         items per ranking in the report (default 10)
  --single-thread   do all the work in one thread (by default a report-only
                    replay reads the capture and counts heavy hitters in
                    helper threads when there is more than one CPU)`;

export interface ReplaySession {
  input: ReplayInput;
  model: Model;
  tally: ReplayTally;
  lifetimes: LifetimeCollector | null;
  /** Threads the replay runs on: 1, or with its reading and/or counting helpers. */
  threads: number;
  /** Resolves when the whole input has been replayed. */
  done: Promise<{ progress: ReplayProgress; summary: ReplaySummary }>;
  /** State for /v1/status. */
  status(): StatusReport;
  table: TableView;
  metrics(): string;
  stop(): void;
}

/** Start replaying `files` into a fresh model. Throws ReplayInputError when nothing can be read. */
export function startReplay(files: string[], opts: { speed?: number; whatIf?: WhatIfSpec | null; stdin?: NodeJS.ReadableStream; helperThreads?: boolean } = {}): ReplaySession {
  let input = openReplay(files, opts.stdin ? { stdin: opts.stdin } : {});
  const model = new Model();
  // Asked only at the end (a report, no server), and a CPU to spare: the
  // input is read (capture/read-thread.ts) and the heavy hitters are counted
  // (model/counting.ts) in helper threads.
  let threads = 1;
  if (opts.helperThreads && os.availableParallelism() > 1) {
    const threaded = files.includes('-') ? null : ThreadedInput.wrap(input, files);
    if (threaded) {
      input = threaded;
      threads++;
    }
    if (model.countElsewhere()) threads++;
  }
  // whole-capture churn summaries only when the model's window cannot cover the capture
  const span = input.spanSeconds();
  const tally = new ReplayTally(model, span === null || span + 2 > model.opts.historySeconds);
  const lifetimes = opts.whatIf ? new LifetimeCollector() : null;
  const sinks: ReplaySink[] = [model, tally];
  if (lifetimes) sinks.push(lifetimes);
  let sources: SourceStatus[] = (input.header?.sources ?? []).map((s) => ({ name: s.name, state: 'stopped', hook: s.hook, records: 0, lost: { total: 0 } }));
  sinks.push({ ingest() {}, status: (_ts, s) => (sources = s.map((x) => ({ ...x, state: 'stopped' as const }))) });
  const abort = new AbortController();
  const startedAt = new Date();
  let finished: { progress: ReplayProgress; summary: ReplaySummary } | null = null;
  let failure: string | null = null;
  const done = runReplay(input, sinks, { speed: opts.speed ?? Infinity, signal: abort.signal })
    .then(async (progress) => {
      await model.countHere();
      return progress;
    })
    .then(
      (progress) => (finished = { progress, summary: input.summary() }),
      (e) => {
        model.stopCounting();
        failure = (e as Error).message;
        throw e;
      },
    );
  const records = () => (finished ? finished.progress.records : model.records);
  const status = (): StatusReport => {
    const summary = finished?.summary;
    const replaySource: SourceStatus = {
      name: 'replay',
      state: failure ? 'failed' : finished ? 'stopped' : 'running',
      hook: input.format === 'ctcap' ? 'ctcap file' : 'conntrack text',
      ...(failure ? { detail: failure } : finished ? { detail: 'replay finished; the model holds the state at the end of the capture' } : {}),
      records: records(),
      lost: { total: tally.lostEvents },
    };
    return {
      version: VERSION,
      mode: 'replay',
      kernel: { release: input.header?.kernel ?? 'unknown (conntrack text)', btf: false },
      started_at: startedAt.toISOString(),
      uptime_seconds: Math.round((Date.now() - startedAt.getTime()) / 1000),
      replay: { file: files.join(', '), partial: summary?.partial ?? false, ...(summary?.detail ? { detail: summary.detail } : {}) },
      sources: [replaySource, ...sources],
      lost: { total: tally.lostEvents },
    };
  };
  const table = modelTable(model);
  const metrics = modelMetrics(model, table, () => status().sources);
  return { input, model, tally, lifetimes, threads, done, status, table, metrics, stop: () => abort.abort() };
}

/** The report of a finished session. */
export function sessionReport(s: ReplaySession, r: { progress: ReplayProgress; summary: ReplaySummary }, whatIf: WhatIfSpec | null, limit = 10): ReplayReport {
  return buildReport({
    model: s.model,
    tally: s.tally,
    input: s.input,
    summary: r.summary,
    progress: r.progress,
    limit,
    threads: s.threads,
    ...(whatIf && s.lifetimes ? { whatIf: simulate(s.lifetimes, whatIf) } : {}),
  });
}

/** Serve the API over a replay session (the live daemon's app, replay status). */
export async function serveSession(s: ReplaySession, listen: Listen): Promise<FastifyInstance> {
  const app = await buildApp({
    status: s.status,
    table: s.table,
    metrics: s.metrics,
    model: s.model,
    // the recording host's memory and slab size are unknown: advice uses defaults
    environment: () => ({}),
  });
  await app.listen({ host: listen.host, port: listen.port });
  return app;
}

/**
 * For `npm start` where the daemon cannot run: replay `files` (the shipped
 * sample) and serve it. Resolves once listening; the replay continues.
 */
export async function serveReplay(files: string[], listen: Listen, opts: { speed?: number } = {}): Promise<{ app: FastifyInstance; session: ReplaySession; close(): Promise<void> }> {
  const session = startReplay(files, { speed: opts.speed ?? Infinity });
  session.done.catch(() => undefined); // reported through /v1/status
  const app = await serveSession(session, listen);
  return {
    app,
    session,
    close: async () => {
      session.stop();
      await app.close();
    },
  };
}

function parseSpeed(text: string | undefined): number {
  if (text === undefined || text === 'max') return Infinity;
  if (!/^\d+(\.\d+)?$/.test(text) || !(Number(text) > 0) || Number(text) > 1e6) {
    throw new UsageError(`--speed expects a factor > 0 (1 = real time) or 'max', got '${text}'`, 'replay');
  }
  return Number(text);
}

export async function replayCommand(argv: string[], io: { out?: (s: string) => void; err?: (s: string) => void } = {}): Promise<number> {
  const out = io.out ?? ((s: string) => process.stdout.write(s));
  const err = io.err ?? ((s: string) => process.stderr.write(s));
  let values: Record<string, string | boolean | undefined>;
  let files: string[];
  let whatIf: WhatIfSpec | null = null;
  let speed: number;
  let limit = 10;
  let listen: Listen = { host: '127.0.0.1', port: 9640 };
  try {
    const p = parse(
      'replay',
      argv,
      {
        report: { type: 'string' },
        serve: { type: 'boolean' },
        listen: { type: 'string' },
        speed: { type: 'string' },
        'what-if': { type: 'string' },
        limit: { type: 'string' },
        'single-thread': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      true,
    );
    values = p.values;
    files = p.positionals;
    if (values.help) {
      out(`${REPLAY_USAGE}\n`);
      return 0;
    }
    if (files.length === 0) throw new UsageError('replay needs a FILE (a .ctcap capture or conntrack -E text)', 'replay');
    if (values.report !== undefined && values.report !== 'json' && values.report !== 'text') {
      throw new UsageError(`--report expects json or text, got '${values.report}'`, 'replay');
    }
    if (values.listen !== undefined && !values.serve) throw new UsageError('--listen only makes sense with --serve', 'replay');
    if (values.listen !== undefined) listen = parseListen(values.listen as string);
    speed = parseSpeed(values.speed as string | undefined);
    if (values.limit !== undefined) {
      if (!/^\d+$/.test(values.limit as string) || Number(values.limit) < 1 || Number(values.limit) > 1000) {
        throw new UsageError(`--limit expects 1..1000, got '${values.limit}'`, 'replay');
      }
      limit = Number(values.limit);
    }
    if (values['what-if'] !== undefined) whatIf = parseWhatIf(values['what-if'] as string);
  } catch (e) {
    if (e instanceof UsageError || e instanceof WhatIfSpecError) {
      err(`ctscope replay: ${e.message}\n(ctscope replay --help for usage)\n`);
      return 2;
    }
    throw e;
  }
  const format = (values.report as 'json' | 'text' | undefined) ?? (values.serve ? null : 'text');

  let session: ReplaySession;
  let result: { progress: ReplayProgress; summary: ReplaySummary };
  let app: FastifyInstance | null = null;
  try {
    session = startReplay(files, { speed, whatIf, helperThreads: !values.serve && !values['single-thread'] && speed === Infinity });
    if (values.serve) {
      app = await serveSession(session, listen);
      err(`ctscope replay: serving ${files.join(', ')} on http://${listen.host.includes(':') ? `[${listen.host}]` : listen.host}:${listen.port} (replay mode)\n`);
    }
    result = await session.done;
  } catch (e) {
    if (app) await app.close();
    if (e instanceof ReplayInputError || e instanceof UserError) {
      err(`ctscope replay: ${e.message}\n`);
      return 1;
    }
    const ne = e as NodeJS.ErrnoException;
    if (ne.code === 'EADDRINUSE' || ne.code === 'EACCES' || ne.code === 'EADDRNOTAVAIL') {
      err(`ctscope replay: cannot listen on ${listen.host}:${listen.port}: ${ne.code}\n`);
      return 1;
    }
    throw e;
  }
  const { summary, progress } = result;
  const imp = summary.import;
  if (progress.records === 0) {
    const why =
      imp && imp.unparsed.count > 0
        ? `no line of ${files.join(', ')} could be read as conntrack output (${imp.unparsed.count} unparsed; first, line ${imp.unparsed.first_lines[0]?.line}: ${imp.unparsed.first_lines[0]?.why})`
        : summary.partial && summary.detail
          ? `nothing usable in ${files.join(', ')}: ${summary.detail}`
          : `${files.join(', ')} holds no records`;
    if (!(summary.procSnapshots > 0 && !summary.partial)) {
      err(`ctscope replay: ${why}\n`);
      if (app) await app.close();
      return 1;
    }
  }
  if (summary.partial) err(`ctscope replay: warning: partial input: ${summary.detail}\n`);
  if (format) {
    const report = sessionReport(session, result, whatIf, limit);
    out(format === 'json' ? `${JSON.stringify(report, null, 2)}\n` : formatReportText(report));
  }
  if (app) {
    err(`ctscope replay: replay finished (${progress.records} records); still serving, Ctrl-C to stop\n`);
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    await app.close();
  }
  return 0;
}
