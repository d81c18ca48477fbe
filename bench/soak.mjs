#!/usr/bin/env node
// The soak (issue 17): the real daemon (`ctscope run`) for a bounded time
// under steady churn, packet drops, namespaces that come and go, API load and
// kill -9 / restart cycles; its report says RSS, open fds, threads and CPU at
// the start and end of the daemon's last life (the drift), the records lost,
// the API's errors, and anything a killed daemon left attached.
//
//   churn       new UDP flows at --rate per second in a namespace of ours
//               (every datagram to another port: a new conntrack entry, gone
//               after the UDP timeout), counted by an nft `ct state new` rule
//   drops       --drop-rate datagrams per second that an nft rule drops (the
//               drops source sees each as a kfree_skb with a netfilter reason)
//   namespaces  one more `ip netns add` every --ns-every-s, the oldest deleted
//               beyond --ns-keep (the daemon follows and forgets them)
//   API         /v1/status, /v1/churn, /v1/flows, /v1/table and /metrics in
//               turn, --api-rate requests per second; any answer >= 500 or a
//               failed request is an error
//   kill -9     --kills times in the first third of the run (at random moments,
//               start-up included), each followed by a check that no BPF
//               program of the killed process is left and a restart
//
// It changes nothing global and touches only namespaces named ctsoak-*, so it
// does not take the machine-wide kernel-test lock (30 minutes of it would hold
// every kernel test back); other runs on the machine show in its CPU figures.
// The daemon follows every namespace of the machine, others' labs included.
//
// Run (root, after `make -s all`):
//   node bench/soak.mjs [--minutes 2] [--rate 200] [--drop-rate 50] [--api-rate 4] [--kills 3] [--json FILE]
//   (--json: the report's figures also as one JSON object, for test/kernel/soak.test.ts, CI's short soak)
//   npm run bench -- soak        (the short default; BENCHMARKS.md has a 25-minute run)
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { deleteNetns, freshNetns, kernelBenchUnavailable, procCpuSeconds, procRssBytes, sh, sleep } from './lib/kernel.mjs';
import { freePort, threadsAndFds } from './lib/process.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '2' },
    rate: { type: 'string', default: '200' },
    'drop-rate': { type: 'string', default: '50' },
    'api-rate': { type: 'string', default: '4' },
    'ns-every-s': { type: 'string', default: '5' },
    'ns-keep': { type: 'string', default: '20' },
    kills: { type: 'string', default: '3' },
    'sample-s': { type: 'string', default: '30' },
    json: { type: 'string' },
  },
});
const MINUTES = Number(values.minutes);
const RATE = Number(values.rate);
const DROP_RATE = Number(values['drop-rate']);
const API_RATE = Number(values['api-rate']);
const NS_EVERY_MS = Number(values['ns-every-s']) * 1000;
const NS_KEEP = Number(values['ns-keep']);
const KILLS = Number(values.kills);
const SAMPLE_MS = Number(values['sample-s']) * 1000;
const MAIN_NS = 'ctsoak-main';

const why = kernelBenchUnavailable(root, ['ip', 'nft', 'python3', 'bpftool']);
if (why) {
  console.log(`soak: skipped (${why})`);
  process.exit(0);
}

// ---- the load ----

// One datagram per new flow (dport cycles over 50,000 ports: the UDP timeout
// has long expired an entry before its tuple comes round again), and the
// dropped ones to port 9.
const GEN = `
import socket, sys, time
rate, drops = float(sys.argv[1]), float(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setblocking(False)
sent = dropped = 0
port = 10000
t0 = time.monotonic()
while True:
    now = time.monotonic() - t0
    while sent < now * rate:
        try: s.sendto(b'x', ('127.0.0.1', port))
        except OSError: pass
        sent += 1
        port = 10000 + (port - 9999) % 50000
    while dropped < now * drops:
        try: s.sendto(b'd', ('127.0.0.1', 9))
        except OSError: pass
        dropped += 1
    time.sleep(0.01)
`;

