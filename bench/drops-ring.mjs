#!/usr/bin/env node
// The drop path's wakeup policy on real table-full drops: tp_btf kfree_skb
// (bpf/drops.bpf.c) -> ring buffer (bpf/record_ring.h) -> reader thread
// (native/ring_source.cc) -> batches decoded in JS (DropSource). The same
// burst is measured with three settings of `wakeup_bytes`, side by side:
//
//   (a) 0          never woken: the reader drains on its 2 ms timer only
//   (b) ring / 4   the default: forced wakeup only when the backlog crosses it
//   (c) 1          BPF_RB_FORCE_WAKEUP on every record (per-event wakeups; an
//                  upper bound on libbpf's adaptive policy, which only wakes
//                  when the reader has caught up)
//
// The lab: namespaces ctsbench-c / ctsbench-s joined by a veth pair, an nft
// `ct state` rule in the server namespace so conntrack tracks it, and
// nf_conntrack_max lowered (only while a burst runs) so the server's table is
// full: every new UDP flow from the client is refused by conntrack
// (SKB_DROP_REASON_NETFILTER_DROP). Sender: test/kernel/drops-fixtures/flows.py
// `udp` (a new flow per packet, so early_drop and gc's eviction of unreplied
// entries only let a few in; `udp-same` would stop dropping as soon as one
// entry got in).
//
// Per setting, around the burst:
//   kernel drops     `drop` column of the server's /proc/net/stat/nf_conntrack,
//                    summed over CPUs
//   records          DROP records of the server namespace delivered to JS
//   lost             ring reserve failures + records the JS queue refused
//   BPF ns/run       run_time_ns / run_cnt of our cts_kfree_skb (bpftool, with
//                    kernel.bpf_stats_enabled=1 for the run, restored after)
//   reader ns/event  the reader thread's CPU (/proc/self/task/TID/schedstat)
//   process ns/event this process's CPU (process.cpuUsage(): reader thread +
//                    JS decoding + the bench's own bookkeeping)
//   sender ns/packet the sender's CPU (getrusage around the send loop); the
//                    packet's whole kernel path runs in its context (softirq
//                    on bh enable; no IRQ_TIME_ACCOUNTING here), including the
//                    BPF program and the wakeup's irq_work
//
// Run (root, after `make -s all`): node bench/drops-ring.mjs [--json]
//   [--burst N] (packets per burst, default 200000) [--rounds N] (default 2:
//   a b c, then c b a, summed) [--ring-bytes N] [--poll-ms N]
// Takes the machine-wide kernel-test lock; removes everything it created and
// restores both sysctls on exit, error or signal.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { LOCK_DIR, kernelBenchUnavailable, lock, sleep, sh } from './lib/kernel.mjs';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const FLOWS = path.join(root, 'test/kernel/drops-fixtures/flows.py');
const CLIENT = 'ctsbench-c';
const SERVER = 'ctsbench-s';
const CLIENT_ADDR = '10.78.0.1';
const SERVER_ADDR = '10.78.0.2';
const CT_MAX = '/proc/sys/net/netfilter/nf_conntrack_max';
const BPF_STATS = '/proc/sys/kernel/bpf_stats_enabled';
const PROGRAM = 'cts_kfree_skb';
const TABLE_MAX = 1000;
const FILL = 1300; // > TABLE_MAX: the table is full before each burst

function parseArgs(argv) {
  const o = { json: false, burst: 200000, rounds: 2, ringBytes: 4 << 20, pollMs: 2 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const num = (name, lo, hi) => {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < lo || v > hi) {
        console.error(`${name} must be an integer ${lo}..${hi}, got ${argv[i]}`);
        process.exit(2);
      }
      return v;
    };
    if (a === '--json') o.json = true;
    else if (a === '--burst') o.burst = num('--burst', 1000, 2_000_000);
    else if (a === '--rounds') o.rounds = num('--rounds', 1, 10);
    else if (a === '--ring-bytes') o.ringBytes = num('--ring-bytes', 4096, 1 << 30);
    else if (a === '--poll-ms') o.pollMs = num('--poll-ms', 1, 5);
    else {
      console.error(`unknown argument ${a}\nusage: node bench/drops-ring.mjs [--json] [--burst N] [--rounds N] [--ring-bytes N] [--poll-ms N]`);
      process.exit(2);
    }
  }
  return o;
}
const opts = parseArgs(process.argv.slice(2));

