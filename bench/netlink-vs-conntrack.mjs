#!/usr/bin/env node
// ctnetlink: ctscope's reader (native/netlink_reader.cc + decodeBatch) and
// `conntrack -E` side by side, on the same events, in a namespace of our own.
//
// Phases:
//   burst N  N new UDP flows (hping3, one packet each, several senders), then
//            `conntrack -F`: N DESTROY events in one kernel loop, the sharpest
//            burst ctnetlink produces.
//   generated  bench/netlink-gen.py creates and deletes entries through
//            ctnetlink at a fixed rate (default 100k and 150k events/s) for
//            GEN_S seconds: same kernel event path, rates hping3 cannot reach.
//   sustained  flooding senders for SUSTAIN_S seconds with 1 s timeouts, so
//            entries die as fast as they are born. Default TCP SYNs to a
//            closed port: the kernel's RST ends each unassured entry at once
//            (NEW + DESTROY, no userspace peer, a small table); SUSTAIN_PROTO=udp
//            lets 1 s timeouts end them instead.
// Kernel truth: NEW = nft counter of `ct state new ct status != confirmed`
// (first packet of each entry, before confirmation); DESTROY = entries before
// + NEW - entries after (nothing else uses the namespace).
// Each phase starts both listeners fresh with the same buffer (128 MiB).
//
// Run: npm run bench -- netlink   (root; builds nothing: `make -s all` first)

import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freshNetns, kernelBenchUnavailable, lock, procCpuSeconds, sh, sleep, unlock } from './lib/kernel.mjs';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const require = createRequire(import.meta.url);
const NS = 'ctsbench-nl';
const RCVBUF = 128 << 20;
const SENDERS = Number(process.env.SENDERS ?? 3);
const BURSTS = (process.env.BURSTS ?? '5000,20000,50000,100000,150000').split(',').map(Number).filter((n) => n > 0);
const SUSTAIN_S = Number(process.env.SUSTAIN_S ?? 8);
const FLOOD_SENDERS = Number(process.env.FLOOD_SENDERS ?? 2);
const SUSTAIN_TCP = (process.env.SUSTAIN_PROTO ?? 'tcp') === 'tcp';
// Entries made and deleted through ctnetlink (bench/netlink-gen.py): the
// kernel's event path is the same, and it reaches rates packets cannot here.
const PYTHON = '/usr/bin/python3';
const GEN_RATES = fs.existsSync(PYTHON) ? (process.env.GEN_RATES ?? '100000,150000').split(',').map(Number).filter((n) => n > 0) : [];
if (!fs.existsSync(PYTHON)) console.error(`${PYTHON} missing: the ctnetlink-generated phases are skipped`);
const GEN_S = Number(process.env.GEN_S ?? 8);
const f = (x) => x.toLocaleString('en');

const skip = kernelBenchUnavailable(root, ['ip', 'nft', 'conntrack', 'hping3']);
if (skip) {
  console.log(`skipped: ${skip}`);
  process.exit(0);
}

const addon = require(path.join(root, 'build/Release/ctscope.node'));
let decodeBatch = null;
try {
  ({ decodeBatch } = await import(path.join(root, 'dist/records/batch.js')));
} catch {
  /* count kinds from the raw bytes instead */
}

const inNs = (args, input) => sh(['ip', 'netns', 'exec', NS, ...args], input);

function setup() {
  freshNetns(NS);
  inNs(['nft', '-f', '-'], `table inet ctsbench {\n chain out {\n type filter hook output priority 0;\n ct state new ct status != confirmed counter\n }\n}\n`);
}

function truthNew() {
  const m = /packets (\d+)/.exec(inNs(['nft', 'list', 'chain', 'inet', 'ctsbench', 'out']));
  return m ? Number(m[1]) : 0;
}
const entries = () => Number(inNs(['conntrack', '-C']).trim());

/** `conntrack -E` in the namespace; counts lines by event type. */
function startConntrackE() {
  const child = spawn('ip', ['netns', 'exec', NS, 'conntrack', '-E', '-b', String(RCVBUF)], { stdio: ['ignore', 'pipe', 'pipe'] });
  const c = { child, NEW: 0, UPDATE: 0, DESTROY: 0, enobufs: 0, shown: NaN, stderr: '', cpu: 0 };
  let tail = '';
  child.stdout.on('data', (d) => {
    const s = tail + d.toString('latin1');
    let i = 0;
    for (;;) {
      const j = s.indexOf('\n', i);
      if (j < 0) break;
      const t = s.charCodeAt(s.indexOf('[', i) + 1); // "    [NEW]", " [UPDATE]", "[DESTROY]"
      if (t === 78) c.NEW++;
      else if (t === 85) c.UPDATE++;
      else if (t === 68) c.DESTROY++;
      i = j + 1;
    }
    tail = s.slice(i);
  });
  child.stderr.on('data', (d) => {
    c.stderr += d.toString();
    c.enobufs = (c.stderr.match(/ENOBUFS/g) ?? []).length;
    const m = /(\d+) flow events have been shown/.exec(c.stderr);
    if (m) c.shown = Number(m[1]); // its own count, printed on SIGINT
  });
  return c;
}

