// `ctscope top`: the on-call view of a running daemon (or of `replay --serve`)
// in a terminal — the table, the forecast, the sources and their losses, and
// who allocates, who is dropped and who holds entries — refreshed in place.
// It reads the HTTP API only, so it needs no privilege and works remotely.

import { parse, UsageError } from '../args.js';
import { bearerHeaders } from '../listen-flags.js';
import { UserError } from '../../errors.js';
import { untilSignal } from '../signals.js';

export const TOP_USAGE = `usage: ctscope top [--url URL] [--token-file FILE] [--interval S] [--window S] [--limit N] [--once]

The daemon's view in a terminal, refreshed every --interval seconds (default 2):
the conntrack table in most danger (of every namespace's: /v1/table), its
forecast and the first advice (/v1/advice), sources and lost records, then the
top allocators (/v1/churn), the top dropped sources (/v1/drops) and the top
holders of entries (/v1/occupancy), by source address (with its pod), and on a
node with pods the top pods allocating and dropped, with their workloads.

  --url URL       the daemon (default http://127.0.0.1:9640); a daemon with its
                  own certificate: NODE_EXTRA_CA_CERTS=tls.crt ctscope top --url https://...
  --token-file F  send the daemon's bearer token read from F
  --interval S    seconds between refreshes, 0.5..3600 (default 2)
  --window S      rate window in seconds, 1..900 (default 60)
  --limit N       rows per ranking, 1..50 (default 5)
  --once          print one screen and exit (for scripts and logs)`;

interface TopItem {
  key: string;
  count: number;
  rate: number;
  share: number;
  /** by src: the pod the address is (or was) */
  pod?: string;
  pod_deleted?: boolean;
  /** by pod: its workload */
  workload?: string;
}
interface TopK {
  total: number;
  items: TopItem[];
  error_bound: number;
}
interface TableLine {
  netns: number;
  name: string;
  count: number;
  max: number;
  utilization: number;
  level: string;
  drops_per_s: number | null;
  stats: Record<string, number>;
  stats_source?: string | null;
  forecast: { time_to_full_s: number | null; confidence: number; chosen?: string | null; basis: string };
}

interface Screen {
  status: {
    version: string;
    mode: string;
    kernel: { release: string };
    sources: Array<{ name: string; state: string; hook: string | null; lost: { total: number }; delay_p99_s?: number | null }>;
    blind_spots?: string[];
    workloads?: { pods: number; message: string };
    lost: { total: number };
  };
  table: (TableLine & { tables?: TableLine[]; total?: number }) | null;
  advice: { advice: Array<{ level: string; title: string }> } | null;
  churn: TopK;
  drops: TopK;
  occupancy: TopK;
  /** On a node with pods: rankings by pod. */
  pods: { churn: TopK; drops: TopK } | null;
}

function num(name: string, text: string | undefined, def: number, min: number, max: number): number {
  if (text === undefined) return def;
  const n = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text) || n < min || n > max) throw new UsageError(`--${name} must be a number from ${min} to ${max}, got '${text}'`, 'top');
  return n;
}

/** Advice items on the screen at most. */
const ADVICE_LINES = 3;

const fmt = (n: number, digits = 0) => n.toLocaleString('en', { maximumFractionDigits: digits, minimumFractionDigits: digits });

