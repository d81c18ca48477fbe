#!/usr/bin/env node
// The dashboard page's cost in a real Chromium (Debian's, headless), against
// dist/ and dist/web (build with `make -s ts web`), side by side in one run:
//   - the bundled sample capture (share/sample.ctcap: 1,396 flows, 54 s);
//   - a synthetic capture with 100,000 live flows from 10,000 distinct
//     sources at its end, 15 minutes of churn (UDP flows of two seconds from
//     a skewed population) and a minute of drops, a /proc reading a second;
// each served by `ctscope replay FILE --serve` (so the load is repeatable).
// Per capture: first contentful paint and the first paint with figures
// (from navigation), then N refreshes of every panel as if every answer had
// changed (window.ctscope.invalidate + refresh: what a tick of the event
// stream triggers live; 1280x900 at the top of the page, so the sections more
// than a screen below, which the page fetches only in view, are not), measured by a Chromium trace of the page's main
// thread (the CPU time of its tasks — thread time, which a busy machine does
// not inflate — and their wall time), Chromium's counters (script, layout +
// style) and the wall clock (which also holds the server's answers), and the
// JS heap and DOM nodes after them.
// With --before DIR (another build's dist/web, e.g. an older commit's), each
// capture is measured twice in the same run, that page and this one, served
// by a small proxy in front of the same replay: the page's files from DIR or
// dist/web, every other path from the replay server — a before/after side by
// side, on the same load.
// CT_CATS=a,b,... replaces the trace categories (e.g. add devtools.timeline,v8.execute,blink,loading to see
// what the tasks are; the default ones are what the CPU figures are read from).
// usage: node bench/dashboard-page.mjs [--refreshes N] [--json] [--before DIR] [--trace-dir DIR]
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { freePort } from './lib/process.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p) => import(path.join(root, 'dist', p));
const { values } = parseArgs({ options: { refreshes: { type: 'string' }, json: { type: 'boolean' }, before: { type: 'string' }, 'trace-dir': { type: 'string' } } });
const N = Number(values.refreshes ?? 30);
if (!fs.existsSync('/usr/bin/chromium')) {
  console.log('dashboard-page: /usr/bin/chromium is missing (scripts/setup.sh --test installs it); nothing measured');
  process.exit(1);
}
const { chromium } = await import('playwright-core');
const { CaptureWriter } = await dist('capture/writer.js');
const { encodeRecord } = await dist('records/encode.js');
const { RECORD_SIZE, Kind, IPS } = await dist('records/layout.js');

const FLOWS = 100_000;
const SOURCES = 10_000;
const SPAN = 900;

