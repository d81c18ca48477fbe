#!/usr/bin/env node
// What ctscope costs the node it watches (issue 18): the same traffic with the
// daemon detached (D) and attached (A), alternated in one run (D A D A D A)
// so that whatever else the machine is doing weighs on both sides alike.
//
// Lab: a client namespace and a conntrack'd server namespace joined by a veth
// pair (ctsnc-c/nc0 -> ctsnc-s/nc1). The server namespace forwards
// 10.79.0.0/16 to a sink namespace (ctsnc-k, no conntrack, an nft netdev
// ingress rule drops everything), so UDP flows pass through conntrack and are
// confirmed without a userspace receiver (the kernel here has no dummy
// interfaces); TCP
// connections end at a local accept()-and-close() server. Timeouts there are
// 1 s (UDP, TCP CLOSE) so the table stays small and DESTROYs follow NEWs.
// Traffic: bench/node-cost/gen.c, compiled here with gcc -O2.
//
// Phases (each a table):
//   tcp       new TCP connections/s (connect + RST close loop, SENDERS senders)
//   udp       new UDP flows/s (one packet each, through the server namespace)
//   ingress   packets/s received on ctsnc-s/nc1 with `--ingress ctsnc-s/nc1`
//             (tcx and tc-clsact), 18-byte UDP payloads, established flows
//             (256 flows cycling) and new flows (every packet a new tuple)
//   cpu       the daemon's CPU per record at fixed event rates (10k, 100k,
//             200k, 400k events/s: entries made and deleted through ctnetlink,
//             NEW + DESTROY each; the highest with nothing lost is the highest
//             sustainable rate), and idle, split by thread (ctnetlink reader, JS main
//             thread, the rest) and, from a `node --cpu-prof` run, the JS
//             thread's share of decoding, the model and the rest; each
//             measured run after --warmup seconds (default 3) of the same rate
//   profile   the cpu phase's `node --cpu-prof` round alone (100k events/s, or --profile-rate);
//             with --profile-dir DIR the .cpuprofile and a .heapprofile
//             (node --heap-prof) are kept there for a closer look
//   bpf       per-program kernel cost: run_time_ns / run_cnt of every program
//             the daemon loaded, with kernel.bpf_stats_enabled=1 for one extra
//             attached round only (the stats' own clock reads would bias the
//             ratios), restored after
//   guest     the tcp and udp phases in the Debian kernel of
//             scripts/guest/kernels.txt under qemu (TCG), where the daemon
//             gets fexit/fentry lifecycles; attached with `--hooks fentry` and
//             with `--hooks kprobe`, interleaved with detached rounds
//
// The host phases hold the machine-wide kernel-test lock (bench/lib/
// kernel.mjs); the guest phase does not need it (its own kernel).
//
// Run (root, after `make -s all`), one line:
//   node bench/node-cost.mjs [--phases tcp,udp,ingress,cpu,bpf,guest] [--rounds 3] [--seconds 5]
//                            [--compare DIR]   (another ctscope checkout, built: a third variant "old")
//   npm run bench -- node-cost
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { deleteNetns, kernelBenchUnavailable, lock, procCpuSeconds, sh, sleep, unlock } from './lib/kernel.mjs';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const { values: args } = parseArgs({
  options: {
    phases: { type: 'string', default: 'tcp,udp,ingress,cpu,bpf,guest' },
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '5' },
    senders: { type: 'string', default: '2' },
    rates: { type: 'string', default: '10000,100000,200000,400000' },
    // cpu phase: seconds of the same rate before the measured ones (0: measure a cold daemon)
    warmup: { type: 'string', default: '3' },
    compare: { type: 'string' },
    'inside-guest': { type: 'boolean', default: false },
    json: { type: 'string' },
    // profile phase: where to keep the .cpuprofile (and its heap sampling profile)
    'profile-dir': { type: 'string' },
    // profile phase: the event rate profiled (events/s)
    'profile-rate': { type: 'string', default: '100000' },
    // extra node flags for every daemon started (e.g. --trace-gc; its output is printed at the daemon's stop)
    'node-args': { type: 'string', default: '' },
    'print-daemon-output': { type: 'boolean', default: false },
    // cpu phase: leave out the --netlink-datagrams variant (a before/after of one change needs only the two builds)
    'no-datagrams': { type: 'boolean', default: false },
  },
});
const PHASES = new Set(args.phases.split(','));
const ROUNDS = Number(args.rounds);
const SECONDS = Number(args.seconds);
const SENDERS = Number(args.senders);
const RATES = args.rates.split(',').map(Number);
const WARMUP = Number(args.warmup);
const INSIDE = args['inside-guest'];
const C = 'ctsnc-c';
const S = 'ctsnc-s';
const K = 'ctsnc-k';
const CLIENT = '10.78.0.1';
const SERVER = '10.78.0.2';
const SINK = '10.79.0.0';
const TCP_PORT = 7070;
const f = (x, d = 0) => (Number.isFinite(x) ? x.toLocaleString('en', { maximumFractionDigits: d, minimumFractionDigits: d }) : '–');
const log = (m) => process.stderr.write(`[node-cost] ${m}\n`);
const load = () => os.loadavg()[0].toFixed(2);