const NFT = `table inet ctsoak {
  counter new_flows {}
  counter dropped {}
  chain out {
    type filter hook output priority 0;
    udp dport 9 counter name dropped drop
    ct state new counter name new_flows
  }
}
`;

function nftCounters() {
  const j = JSON.parse(sh(['ip', 'netns', 'exec', MAIN_NS, 'nft', '-j', 'list', 'counters', 'table', 'inet', 'ctsoak']));
  const out = {};
  for (const o of j.nftables) if (o.counter) out[o.counter.name] = o.counter.packets;
  return out;
}

function ourNamespaces() {
  try {
    return fs.readdirSync('/run/netns').filter((n) => n.startsWith('ctsoak-') && n !== MAIN_NS);
  } catch {
    return [];
  }
}

/** BPF programs a process holds (bpftool shows the holders' pids). */
function programsOf(pid) {
  const progs = JSON.parse(sh(['bpftool', 'prog', 'show', '-j']));
  return progs.filter((p) => (p.pids ?? []).some((h) => h.pid === pid)).length;
}

// ---- the daemon ----

class Daemon {
  constructor(port) {
    this.port = port;
    this.base = `http://127.0.0.1:${port}`;
    this.child = null;
    this.err = '';
  }
  start() {
    this.err = '';
    this.child = spawn(process.execPath, [path.join(root, 'bin/ctscope.js'), 'run', '--listen', `127.0.0.1:${this.port}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child.stderr.on('data', (b) => (this.err = (this.err + b).slice(-4000)));
    this.startedAt = Date.now();
    return this.child.pid;
  }
  async ready(timeoutMs = 120_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.child.exitCode !== null) throw new Error(`the daemon exited with ${this.child.exitCode}: ${this.err}`);
      try {
        if ((await fetch(`${this.base}/healthz`)).ok) return Date.now() - this.startedAt;
      } catch {
        /* not yet */
      }
      if (Date.now() > deadline) throw new Error(`the daemon did not answer within ${timeoutMs} ms: ${this.err}`);
      await sleep(200);
    }
  }
  async kill9() {
    const pid = this.child.pid;
    this.child.kill('SIGKILL');
    await new Promise((r) => (this.child.exitCode !== null || this.child.signalCode !== null ? r() : this.child.once('exit', r)));
    return pid;
  }
  async stop() {
    if (!this.child || this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    await new Promise((r) => (this.child.exitCode !== null ? r() : this.child.once('exit', r)));
  }
}

async function json(url) {
  const r = await fetch(url);
  return r.json();
}

/** The daemon's own figures: records and losses per source, 5xx answers. */
async function daemonFigures(d) {
  const st = await json(`${d.base}/v1/status`);
  const metrics = await (await fetch(`${d.base}/metrics`)).text();
  let http5xx = 0;
  for (const m of metrics.matchAll(/^ctscope_http_requests_total\{[^}]*code="5\d\d"[^}]*\} (\d+)/gm)) http5xx += Number(m[1]);
  const sources = Object.fromEntries(st.sources.map((s) => [s.name, { records: s.records, lost: s.lost?.total ?? 0 }]));
  const netlink = st.sources.find((s) => s.name === 'netlink');
  return { lost: st.lost?.total ?? 0, sources, http5xx, namespaces: netlink?.namespaces?.length ?? 0, vanished: netlink?.vanishedTotal ?? null };
}

// ---- the run ----

const runMs = MINUTES * 60_000;
const port = await freePort();
const daemon = new Daemon(port);
const inMain = freshNetns(MAIN_NS);
inMain(['nft', '-f', '-'], NFT);
for (const n of ourNamespaces()) deleteNetns(n);
const gen = spawn('ip', ['netns', 'exec', MAIN_NS, 'python3', '-c', GEN, String(RATE), String(DROP_RATE)], { stdio: 'ignore' });

const samples = [];
const kills = [];
const api = { requests: 0, errors: 0, lastError: null };
let nsMade = 0;
let stopping = false;
const t0 = Date.now();
const load = os.loadavg().map((x) => x.toFixed(1)).join(' ');

async function apiLoad() {
  const urls = ['/v1/status', '/v1/churn?by=src&window=60&limit=20', '/v1/flows?limit=100', '/v1/table', '/metrics'];
  let i = 0;
  while (!stopping) {
    await sleep(1000 / API_RATE);
    if (!daemon.live) continue;
    const url = urls[i++ % urls.length];
    api.requests++;
    try {
      const r = await fetch(`${daemon.base}${url}`, { signal: AbortSignal.timeout(10_000) });
      await r.arrayBuffer();
      if (r.status >= 500) {
        api.errors++;
        api.lastError = `${url}: ${r.status}`;
      }
    } catch (e) {
      // a request in flight when the soak kills the daemon is not the daemon's error
      if (daemon.live) {
        api.errors++;
        api.lastError = `${url}: ${e.message}`;
      }
    }
  }
}

async function namespaceChurn() {
  while (!stopping) {
    await sleep(NS_EVERY_MS);
    sh(['ip', 'netns', 'add', `ctsoak-${nsMade++}`]);
    const have = ourNamespaces().sort((a, b) => Number(a.split('-')[1]) - Number(b.split('-')[1]));
    for (const n of have.slice(0, Math.max(0, have.length - NS_KEEP))) deleteNetns(n);
  }
}

async function sample(label) {
  const pid = daemon.child.pid;
  const tf = threadsAndFds(pid);
  const cpuNow = procCpuSeconds(pid);
  const cpuPct = daemon.cpuAt ? ((cpuNow - daemon.cpuAt.cpu) / ((Date.now() - daemon.cpuAt.t) / 1000)) * 100 : null;
  daemon.cpuAt = { cpu: cpuNow, t: Date.now() };
  const f = await daemonFigures(daemon);
  const nft = nftCounters();
  const s = { label, min: (Date.now() - t0) / 60_000, life: daemon.life, rssMiB: procRssBytes(pid) / 2 ** 20, ...tf, cpuPct, ...f, nftNew: nft.new_flows, nftDropped: nft.dropped, apiRequests: api.requests, apiErrors: api.errors, load: os.loadavg()[0] };
  samples.push(s);
  console.error(`[soak ${s.min.toFixed(1)} min] life ${s.life} RSS ${s.rssMiB.toFixed(0)} MiB, ${s.fds} fds, ${s.threads} threads, CPU ${s.cpuPct?.toFixed(1) ?? '—'} %, lost ${s.lost}, ${s.namespaces} namespaces, API ${s.apiRequests}/${s.apiErrors} err, load ${s.load.toFixed(1)}`);
  return s;
}

async function startLife() {
  daemon.life = (daemon.life ?? 0) + 1;
  daemon.cpuAt = null;
  daemon.start();
  const ms = await daemon.ready();
  daemon.live = true;
  return ms;
}

try {
  const firstStartMs = await startLife();
  const background = [apiLoad(), namespaceChurn()];
  // kill -9 at random moments of the first third (start-up included), each checked and restarted
  const killWindow = runMs / 3;
  const killAt = Array.from({ length: KILLS }, () => Math.random() * killWindow).sort((a, b) => a - b);
  for (const at of killAt) {
    await sleep(Math.max(0, at - (Date.now() - t0)));
    await sample(`before kill ${kills.length + 1}`);
    daemon.live = false;
    // every other one during start-up: restarted, then killed before it answers
    let left = 0;
    const duringStartup = kills.length % 2 === 1;
    if (duringStartup) {
      const first = await daemon.kill9();
      await sleep(500);
      left += programsOf(first);
      daemon.start();
      await sleep(300 + Math.random() * 1500);
    }
    const pid = await daemon.kill9();
    await sleep(500);
    left += programsOf(pid);
    const restartMs = await startLife();
    kills.push({ min: (Date.now() - t0) / 60_000, duringStartup, programsLeft: left, restartMs });
  }
  // the last life: warm up, then sample to the end
  await sleep(Math.min(60_000, Math.max(0, runMs - (Date.now() - t0)) / 4));
  await sample('last life, start');
  while (Date.now() - t0 < runMs - SAMPLE_MS / 2) {
    await sleep(Math.min(SAMPLE_MS, runMs - (Date.now() - t0)));
    await sample('');
  }
  const end = await sample('end');
  stopping = true;
  await Promise.all(background);
  const stopT = Date.now();
  await daemon.stop();
  const stopMs = Date.now() - stopT;

  // ---- the report ----
  const startS = samples.find((s) => s.label === 'last life, start');
  const fmt = (n, d = 0) => (n === null || n === undefined || Number.isNaN(n) ? '—' : n.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }));
  console.log(`soak: ${MINUTES} min, ${RATE} new flows/s, ${DROP_RATE} drops/s, a namespace every ${NS_EVERY_MS / 1000} s (${NS_KEEP} kept), ${API_RATE} API requests/s, ${KILLS} kill -9; load average at start ${load}\n`);
  console.log(`first start answered after ${fmt(firstStartMs / 1000, 1)} s; SIGTERM at the end stopped it in ${fmt(stopMs / 1000, 1)} s\n`);
  console.log('| kill -9 | at min | during start-up | BPF programs of the killed pid left | restart answered after (s) |');
  console.log('|---|---:|---|---:|---:|');
  kills.forEach((k, i) => console.log(`| ${i + 1} | ${fmt(k.min, 1)} | ${k.duringStartup ? 'yes' : 'no'} | ${k.programsLeft} | ${fmt(k.restartMs / 1000, 1)} |`));
  console.log(`\nthe last life, from ${fmt(startS.min, 1)} to ${fmt(end.min, 1)} min:\n`);
  console.log('| min | RSS MiB | open fds | threads | CPU % | records netlink | records drops | lost | namespaces followed | 5xx | load |');
  console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const s of samples.filter((x) => x.life === end.life)) {
    console.log(`| ${fmt(s.min, 1)} | ${fmt(s.rssMiB, 1)} | ${s.fds} | ${s.threads} | ${fmt(s.cpuPct, 1)} | ${fmt(s.sources.netlink?.records)} | ${fmt(s.sources.drops?.records)} | ${s.lost} | ${s.namespaces} | ${s.http5xx} | ${fmt(s.load, 1)} |`);
  }
  const mins = end.min - startS.min;
  const newFlows = end.nftNew - startS.nftNew;
  if (values.json) fs.writeFileSync(values.json, JSON.stringify({ minutes: MINUTES, load, firstStartMs, stopMs, kills, start: startS, end, samples: samples.filter((x) => x.life === end.life), api, nsMade, newFlows }, null, 1));
  console.log(`\ndrift over ${fmt(mins, 1)} min: RSS ${fmt(end.rssMiB - startS.rssMiB, 1)} MiB, fds ${end.fds - startS.fds}, threads ${end.threads - startS.threads}; lost records ${end.lost - startS.lost}; ` +
    `kernel: ${fmt(newFlows)} new flows (nft), ${fmt(end.nftDropped - startS.nftDropped)} dropped; API: ${api.requests} requests, ${api.errors} errors${api.lastError ? ` (last: ${api.lastError})` : ''}; ${nsMade} namespaces made, the daemon counted ${end.vanished} vanished in its last life`);
} finally {
  stopping = true;
  await daemon.stop().catch(() => undefined);
  gen.kill('SIGKILL');
  for (const n of ourNamespaces()) deleteNetns(n);
  deleteNetns(MAIN_NS);
}