const skip =
  kernelBenchUnavailable(root, ['ip', 'nft', 'bpftool', 'python3']) ??
  (!fs.existsSync(path.join(root, 'bpf/.output/drops.bpf.o')) ? 'bpf/.output/drops.bpf.o not built (make -s all)' : null) ??
  (!fs.existsSync(CT_MAX) ? 'nf_conntrack is not loaded (modprobe nf_conntrack)' : null) ??
  (!fs.existsSync(BPF_STATS) ? 'kernel.bpf_stats_enabled is not available' : null);
if (skip) {
  console.log(`skipped: ${skip}`);
  process.exit(0);
}

const { DropSource, netfilterDropReasons } = await import(path.join(root, 'dist/sources/bpf-drops.js'));
const { parseConntrackStat } = await import(path.join(root, 'dist/proc/parse.js'));

// ---------------------------------------------------------------------------
// Everything we change, undone by cleanup() (synchronous, so it also runs
// from signal handlers and process 'exit').

const undo = { locked: false, savedMax: null, savedStats: null, netns: false, sources: new Set(), children: new Set() };

function restoreCtMax() {
  if (undo.savedMax !== null) {
    fs.writeFileSync(CT_MAX, String(undo.savedMax));
    undo.savedMax = null;
  }
}

function deleteLab() {
  for (const ns of [CLIENT, SERVER]) {
    if (!fs.existsSync(`/run/netns/${ns}`)) continue;
    try {
      for (const pid of sh(['ip', 'netns', 'pids', ns]).split('\n').filter(Boolean)) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    } catch {
      /* half-created */
    }
    try {
      sh(['ip', 'netns', 'del', ns]);
    } catch {
      /* already gone */
    }
  }
}

let cleaned = false;
function cleanup() {
  if (cleaned) return;
  cleaned = true;
  const step = (what, fn) => {
    try {
      fn();
    } catch (e) {
      console.error(`cleanup: ${what}: ${e.message}`);
    }
  };
  for (const c of undo.children) step('kill sender', () => c.kill('SIGKILL'));
  for (const s of undo.sources) step('stop drop source', () => s.stop());
  step('restore nf_conntrack_max', restoreCtMax);
  if (undo.savedStats !== null) step('restore kernel.bpf_stats_enabled', () => fs.writeFileSync(BPF_STATS, undo.savedStats));
  if (undo.netns) step('delete namespaces', deleteLab);
  if (undo.locked) {
    step('release the kernel lock', () => {
      if (fs.readFileSync(`${LOCK_DIR}/pid`, 'utf8').trim() === String(process.pid)) fs.rmSync(LOCK_DIR, { recursive: true, force: true });
    });
  }
}
process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    console.error(`\n${sig}: cleaning up`);
    cleanup();
    process.exit(130);
  });
}

// ---------------------------------------------------------------------------

const inNs = (ns, args, input) => sh(['ip', 'netns', 'exec', ns, ...args], input);

function createLab() {
  deleteLab(); // a run killed with -9 may have left them
  undo.netns = true;
  sh(['ip', 'netns', 'add', CLIENT]);
  sh(['ip', 'netns', 'add', SERVER]);
  inNs(CLIENT, ['ip', 'link', 'add', 'bench0', 'type', 'veth', 'peer', 'name', 'bench1', 'netns', SERVER]);
  inNs(CLIENT, ['ip', 'addr', 'add', `${CLIENT_ADDR}/24`, 'dev', 'bench0']);
  inNs(SERVER, ['ip', 'addr', 'add', `${SERVER_ADDR}/24`, 'dev', 'bench1']);
  for (const [ns, dev] of [
    [CLIENT, 'bench0'],
    [SERVER, 'bench1'],
  ]) {
    inNs(ns, ['ip', 'link', 'set', 'lo', 'up']);
    inNs(ns, ['ip', 'link', 'set', dev, 'up']);
  }
  // Any `ct` expression makes conntrack track the namespace.
  inNs(SERVER, ['nft', '-f', '-'], 'table inet ctsbench { chain pre { type filter hook prerouting priority 0; policy accept; ct state new counter; }; }');
  inNs(CLIENT, ['ping', '-c', '1', '-W', '2', SERVER_ADDR]);
}

const conntrackStat = () => parseConntrackStat(inNs(SERVER, ['cat', '/proc/net/stat/nf_conntrack']));