if (!INSIDE) {
  const skip = kernelBenchUnavailable(root, ['ip', 'nft', 'conntrack', 'gcc', 'bpftool']);
  if (skip) {
    console.log(`skipped: ${skip}`);
    process.exit(0);
  }
}

// ---- the generator ----

const GEN = INSIDE ? process.env.CTSCOPE_NODE_COST_GEN : path.join(os.tmpdir(), `ctscope-node-cost-gen-${process.pid}`);
if (!INSIDE) execFileSync('gcc', ['-O2', '-Wall', '-o', GEN, path.join(root, 'bench/node-cost/gen.c')], { stdio: 'inherit' });

const inNs = (ns, a, input) => sh(['ip', 'netns', 'exec', ns, ...a], input);

/** Runs the generator in the client namespace (`ct`: in the server's); resolves to its JSON line. */
function gen(a) {
  return new Promise((resolve, reject) => {
    const cmd = ['ip', 'netns', 'exec', a[0] === 'ct' ? S : C, GEN, ...a.map(String)];
    const p = spawn(INSIDE ? 'taskset' : cmd[0], INSIDE ? ['-c', '0', ...cmd] : cmd.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`gen ${a.join(' ')}: exit ${code}: ${err}`))));
  });
}

// ---- the lab ----

let tcpServer = null;
function setupLab() {
  for (const ns of [C, S, K]) deleteNetns(ns);
  for (const ns of [C, S, K]) sh(['ip', 'netns', 'add', ns]);
  const run = (ns, cmd) => inNs(ns, ['sh', '-c', cmd]);
  run(C, `ip link add nc0 type veth peer name nc1 netns ${S}
    ip addr add ${CLIENT}/24 dev nc0; ip link set lo up; ip link set nc0 up
    ip route add ${SINK}/16 via ${SERVER}`);
  run(S, `ip addr add ${SERVER}/24 dev nc1; ip link set lo up; ip link set nc1 up
    ip link add nc2 type veth peer name nc3 netns ${K}; ip addr add 10.78.1.1/24 dev nc2; ip link set nc2 up
    ip route add ${SINK}/16 via 10.78.1.2
    sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.nc1.rp_filter=0
    sysctl -qw net.core.somaxconn=65535 net.ipv4.tcp_max_syn_backlog=65535
    sysctl -qw net.netfilter.nf_conntrack_udp_timeout=1 net.netfilter.nf_conntrack_tcp_timeout_close=1`);
  // the sink: no conntrack there (no ct rule), every packet dropped at ingress
  run(K, 'ip addr add 10.78.1.2/24 dev nc3; ip link set lo up; ip link set nc3 up');
  inNs(K, ['nft', '-f', '-'], 'table netdev sink {\n  chain in {\n    type filter hook ingress device nc3 priority 0;\n    drop\n  }\n}\n');
  // NEW entries counted by the kernel (before confirmation; all get confirmed here)
  inNs(S, ['nft', '-f', '-'], `table inet ncost {
  chain forw {
    type filter hook forward priority 0;
    ct state new counter comment "new-forwarded"
  }
  chain inp {
    type filter hook input priority 0;
    ct state new counter comment "new-local"
  }
}
`);
  tcpServer = spawn('ip', ['netns', 'exec', S, GEN, 'tcp-server', String(TCP_PORT)], { stdio: 'ignore' });
  if (INSIDE) sh(['taskset', '-p', '-c', '0', String(tcpServer.pid)]);
}

function teardownLab() {
  tcpServer?.kill('SIGKILL');
  tcpServer = null;
  for (const ns of [C, S, K]) deleteNetns(ns);
}

function nftNew() {
  const j = JSON.parse(inNs(S, ['nft', '-j', 'list', 'table', 'inet', 'ncost']));
  let n = 0;
  for (const x of j.nftables) for (const e of x.rule?.expr ?? []) if (e.counter) n += e.counter.packets;
  return n;
}