async function stopConntrackE(c) {
  c.cpu = procCpuSeconds(c.child.pid);
  const done = new Promise((r) => c.child.once('exit', r));
  c.child.kill('SIGINT'); // it flushes stdout and prints its count on SIGINT
  await Promise.race([done, sleep(5000)]);
  c.child.kill('SIGKILL');
}

/** ctscope's reader, records decoded as the daemon does. */
function startCtscope() {
  const c = { NEW: 0, UPDATE: 0, DESTROY: 0, loss: 0, reader: null, cpu0: process.cpuUsage() };
  const count = (kind, n) => {
    if (kind === 2) c.NEW += n;
    else if (kind === 7) c.UPDATE += n;
    else if (kind === 8) c.DESTROY += n;
    else if (kind === 10) c.loss += n;
  };
  c.reader = new addon.NetlinkSource({
    netnsPath: `/run/netns/${NS}`,
    rcvbufBytes: RCVBUF,
    onBatch(buf, n) {
      if (decodeBatch) {
        const cols = decodeBatch(buf, n);
        for (let i = 0; i < n; i++) count(cols.kind[i], 1);
      } else {
        const u8 = new Uint8Array(buf);
        for (let i = 0; i < n; i++) count(u8[i * 160 + 141], 1);
      }
    },
  });
  c.reader.start();
  return c;
}

function stopCtscope(c) {
  const u = process.cpuUsage(c.cpu0);
  c.cpu = (u.user + u.system) / 1e6;
  c.stats = c.reader.stats();
  c.reader.stop();
}

/** hping3 senders: `total` one-packet UDP flows split over SENDERS processes. */
function senders(total, opts = {}) {
  const n = opts.senders ?? SENDERS;
  const per = Math.ceil(total / n);
  const procs = [];
  for (let s = 0; s < n; s++) {
    const pace = opts.flood ? ['--flood'] : ['-i', 'u1', '-c', String(per)];
    // TCP: a SYN to a closed port is answered by the kernel's RST, so each
    // flow is NEW, UPDATE (SYN_SENT -> CLOSE) and DESTROY with no userspace
    // peer: the most events per sender CPU second.
    const proto = opts.tcp ? ['-S'] : ['--udp'];
    const args = ['netns', 'exec', NS, 'hping3', ...proto, '-q', '-s', '1024', '-p', String(7 + s), ...pace, '127.0.0.1'];
    procs.push(spawn('ip', args, { stdio: 'ignore' }));
  }
  const exited = Promise.all(procs.map((p) => new Promise((r) => p.once('exit', r))));
  return { procs, exited };
}

async function settle(ct, cs, expect) {
  // Until both listeners report everything or stop moving for a second.
  let last = -1;
  let still = 0;
  for (let i = 0; i < 300 && still < 10; i++) {
    await sleep(100);
    const n = cs.NEW + cs.DESTROY;
    if (n >= expect && last === n) break;
    still = n === last ? still + 1 : 0;
    last = n;
  }
  await sleep(1000); // conntrack -E's output is block-buffered: it flushes on exit
}

async function phase(label, drive) {
  inNs(['conntrack', '-F']);
  await sleep(300);
  const ct = startConntrackE();
  const cs = startCtscope();
  await sleep(500); // both subscribed
  cs.cpu0 = process.cpuUsage();
  const ct0 = procCpuSeconds(ct.child.pid);
  const e0 = entries();
  const n0 = truthNew();
  const t0 = Date.now();
  const window = await drive(cs);
  const driveS = (Date.now() - t0) / 1000;
  const n1 = truthNew();
  const e1 = entries();
  const truth = window?.truth ?? { NEW: n1 - n0, DESTROY: e0 + (n1 - n0) - e1 };
  await settle(ct, cs, truth.NEW + truth.DESTROY);
  stopCtscope(cs);
  await stopConntrackE(ct);
  ct.cpu -= ct0;
  const tot = truth.NEW + truth.DESTROY;
  // UPDATEs have no kernel counter: ctscope's count stands in when it saw
  // no overrun (the kernel reports every event it could not deliver).
  let rate = (tot + cs.UPDATE) / driveS;
  if (window?.flushS) {
    // A burst's peak: the flush's DESTROY events over the wall time of
    // `conntrack -F` (process start included, so an underestimate).
    rate = truth.DESTROY / window.flushS;
  } else if (window?.rate) {
    // The sending window's own rate (the drive also waits for the tail).
    rate = window.rate;
  }
  const row = {
    label,
    truth: tot,
    rate: Math.round(rate),
    cs: { seen: cs.NEW + cs.DESTROY, updates: cs.UPDATE, lost: Math.max(0, tot - (cs.NEW + cs.DESTROY)), overruns: cs.stats.overruns, queueDropped: cs.stats.queueDropped, cpu: cs.cpu },
    ct: { seen: ct.NEW + ct.DESTROY, updates: ct.UPDATE, lost: Math.max(0, tot - (ct.NEW + ct.DESTROY)), enobufs: ct.enobufs, cpu: ct.cpu },
  };
  console.error(JSON.stringify(row));
  return row;
}

