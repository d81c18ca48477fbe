#!/usr/bin/env node
// What each followed network namespace costs the daemon (issue 17, dense
// nodes): threads, open descriptors, resident memory and CPU with 0, then
// more and more idle namespaces (/run/netns names, as `ip netns add` makes
// them), then none again — and whether the memory comes back.
//
// The daemon is the real one (`ctscope run --hooks netlink`, ctnetlink being
// what follows namespaces); a namespace counts as followed once /v1/status
// lists it running. At each step, two settle windows: the first with nothing
// asked of the daemon (idle CPU: what following the namespaces costs), the
// second with the API asked back to back for its latencies (/healthz,
// /v1/table), whose CPU is mostly the answers. After the namespaces go, the
// bench waits --after-s before measuring; --keep-gone-s shortens how long the
// daemon lists gone tables (`run --keep-gone`, where the variant has it), so
// memory can be seen after they expired. With --compare DIR, another built
// checkout runs the same steps right after, for a side-by-side table.
//
// Holds the machine-wide kernel-test lock (bench/lib/kernel.mjs).
// Run (root, after `make -s all`):
//   node bench/dense-namespaces.mjs [--steps 0,250,500,1000] [--settle-s 5] [--compare DIR] [--daemon-args=--netlink-datagrams]
//     [--after-s 2] [--keep-gone-s S] [--warm-s 0]
//   npm run bench -- dense
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { kernelBenchUnavailable, lock, procCpuSeconds, procRssBytes, sh, sleep, unlock } from './lib/kernel.mjs';
import { freePort, threadsAndFds } from './lib/process.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '0,250,500,1000' },
    'settle-s': { type: 'string', default: '5' },
    compare: { type: 'string' },
    prefix: { type: 'string', default: 'ctdn' },
    // more flags for `ctscope run`, e.g. --netlink-datagrams (no in-kernel decoder per namespace)
    'daemon-args': { type: 'string', default: '' },
    // seconds to wait after the namespaces went, before measuring
    'after-s': { type: 'string', default: '2' },
    // `run --keep-gone S` for variants that have it
    'keep-gone-s': { type: 'string' },
    // seconds to wait once a step's namespaces are followed, before measuring (their first full
    // readings and dumps are start-up, not what following them costs)
    'warm-s': { type: 'string', default: '0' },
  },
});
const steps = values.steps.split(',').map(Number);
const settleMs = Number(values['settle-s']) * 1000;
const PREFIX = values.prefix;

const why = kernelBenchUnavailable(root, ['ip']);
if (why) {
  console.log(`dense-namespaces: skipped (${why})`);
  process.exit(0);
}

/** `ip netns add` (or del) for many names at once. */
function netns(verb, names) {
  if (names.length === 0) return;
  sh(['ip', '-batch', '-'], names.map((n) => `netns ${verb} ${n}`).join('\n') + '\n');
}

function ours() {
  try {
    return fs.readdirSync('/run/netns').filter((n) => n.startsWith(`${PREFIX}-`));
  } catch {
    return [];
  }
}

async function status(base) {
  const r = await fetch(`${base}/v1/status`);
  return r.json();
}

/** The netlink source's running namespaces of ours, and its vanished count. */
async function followed(base) {
  const st = await status(base);
  const nl = st.sources.find((s) => s.name === 'netlink');
  const n = (nl?.namespaces ?? []).filter((x) => x.name?.startsWith(`${PREFIX}-`) && x.state === 'running').length;
  const vanished = Number(/(\d+) vanished/.exec(nl?.detail ?? '')?.[1] ?? 0);
  return { n, all: (nl?.namespaces ?? []).length, vanished, lost: st.lost.total };
}