const rxPackets = () => Number(inNs(S, ['cat', '/sys/class/net/nc1/statistics/rx_packets']).trim());
const flush = () => {
  try {
    inNs(S, ['conntrack', '-F']);
  } catch {
    /* empty table */
  }
};

// ---- the daemon ----

let daemonPort = 19640 + (process.pid % 1000);

/** Starts `ctscope run` (from checkout `dir`) and waits until it follows the server namespace. */
async function startDaemon(dir, extra, env = {}) {
  const port = daemonPort++;
  const nodeArgs = [...args['node-args'].split(' ').filter(Boolean), ...(env.nodeArgs ?? []), path.join(dir, 'bin/ctscope.js'), 'run', '--listen', `127.0.0.1:${port}`, ...extra];
  const child = INSIDE
    ? spawn('taskset', ['-c', '1', process.execPath, ...nodeArgs], { stdio: ['ignore', 'pipe', 'pipe'], cwd: dir })
    : spawn(process.execPath, nodeArgs, { stdio: ['ignore', 'pipe', 'pipe'], cwd: dir });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const base = `http://127.0.0.1:${port}`;
  const inode = fs.statSync(`/run/netns/${S}`).ino;
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`daemon exited ${child.exitCode}: ${out}`);
    try {
      const st = await (await fetch(`${base}/v1/status`)).json();
      const nl = st.sources.find((s) => s.name === 'netlink');
      const lc = st.sources.find((s) => s.name === 'lifecycle');
      const ready = nl ? nl.namespaces?.some((n) => n.inode === inode && n.state === 'running') : lc?.state === 'running';
      const ingressReady = !extra.includes('--ingress') || st.sources.find((s) => s.name === 'ingress')?.detail?.includes('nc1');
      if (ready && ingressReady) break;
    } catch {
      /* not listening yet */
    }
    if (i > 1200) throw new Error(`the daemon did not follow ${S} within 120 s: ${out}`);
    await sleep(100);
  }
  return { child, base, output: () => out };
}

async function stopDaemon(d) {
  if (!d) return;
  const done = new Promise((r) => (d.child.exitCode !== null ? r() : d.child.once('exit', r)));
  d.child.kill('SIGTERM');
  await Promise.race([done, sleep(15000)]);
  if (d.child.exitCode === null) d.child.kill('SIGKILL');
  if (args['print-daemon-output']) process.stderr.write(`[daemon output]\n${d.output()}\n`);
}

async function daemonRecords(d) {
  const st = await (await fetch(`${d.base}/v1/status`)).json();
  let records = 0;
  let lost = 0;
  for (const s of st.sources) {
    records += s.records ?? 0;
    lost += s.lost?.total ?? 0;
  }
  return { records, lost };
}

const CLK_TCK = Number(sh(['getconf', 'CLK_TCK']).trim()) || 100;
/** CPU seconds per thread group of a process: the netlink/ring readers (named by the addon), the main (JS) thread, the rest. */
function threadCpu(pid) {
  const out = { reader: 0, js: 0, jsSys: 0, other: 0 };
  let tids = [];
  try {
    tids = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const st = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const comm = st.slice(st.indexOf('(') + 1, st.lastIndexOf(')'));
      const rest = st.slice(st.lastIndexOf(')') + 2).split(' ');
      const s = (Number(rest[11]) + Number(rest[12])) / CLK_TCK;
      if (tid === String(pid)) {
        out.js += s;
        out.jsSys += Number(rest[12]) / CLK_TCK;
      }
      else if (comm.startsWith('cts-')) out.reader += s;
      else out.other += s;
    } catch {
      /* thread gone */
    }
  }
  return out;
}

// ---- variants ----

/** Detached, then each attached configuration, in turn. */
function variants(kind) {
  const v = [{ name: 'detached', attached: false }];
  const hooks = INSIDE ? ['fentry', 'kprobe'] : [null];
  for (const h of hooks) {
    const base = h ? ['--hooks', h] : [];
    if (kind === 'ingress') {
      for (const hook of ['tcx', 'tc-clsact']) v.push({ name: `attached, --ingress (${hook})`, attached: true, dir: root, extra: [...base, '--ingress', `${S}/nc1`, '--ingress-hook', hook] });
    } else {
      v.push({ name: h ? `attached, --hooks ${h}` : 'attached', attached: true, dir: root, extra: base });
      // this kernel's ctnetlink path: events decoded in the kernel (the
      // default) against datagrams, the node's side of that trade
      if (!INSIDE) v.push({ name: 'attached, --netlink-datagrams', attached: true, dir: root, extra: [...base, '--netlink-datagrams'] });
      if (args.compare && !h) v.push({ name: `attached, ${path.basename(args.compare)} (before)`, attached: true, dir: path.resolve(args.compare), extra: base });
    }
  }
  return v;
}

