// The command line as an operator meets it: help, usage errors (exit 2, one
// line, no stack), and `start` falling back to the bundled sample where the
// live daemon cannot run.
import { afterEach, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { startCommand, startupSummary } from '../../src/cli/commands/run.js';
import { serveReplay } from '../../src/app/serve-replay.js';
import { topCommand } from '../../src/cli/commands/top.js';
import { freePort } from '../helpers/daemon.js';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  const o = process.stdout.write;
  const e = process.stderr.write;
  process.stdout.write = ((s: string) => (out.push(String(s)), true)) as typeof process.stdout.write;
  process.stderr.write = ((s: string) => (err.push(String(s)), true)) as typeof process.stderr.write;
  return {
    restore: () => {
      process.stdout.write = o;
      process.stderr.write = e;
    },
    out: () => out.join(''),
    err: () => err.join(''),
  };
}

describe('ctscope command line', () => {
  let io: ReturnType<typeof capture> | null = null;
  afterEach(() => {
    io?.restore();
    io = null;
  });

  it('lists the commands and says how to get help', async () => {
    io = capture();
    expect(await main(['--help'])).toBe(0);
    for (const c of ['run', 'start', 'record', 'replay', 'doctor']) expect(io.out()).toMatch(new RegExp(`^  ${c} `, 'm'));
    expect(await main([])).toBe(2);
  });

  it('documents every daemon flag in run --help', async () => {
    io = capture();
    expect(await main(['run', '--help'])).toBe(0);
    for (const f of ['--listen', '--hooks', '--record', '--ingress', '--ingress-hook', '--max-flows', '--metrics-top-k', '--proc-interval', '--keep-gone', '--enable-conntrack-accounting']) {
      expect(io.out()).toContain(f);
    }
  });

  it.each([
    [['frobnicate'], /unknown command 'frobnicate'/],
    [['run', '--listen', '127.0.0.1:99999'], /port must be 1\.\.65535/],
    [['run', '--listen', 'nonsense'], /--listen expects HOST:PORT/],
    [['run', '--hooks', 'uprobe'], /--hooks must be one of auto, fentry, kprobe, netlink/],
    [['run', '--max-flows', '12abc'], /--max-flows expects an integer/],
    [['run', '--metrics-top-k', '0'], /--metrics-top-k must be between 1 and 1000/],
    [['run', '--ingress-hook', 'tcx'], /--ingress-hook needs --ingress/],
    [['run', '--bogus'], /Unknown option '--bogus'/],
    [['top', '--url', 'ftp://x'], /--url expects an http:\/\/ URL/],
    [['top', '--interval', '0'], /--interval must be a number from 0\.5 to 3600/],
  ])('%j is a usage error: exit 2, one message, no stack', async (argv, message) => {
    io = capture();
    expect(await main(argv)).toBe(2);
    expect(io.err()).toMatch(message);
    expect(io.err()).not.toMatch(/\n\s+at /);
  });

  it('names a missing --record directory without a stack', async () => {
    io = capture();
    expect(await main(['run', '--record', '/nonexistent-dir/x.ctcap'])).toBe(1);
    expect(io.err()).toMatch(/cannot record to \/nonexistent-dir\/x\.ctcap: the directory \/nonexistent-dir does not exist/);
    expect(io.err()).not.toMatch(/\n\s+at /);
  });

  it('start serves a replay of the bundled sample where the daemon cannot run, and says so', async () => {
    const port = await freePort();
    const lines: string[] = [];
    let stop!: (s: string) => void;
    const stopped = new Promise<string>((r) => (stop = r));
    const done = startCommand(['--listen', `127.0.0.1:${port}`], { out: (s) => lines.push(s), stop: () => stopped, unavailable: () => 'not running as root' });
    const base = `http://127.0.0.1:${port}`;
    let status: any = null;
    for (let i = 0; i < 100 && !status; i++) {
      status = await fetch(`${base}/v1/status`).then((r) => r.json(), () => null);
      if (!status) await new Promise((r) => setTimeout(r, 50));
    }
    expect(lines.join('')).toMatch(/cannot host the live daemon \(not running as root\).*\n.*sample capture .*share\/sample\.ctcap/);
    expect(status).toMatchObject({ mode: 'replay' });
    expect(status.replay.file).toMatch(/share\/sample\.ctcap$/);
    // the replay's model answers the same routes as live
    let churn: any;
    for (let i = 0; i < 100; i++) {
      churn = await (await fetch(`${base}/v1/churn?by=src&window=900`)).json();
      if (churn.total > 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(churn.total).toBeGreaterThan(0);
    expect(churn.items[0].count).toBeGreaterThan(0);
    expect((await fetch(`${base}/v1/table`)).status).toBe(200);
    expect((await fetch(`${base}/v1/churn?by=nope`)).status).toBe(400);
    stop('test');
    expect(await done).toBe(0);
    await expect(fetch(`${base}/healthz`)).rejects.toThrow();
  });

  it('top renders the served model: the table, the sources and the rankings the API gives', async () => {
    const port = await freePort();
    const served = await serveReplay([`${process.cwd()}/share/sample.ctcap`], { host: '127.0.0.1', port });
    try {
      await served.feed.done;
      const base = `http://127.0.0.1:${port}`;
      const churn = await (await fetch(`${base}/v1/churn?by=src&window=60&limit=3`)).json();
      const drops = await (await fetch(`${base}/v1/drops?by=src&window=60&limit=3`)).json();
      let text = '';
      expect(await topCommand(['--url', base, '--once', '--limit', '3'], { out: (s) => (text += s) })).toBe(0);
      expect(text).toMatch(/^ctscope \S+ — replay — /);
      // the table in most danger, named, with the kernel's drop count; the first advice
      const table = await (await fetch(`${base}/v1/table`)).json();
      expect(text).toMatch(new RegExp(`^table +netns ${table.netns}: [\\d,]+ / [\\d,]+ entries \\([\\d.]+ %, ${table.level}\\)  drop ${table.stats.drop.toLocaleString('en')}`, 'm'));
      const advice = await (await fetch(`${base}/v1/advice`)).json();
      expect(text).toContain(`advice    [${advice.advice[0].level}] ${advice.advice[0].title}`);
      expect(text).toContain(`top allocators by source — last 60 s: ${churn.total.toLocaleString('en')} allocations`);
      const rows = text.split('\n');
      const first = rows.indexOf(rows.find((l) => l.startsWith('top allocators'))!) + 1;
      expect(rows[first]!.trim().split(/\s+/).slice(0, 2)).toEqual([churn.items[0].key, churn.items[0].count.toLocaleString('en')]);
      expect(text).toContain(`top dropped sources — last 60 s: ${drops.total.toLocaleString('en')} drops`);
    } finally {
      await served.ctscope.stop();
    }
  });

  it('top says where it could not reach the daemon, without a stack', async () => {
    const port = await freePort(); // nothing listens there
    io = capture();
    expect(await main(['top', '--url', `http://127.0.0.1:${port}`, '--once'])).toBe(1);
    expect(io.err()).toMatch(new RegExp(`cannot reach ctscope at http://127\\.0\\.0\\.1:${port} .*is \`ctscope run\` running there\\?`));
    expect(io.err()).not.toMatch(/\n\s+at /);
  });

  it('the daemon starts by saying which hook each capability got, why better ones were refused, and what it cannot see', () => {
    const text = startupSummary({
      version: '0.1.0',
      mode: 'live',
      kernel: { release: '6.18.0', btf: true },
      started_at: '',
      uptime_seconds: 0,
      sources: [
        { name: 'lifecycle', state: 'unavailable', hook: null, records: 0, lost: { total: 0 }, detail: 'a very long story' },
        { name: 'netlink', state: 'running', hook: 'ctnetlink', records: 0, lost: { total: 0 } },
        { name: 'drops', state: 'failed', hook: null, records: 0, lost: { total: 0 }, detail: 'cts_kfree_skb: EPERM' },
      ],
      capabilities: [
        {
          capability: 'alloc',
          chosen: 'ctnetlink',
          tried: [
            { hook: 'fexit:__nf_conntrack_alloc', result: 'EPERM: the kernel refuses trampolines (fentry/fexit)' },
            { hook: 'kprobe:__nf_conntrack_alloc', result: 'no kprobes on this kernel (CONFIG_KPROBES unset)' },
            { hook: 'ctnetlink', result: 'fallback: NEW events' },
          ],
        },
        { capability: 'drops', chosen: 'tp_btf:kfree_skb', tried: [{ hook: 'tp_btf:kfree_skb', result: 'attached' }] },
      ],
      blind_spots: ['evict: which entries early_drop evicted'],
      lost: { total: 0 },
    });
    expect(text.split('\n').filter(Boolean)).toEqual([
      'ctscope: sources: lifecycle unavailable · netlink running (ctnetlink) · drops failed',
      'ctscope: drops: cts_kfree_skb: EPERM',
      'ctscope: alloc → ctnetlink (refused: fexit:__nf_conntrack_alloc: EPERM; kprobe:__nf_conntrack_alloc: no kprobes on this kernel)',
      'ctscope: drops → tp_btf:kfree_skb',
      'ctscope: cannot see: evict: which entries early_drop evicted',
    ]);
  });
});