async function waitFor(base, pred, what, timeoutMs = 300_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const f = await followed(base);
    if (pred(f)) return f;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(f)}`);
    await sleep(250);
  }
}

/** Milliseconds of each GET of `paths`, in turn, one after the other until `untilMs`. */
async function latencies(base, paths, untilMs) {
  const out = Object.fromEntries(paths.map((p) => [p, []]));
  for (let i = 0; Date.now() < untilMs; i++) {
    const p = paths[i % paths.length];
    const t = performance.now();
    try {
      await (await fetch(`${base}${p}`, { signal: AbortSignal.timeout(30_000) })).arrayBuffer();
      out[p].push(performance.now() - t);
    } catch {
      out[p].push(30_000);
    }
    await sleep(100);
  }
  return out;
}

const quantile = (xs, q) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil(q * xs.length) - 1)] : null);

/** The daemon's V8 heap in use (MiB), from its /metrics. */
async function heapMiB(base) {
  const m = /^nodejs_heap_size_used_bytes (\S+)$/m.exec(await (await fetch(`${base}/metrics`)).text());
  return m ? Number(m[1]) / 2 ** 20 : null;
}

/** Threads, fds, RSS, heap, CPU over a settle window with nothing asked, then over one with the API asked (and its latencies: /healthz, /v1/table). */
async function measure(pid, base, label, extra) {
  const idle0 = procCpuSeconds(pid);
  const i0 = Date.now();
  await sleep(settleMs);
  const idle = (procCpuSeconds(pid) - idle0) / ((Date.now() - i0) / 1000);
  const rssMiB = procRssBytes(pid) / 2 ** 20;
  const heap = await heapMiB(base);
  const cpu0 = procCpuSeconds(pid);
  const t0 = Date.now();
  const lat = await latencies(base, ['/healthz', '/v1/table'], t0 + settleMs);
  const cpu = (procCpuSeconds(pid) - cpu0) / ((Date.now() - t0) / 1000);
  return {
    label,
    ...threadsAndFds(pid),
    rssMiB,
    heapMiB: heap,
    idlePct: idle * 100,
    cpuPct: cpu * 100,
    healthzP99: quantile(lat['/healthz'], 0.99),
    tableP50: quantile(lat['/v1/table'], 0.5),
    tableP99: quantile(lat['/v1/table'], 0.99),
    ...extra,
  };
}

async function runVariant(name, dir) {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const bin = path.join(dir, 'bin/ctscope.js');
  // --keep-gone where this variant has it (older builds do not)
  const keep = values['keep-gone-s'] !== undefined && spawnSync(process.execPath, [bin, 'run', '--help'], { encoding: 'utf8' }).stdout.includes('--keep-gone') ? ['--keep-gone', values['keep-gone-s']] : [];
  const child = spawn(process.execPath, [bin, 'run', '--hooks', 'netlink', '--listen', `127.0.0.1:${port}`, ...keep, ...values['daemon-args'].split(' ').filter(Boolean)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (b) => (err += b));
  const rows = [];
  try {
    for (let i = 0; ; i++) {
      if (child.exitCode !== null) throw new Error(`${name}: the daemon exited: ${err}`);
      try {
        if ((await fetch(`${base}/healthz`)).ok) break;
      } catch {
        /* not yet */
      }
      await sleep(200);
    }
    let have = 0;
    for (const target of steps) {
      const names = Array.from({ length: target - have }, (_, i) => `${PREFIX}-${have + i}`);
      const t0 = Date.now();
      netns('add', names);
      have = target;
      await waitFor(base, (f) => f.n >= target, `${target} namespaces followed`);
      const followMs = Date.now() - t0;
      await sleep(Number(values['warm-s']) * 1000);
      rows.push(await measure(child.pid, base, `${target} namespaces`, { followS: names.length ? followMs / 1000 : null }));
    }
    const t0 = Date.now();
    netns('del', ours());
    // (the vanished count says how many went: an older build capped it at 32)
    const after = await waitFor(base, (f) => f.n === 0, 'the namespaces gone');
    const goneMs = Date.now() - t0;
    await sleep(Number(values['after-s']) * 1000);
    rows.push(await measure(child.pid, base, `after all ${have} went (+${values['after-s']} s${keep.length ? `, gone kept ${keep[1]} s` : ''})`, { followS: goneMs / 1000, vanished: after.vanished }));
  } finally {
    netns('del', ours());
    child.kill('SIGTERM');
    await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
  }
  return rows.map((r) => ({ variant: name, ...r }));
}

const fmt = (n, d = 0) => (n === null || n === undefined || Number.isNaN(n) ? '—' : n.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }));

await lock();
try {
  netns('del', ours());
  const load = os.loadavg().map((x) => x.toFixed(1)).join(' ');
  const variants = [['this checkout', root], ...(values.compare ? [[`compare: ${values.compare}`, path.resolve(values.compare)]] : [])];
  const all = [];
  for (const [name, dir] of variants) all.push(...(await runVariant(name, dir)));
  const loadEnd = os.loadavg().map((x) => x.toFixed(1)).join(' ');
  console.log(`load average at start: ${load}, at the end: ${loadEnd} (${new Date().toISOString().slice(0, 16)} UTC); settle window ${settleMs / 1000} s, ${values['warm-s']} s after the namespaces are followed; ctscope run --hooks netlink ${values['daemon-args']}\n`);
  console.log('| variant | step | threads | open fds | RSS MiB | V8 heap used MiB | CPU % idle | CPU % (API asked meanwhile) | to follow / to see gone (s) | /healthz p99 ms | /v1/table p50 / p99 ms |');
  console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of all) console.log(`| ${r.variant} | ${r.label}${r.vanished !== undefined ? ` (status: ${r.vanished} vanished)` : ''} | ${r.threads} | ${r.fds} | ${fmt(r.rssMiB, 1)} | ${fmt(r.heapMiB, 1)} | ${fmt(r.idlePct, 1)} | ${fmt(r.cpuPct, 1)} | ${fmt(r.followS, 1)} | ${fmt(r.healthzP99)} | ${fmt(r.tableP50)} / ${fmt(r.tableP99)} |`);
  console.log('\nper namespace, from 0 to the largest step:\n');
  console.log('| variant | threads | fds | RSS KiB | CPU % idle | CPU % (API asked) |');
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const [name] of variants) {
    const rs = all.filter((r) => r.variant === name);
    const a = rs.find((r) => r.label === `${steps[0]} namespaces`);
    const b = rs.find((r) => r.label === `${steps[steps.length - 1]} namespaces`);
    const n = steps[steps.length - 1] - steps[0];
    console.log(`| ${name} | ${fmt((b.threads - a.threads) / n, 3)} | ${fmt((b.fds - a.fds) / n, 2)} | ${fmt(((b.rssMiB - a.rssMiB) * 1024) / n, 1)} | ${fmt((b.idlePct - a.idlePct) / n, 4)} | ${fmt((b.cpuPct - a.cpuPct) / n, 4)} |`);
  }
} finally {
  netns('del', ours());
  unlock();
}