/** One measured round: optional daemon, the generator, the kernel's counts. */
async function round(variant, genArgs, measure) {
  flush();
  await sleep(300);
  const d = variant.attached ? await startDaemon(variant.dir, variant.extra) : null;
  try {
    await sleep(500);
    if (d && measure.warmup) {
      // A fresh daemon compiles its hot paths and grows its heap in its first
      // seconds: measured cold, that start-up is in the figure.
      await gen(measure.warmup);
      await sleep(1500);
    }
    const before = { nft: nftNew(), rx: rxPackets(), cpu: d ? procCpuSeconds(d.child.pid) : 0, rec: d ? await daemonRecords(d) : null, threads: d ? threadCpu(d.child.pid) : null, load: load() };
    const g = await gen(genArgs);
    await sleep(measure.settleMs ?? 1500); // the DESTROYs of the last entries (1 s timeouts)
    const after = { nft: nftNew(), rx: rxPackets(), cpu: d ? procCpuSeconds(d.child.pid) : 0, rec: d ? await daemonRecords(d) : null, threads: d ? threadCpu(d.child.pid) : null };
    return {
      variant: variant.name,
      load: before.load,
      gen: g,
      newEntries: after.nft - before.nft,
      rx: after.rx - before.rx,
      daemonCpu: after.cpu - before.cpu,
      records: d ? after.rec.records - before.rec.records : 0,
      lost: d ? after.rec.lost - before.rec.lost : 0,
      threads: d ? Object.fromEntries(Object.keys(after.threads).map((k) => [k, after.threads[k] - before.threads[k]])) : null,
    };
  } finally {
    await stopDaemon(d);
  }
}

/** rounds × variants, interleaved: D A D A … */
async function alternate(kind, genArgs, opts = {}) {
  const vs = variants(kind);
  const rows = [];
  for (let r = 0; r < ROUNDS; r++) {
    for (const v of vs) {
      const x = await round(v, genArgs, opts);
      x.round = r + 1;
      log(`${kind} ${v.name} round ${r + 1}: ${JSON.stringify(x.gen)} new=${x.newEntries} rx=${x.rx} cpu=${x.daemonCpu.toFixed(2)} records=${x.records} load ${x.load}`);
      rows.push(x);
    }
  }
  return rows;
}

const rate = (x, kind) => (kind === 'tcp' ? x.gen.connections : kind === 'udp' ? x.newEntries : x.rx) / x.gen.seconds;

function ratioTable(title, kind, rows, unit) {
  const vs = [...new Set(rows.map((r) => r.variant))];
  const lines = [`### ${title}`, '', `| variant | ${unit} per round | mean | vs detached (per round) | daemon CPU / s | daemon µs / record | records lost | load |`, '|---|---|---:|---|---:|---:|---:|---|'];
  const det = rows.filter((r) => r.variant === 'detached');
  for (const v of vs) {
    const rs = rows.filter((r) => r.variant === v);
    const rates = rs.map((r) => rate(r, kind));
    const mean = rates.reduce((a, b) => a + b, 0) / rates.length;
    const ratios = v === 'detached' ? [] : rs.map((r, i) => rate(r, kind) / ((rate(det[i], kind) + rate(det[Math.min(i + 1, det.length - 1)], kind)) / 2));
    const cpu = rs.reduce((a, r) => a + r.daemonCpu, 0);
    const wall = rs.reduce((a, r) => a + r.gen.seconds + 1.5, 0);
    const recs = rs.reduce((a, r) => a + r.records, 0);
    lines.push(
      `| ${v} | ${rates.map((x) => f(x)).join(' / ')} | ${f(mean)} | ${ratios.length ? ratios.map((x) => f(x, 3)).join(' / ') : '—'} | ${v === 'detached' ? '—' : `${f((cpu / wall) * 100, 1)} %`} | ${recs ? f((cpu / recs) * 1e6, 2) : '—'} | ${v === 'detached' ? '—' : f(rs.reduce((a, r) => a + r.lost, 0))} | ${rs.map((r) => r.load).join(' ')} |`,
    );
  }
  lines.push('', '"vs detached": each attached round against the mean of the detached rounds before and after it.', '');
  return lines.join('\n');
}

// ---- the phases ----