function bpfProgs() {
  return JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'show'], { encoding: 'utf8', maxBuffer: 64 << 20 }) || '[]');
}

/** Our cts_kfree_skb: the one this process holds (bpftool's pids), else the one that was not there before. */
function findOurProgram(idsBefore) {
  const mine = bpfProgs().filter((p) => p.name === PROGRAM);
  const byPid = mine.filter((p) => (p.pids ?? []).some((x) => x.pid === process.pid));
  const p = byPid.length === 1 ? byPid[0] : mine.filter((q) => !idsBefore.has(q.id)).at(-1);
  if (!p) throw new Error(`cannot find our ${PROGRAM} in bpftool prog show`);
  return p.id;
}

function progStats(id) {
  const p = JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'show', 'id', String(id)], { encoding: 'utf8' }));
  return { runTimeNs: p.run_time_ns ?? 0, runCnt: p.run_cnt ?? 0 };
}

const taskIds = () => new Set(fs.readdirSync('/proc/self/task'));

/** A thread's CPU time (ns) and voluntary context switches (each one a sleep, so a wakeup). */
function threadTimes(tid) {
  const cpuNs = Number(fs.readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
  const m = /voluntary_ctxt_switches:\s+(\d+)/.exec(fs.readFileSync(`/proc/self/task/${tid}/status`, 'utf8'));
  return { cpuNs, wakeups: m ? Number(m[1]) : NaN };
}

// The sender: flows.py run in-process by a wrapper that reports the send
// loop's own CPU (getrusage around it, not the interpreter's start).
const SENDER = `
import resource, runpy, sys, time
sys.argv = [sys.argv[1]] + sys.argv[2:]
r0 = resource.getrusage(resource.RUSAGE_SELF); t0 = time.monotonic()
runpy.run_path(sys.argv[0], run_name='__main__')
r1 = resource.getrusage(resource.RUSAGE_SELF); t1 = time.monotonic()
print('RUSAGE', r1.ru_utime - r0.ru_utime, r1.ru_stime - r0.ru_stime, t1 - t0, flush=True)
`;

/** New UDP flows, `count` packets in groups of at most 60,000 ports (each group a new socket, so new tuples). */
function sendFlows(count) {
  const groups = [];
  for (let left = count; left > 0; left -= 60000) groups.push('udp', CLIENT_ADDR, SERVER_ADDR, '2000', String(Math.min(60000, left)));
  return new Promise((resolve, reject) => {
    // Async: the JS thread must stay free to take batches during the burst.
    const child = spawn('ip', ['netns', 'exec', CLIENT, 'python3', '-c', SENDER, FLOWS, ...groups], { stdio: ['ignore', 'pipe', 'pipe'] });
    undo.children.add(child);
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => {
      undo.children.delete(child);
      const m = /^RUSAGE (\S+) (\S+) (\S+)$/m.exec(out);
      if (code !== 0 || !m) return reject(new Error(`flows.py exited with ${code}: ${err.trim() || out.trim()}`));
      resolve({ cpuS: Number(m[1]) + Number(m[2]), wallS: Number(m[3]) });
    });
  });
}

const MODES = [
  { key: 'a', label: '(a) timer only', wakeupBytes: () => 0 },
  { key: 'b', label: '(b) default, ring/4', wakeupBytes: (ring) => ring / 4 },
  { key: 'c', label: '(c) every record', wakeupBytes: () => 1 },
];

