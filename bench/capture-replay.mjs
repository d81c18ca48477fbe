#!/usr/bin/env node
// Capture and replay throughput, against dist/ (build with `make -s ts`):
//   1. write an N-record .ctcap (default 10,000,000) of synthetic but realistic
//      records: flows from a skewed population of sources (a few heavy, many
//      light, 10 % IPv6), UDP (ALLOC, UPDATE, DESTROY), TCP (ALLOC, 3 UPDATEs
//      through ESTABLISHED to TIME_WAIT, DESTROY), ICMP (ALLOC, DESTROY), in time
//      order at ~33k records/s of capture time;
//   2. replay it exactly as `ctscope replay FILE --report json` does (reader,
//      decode, full model, whole-capture tallies, report; the reading and the
//      counting in helper threads where there is more than one CPU), then
//      with --single-thread: records/s of each, and the two reports compared;
//   3. parse `conntrack -E -o timestamp,id,extended` text (M lines, default
//      2,000,000, formatted from the same kind of flows): lines/s.
// usage: node bench/capture-replay.mjs [--records N] [--lines M] [--keep DIR] [--json]
// (each stage runs in its own process; --stage write|replay|text runs one)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p) => import(path.join(root, 'dist', p));
const { values } = parseArgs({
  options: { records: { type: 'string' }, lines: { type: 'string' }, keep: { type: 'string' }, json: { type: 'boolean' }, stage: { type: 'string' } },
});
// Each stage runs in a fresh child process (a clean heap, as a real
// `ctscope replay` would have); the parent only orchestrates.
if (!values.stage) {
  const { spawnSync } = await import('node:child_process');
  const dirArg = values.keep ?? fs.mkdtempSync(path.join(os.tmpdir(), 'ctbench-'));
  const all = {};
  for (const stage of ['write', 'replay', 'text']) {
    const args = [fileURLToPath(import.meta.url), '--stage', stage, '--keep', dirArg, '--records', String(values.records ?? 10_000_000), '--lines', String(values.lines ?? 2_000_000)];
    if (values.json) args.push('--json');
    const r = spawnSync(process.execPath, args, { stdio: ['ignore', values.json ? 'pipe' : 'inherit', 'inherit'], encoding: 'utf8' });
    if (r.status !== 0) process.exit(r.status ?? 1);
    if (values.json) Object.assign(all, JSON.parse(r.stdout));
  }
  if (!values.keep) fs.rmSync(dirArg, { recursive: true, force: true });
  if (values.json) console.log(JSON.stringify(all, null, 2));
  process.exit(0);
}
const stage = values.stage;
const N = Number(values.records ?? 10_000_000);
const M = Number(values.lines ?? 2_000_000);

const { CaptureWriter } = await dist('capture/writer.js');
const { encodeRecord } = await dist('records/encode.js');
const { parseAddress } = await dist('records/address.js');
const { FIELDS, RECORD_SIZE, Kind, IPS, AF_INET6, AF_INET } = await dist('records/layout.js');
const { replayCommand } = await dist('cli/commands/replay.js');
const { readConntrackText } = await dist('import/conntrack-text.js');

const dir = values.keep;
fs.mkdirSync(dir, { recursive: true });
let seed = 12345;
const rnd = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 4294967296);

// populations
const SRC4 = 20000;
const SRC6 = 2000;
const srcAddr = [];
for (let i = 0; i < SRC4; i++) srcAddr.push(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
for (let i = 0; i < SRC6; i++) srcAddr.push(`fd00:1::${(i + 1).toString(16)}`);
const dstAddr = [];
for (let i = 0; i < 200; i++) dstAddr.push(`172.16.${i >> 8}.${i & 255}`);
for (let i = 0; i < 20; i++) dstAddr.push(`fd00:2::${(i + 1).toString(16)}`);
const bytesOf = (a) => parseAddress(a).bytes;
const srcBytes = srcAddr.map(bytesOf);
const dstBytes = dstAddr.map(bytesOf);
/** Zipf-ish: a few sources make most flows. */
const pickSrc = (v6) => {
  const u = rnd();
  const k = Math.floor(Math.pow(u, 3) * (v6 ? SRC6 : SRC4));
  return v6 ? SRC4 + k : k;
};
const UDP_PORTS = [53, 53, 53, 123, 514, 5353];
const TCP_PORTS = [443, 443, 443, 80, 8080, 5432, 6379];

const RATE = 33_000; // records per second of capture time

/** A min-heap of pending records (ts, flow, stage) in parallel arrays. */
class Pending {
  ts = [];
  f = [];
  st = [];
  push(ts, f, st) {
    const a = this.ts;
    let i = a.length;
    a.push(ts);
    this.f.push(f);
    this.st.push(st);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p] <= ts) break;
      a[i] = a[p];
      this.f[i] = this.f[p];
      this.st[i] = this.st[p];
      i = p;
    }
    a[i] = ts;
    this.f[i] = f;
    this.st[i] = st;
  }
  pop() {
    const a = this.ts;
    const top = [a[0], this.f[0], this.st[0]];
    const lt = a.pop();
    const lf = this.f.pop();
    const ls = this.st.pop();
    const n = a.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const m = r < n && a[r] < a[l] ? r : l;
        if (a[m] >= lt) break;
        a[i] = a[m];
        this.f[i] = this.f[m];
        this.st[i] = this.st[m];
        i = m;
      }
      a[i] = lt;
      this.f[i] = lf;
      this.st[i] = ls;
    }
    return top;
  }
}