async function phaseCpu() {
  const rows = [];
  // Full fidelity (--max-cpu 0): the figure is the cost of every event, not
  // what the budget lets through. The same build reading events as
  // datagrams (--netlink-datagrams) is the before of the kernel-side decoder.
  const full = ['--max-cpu', '0'];
  const variantsCpu = [
    { name: 'attached', attached: true, dir: root, extra: full },
    ...(args['no-datagrams'] ? [] : [{ name: 'attached, --netlink-datagrams', attached: true, dir: root, extra: [...full, '--netlink-datagrams'] }]),
  ];
  // a build from before the CPU budget (no --max-cpu) always ran at full fidelity
  if (args.compare) variantsCpu.push({ name: `${path.basename(args.compare)} (before)`, attached: true, dir: path.resolve(args.compare), extra: knowsMaxCpu(args.compare) ? full : [] });
  // idle: what the daemon costs with no traffic in the lab
  for (const vv of variantsCpu) {
    flush();
    const d = await startDaemon(vv.dir, vv.extra);
    try {
      await sleep(1000);
      const c0 = procCpuSeconds(d.child.pid);
      await sleep(SECONDS * 1000);
      rows.push({ variant: vv.name, rate: 'idle', idleCpu: (procCpuSeconds(d.child.pid) - c0) / SECONDS });
    } finally {
      await stopDaemon(d);
    }
  }
  for (let r = 0; r < ROUNDS; r++) {
    for (const target of RATES) {
      for (const vv of variantsCpu) {
        const x = await round(vv, ['ct', target, SECONDS], { settleMs: 1000, ...(WARMUP > 0 ? { warmup: ['ct', target, WARMUP] } : {}) });
        x.rate = target;
        x.round = r + 1;
        log(`cpu ${vv.name} ${target || 'max'}: ${JSON.stringify(x.gen)} records=${x.records} cpu=${x.daemonCpu.toFixed(2)} threads=${JSON.stringify(x.threads)} lost=${x.lost}`);
        rows.push(x);
      }
    }
  }
  return rows;
}

/** Whether the build in `dir` has the CPU budget's --max-cpu (issue 18's builds before it did not). */
function knowsMaxCpu(dir) {
  try {
    return fs.readFileSync(path.join(dir, 'dist/cli/commands/run.js'), 'utf8').includes('max-cpu');
  } catch {
    return true;
  }
}

function cpuTable(rows) {
  const lines = ['### The daemon\'s CPU per record (ctnetlink path)', '', '| variant | target events/s | kernel events (NEW + DESTROY) / s | records delivered / kernel events | µs CPU / record: whole daemon | reader thread | JS thread | other threads | lost | load |', '|---|---:|---:|---:|---:|---:|---:|---:|---:|---|'];
  for (const r of rows.filter((x) => x.rate === 'idle')) lines.push(`| ${r.variant} | idle | | | ${f(r.idleCpu * 100, 2)} % of a CPU | | | | | |`);
  const keys = [...new Set(rows.filter((x) => x.rate !== 'idle').map((x) => `${x.variant}|${x.rate}`))];
  for (const k of keys) {
    const rs = rows.filter((x) => `${x.variant}|${x.rate}` === k);
    const per = (sel) => rs.map((x) => f((sel(x) / x.records) * 1e6, 2)).join(' / ');
    lines.push(
      `| ${rs[0].variant} | ${f(rs[0].rate)} | ${rs.map((x) => f((x.gen.created + x.gen.deleted) / x.gen.seconds)).join(' / ')} | ${rs.map((x) => f(x.records / (x.gen.created + x.gen.deleted), 3)).join(' / ')} | **${per((x) => x.daemonCpu)}** | ${per((x) => x.threads.reader)} | ${per((x) => x.threads.js)} | ${per((x) => x.threads.other)} | ${rs.map((x) => f(x.lost)).join(' / ')} | ${rs.map((x) => x.load).join(' ')} |`,
    );
  }
  lines.push('', 'Per round (round 1 / 2 / 3). Entries made and deleted through ctnetlink by the generator in the server namespace (`gen ct`, each deleted 1 s after it was made), so the kernel emits exactly one NEW and one DESTROY per entry; each measured run follows ' + WARMUP + ' s of the same rate in the same daemon (a cold daemon\'s JIT and heap growth are not in the figure; --warmup 0 measures them); records delivered include whatever else the daemon saw on the machine meanwhile (other namespaces), hence a ratio slightly above 1. CPU of the daemon process over the generator\'s run plus 1 s (`/proc/PID/task/*/stat`): the reader thread is `cts-netlink`, the JS thread the main thread, "other" V8\'s and libuv\'s helpers.', '');
  return lines.join('\n');
}