/** The synthetic capture: returns its path and what it holds. */
function writeSynthetic(dir) {
  const file = path.join(dir, 'page.ctcap');
  const w = CaptureWriter.open(file, { flushMs: 0, host: 'bench', kernel: os.release(), sources: [{ name: 'synthetic', hook: null }] });
  let seed = 7;
  const rnd = () => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 4294967296;
  const src = (k) => `10.1.${(k >> 8) & 255}.${k & 255}`;
  const BATCH = 4096;
  const buf = new Uint8Array(BATCH * RECORD_SIZE);
  let n = 0;
  let records = 0;
  const put = (r) => {
    encodeRecord(buf, n * RECORD_SIZE, r);
    records++;
    if (++n === BATCH) {
      w.ingestRaw(buf, n);
      n = 0;
    }
  };
  const T0 = 1000;
  let id = 1;
  let persistent = 0;
  let shortLive = 0;
  let drops = 0;
  const pending = []; // [destroy ts, record]
  const perSec = Math.ceil(FLOWS / (SPAN - 60));
  for (let s = 0; s < SPAN; s++) {
    const recs = [];
    // long-lived TCP: source k holds flows k, k + 10,000, ... (10 each at the end)
    for (let i = 0; i < perSec && persistent < FLOWS; i++, persistent++) {
      const k = persistent % SOURCES;
      const ts = (T0 + s + i / perSec) * 1e9;
      recs.push({ kind: Kind.ALLOC, id: id++, ts, start: ts, src: src(k), dst: `172.16.0.${1 + (k % 20)}`, sport: 20000 + Math.floor(persistent / SOURCES), dport: 443, proto: 6, state: 3, status: IPS.CONFIRMED | IPS.SEEN_REPLY | IPS.ASSURED, netns: 4026531840, flags: 10 });
    }
    // churn: 60 two-second DNS flows a second from a skewed population
    for (let i = 0; i < 60; i++) {
      const k = Math.floor(Math.pow(rnd(), 3) * SOURCES);
      const ts = (T0 + s + (i + 0.5) / 60) * 1e9;
      const r = { id: id++, src: src(k), dst: '172.16.1.53', sport: 30000 + (id % 30000), dport: 53, proto: 17, netns: 4026531840 };
      recs.push({ ...r, kind: Kind.ALLOC, ts, start: ts, status: IPS.CONFIRMED, flags: 10 });
      pending.push([ts + 2e9, { ...r, kind: Kind.DESTROY, ts: ts + 2e9, start: ts, status: IPS.CONFIRMED | IPS.SEEN_REPLY, flags: 2 }]);
      shortLive++;
    }
    // a minute of drops from five sources
    if (s >= 600 && s < 660) {
      for (let i = 0; i < 200; i++) {
        recs.push({ kind: Kind.DROP, ts: (T0 + s + i / 200) * 1e9, src: src(i % 5), dst: '172.16.1.53', sport: 40000 + i, dport: 53, proto: 17, netns: 4026531840, aux: 12 });
        drops++;
      }
    }
    while (pending.length && pending[0][0] < (T0 + s + 1) * 1e9) {
      recs.push(pending.shift()[1]);
      shortLive--;
    }
    recs.sort((a, b) => a.ts - b.ts);
    for (const r of recs) put(r);
    if (n) {
      w.ingestRaw(buf, n);
      n = 0;
    }
    w.writeProc({ ts: (T0 + s + 0.99) * 1e9, netns: 4026531840, count: persistent + shortLive, max: 131072, buckets: 32768, stats: { drop: drops, early_drop: 0, insert_failed: 0, found: 0, invalid: 0, ignore: 0, insert: 0, search_restart: 0 }, timeouts: { udp_timeout: 30, tcp_timeout_established: 432000 } });
  }
  w.close();
  return { file, records, live: persistent + shortLive, sources: SOURCES };
}

const PAGE_TYPES = { '/': ['index.html', 'text/html; charset=utf-8'], '/assets/app.js': ['assets/app.js', 'text/javascript; charset=utf-8'], '/assets/app.css': ['assets/app.css', 'text/css; charset=utf-8'], '/assets/icon.svg': ['assets/icon.svg', 'image/svg+xml'] };

/** The page's files from webDir, everything else from the replay at upstream: one origin, as the daemon serves it. */
async function pageProxy(webDir, upstream) {
  const files = Object.fromEntries(Object.entries(PAGE_TYPES).map(([u, [f, type]]) => [u, { body: fs.readFileSync(path.join(webDir, f)), type }]));
  const agent = new http.Agent({ keepAlive: true });
  const server = http.createServer((req, res) => {
    const f = files[req.url.split('?')[0]];
    if (f) {
      res.writeHead(200, { 'content-type': f.type, 'cache-control': 'no-cache' });
      res.end(f.body);
      return;
    }
    const up = http.request(`${upstream}${req.url}`, { method: req.method, headers: req.headers, agent }, (r) => {
      res.writeHead(r.statusCode, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  const port = await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)));
  return { base: `http://127.0.0.1:${port}`, close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }) };
}