/** Generate `target` records in time order; onRecord returns ns to the flow's next record (0: done). */
function makeFlows(target, onRecord) {
  const pending = new Pending();
  const flows = { src: [], dst: [], sport: [], dport: [], proto: [], v6: [], id: [] };
  let made = 0;
  let nextId = 1;
  const flowsPerSec = RATE / 3.4;
  for (let sec = 1; made < target; sec++) {
    for (let j = 0; j < flowsPerSec; j++) {
      const v6 = rnd() < 0.1;
      const r = rnd();
      const proto = r < 0.6 ? 17 : r < 0.95 ? 6 : v6 ? 58 : 1;
      const f = flows.src.length;
      flows.src.push(pickSrc(v6));
      flows.dst.push(v6 ? 200 + Math.floor(rnd() * 20) : Math.floor(rnd() * 200));
      flows.sport.push(proto === 1 || proto === 58 ? Math.floor(rnd() * 65535) : 1024 + Math.floor(rnd() * 60000));
      flows.dport.push(proto === 17 ? UDP_PORTS[Math.floor(rnd() * UDP_PORTS.length)] : proto === 6 ? TCP_PORTS[Math.floor(rnd() * TCP_PORTS.length)] : 0);
      flows.proto.push(proto);
      flows.v6.push(v6);
      flows.id.push(nextId++);
      pending.push(sec * 1e9 + Math.floor(rnd() * 1e9), f, 0);
    }
    const end = (sec + 1) * 1e9;
    while (pending.ts.length > 0 && pending.ts[0] < end && made < target) {
      const [ts, f, stage] = pending.pop();
      const next = onRecord(ts, f, stage, flows);
      if (next > 0) pending.push(ts + next, f, stage + 1);
      made++;
    }
  }
  return made;
}

/** Record of stage `stage` of a flow; returns ns until the next stage, 0 when done. */
function stageInfo(proto, stage) {
  // [kind, tcpState, status, timeoutS, nextNs]
  if (proto === 17) {
    if (stage === 0) return [Kind.ALLOC, 0, IPS.CONFIRMED, 30, 2e6];
    if (stage === 1) return [Kind.UPDATE, 0, IPS.CONFIRMED | IPS.SEEN_REPLY, 30, 30e9];
    return [Kind.DESTROY, 0, IPS.CONFIRMED | IPS.SEEN_REPLY, 0, 0];
  }
  if (proto === 6) {
    if (stage === 0) return [Kind.ALLOC, 1, IPS.CONFIRMED, 120, 1e6];
    if (stage === 1) return [Kind.UPDATE, 2, IPS.CONFIRMED | IPS.SEEN_REPLY, 60, 1e6];
    if (stage === 2) return [Kind.UPDATE, 3, IPS.CONFIRMED | IPS.SEEN_REPLY | IPS.ASSURED, 432000, 5e9];
    if (stage === 3) return [Kind.UPDATE, 7, IPS.CONFIRMED | IPS.SEEN_REPLY | IPS.ASSURED, 120, 120e9];
    return [Kind.DESTROY, 7, IPS.CONFIRMED | IPS.SEEN_REPLY | IPS.ASSURED, 0, 0];
  }
  if (stage === 0) return [Kind.ALLOC, 0, IPS.CONFIRMED, 30, 30e9];
  return [Kind.DESTROY, 0, IPS.CONFIRMED | IPS.SEEN_REPLY, 0, 0];
}

function machine() {
  const cpu = os.cpus()[0]?.model ?? 'unknown cpu';
  return `${cpu}, ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Linux ${os.release()}, node ${process.version}`;
}

const results = stage === 'write' ? { machine: machine(), load_before: os.loadavg()[0], records: N, lines: M } : {};