/** One attached round under `node --cpu-prof`: the JS thread's self time by part. */
async function phaseProfile(target) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ctscope-prof-'));
  flush();
  const nodeArgs = ['--cpu-prof', `--cpu-prof-dir=${dir}`];
  if (args['profile-dir']) nodeArgs.push('--heap-prof', `--heap-prof-dir=${dir}`);
  const d = await startDaemon(root, ['--max-cpu', '0'], { nodeArgs });
  // only the samples of the generator's run count (not the daemon's start-up);
  // V8 stamps samples in µs of CLOCK_MONOTONIC, as process.hrtime does
  let from = 0;
  let to = 0;
  try {
    await sleep(500);
    from = Number(process.hrtime.bigint() / 1000n);
    await gen(['ct', target, SECONDS]);
    await sleep(1000);
    to = Number(process.hrtime.bigint() / 1000n);
  } finally {
    await stopDaemon(d);
  }
  const file = fs.readdirSync(dir).find((x) => x.endsWith('.cpuprofile'));
  if (!file) return null;
  const prof = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'));
  if (args['profile-dir']) {
    fs.mkdirSync(args['profile-dir'], { recursive: true });
    for (const x of fs.readdirSync(dir)) fs.copyFileSync(path.join(dir, x), path.join(args['profile-dir'], x));
  }
  fs.rmSync(dir, { recursive: true, force: true });
  const self = new Map();
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const dt = new Map();
  let t = prof.startTime;
  for (let i = 0; i < prof.samples.length; i++) {
    t += prof.timeDeltas[i] ?? 0;
    if (t >= from && t <= to) dt.set(prof.samples[i], (dt.get(prof.samples[i]) ?? 0) + (prof.timeDeltas[i] ?? 0));
  }
  const part = (n) => {
    const u = n.callFrame.url;
    const fn = n.callFrame.functionName;
    if (fn === '(idle)') return 'idle';
    if (fn === '(garbage collector)') return 'garbage collector';
    if (fn === '(program)') return 'native (addon calls, V8)';
    if (u.includes('/records/')) return 'decode (records/)';
    if (u.includes('/model/')) return 'model (model/)';
    if (u.includes('/sources/') || u.includes('/metrics/')) return path.basename(u);
    if (u.includes('/proc/')) return '/proc poller';
    if (u.includes('node_modules')) return 'fastify and other modules';
    if (u.startsWith('node:')) return 'node internals';
    return 'other';
  };
  for (const [id, t] of dt) {
    const n = byId.get(id);
    if (!n) continue;
    const p = part(n);
    self.set(p, (self.get(p) ?? 0) + t);
  }
  const busy = [...self].filter(([k]) => k !== 'idle').reduce((a, [, v]) => a + v, 0);
  return { target, parts: [...self].filter(([k]) => k !== 'idle').sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, v / busy]) };
}

async function phaseBpf() {
  const prev = fs.readFileSync('/proc/sys/kernel/bpf_stats_enabled', 'utf8').trim();
  const before = new Set(JSON.parse(sh(['bpftool', '-j', 'prog', 'show']) || '[]').map((p) => p.id));
  const out = [];
  fs.writeFileSync('/proc/sys/kernel/bpf_stats_enabled', '1');
  try {
    for (const [label, genArgs, extra] of [
      ['new UDP flows', ['udp', SINK, SECONDS, SENDERS, 0, 0], ['--ingress', `${S}/nc1`]],
      ['established UDP flows', ['udp', SINK, SECONDS, SENDERS, 256, 0], ['--ingress', `${S}/nc1`]],
      ['new TCP connections', ['tcp', SERVER, TCP_PORT, SECONDS, SENDERS], ['--ingress', `${S}/nc1`]],
      // the ctnetlink event sockets' program: the decoder, and the filter alone
      ['ctnetlink events (100,000/s)', ['ct', 100_000, SECONDS], ['--max-cpu', '0']],
      ['ctnetlink events (100,000/s), --netlink-datagrams', ['ct', 100_000, SECONDS], ['--max-cpu', '0', '--netlink-datagrams']],
    ]) {
      flush();
      const d = await startDaemon(root, extra);
      try {
        const progs = () => JSON.parse(sh(['bpftool', '-j', 'prog', 'show'])).filter((p) => !before.has(p.id));
        const p0 = new Map(progs().map((p) => [p.id, p]));
        const g = await gen(genArgs);
        await sleep(1500);
        for (const p of progs()) {
          const a = p0.get(p.id);
          const cnt = (p.run_cnt ?? 0) - (a?.run_cnt ?? 0);
          const ns = (p.run_time_ns ?? 0) - (a?.run_time_ns ?? 0);
          if (cnt > 0) out.push({ traffic: label, prog: p.name, type: p.type, runs: cnt, nsPerRun: ns / cnt, gen: g });
        }
      } finally {
        await stopDaemon(d);
      }
    }
  } finally {
    fs.writeFileSync('/proc/sys/kernel/bpf_stats_enabled', prev);
  }
  return out;
}

