// ctscope record -o FILE [--duration S] [--rotate-mb N] [--proc-interval MS]
//
// Starts the same live sources as the daemon, writes every record batch and a
// /proc snapshot per interval into a .ctcap file, and stops on SIGINT/SIGTERM
// or after --duration: a ctscope (src/app/ctscope.ts) with the live feed, a
// recorder and no model. Tests give it another feed.

import path from 'node:path';
import { parse, UsageError } from '../args.js';
import { UserError } from '../../errors.js';
import { untilSignal } from '../signals.js';
import { Ctscope, StartAborted } from '../../app/ctscope.js';
import type { Feed } from '../../app/feed.js';
import { LiveSources } from '../../app/live-sources.js';

export const RECORD_USAGE = `usage: ctscope record -o FILE [--duration S] [--rotate-mb N] [--proc-interval MS] [--cri-socket PATH]

Record the live conntrack record stream (the daemon's sources) into a .ctcap
capture file, with a /proc snapshot every --proc-interval ms (default 1000).
Stops on Ctrl-C / SIGTERM or after --duration seconds. With --rotate-mb N a new
file FILE.1.ctcap, FILE.2.ctcap, ... starts whenever one reaches N MiB; replay
follows the chain from the first file. The node's pods (from the CRI socket,
--cri-socket to name it, else /proc) are recorded as they change, so a replay
elsewhere names the same pods.`;

export interface RecordDeps {
  /** Where the records come from (default: the daemon's live sources). */
  feed?: (opts: { procIntervalMs: number; criSocket?: string }) => Feed;
  /** Resolves when the user asks to stop (default: SIGINT/SIGTERM). */
  stopSignal?: () => Promise<string>;
  log?: (line: string) => void;
}

export async function recordCommand(argv: string[], deps: RecordDeps = {}): Promise<number> {
  const { values } = parse('record', argv, {
    output: { type: 'string', short: 'o' },
    duration: { type: 'string' },
    'rotate-mb': { type: 'string' },
    'proc-interval': { type: 'string' },
    'cri-socket': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  const log = deps.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  if (values.help) {
    process.stdout.write(`${RECORD_USAGE}\n`);
    return 0;
  }
  if (!values.output) throw new UsageError('record needs -o FILE', 'record');
  const file = values.output;
  const duration = values.duration === undefined ? null : Number(values.duration);
  if (duration !== null && (!/^\d+(\.\d+)?$/.test(values.duration!) || !(duration > 0) || duration > 366 * 86400)) {
    throw new UsageError(`--duration expects seconds > 0, got '${values.duration}'`, 'record');
  }
  let rotateBytes: number | undefined;
  if (values['rotate-mb'] !== undefined) {
    const mb = Number(values['rotate-mb']);
    if (!/^\d+$/.test(values['rotate-mb']) || mb < 1 || mb > 1024 * 1024) throw new UsageError(`--rotate-mb expects a whole number of MiB ≥ 1, got '${values['rotate-mb']}'`, 'record');
    rotateBytes = mb * 1024 * 1024;
  }
  const procIntervalMs = values['proc-interval'] === undefined ? 1000 : Number(values['proc-interval']);
  if (!Number.isInteger(procIntervalMs) || procIntervalMs < 100 || procIntervalMs > 3_600_000) {
    throw new UsageError(`--proc-interval expects milliseconds between 100 and 3600000, got '${values['proc-interval']}'`, 'record');
  }
  const criSocket = values['cri-socket'];
  if (criSocket !== undefined && !path.isAbsolute(criSocket)) throw new UsageError(`--cri-socket expects an absolute path, got '${criSocket}'`, 'record');
  const feed = (deps.feed ?? ((o) => new LiveSources(o)))({ procIntervalMs, ...(criSocket !== undefined ? { criSocket } : {}) });
  // A stop asked for at any moment, start-up included, is honoured.
  const stopped = (deps.stopSignal ?? (() => untilSignal().then(() => 'signal')))();
  const aborter = new AbortController();
  void stopped.then((why) => aborter.abort(why));
  let ctscope: Ctscope;
  try {
    ctscope = await Ctscope.start({
      feed,
      model: null,
      record: {
        file,
        ...(rotateBytes ? { rotateBytes } : {}),
        onRotate: (f) => log(`record: continuing in ${f}`),
        onError: (e) => log(`record: ${e.message}; recording stopped, what follows is counted as lost`),
      },
      signal: aborter.signal,
    });
  } catch (e) {
    if (!(e instanceof StartAborted)) throw e;
    log(`record: stopped during start-up (${e.why}); nothing recorded`);
    return 0;
  }
  const statuses = feed.status().sources;
  for (const s of statuses) log(`record: source ${s.name}: ${s.state}${s.hook ? ` (${s.hook})` : ''}${s.detail ? ` — ${s.detail}` : ''}`);
  if (!statuses.some((s) => s.state === 'running' || s.state === 'degraded')) {
    await ctscope.stop('error');
    throw new UserError('record: no source is running, nothing to record (see `ctscope doctor`)');
  }
  log(`record: writing ${file}${duration ? ` for ${duration} s` : ''}; Ctrl-C to stop`);

  const stops: Promise<string>[] = [stopped];
  let timer: NodeJS.Timeout | null = null;
  if (duration !== null) stops.push(new Promise((r) => (timer = setTimeout(() => r('duration'), duration * 1000))));
  const reason = await Promise.race(stops);
  if (timer) clearTimeout(timer);
  await ctscope.stop(reason);
  const st = ctscope.capture!.writer!.stats();
  log(
    `record: ${st.records} records, ${st.procSnapshots} /proc snapshots, ${st.bytes} bytes in ${st.files.length === 1 ? st.files[0] : `${st.files.length} files (${st.files[0]} … ${st.files[st.files.length - 1]})`}`,
  );
  if (st.error) {
    log(`record: ${st.error}; ${st.lost} records are not in the file`);
    return 1;
  }
  return 0;
}