async function serve(file) {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, [path.join(root, 'bin/ctscope.js'), 'replay', file, '--serve', '--listen', `127.0.0.1:${port}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (b) => (err += b));
  const t0 = performance.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`replay --serve exited: ${err}`);
    const s = await fetch(`${base}/v1/series/tables`).then((r) => (r.ok ? r.json() : null)).catch(() => null);
    if (s?.final) break;
    if (performance.now() - t0 > 300_000) throw new Error('replay did not finish in 5 min');
    await new Promise((r) => setTimeout(r, 200));
  }
  return { base, child, replayS: (performance.now() - t0) / 1000 };
}

const pctl = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};

/** Main-thread CPU and wall time of the renderer's tasks in a trace (CrRendererMain: the page's thread). */
function mainThreadTime(events) {
  const main = new Set(events.filter((e) => e.ph === 'M' && e.name === 'thread_name' && e.args?.name === 'CrRendererMain').map((e) => `${e.pid}:${e.tid}`));
  const byThread = new Map();
  for (const e of events) {
    if (e.ph !== 'X' || (e.name !== 'ThreadControllerImpl::RunTask' && e.name !== 'RunTask') || !main.has(`${e.pid}:${e.tid}`)) continue;
    const k = `${e.pid}:${e.tid}`;
    const t = byThread.get(k) ?? { cpu: 0, wall: 0, tasks: 0, max: 0 };
    // nested RunTask events (a task inside a task) are counted once, at the top
    if (e.name === 'RunTask' && e.cat?.includes('toplevel')) continue;
    t.cpu += (e.tdur ?? e.dur) / 1000;
    t.wall += e.dur / 1000;
    t.max = Math.max(t.max, e.dur / 1000);
    t.tasks++;
    byThread.set(k, t);
  }
  // the page's renderer is the busiest main thread
  return [...byThread.values()].sort((a, b) => b.wall - a.wall)[0] ?? { cpu: 0, wall: 0, tasks: 0, max: 0 };
}

async function trace(browser, fn) {
  const cdp = await browser.newBrowserCDPSession();
  await cdp.send('Tracing.start', { traceConfig: { includedCategories: (process.env.CT_CATS ?? 'toplevel,disabled-by-default-devtools.timeline,__metadata').split(',') }, transferMode: 'ReturnAsStream' });
  await fn();
  const complete = new Promise((r) => cdp.once('Tracing.tracingComplete', r));
  await cdp.send('Tracing.end');
  const { stream } = await complete;
  let text = '';
  for (;;) {
    const chunk = await cdp.send('IO.read', { handle: stream });
    text += chunk.base64Encoded ? Buffer.from(chunk.data, 'base64').toString() : chunk.data;
    if (chunk.eof) break;
  }
  await cdp.send('IO.close', { handle: stream });
  await cdp.detach();
  const parsed = JSON.parse(text);
  return Array.isArray(parsed) ? parsed : parsed.traceEvents;
}

async function measure(browser, base, traceName) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send('Performance.enable');
  const metrics = async () => Object.fromEntries((await cdp.send('Performance.getMetrics')).metrics.map((m) => [m.name, m.value]));
  await page.goto(`${base}/`);
  await page.waitForFunction(() => performance.getEntriesByName('ctscope-first-data').length > 0, null, { timeout: 120_000 });
  const paint = await page.evaluate(() => ({ fcp: performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? null, data: performance.getEntriesByName('ctscope-first-data')[0].startTime }));
  await page.waitForTimeout(1500);
  // each refresh as if every answer had changed (live, most do every second)
  const walls = [];
  const a = await metrics();
  const events = await trace(browser, async () => {
    for (let i = 0; i < N; i++) {
      const w0 = performance.now();
      await page.evaluate(() => {
        window.ctscope.invalidate();
        return window.ctscope.refresh();
      });
      walls.push(performance.now() - w0);
    }
  });
  const b = await metrics();
  const mt = mainThreadTime(events);
  // the floor: refreshes whose answers did not change (fetching, comparing, nothing drawn)
  const floorEvents = await trace(browser, async () => {
    for (let i = 0; i < N; i++) await page.evaluate(() => window.ctscope.refresh());
  });
  const floor = mainThreadTime(floorEvents);
  if (values['trace-dir']) {
    fs.mkdirSync(values['trace-dir'], { recursive: true });
    fs.writeFileSync(path.join(values['trace-dir'], `${traceName}-refresh.json`), JSON.stringify(events));
    fs.writeFileSync(path.join(values['trace-dir'], `${traceName}-unchanged.json`), JSON.stringify(floorEvents));
  }
  await cdp.send('HeapProfiler.collectGarbage');
  const m = await metrics();
  const counts = await page.evaluate(() => ({ flows: window.ctscope.data.flows?.total ?? 0, live: window.ctscope.data.occupancy?.live ?? 0 }));
  await context.close();
  return {
    fcp_ms: paint.fcp,
    first_data_ms: paint.data,
    // per refresh: main-thread CPU (thread time, what the machine's load does not inflate) and task wall time
    refresh_main_cpu_ms: mt.cpu / N,
    refresh_main_wall_ms: mt.wall / N,
    unchanged_main_cpu_ms: floor.cpu / N,
    longest_task_ms: mt.max,
    refresh_script_ms: ((b.ScriptDuration - a.ScriptDuration) * 1000) / N,
    refresh_layout_ms: ((b.LayoutDuration - a.LayoutDuration + b.RecalcStyleDuration - a.RecalcStyleDuration) * 1000) / N,
    refresh_wall_ms: { median: pctl(walls, 0.5), p95: pctl(walls, 0.95) },
    heap_mb: m.JSHeapUsedSize / 2 ** 20,
    dom_nodes: m.Nodes,
    ...counts,
  };
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ctscope-pagebench-'));
const results = { machine: `${os.cpus()[0]?.model}, ${os.cpus().length} cores, load ${os.loadavg()[0].toFixed(1)}`, refreshes: N, runs: {} };
const t0 = performance.now();
const syn = writeSynthetic(dir);
results.synthetic = { records: syn.records, live_flows: syn.live, sources: syn.sources, write_s: (performance.now() - t0) / 1000 };
// a fresh profile (playwright makes one per launch) and no reaching for the network
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  for (const [name, file] of [['sample', path.join(root, 'share/sample.ctcap')], ['100k flows, 10k sources', syn.file]]) {
    const s = await serve(file);
    try {
      const pages = values.before ? [['before', values.before], ['after', path.join(root, 'dist/web')]] : [['', null]];
      for (const [which, webDir] of pages) {
        const proxy = webDir ? await pageProxy(webDir, s.base) : null;
        try {
          const label = which ? `${name} — ${which}` : name;
          results.runs[label] = { replay_s: s.replayS, ...(await measure(browser, proxy?.base ?? s.base, label.replace(/[^a-z0-9]+/gi, '-'))) };
        } finally {
          await proxy?.close();
        }
      }
    } finally {
      s.child.kill('SIGTERM');
    }
  }
} finally {
  await browser.close();
  fs.rmSync(dir, { recursive: true, force: true });
}
results.load_after = os.loadavg()[0];

if (values.json) {
  console.log(JSON.stringify(results, null, 2));
} else {
  const f = (x, d = 1) => (x === null || x === undefined ? '–' : x.toFixed(d));
  console.log(`machine: ${results.machine}; synthetic capture: ${results.synthetic.records.toLocaleString('en')} records, ${results.synthetic.live_flows.toLocaleString('en')} live flows, ${results.synthetic.sources.toLocaleString('en')} sources; ${N} refreshes each\n`);
  console.log('| capture | first contentful paint | first paint with figures | refresh: main-thread CPU | main-thread task time | longest task | script | layout+style | wall (with the server) median / p95 | unchanged refresh: CPU | JS heap | DOM nodes |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const [name, r] of Object.entries(results.runs)) {
    console.log(`| ${name} | ${f(r.fcp_ms, 0)} ms | ${f(r.first_data_ms, 0)} ms | ${f(r.refresh_main_cpu_ms)} ms | ${f(r.refresh_main_wall_ms)} ms | ${f(r.longest_task_ms)} ms | ${f(r.refresh_script_ms)} ms | ${f(r.refresh_layout_ms)} ms | ${f(r.refresh_wall_ms.median)} / ${f(r.refresh_wall_ms.p95)} ms | ${f(r.unchanged_main_cpu_ms)} ms | ${f(r.heap_mb)} MB | ${r.dom_nodes} |`);
  }
  console.log(`\nload average ${results.machine.split('load ')[1]} before, ${results.load_after.toFixed(1)} after`);
}