function bpfTable(rows, where) {
  const lines = [`### Per-program kernel cost (${where})`, '', '| traffic | program | type | runs | ns / run |', '|---|---|---|---:|---:|'];
  for (const r of rows) lines.push(`| ${r.traffic} | ${r.prog} | ${r.type} | ${f(r.runs)} | ${f(r.nsPerRun)} |`);
  lines.push('', '`run_time_ns / run_cnt` from `bpftool -j prog show` with `kernel.bpf_stats_enabled=1` during one attached round per traffic kind (includes the stats\' own two clock reads per run).', '');
  return lines.join('\n');
}

// ---- the guest ----

async function phaseGuest() {
  const { runInGuest, guestSupport, kernelPackages } = await import(path.join(root, 'scripts/guest/harness.mjs'));
  const s = guestSupport();
  if (!s.ok) return { skipped: s.why };
  const kernel = kernelPackages()[0];
  // the generator sits in the project so the guest (this root, read-only) finds
  // it; .cache/, because a rebuild of the addon empties build/
  const genCopy = path.join(root, '.cache', `node-cost-gen-${process.pid}`);
  fs.mkdirSync(path.dirname(genCopy), { recursive: true });
  fs.copyFileSync(GEN, genCopy);
  const r = await runInGuest({
    kernel,
    // one sender pinned to the first vCPU, the daemon to the second: under TCG
    // the daemon's JavaScript costs tens of times what it does on hardware, and
    // sharing a vCPU with it would measure that instead of what the hooks add
    // to the packet path
    command: `node bench/node-cost.mjs --inside-guest --phases tcp,udp,bpf --rounds ${ROUNDS} --seconds ${SECONDS} --senders 1 --json "$CTSCOPE_GUEST_OUT/results.json"`,
    env: { CTSCOPE_NODE_COST_GEN: genCopy },
    timeoutMs: 40 * 60_000,
    snapshot: ['build/Release/ctscope.node', 'bpf/.output', 'dist'],
    log,
  });
  fs.rmSync(genCopy, { force: true });
  if (r.exitCode !== 0) log(r.output.slice(-4000));
  return { release: r.release, results: r.results, exitCode: r.exitCode };
}

// ---- main ----

const report = [];
const results = {};
if (INSIDE) {
  setupLab();
  try {
    if (PHASES.has('tcp')) results.tcp = await alternate('tcp', ['tcp', SERVER, TCP_PORT, SECONDS, SENDERS]);
    if (PHASES.has('udp')) results.udp = await alternate('udp', ['udp', SINK, SECONDS, SENDERS, 0, 0]);
    if (PHASES.has('bpf')) {
      const prev = fs.readFileSync('/proc/sys/kernel/bpf_stats_enabled', 'utf8').trim();
      const out = [];
      fs.writeFileSync('/proc/sys/kernel/bpf_stats_enabled', '1');
      try {
        for (const hooks of ['fentry', 'kprobe']) {
          for (const [label, genArgs] of [
            ['new UDP flows', ['udp', SINK, SECONDS, SENDERS, 0, 0]],
            ['new TCP connections', ['tcp', SERVER, TCP_PORT, SECONDS, SENDERS]],
          ]) {
            flush();
            const before = new Set(JSON.parse(sh(['bpftool', '-j', 'prog', 'show']) || '[]').map((p) => p.id));
            const d = await startDaemon(root, ['--hooks', hooks]);
            try {
              const progs = () => JSON.parse(sh(['bpftool', '-j', 'prog', 'show'])).filter((p) => !before.has(p.id));
              const p0 = new Map(progs().map((p) => [p.id, p]));
              await gen(genArgs);
              await sleep(1500);
              for (const p of progs()) {
                const a = p0.get(p.id);
                const cnt = (p.run_cnt ?? 0) - (a?.run_cnt ?? 0);
                const ns = (p.run_time_ns ?? 0) - (a?.run_time_ns ?? 0);
                if (cnt > 0) out.push({ traffic: `${label}, --hooks ${hooks}`, prog: p.name, type: p.type, runs: cnt, nsPerRun: ns / cnt });
              }
            } finally {
              await stopDaemon(d);
            }
          }
        }
      } finally {
        fs.writeFileSync('/proc/sys/kernel/bpf_stats_enabled', prev);
      }
      results.bpf = out;
    }
  } finally {
    teardownLab();
  }
  results.load = os.loadavg();
  fs.writeFileSync(args.json, JSON.stringify(results));
  process.exit(0);
}