function duration(s: number): string {
  if (!Number.isFinite(s)) return 'never (not growing)';
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${(s / 3600).toFixed(1)} h`;
  return `${Math.round(s / 86400)} days`;
}

function ranking(title: string, unit: string, r: TopK, window: number | null): string[] {
  const bound = r.error_bound > 0 ? ` (counts may be low by up to ${fmt(r.error_bound)})` : '';
  const lines = [`${title}${window ? ` — last ${window} s` : ''}: ${fmt(r.total)} ${unit}${bound}`];
  if (r.items.length === 0) lines.push('  (none)');
  const label = (i: TopItem) => `${i.key}${i.pod ? ` (${i.pod_deleted ? 'deleted pod ' : ''}${i.pod})` : ''}`;
  const w = Math.max(15, ...r.items.map((i) => label(i).length));
  for (const i of r.items) {
    const rate = window ? `${fmt(i.rate, 1).padStart(9)}/s` : '';
    lines.push(`  ${label(i).padEnd(w)} ${fmt(i.count).padStart(10)} ${rate} ${fmt(i.share * 100, 1).padStart(6)} %${i.workload ? `  ${i.workload}` : ''}`);
  }
  return lines;
}

/** One screen of text from the API's answers. */
export function renderTop(s: Screen, url: string, window: number, now = new Date()): string {
  const out: string[] = [];
  out.push(`ctscope ${s.status.version} — ${s.status.mode} — kernel ${s.status.kernel.release} — ${url} — ${now.toISOString().slice(11, 19)} UTC`);
  if (s.table) {
    // The table in most danger (the API's order: level, drops, utilization), named.
    const t = s.table;
    const who = t.name === String(t.netns) ? `netns ${t.netns}` : `${t.name} (netns ${t.netns})`;
    const rate = t.drops_per_s ? ` (${fmt(t.drops_per_s, 1)}/s)` : '';
    out.push(
      `table     ${who}: ${fmt(t.count)} / ${fmt(t.max)} entries (${fmt(t.utilization * 100, 1)} %, ${t.level})` +
        `  drop ${fmt(t.stats.drop ?? 0)}${rate}  early_drop ${fmt(t.stats.early_drop ?? 0)}  insert_failed ${fmt(t.stats.insert_failed ?? 0)}${t.stats_source === 'ctnetlink' ? ' (ctnetlink)' : ''}`,
    );
    // The API lists the first tables (most endangered) and says how many there are.
    const others = (t.tables ?? []).slice(1);
    const n = Math.max(others.length, (t.total ?? 0) - 1);
    if (n > 0) {
      const shown = others.slice(0, 3).map((o) => `${o.name} ${fmt(o.count)} (${fmt(o.utilization * 100, 1)} %, ${o.level})`);
      out.push(`          and ${n} other table${n === 1 ? '' : 's'}: ${shown.join(', ')}${n > 3 ? ', …' : ''}`);
    }
    const f = t.forecast;
    if (f.time_to_full_s === 0) out.push(`forecast  full now (${f.basis.replace(/^full: /, '')})`);
    else if (f.time_to_full_s === null) out.push('forecast  no trend (/v1/forecast has every estimate and why)');
    else out.push(`forecast  full in ${duration(f.time_to_full_s)} (${f.chosen ?? 'estimate'}, confidence ${fmt(f.confidence, 2)})`);
  } else {
    out.push('table     no /proc reading yet');
  }
  if (s.advice?.advice.length) {
    const a = s.advice.advice;
    a.slice(0, ADVICE_LINES).forEach((x, i) => out.push(`${i === 0 ? 'advice' : ''}`.padEnd(10) + `[${x.level}] ${x.title}`));
    if (a.length > ADVICE_LINES) out.push(`          … ${a.length - ADVICE_LINES} more in /v1/advice`);
  }
  const src = s.status.sources.map((x) => `${x.name} ${x.state}${x.hook ? ` (${x.hook})` : ''}${x.lost.total ? `, ${fmt(x.lost.total)} lost` : ''}`);
  out.push(`sources   ${src.join(' · ')}`);
  out.push(`lost      ${fmt(s.status.lost.total)} records${s.status.lost.total ? ' — counts are lower bounds' : ''}`);
  if (s.status.blind_spots?.length) out.push(`blind     ${s.status.blind_spots.map((b) => b.split(':')[0]).join(', ')} (see /v1/status)`);
  if (s.status.workloads) out.push(`pods      ${fmt(s.status.workloads.pods)} — ${s.status.workloads.message}`);
  out.push('');
  out.push(...ranking('top allocators by source', 'allocations', s.churn, window));
  out.push('');
  out.push(...ranking('top dropped sources', 'drops', s.drops, window));
  out.push('');
  out.push(...ranking('top holders by source', 'live entries', s.occupancy, null));
  if (s.pods) {
    out.push('');
    out.push(...ranking('top pods allocating', 'allocations', s.pods.churn, window));
    out.push('');
    out.push(...ranking('top dropped pods', 'drops', s.pods.drops, window));
  }
  return out.join('\n') + '\n';
}

async function fetchScreen(base: string, window: number, limit: number, headers: Record<string, string>): Promise<Screen> {
  const get = async (p: string, optional = false): Promise<any> => {
    let r: Response;
    try {
      r = await fetch(new URL(p, base), { headers, signal: AbortSignal.timeout(5000) });
    } catch (e) {
      throw new UserError(`cannot reach ctscope at ${base} (${(e as Error).cause ? String((e as { cause: Error }).cause.message) : (e as Error).message}); is \`ctscope run\` running there? (--url)`);
    }
    if (r.ok) return r.json();
    if (optional) return null;
    throw new UserError(`${base}${p} answered ${r.status}: ${(await r.text()).slice(0, 200)}`);
  };
  const q = `window=${window}&limit=${limit}`;
  const [status, table, advice, churn, drops, occupancy] = await Promise.all([
    get('/v1/status'),
    get('/v1/table?limit=4', true),
    get('/v1/advice', true),
    get(`/v1/churn?by=src&${q}`),
    get(`/v1/drops?by=src&${q}`),
    get(`/v1/occupancy?by=src&limit=${limit}`),
  ]);
  const pods = status.workloads?.pods > 0 ? await Promise.all([get(`/v1/churn?by=pod&${q}`), get(`/v1/drops?by=pod&${q}`)]).then(([c, d]) => ({ churn: c, drops: d })) : null;
  return { status, table, advice, churn, drops, occupancy, pods };
}

export async function topCommand(
  argv: string[],
  io: { out?: (s: string) => void; stop?: () => Promise<unknown>; tty?: boolean } = {},
): Promise<number> {
  const { values } = parse('top', argv, {
    url: { type: 'string' },
    'token-file': { type: 'string' },
    interval: { type: 'string' },
    window: { type: 'string' },
    limit: { type: 'string' },
    once: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  const out = io.out ?? ((s: string) => void process.stdout.write(s));
  if (values.help) {
    out(`${TOP_USAGE}\n`);
    return 0;
  }
  const base = values.url ?? 'http://127.0.0.1:9640';
  let url: URL;
  try {
    url = new URL(base);
  } catch {
    throw new UsageError(`--url expects an http:// URL, got '${base}'`, 'top');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--url expects an http:// URL, got '${base}'`, 'top');
  const interval = num('interval', values.interval, 2, 0.5, 3600);
  const window = num('window', values.window, 60, 1, 900);
  const limit = num('limit', values.limit, 5, 1, 50);
  const origin = url.origin;
  const headers = bearerHeaders(values['token-file']);
  if (values.once) {
    out(renderTop(await fetchScreen(origin, window, limit, headers), origin, window));
    return 0;
  }
  const tty = io.tty ?? process.stdout.isTTY === true;
  let stopped = false;
  const stop = (io.stop ?? untilSignal)().then(() => (stopped = true));
  while (!stopped) {
    const text = renderTop(await fetchScreen(origin, window, limit, headers), origin, window);
    out(tty ? `\x1b[H\x1b[2J${text}` : `${text}\n`);
    await Promise.race([stop, new Promise((r) => setTimeout(r, interval * 1000))]);
  }
  return 0;
}