// ---- 1. write the capture
const capFile = path.join(dir, 'bench.ctcap');
if (stage === 'write') {
  const t0 = performance.now();
  const w = CaptureWriter.open(capFile, { flushMs: 0, host: 'bench', kernel: os.release(), sources: [{ name: 'synthetic', hook: null }] });
  const BATCH = 4096;
  let buf = new Uint8Array(BATCH * RECORD_SIZE);
  let n = 0;
  const flush = () => {
    w.ingestRaw(buf, n);
    n = 0;
  };
  makeFlows(N, (ts, f, stage, fl) => {
    const proto = fl.proto[f];
    const [kind, state, status, timeout, next] = stageInfo(proto, stage);
    const off = n * RECORD_SIZE;
    const icmp = proto === 1 || proto === 58;
    encodeRecord(buf, off, {
      kind,
      ts,
      id: BigInt(fl.id[f]),
      start: kind === Kind.ALLOC ? ts : 0,
      netns: 4026531840,
      status,
      aux: timeout,
      sport: fl.sport[f],
      dport: fl.dport[f],
      rsport: icmp ? fl.sport[f] : fl.dport[f],
      rdport: icmp ? 0 : fl.sport[f],
      proto,
      state,
      icmpType: proto === 1 ? 8 : proto === 58 ? 128 : 0,
      origin: 3,
      flags: 2 | (kind === Kind.ALLOC ? 8 : 0),
    });
    const s = srcBytes[fl.src[f]];
    const d = dstBytes[fl.dst[f]];
    buf.set(s, off + FIELDS.saddr.offset);
    buf.set(d, off + FIELDS.daddr.offset);
    buf.set(d, off + FIELDS.rsaddr.offset);
    buf.set(s, off + FIELDS.rdaddr.offset);
    buf[off + FIELDS.family.offset] = fl.v6[f] ? AF_INET6 : AF_INET;
    if (++n === BATCH) flush();
    return next;
  });
  if (n) flush();
  w.close();
  const ms = performance.now() - t0;
  const size = fs.statSync(capFile).size;
  results.write = { seconds: ms / 1000, bytes: size, bytes_per_record: size / N };
  if (!values.json) console.log(`wrote ${N.toLocaleString('en-US')} records, ${(size / 2 ** 20).toFixed(0)} MiB, in ${(ms / 1000).toFixed(1)} s (generation included)`);
}

// ---- 2. replay with the full model and the report
if (stage === 'replay') {
  // read + checksum + decode alone (also brings the file into the page cache)
  {
    const { openReplay, runReplay } = await dist('capture/replay.js');
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const p = await runReplay(openReplay([capFile]), []);
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(c0);
    const cpuMs = (cpu.user + cpu.system) / 1000;
    results.read_decode = { records_per_s: Math.round(p.records / (ms / 1000)), records_per_cpu_s: Math.round(p.records / (cpuMs / 1000)) };
    if (!values.json) console.log(`read + crc32 + decodeBatch alone: ${results.read_decode.records_per_s.toLocaleString('en-US')} records/s; ${results.read_decode.records_per_cpu_s.toLocaleString('en-US')} records/CPU-s`);
  }
  // as `ctscope replay FILE --report json` runs it (helper threads for the
  // reading and the counting where there is more than one CPU), then in one
  // thread; both reports must be the same
  const reports = [];
  for (const [key, extra, label] of [
    ['replay', [], 'replay --report json'],
    ['replay_single_thread', ['--single-thread'], 'replay --report json --single-thread'],
  ]) {
    let out = '';
    let err = '';
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const code = await replayCommand([capFile, '--report', 'json', ...extra], { out: (s) => (out += s), err: (s) => (err += s) });
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(c0);
    const cpuMs = (cpu.user + cpu.system) / 1000;
    if (code !== 0) throw new Error(`replay failed (${code}): ${err}`);
    const rep = JSON.parse(out);
    if (rep.records.total !== N) throw new Error(`replayed ${rep.records.total} of ${N} records`);
    results[key] = {
      seconds: ms / 1000,
      records_per_s: Math.round(N / (ms / 1000)),
      cpu_seconds: cpuMs / 1000,
      records_per_cpu_s: Math.round(N / (cpuMs / 1000)),
      replay_loop_records_per_s: rep.replay.records_per_s,
      tracked_peak: rep.occupancy.tracked_peak,
      top_src: rep.churn.src[0],
      rss_mib: Math.round(process.memoryUsage().rss / 2 ** 20),
    };
    delete rep.replay; // its own timing
    reports.push(JSON.stringify(rep));
    if (!values.json) {
      const r = results[key];
      console.log(
        `${label}: ${(ms / 1000).toFixed(2)} s wall = ${r.records_per_s.toLocaleString('en-US')} records/s; ${(cpuMs / 1000).toFixed(2)} s CPU = ${r.records_per_cpu_s.toLocaleString('en-US')} records/CPU-s; peak ${rep.occupancy.tracked_peak} tracked entries, RSS ${r.rss_mib} MiB`,
      );
    }
  }
  if (reports[0] !== reports[1]) throw new Error('the replay with helper threads and the one-thread replay gave different reports');
}