/** One burst with one setting: a fresh DropSource, the table filled, the burst, its figures. */
async function measure(mode, reasons, serverNetns) {
  const wakeupBytes = mode.wakeupBytes(opts.ringBytes);
  const idsBefore = new Set(bpfProgs().map((p) => p.id));
  const tasksBefore = taskIds();
  let records = 0;
  let batches = 0;
  const source = new DropSource({ wakeupBytes, pollMs: opts.pollMs, ringBytes: opts.ringBytes, reasons });
  undo.sources.add(source);
  await source.start({
    ingest(c) {
      batches++;
      for (let i = 0; i < c.length; i++) if (c.netns[i] === serverNetns) records++;
    },
  });
  try {
    const progId = findOurProgram(idsBefore);
    const readers = [...taskIds()].filter((t) => !tasksBefore.has(t));
    if (readers.length !== 1) throw new Error(`expected one new thread (the ring reader), found ${readers.length}`);
    const reader = readers[0];

    undo.savedMax ??= Number(fs.readFileSync(CT_MAX, 'utf8'));
    fs.writeFileSync(CT_MAX, String(TABLE_MAX));
    let sent;
    let s0, s1, p0, p1, r0, r1, c0, c1, rec0, bat0, lost0, lost1;
    try {
      await sendFlows(FILL);
      await sleep(20); // the fill's drops delivered before the figures start
      s0 = conntrackStat();
      rec0 = records;
      bat0 = batches;
      lost0 = source.status().lost;
      p0 = progStats(progId);
      r0 = threadTimes(reader);
      c0 = process.cpuUsage();
      sent = await sendFlows(opts.burst);
      const kernelDrops = conntrackStat().drop - s0.drop;
      // Caught up (bounded): the last records wait at most one poll period.
      const end = Date.now() + 3000;
      while (records - rec0 < kernelDrops && Date.now() < end) await sleep(1);
      c1 = process.cpuUsage(c0);
      r1 = threadTimes(reader);
      p1 = progStats(progId);
      s1 = conntrackStat();
      lost1 = source.status().lost;
    } finally {
      restoreCtMax();
    }
    const drops = s1.drop - s0.drop;
    const got = records - rec0;
    const lost = lost1.total - lost0.total;
    const reserveFailed = (l) => (l.ringbufReserveFailed ?? []).reduce((x, y) => x + y, 0);
    const lostReserve = reserveFailed(lost1) - reserveFailed(lost0);
    const lostQueue = (lost1.queueDropped ?? 0) - (lost0.queueDropped ?? 0);
    const runs = p1.runCnt - p0.runCnt;
    return {
      mode: mode.key,
      label: mode.label,
      wakeupBytes,
      packets: opts.burst,
      kernelDrops: drops,
      earlyDrops: s1.early_drop - s0.early_drop,
      inserted: s1.insert - s0.insert,
      records: got,
      lost,
      lostReserve,
      lostQueue,
      batches: batches - bat0,
      sendWallS: sent.wallS,
      bpfRuns: runs,
      bpfRunTimeNs: p1.runTimeNs - p0.runTimeNs,
      readerCpuNs: r1.cpuNs - r0.cpuNs,
      readerWakeups: r1.wakeups - r0.wakeups,
      processCpuNs: (c1.user + c1.system) * 1000,
      senderCpuNs: sent.cpuS * 1e9,
    };
  } finally {
    await source.stop();
    undo.sources.delete(source);
  }
}

/** Rounds of the same setting summed into one row. */
function sum(rows) {
  const out = { ...rows[0] };
  for (const k of Object.keys(out)) if (typeof out[k] === 'number' && k !== 'wakeupBytes') out[k] = rows.reduce((a, r) => a + r[k], 0);
  const per = (x, n) => (n > 0 ? x / n : NaN);
  out.rounds = rows.length;
  out.dropsPerS = per(out.kernelDrops, out.sendWallS);
  out.bpfNsPerRun = per(out.bpfRunTimeNs, out.bpfRuns);
  out.readerNsPerEvent = per(out.readerCpuNs, out.records);
  out.processNsPerEvent = per(out.processCpuNs, out.records);
  out.senderNsPerPacket = per(out.senderCpuNs, out.packets);
  out.wakeupsPerKRecords = per(out.readerWakeups * 1000, out.records);
  out.perRound = rows.map((r) => ({
    bpfNsPerRun: per(r.bpfRunTimeNs, r.bpfRuns),
    readerNsPerEvent: per(r.readerCpuNs, r.records),
    processNsPerEvent: per(r.processCpuNs, r.records),
    senderNsPerPacket: per(r.senderCpuNs, r.packets),
  }));
  return out;
}

function machine() {
  const cpu = (fs.readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/) ?? [])[1] ?? 'unknown CPU';
  return { nproc: os.cpus().length, cpu, kernel: os.release(), node: process.version, loadavg: os.loadavg().map((x) => +x.toFixed(2)) };
}

// ---------------------------------------------------------------------------

