// `ctscope watch`: the daemon's event stream (/v1/events) as lines — one JSON
// object per line for log pipelines (-o json), or one sentence per event for
// people. Reads the HTTP API only, like `top`; docs/EVENTS.md has the fields.

import { parse, UsageError } from '../args.js';
import { bearerHeaders } from '../listen-flags.js';
import { UserError } from '../../errors.js';
import { SseParser } from '../../api/sse.js';
import { SUBSCRIBABLE } from '../../api/event-feed.js';
import { untilSignal } from '../signals.js';

export const WATCH_USAGE = `usage: ctscope watch [--url URL] [--token-file FILE] [-o json|text] [--types LIST]

Follow a running daemon's (or replay --serve's) event stream and print one
line per event: a table's level changes, drops by source each second, advice
as it appears, changes or is resolved.

  --url URL        the daemon (default http://127.0.0.1:9640)
  --token-file F   send the daemon's bearer token read from F
  -o, --output F   json: one JSON object per line, {"type": …, "t": …, "time": …, …}
                   (docs/EVENTS.md); text (default): a sentence per event
  --types LIST     comma-separated, of ${SUBSCRIBABLE.join(', ')} (default level,drops,advice);
                   a hello with the current state always comes first`;

const fmt = (n: number, digits = 0) => n.toLocaleString('en', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const pct = (u: number) => `${fmt(u * 100, 1)} %`;

interface Table {
  netns: number;
  name: string | null;
  level: string;
  count?: number;
  max?: number;
  utilization?: number;
}
interface AdviceBrief {
  id: string;
  level: string;
  title: string;
}

const tableName = (t: { netns: number; name: string | null }) => (t.name ? `${t.name} (netns ${t.netns})` : `netns ${t.netns}`);

/** One line of text for an event (the JSON's fields in words). */
export function describeEvent(type: string, e: Record<string, any>): string {
  const at = typeof e.time === 'string' && e.time ? e.time.replace(/\.\d+Z$/, 'Z') : `t=${e.t}`;
  switch (type) {
    case 'hello': {
      const tables = (e.tables as Table[]).map((t) => `${tableName(t)} ${t.level}`).join(', ') || 'no table read yet';
      const advice = (e.advice as AdviceBrief[]).map((a) => `[${a.level}] ${a.title}`).join('; ') || 'none';
      return `${at} ${e.mode}: tables: ${tables}; advice: ${advice}`;
    }
    case 'level':
      return `${at} level ${tableName(e as Table)} ${e.from ?? 'new'} → ${e.to} (${fmt(e.count)} / ${fmt(e.max)}, ${pct(e.utilization)})`;
    case 'drops': {
      const kinds = Object.entries(e.kinds as Record<string, number>)
        .filter(([, n]) => n > 0)
        .map(([k, n]) => `${k} ${fmt(n)}`)
        .join(', ');
      const who = (e.items as Array<{ key: string; count: number }>).map((i) => `${i.key} ${fmt(i.count)}`).join(', ');
      return `${at} drops ${fmt(e.total)}/s (${kinds})${who ? `: ${who}` : ''}`;
    }
    case 'advice': {
      const parts = [
        ...(e.added as AdviceBrief[]).map((a) => `+ [${a.level}] ${a.title}`),
        ...(e.changed as AdviceBrief[]).map((a) => `~ [${a.level}] ${a.title}`),
        ...(e.resolved as string[]).map((id) => `- ${id} resolved`),
      ];
      return `${at} advice ${parts.join('; ')}`;
    }
    case 'tick': {
      const tables = (e.tables as Table[])
        .slice(0, 3)
        .map((t) => `${t.name ?? t.netns} ${pct(t.utilization ?? 0)} ${t.level}`)
        .join(', ');
      return `${at} alloc ${fmt(e.alloc)}/s destroy ${fmt(e.destroy)}/s drops ${fmt(e.drops)}/s${tables ? `; ${tables}` : ''}`;
    }
    default:
      return `${at} ${type} ${JSON.stringify(e)}`;
  }
}

export async function watchCommand(argv: string[], io: { out?: (s: string) => void; stop?: () => Promise<unknown> } = {}): Promise<number> {
  const { values } = parse('watch', argv, {
    url: { type: 'string' },
    'token-file': { type: 'string' },
    output: { type: 'string', short: 'o' },
    types: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  const out = io.out ?? ((s: string) => void process.stdout.write(s));
  if (values.help) {
    out(`${WATCH_USAGE}\n`);
    return 0;
  }
  const output = values.output ?? 'text';
  if (output !== 'json' && output !== 'text') throw new UsageError(`-o expects json or text, got '${output}'`, 'watch');
  const types = (values.types ?? 'level,drops,advice').split(',');
  for (const t of types) if (!(SUBSCRIBABLE as readonly string[]).includes(t)) throw new UsageError(`--types: '${t}' is not one of ${SUBSCRIBABLE.join(', ')}`, 'watch');
  const base = values.url ?? 'http://127.0.0.1:9640';
  let url: URL;
  try {
    url = new URL(`/v1/events?types=${types.join(',')}`, base);
  } catch {
    throw new UsageError(`--url expects an http:// URL, got '${base}'`, 'watch');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--url expects an http:// URL, got '${base}'`, 'watch');
  const auth = bearerHeaders(values['token-file']);

  const abort = new AbortController();
  let stopped = false;
  void (io.stop ?? untilSignal)().then(() => {
    stopped = true;
    abort.abort();
  });
  let res: Response;
  try {
    res = await fetch(url, { signal: abort.signal, headers: { accept: 'text/event-stream', ...auth } });
  } catch (e) {
    if (stopped) return 0;
    const why = (e as Error).cause ? String(((e as { cause: Error }).cause).message) : (e as Error).message;
    throw new UserError(`cannot reach ctscope at ${url.origin} (${why}); is \`ctscope run\` running there? (--url)`);
  }
  if (!res.ok || !res.body) throw new UserError(`${url.origin}/v1/events answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
  const parser = new SseParser();
  const decoder = new TextDecoder();
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      for (const m of parser.push(decoder.decode(chunk, { stream: true }))) {
        const e = JSON.parse(m.data) as Record<string, unknown>;
        out(output === 'json' ? `${JSON.stringify(e)}\n` : `${describeEvent(m.event, e)}\n`);
      }
    }
  } catch (e) {
    if (stopped) return 0;
    throw new UserError(`the event stream from ${url.origin} broke off (${(e as Error).message})`);
  }
  if (stopped) return 0;
  throw new UserError(`the event stream from ${url.origin} ended (the daemon stopped?)`);
}
