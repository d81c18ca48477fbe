#!/usr/bin/env node
// Records share/sample.ctcap with ctscope itself: the live ctnetlink source
// (and the tp_btf drop source when it loads) following one lab namespace
// during a scripted churn, /proc snapshots of that namespace every second.
// The story an on-call engineer would meet: a steady DNS-like client, a
// client opening short TCP connections that sit in TIME_WAIT, a few long-lived
// connections, and a UDP storm from one source while nf_conntrack_max is low,
// so the table fills and packets are dropped; then everything times out.
// `npm start` replays it where the daemon cannot run.
//
// Needs root, the built addon and dist/ (make -s all). Takes the machine-wide
// kernel-test lock (test/helpers/lab.ts protocol) because it lowers the global
// nf_conntrack_max for a few seconds (restored on exit) and drives traffic.
//   usage: sudo node scripts/make-sample-capture.mjs [-o share/sample.ctcap]
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { lock, sleep, unlock } from '../bench/lib/kernel.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { output: { type: 'string', short: 'o' }, 'no-storm': { type: 'boolean' } } });
const out = path.resolve(values.output ?? path.join(root, 'share/sample.ctcap'));
const dist = (p) => import(path.join(root, 'dist', p));
const { NetlinkSource } = await dist('sources/netlink.js');
const { DropSource } = await dist('sources/bpf-drops.js');
const { CaptureWriter } = await dist('capture/writer.js');
const { readNetnsSnapshot } = await dist('proc/poller.js');
const { Model } = await dist('model/model.js');
const { startReplay } = await dist('app/serve-replay.js');

const C = 'smp-c';
const S = 'smp-s';
const SRV4 = '10.79.1.2';
const SRV6 = 'fd79:1::2';
const CT_MAX = '/proc/sys/net/netfilter/nf_conntrack_max';
const CHURN = path.join(root, 'test/fixtures/conntrack/churn.mjs');
const sh = (...args) => execFileSync(args[0], args.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] }).toString();
const nsx = (ns, ...args) => sh('ip', 'netns', 'exec', ns, ...args);

const children = [];
let savedMax = null;
function cleanup() {
  for (const c of children) try { c.kill('SIGKILL'); } catch {}
  if (savedMax !== null) fs.writeFileSync(CT_MAX, savedMax);
  for (const ns of [C, S]) {
    try { for (const pid of sh('ip', 'netns', 'pids', ns).split('\n').filter(Boolean)) process.kill(Number(pid), 'SIGKILL'); } catch {}
    try { sh('ip', 'netns', 'del', ns); } catch {}
  }
  unlock();
}

function client(specs, gapMs = 5) {
  const p = spawn('ip', ['netns', 'exec', C, 'node', CHURN, 'client', SRV4, SRV6, 'fd79:1::1', ...specs], { stdio: 'inherit', env: { ...process.env, CHURN_GAP_MS: String(gapMs) } });
  children.push(p);
  return new Promise((r) => p.on('exit', r));
}