// ---- 3. conntrack -E text parsing
const txtFile = path.join(dir, 'bench-events.txt');
if (stage === 'text') {
  const fd = fs.openSync(txtFile, 'w');
  let chunk = [];
  const EV = { [Kind.ALLOC]: '    [NEW]', [Kind.UPDATE]: ' [UPDATE]', [Kind.DESTROY]: '[DESTROY]' };
  const STATE = ['NONE', 'SYN_SENT', 'SYN_RECV', 'ESTABLISHED', 'FIN_WAIT', 'CLOSE_WAIT', 'LAST_ACK', 'TIME_WAIT', 'CLOSE'];
  const base = 1795400000;
  makeFlows(M, (ts, f, stage, fl) => {
    const proto = fl.proto[f];
    const [kind, state, status, timeout, next] = stageInfo(proto, stage);
    const v6 = fl.v6[f];
    const s = srcAddr[fl.src[f]];
    const d = dstAddr[fl.dst[f]];
    const sec = base + Math.floor(ts / 1e9);
    const us = String(Math.floor((ts % 1e9) / 1e3)).padStart(6, '0');
    const pname = proto === 17 ? 'udp      17' : proto === 6 ? 'tcp      6' : proto === 1 ? 'icmp     1' : 'icmpv6   58';
    const t = kind === Kind.DESTROY ? '' : ` ${timeout}`;
    const st = proto === 6 ? ` ${STATE[state]}` : '';
    const un = status & IPS.SEEN_REPLY ? '' : ' [UNREPLIED]';
    const as = status & IPS.ASSURED ? ' [ASSURED]' : '';
    const l4o = proto === 1 || proto === 58 ? `type=${proto === 1 ? 8 : 128} code=0 id=${fl.sport[f]}` : `sport=${fl.sport[f]} dport=${fl.dport[f]}`;
    const l4r = proto === 1 || proto === 58 ? `type=${proto === 1 ? 0 : 129} code=0 id=${fl.sport[f]}` : `sport=${fl.dport[f]} dport=${fl.sport[f]}`;
    chunk.push(
      `[${sec}.${us}]\t${EV[kind]} ${v6 ? 'ipv6     10' : 'ipv4     2'} ${pname}${t}${st} src=${s} dst=${d} ${l4o}${un} src=${d} dst=${s} ${l4r}${as} id=${fl.id[f]}`,
    );
    if (chunk.length === 10000) {
      fs.writeSync(fd, chunk.join('\n') + '\n');
      chunk = [];
    }
    return next;
  });
  if (chunk.length) fs.writeSync(fd, chunk.join('\n') + '\n');
  fs.closeSync(fd);
  const size = fs.statSync(txtFile).size;
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const gen = readConntrackText(txtFile);
  let records = 0;
  let r;
  while (!(r = gen.next()).done) records += r.value.length;
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(c0);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  const stats = r.value.stats;
  if (stats.parsed !== M || stats.unparsed.count !== 0) throw new Error(`text: parsed ${stats.parsed} of ${M}, unparsed ${stats.unparsed.count}`);
  results.text = { seconds: ms / 1000, lines_per_s: Math.round(M / (ms / 1000)), cpu_seconds: cpuMs / 1000, lines_per_cpu_s: Math.round(M / (cpuMs / 1000)), bytes: size };
  if (!values.json) {
    console.log(
      `conntrack -E text: ${M.toLocaleString('en-US')} lines (${(size / 2 ** 20).toFixed(0)} MiB) to records in ${(ms / 1000).toFixed(2)} s wall = ${results.text.lines_per_s.toLocaleString('en-US')} lines/s; ${(cpuMs / 1000).toFixed(2)} s CPU = ${results.text.lines_per_cpu_s.toLocaleString('en-US')} lines/CPU-s`,
    );
  }
}

if (values.json) console.log(JSON.stringify(results));
else if (stage === 'write') console.log(`machine: ${results.machine}; load average ${results.load_before.toFixed(2)}`);
else if (stage === 'text') console.log(`load average ${os.loadavg()[0].toFixed(2)} at the end`);
