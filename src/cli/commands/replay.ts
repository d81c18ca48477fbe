// ctscope replay FILE [FILE...] [--report json|text] [--serve [--listen HOST:PORT]]
//                [--speed X|max] [--what-if SPEC] [--limit N] [--single-thread]
//
// Replays a .ctcap capture or conntrack text through the same model as the
// live daemon, on the file's clock, and prints a report and/or serves the
// same HTTP API. Exit codes: 0 replayed (possibly partial: flagged in the
// report and on stderr), 1 nothing usable could be read, 2 usage errors.

import { parse, parseListen, UsageError, type Listen } from '../args.js';
import { formatReportText } from '../../capture/report.js';
import { parseWhatIf, type WhatIfSpec } from '../../capture/what-if-spec.js';
import { exposureWarning } from '../../app/listen.js';
import type { ApiAccess } from '../../api/access.js';
import { apiAccess, LISTEN_OPTIONS } from '../listen-flags.js';
import type { ReplayResult } from '../../app/replay-feed.js';
import { startReplay, type RunningReplay } from '../../app/serve-replay.js';
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
  --listen H:P      where to serve (default 127.0.0.1:9640); beyond loopback
                    with --tls-cert/--tls-key and --token-file as for 'run'
                    (ctscope run --help), or --insecure-listen
  --speed X|max     capture seconds per wall second (default max)
  --what-if SPEC    re-simulate under other timeouts / limit, e.g.
                    'tcp_timeout_time_wait=30,udp_timeout=10,max=65536'
  --limit N         items per ranking in the report (default 10)
  --single-thread   do all the work in one thread (by default a report-only
                    replay reads the capture and counts heavy hitters in
                    helper threads when there is more than one CPU)`;

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
  let access: ApiAccess | undefined;
  try {
    const p = parse(
      'replay',
      argv,
      {
        report: { type: 'string' },
        serve: { type: 'boolean' },
        ...LISTEN_OPTIONS,
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
    for (const f of Object.keys(LISTEN_OPTIONS)) {
      if (values[f] !== undefined && !values.serve) throw new UsageError(`--${f} only makes sense with --serve`, 'replay');
    }
    if (values.listen !== undefined) listen = parseListen(values.listen as string);
    if (values.serve) access = apiAccess(listen, values, 'replay');
    speed = parseSpeed(values.speed as string | undefined);
    if (values.limit !== undefined) {
      if (!/^\d+$/.test(values.limit as string) || Number(values.limit) < 1 || Number(values.limit) > 1000) {
        throw new UsageError(`--limit expects 1..1000, got '${values.limit}'`, 'replay');
      }
      limit = Number(values.limit);
    }
    if (values['what-if'] !== undefined) whatIf = parseWhatIf(values['what-if'] as string);
  } catch (e) {
    if (e instanceof UserError && e.exitCode === 2) {
      err(`ctscope replay: ${e.message}\n(ctscope replay --help for usage)\n`);
      return 2;
    }
    throw e;
  }
  const format = (values.report as 'json' | 'text' | undefined) ?? (values.serve ? null : 'text');

  let running: RunningReplay | null = null;
  let result: ReplayResult;
  try {
    running = await startReplay(files, {
      speed,
      whatIf,
      helperThreads: !values.serve && !values['single-thread'] && speed === Infinity,
      ...(values.serve ? { api: { listen, ...(access ? { access } : {}) } } : {}),
    });
    if (values.serve) {
      err(`ctscope replay: serving ${files.join(', ')} on ${running.ctscope.address} (replay mode)\n`);
      const warn = access ? null : exposureWarning(listen);
      if (warn) err(warn);
    }
    result = await running.feed.done;
  } catch (e) {
    await running?.ctscope.stop();
    if (e instanceof UserError) {
      err(`ctscope replay: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
  const { ctscope, feed } = running;
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
      await ctscope.stop();
      return 1;
    }
  }
  if (summary.partial) err(`ctscope replay: warning: partial input: ${summary.detail}\n`);
  if (format) {
    const report = feed.report(result, whatIf, limit);
    out(format === 'json' ? `${JSON.stringify(report, null, 2)}\n` : formatReportText(report));
  }
  if (values.serve) {
    err(`ctscope replay: replay finished (${progress.records} records); still serving, Ctrl-C to stop\n`);
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
  }
  await ctscope.stop();
  return 0;
}