await lock();
process.on('SIGINT', () => { cleanup(); process.exit(130); });
try {
  for (const ns of [C, S]) { try { sh('ip', 'netns', 'del', ns); } catch {} sh('ip', 'netns', 'add', ns); }
  sh('ip', '-n', C, 'link', 'add', 'lab0', 'type', 'veth', 'peer', 'name', 'lab1', 'netns', S);
  for (const h of [1, 3, 4, 5]) sh('ip', '-n', C, 'addr', 'add', `10.79.1.${h}/24`, 'dev', 'lab0');
  sh('ip', '-n', S, 'addr', 'add', `${SRV4}/24`, 'dev', 'lab1');
  sh('ip', '-n', C, '-6', 'addr', 'add', 'fd79:1::1/64', 'dev', 'lab0', 'nodad');
  sh('ip', '-n', C, '-6', 'addr', 'add', 'fd79:1::3/64', 'dev', 'lab0', 'nodad');
  sh('ip', '-n', S, '-6', 'addr', 'add', `${SRV6}/64`, 'dev', 'lab1', 'nodad');
  for (const ns of [C, S]) sh('ip', '-n', ns, 'link', 'set', 'lo', 'up');
  sh('ip', '-n', C, 'link', 'set', 'lab0', 'up');
  sh('ip', '-n', S, 'link', 'set', 'lab1', 'up');
  execFileSync('ip', ['netns', 'exec', S, 'nft', '-f', '-'], { input: 'table inet smp {\n chain input {\n  type filter hook input priority 0; policy accept;\n  ct state new counter\n }\n}\n' });
  for (const kv of ['udp_timeout=5', 'udp_timeout_stream=10', 'tcp_timeout_time_wait=10', 'tcp_timeout_close=3', 'tcp_timeout_fin_wait=5', 'tcp_timeout_last_ack=5', 'tcp_timeout_close_wait=5', 'tcp_timeout_syn_sent=5', 'tcp_timeout_syn_recv=5', 'icmp_timeout=5', 'icmpv6_timeout=5']) {
    nsx(S, 'sysctl', '-qw', `net.netfilter.nf_conntrack_${kv}`);
  }
  nsx(S, 'sysctl', '-qw', 'net.netfilter.nf_conntrack_acct=1');
  nsx(S, 'sysctl', '-qw', 'net.netfilter.nf_conntrack_timestamp=1');
  const server = spawn('ip', ['netns', 'exec', S, 'node', CHURN, 'serve'], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(server);
  await new Promise((r) => server.stdout.once('data', r));

  const nsPath = `/run/netns/${S}`;
  const inode = fs.statSync(nsPath).ino;
  const sources = [new NetlinkSource({ include: (ns) => ns.inode === inode })];
  let drops = null;
  try {
    drops = new DropSource();
  } catch {}
  const writer = CaptureWriter.open(out, { sources: [{ name: 'netlink', hook: 'ctnetlink' }, ...(drops ? [{ name: 'drops', hook: drops.hook }] : [])] });
  const live = new Model();
  // drop records from other namespaces (nobody else may run while we hold the lock) are kept out anyway
  const sink = {
    ingest(b) {
      writer.ingest(b);
      live.ingest(b);
    },
  };
  await sources[0].start(sink);
  if (drops) {
    try {
      await drops.start(sink);
      sources.push(drops);
    } catch (e) {
      console.error(`sample: drop source unavailable (${e.message}); recording without it`);
    }
  }
  const procTimer = setInterval(() => {
    const s = readNetnsSnapshot(nsPath);
    writer.writeProc(s);
    live.ingestProc(s);
  }, 1000);
  await sleep(1000);
  console.error('sample: recording; long-lived connections, DNS-like client, short TCP connections');
  const hold = client(['tcphold|10.79.1.5|5|25000']);
  await client(['udp|10.79.1.1|150', 'udp|fd79:1::3|60'], 10);
  await client(['tcp|10.79.1.4|400', 'tcp|fd79:1::1|40'], 5);
  if (!values['no-storm']) {
    savedMax = fs.readFileSync(CT_MAX, 'utf8');
    const count = Number(nsx(S, 'cat', '/proc/sys/net/netfilter/nf_conntrack_count'));
    const max = count + 600;
    console.error(`sample: UDP storm from 10.79.1.3 with nf_conntrack_max lowered to ${max} (${count} live)`);
    fs.writeFileSync(CT_MAX, String(max));
    await client(['udpq|10.79.1.3|1500'], 1);
    await sleep(1500);
    fs.writeFileSync(CT_MAX, savedMax);
    savedMax = null;
  }
  await client(['udp|10.79.1.1|100'], 20);
  console.error('sample: waiting for entries to time out');
  await hold;
  for (let i = 0; i < 60; i++) {
    if (Number(nsx(S, 'cat', '/proc/sys/net/netfilter/nf_conntrack_count')) === 0) break;
    await sleep(1000);
  }
  await sleep(1500);
  clearInterval(procTimer);
  for (const s of sources) await s.stop();
  writer.writeStatus(live.nowNs, sources.map((s) => s.status()));
  writer.close('closed');
  const nft = JSON.parse(nsx(S, 'nft', '-j', 'list', 'ruleset'));
  const counterNew = nft.nftables.find((x) => x.rule)?.rule.expr.find((e) => e.counter)?.counter.packets;
  const st = writer.stats();
  console.error(`sample: ${st.records} records, ${st.procSnapshots} snapshots, ${st.bytes} bytes -> ${path.relative(root, out)}`);

  // the replay must tell the same story as the live model did
  const { ctscope, feed } = await startReplay([out]);
  await feed.done;
  const q = { by: 'src', window: 900, limit: 20 };
  const liveChurn = live.churn(q).items.map((i) => [i.key, i.count]);
  const replayChurn = ctscope.model.churn(q).items.map((i) => [i.key, i.count]);
  console.error(`sample: live   ${JSON.stringify(liveChurn)}`);
  console.error(`sample: replay ${JSON.stringify(replayChurn)}`);
  const alloc = ctscope.model.counter('alloc');
  console.error(`sample: allocations ${alloc}, nft 'ct state new' counter ${counterNew}`);
  if (JSON.stringify(liveChurn) !== JSON.stringify(replayChurn)) throw new Error('replayed per-source counts differ from the live model');
} finally {
  cleanup();
}