const header = `node cost — ${os.cpus().length} × ${(fs.readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/) ?? [])[1]}, kernel ${os.release()}, node ${process.version}, commit ${spawnSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).stdout.trim()}, ${new Date().toISOString()}`;
report.push(header, '', `uptime at start: ${sh(['uptime']).trim()}`, '', `Command: node bench/node-cost.mjs ${process.argv.slice(2).join(' ')}`, '');
const hostPhases = ['tcp', 'udp', 'ingress', 'cpu', 'profile', 'bpf'].filter((p) => PHASES.has(p));
if (hostPhases.length) {
  await lock();
  const cleanup = () => {
    teardownLab();
    unlock();
  };
  process.on('SIGINT', () => {
    cleanup();
    process.exit(130);
  });
  try {
    setupLab();
    if (PHASES.has('tcp')) report.push(ratioTable(`New TCP connections/s (${SENDERS} senders, connect + RST close) — this kernel: ctnetlink lifecycles, tp_btf drops`, 'tcp', await alternate('tcp', ['tcp', SERVER, TCP_PORT, SECONDS, SENDERS]), 'connections/s'));
    if (PHASES.has('udp')) report.push(ratioTable(`New UDP flows/s (${SENDERS} senders, one 18-byte packet per flow, forwarded through the conntrack'd namespace) — this kernel`, 'udp', await alternate('udp', ['udp', SINK, SECONDS, SENDERS, 0, 0]), 'flows/s'));
    if (PHASES.has('ingress')) {
      report.push(ratioTable(`Packets/s through ${S}/nc1 watched by --ingress: established flows (256 UDP flows cycling, 18-byte payloads)`, 'ingress', await alternate('ingress', ['udp', SINK, SECONDS, SENDERS, 256, 0]), 'packets/s received'));
      report.push(ratioTable(`Packets/s through ${S}/nc1 watched by --ingress: new flows (every packet a new UDP tuple)`, 'ingress', await alternate('ingress', ['udp', SINK, SECONDS, SENDERS, 0, 0]), 'packets/s received'));
    }
    if (PHASES.has('cpu')) {
      report.push(cpuTable(await phaseCpu()));
      const prof = await phaseProfile(100_000);
      if (prof) report.push(`JS thread at 100,000 events/s (\`node --cpu-prof\`, one round), self time by part: ${prof.parts.map(([k, v]) => `${k} ${f(v * 100, 1)} %`).join(', ')}.`, '');
    }
    if (PHASES.has('profile') && !PHASES.has('cpu')) {
      const prof = await phaseProfile(Number(args['profile-rate']));
      if (prof) report.push(`JS thread at ${f(Number(args['profile-rate']))} events/s (\`node --cpu-prof\`, one round), self time by part: ${prof.parts.map(([k, v]) => `${k} ${f(v * 100, 1)} %`).join(', ')}.`, '');
    }
    if (PHASES.has('bpf')) report.push(bpfTable(await phaseBpf(), 'this kernel'));
  } finally {
    cleanup();
  }
}
if (PHASES.has('guest')) {
  const g = await phaseGuest();
  if (g.skipped) report.push(`guest: skipped: ${g.skipped}`);
  else if (!g.results) report.push(`guest ${g.release}: no results (exit ${g.exitCode})`);
  else {
    const r = g.results;
    report.push(`Guest: ${g.release} under qemu TCG (2 vCPUs emulated on this machine's 2), load inside ${r.load.map((x) => x.toFixed(2)).join(' ')}`, '');
    if (r.tcp) report.push(ratioTable(`Guest ${g.release}: new TCP connections/s (fexit/fentry vs kprobe lifecycles)`, 'tcp', r.tcp, 'connections/s'));
    if (r.udp) report.push(ratioTable(`Guest ${g.release}: new UDP flows/s`, 'udp', r.udp, 'flows/s'));
    if (r.bpf) report.push(bpfTable(r.bpf, `guest ${g.release}`));
  }
}
report.push(`uptime at end: ${sh(['uptime']).trim()}`);
fs.rmSync(GEN, { force: true });
console.log(report.join('\n'));