await lock();
const rows = [];
try {
  setup();
  for (const n of BURSTS) {
    rows.push(
      await phase(`burst ${n.toLocaleString('en')} flows + flush`, async () => {
        const s = senders(n);
        await s.exited;
        await sleep(200);
        const f0 = process.hrtime.bigint();
        inNs(['conntrack', '-F']);
        return { flushS: Number(process.hrtime.bigint() - f0) / 1e9 };
      }),
    );
  }
  inNs(['sysctl', '-qw', 'net.netfilter.nf_conntrack_udp_timeout=1', 'net.netfilter.nf_conntrack_tcp_timeout_close=1']);
  rows.push(
    await phase(`sustained ${SUSTAIN_S} s, ${FLOOD_SENDERS}× ${SUSTAIN_TCP ? 'TCP SYN→RST' : 'UDP'} flood, timeouts 1 s`, async (cs) => {
      const s = senders(0, { flood: true, senders: FLOOD_SENDERS, tcp: SUSTAIN_TCP });
      await sleep(200); // past the senders' start
      const n0 = truthNew();
      const e0 = entries();
      const u0 = cs.UPDATE;
      const w0 = Date.now();
      await sleep(SUSTAIN_S * 1000);
      const n1 = truthNew();
      const e1 = entries();
      const seconds = (Date.now() - w0) / 1000;
      const u1 = cs.UPDATE;
      for (const p of s.procs) p.kill('SIGINT');
      await s.exited;
      await sleep(2500); // the last entries expire
      return { rate: (n1 - n0 + (e0 + (n1 - n0) - e1) + (u1 - u0)) / seconds };
    }),
  );
  for (const target of GEN_RATES) {
    rows.push(
      await phase(`sustained ${GEN_S} s at ${f(target)} events/s, entries made by ctnetlink`, async () => {
        // Asynchronously: a blocked event loop would stall conntrack -E's pipe.
        const gen = spawn('ip', ['netns', 'exec', NS, PYTHON, path.join(root, 'bench/netlink-gen.py'), String(target), String(GEN_S)], {
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        let out = '';
        gen.stdout.on('data', (d) => (out += d));
        await new Promise((r) => gen.once('exit', r));
        const g = JSON.parse(out);
        // Creates run from 0 to GEN_S, deletes from 1 s to GEN_S + 1: the
        // events of GEN_S seconds' worth over the send loop's wall time less
        // that 1 s offset. Equals the target when the generator kept pace.
        return { rate: (g.created + g.deleted) / (g.wall - 1), truth: { NEW: g.created - g.errors, DESTROY: g.deleted - g.errors } };
      }),
    );
  }
} finally {
  try {
    sh(['ip', 'netns', 'del', NS]);
  } catch {
    /* already gone */
  }
  unlock();
}

console.log('| phase | events/s (all kinds) | kernel NEW+DESTROY | ctscope NEW+DESTROY | ctscope lost | ctscope UPDATE | ctscope overruns | ctscope CPU s | conntrack -E NEW+DESTROY | conntrack -E lost | conntrack -E UPDATE | ENOBUFS msgs | conntrack -E CPU s |');
console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const r of rows) {
  console.log(
    `| ${r.label} | ${f(r.rate)} | ${f(r.truth)} | ${f(r.cs.seen)} | ${f(r.cs.lost)} | ${f(r.cs.updates)} | ${r.cs.overruns} | ${r.cs.cpu.toFixed(2)} | ${f(r.ct.seen)} | ${f(r.ct.lost)} | ${f(r.ct.updates)} | ${r.ct.enobufs} | ${r.ct.cpu.toFixed(2)} |`,
  );
}