const t0 = Date.now();
const before = machine();
if (fs.existsSync(LOCK_DIR)) console.error(`waiting for the kernel-test lock (${LOCK_DIR})…`);
await lock();
undo.locked = true;
let result;
try {
  const reasons = netfilterDropReasons();
  if (Object.keys(reasons).length === 0) throw new Error('this kernel names no netfilter drop reason in BTF');
  createLab();
  const serverNetns = fs.statSync(`/run/netns/${SERVER}`).ino;
  undo.savedStats = fs.readFileSync(BPF_STATS, 'utf8').trim();
  fs.writeFileSync(BPF_STATS, '1');

  // a b c, then c b a: a drift of the machine's load over the run weighs on every setting alike.
  const order = [];
  for (let r = 0; r < opts.rounds; r++) order.push(...(r % 2 === 0 ? MODES : [...MODES].reverse()));
  const rows = new Map(MODES.map((m) => [m.key, []]));
  for (const m of order) rows.get(m.key).push(await measure(m, reasons, serverNetns));
  const summed = MODES.map((m) => sum(rows.get(m.key)));
  const a = summed[0];
  const ratio = (x, k) => x[k] / a[k];
  const ratios = Object.fromEntries(
    summed.slice(1).map((x) => [
      `${x.mode}/a`,
      Object.fromEntries(['bpfNsPerRun', 'readerNsPerEvent', 'processNsPerEvent', 'senderNsPerPacket', 'wakeupsPerKRecords'].map((k) => [k, ratio(x, k)])),
    ]),
  );
  result = {
    date: new Date().toISOString(),
    command: `node bench/drops-ring.mjs ${process.argv.slice(2).join(' ')}`.trim(),
    machine: { ...before, loadavgAfter: os.loadavg().map((x) => +x.toFixed(2)) },
    settings: { burst: opts.burst, rounds: opts.rounds, ringBytes: opts.ringBytes, pollMs: opts.pollMs, tableMax: TABLE_MAX, fill: FILL },
    modes: summed,
    ratios,
    wallS: (Date.now() - t0) / 1000,
  };
} finally {
  cleanup();
}

if (opts.json) {
  console.log(JSON.stringify(result, null, 2));
} else {
  const f = (x, d = 0) => (Number.isFinite(x) ? x.toLocaleString('en', { maximumFractionDigits: d, minimumFractionDigits: d }) : 'n/a');
  const m = result.machine;
  console.log(
    `drop path, wakeup policy: ${opts.rounds} × ${f(opts.burst)} new UDP flows into a full table (nf_conntrack_max ${TABLE_MAX}), ring ${f(opts.ringBytes / 1024)} KiB, poll ${opts.pollMs} ms`,
  );
  console.log(`machine: ${m.nproc} × ${m.cpu}, kernel ${m.kernel}, node ${m.node}, load ${m.loadavg.join(' ')} → ${m.loadavgAfter.join(' ')}\n`);
  console.log('| setting | wakeup_bytes | packets | kernel drops | drops/s | records | lost (reserve + queue) | records / batch | reader wakeups / 1k rec | BPF ns/run | reader ns/event | process ns/event | sender ns/packet |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const x of result.modes) {
    console.log(
      `| ${x.label} | ${f(x.wakeupBytes)} | ${f(x.packets)} | ${f(x.kernelDrops)} | ${f(x.dropsPerS)} | ${f(x.records)} | ${f(x.lost)} (${f(x.lostReserve)} + ${f(x.lostQueue)}) | ${f(x.records / x.batches)} | ${f(x.wakeupsPerKRecords, 1)} | ${f(x.bpfNsPerRun)} | ${f(x.readerNsPerEvent)} | ${f(x.processNsPerEvent)} | ${f(x.senderNsPerPacket)} |`,
    );
  }
  console.log('');
  for (const [k, r] of Object.entries(result.ratios)) {
    console.log(
      `${k}: BPF ${f(r.bpfNsPerRun, 2)}×, reader ${f(r.readerNsPerEvent, 2)}×, process ${f(r.processNsPerEvent, 2)}×, sender ${f(r.senderNsPerPacket, 2)}×, wakeups ${f(r.wakeupsPerKRecords, 1)}×`,
    );
  }
  console.log(`\nper round (BPF / reader / process / sender ns): ${result.modes.map((x) => `${x.mode}: ${x.perRound.map((p) => [p.bpfNsPerRun, p.readerNsPerEvent, p.processNsPerEvent, p.senderNsPerPacket].map((v) => f(v)).join('/')).join(', ')}`).join('; ')}`);
  console.log(`wall ${f(result.wallS, 1)} s`);
}
