// Runs INSIDE a guest (scripts/guest/harness.mjs): the real daemon
// (`ctscope run`, hooks chosen by itself) on a kernel that allows the eBPF
// lifecycle hooks, during a lab churn with a table-full flood; writes what
// its API answered next to the kernel's own counters into
// $CTSCOPE_GUEST_OUT/daemon.json. It asserts nothing: test/guest/
// lifecycle.test.ts compares on the host.
//
//   node test/guest/scenarios/daemon.mjs
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const OUT = process.env.CTSCOPE_GUEST_OUT ?? '/tmp';
const BASE = 'http://127.0.0.1:9640';
const A = 'dma';
const B = 'dmb';
const NET = '10.8.1';
const FLOODER = `${NET}.1`;
const OTHER = `${NET}.7`;
const OTHER_FLOWS = 11;
const FLOOD = 400;
const FLOOD_MAX = 150;

const sh = (cmd) => execFileSync('bash', ['-c', cmd], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (m) => process.stdout.write(`[daemon] ${m}\n`);
const bpfIds = (what) => new Set(JSON.parse(sh(`bpftool -j ${what} list`) || '[]').map((x) => x.id));

/** Packets counted by the rule with this comment in the server namespace. */
function counter(comment) {
  const j = JSON.parse(sh(`ip netns exec ${B} nft -j list ruleset`));
  const rule = j.nftables.find((x) => x.rule?.comment === comment)?.rule;
  if (!rule) throw new Error(`no rule ${comment}`);
  return rule.expr.find((e) => e.counter).counter.packets;
}

async function get(p) {
  const r = await fetch(BASE + p);
  const t = await r.text();
  if (!r.ok) throw new Error(`GET ${p}: ${r.status} ${t}`);
  return (r.headers.get('content-type') ?? '').includes('json') ? JSON.parse(t) : t;
}

const result = {};
let daemon = null;
try {
  sh(`ip netns add ${A}; ip netns add ${B}
      ip link add ${A}v netns ${A} type veth peer name ${B}v netns ${B}
      ip -n ${A} addr add ${FLOODER}/24 dev ${A}v; ip -n ${A} addr add ${OTHER}/24 dev ${A}v; ip -n ${B} addr add ${NET}.2/24 dev ${B}v
      ip -n ${A} link set ${A}v up; ip -n ${B} link set ${B}v up; ip -n ${A} link set lo up; ip -n ${B} link set lo up
      ip netns exec ${B} sysctl -qw net.netfilter.nf_conntrack_udp_timeout=60`);
  // before conntrack (-300) and after it (-100): what conntrack refused is
  // the difference; `ct state new` after it counts the entries it admitted
  sh(`ip netns exec ${B} nft -f - <<'EOF'
table inet d {
  chain before { type filter hook prerouting priority -300;
    ip saddr ${FLOODER} counter comment "pre-flooder"
    ip saddr ${OTHER} counter comment "pre-other"
  }
  chain after { type filter hook prerouting priority -100;
    ip saddr ${FLOODER} ct state new counter comment "new-flooder"
    ip saddr ${OTHER} ct state new counter comment "new-other"
    ip saddr ${FLOODER} counter comment "post-flooder"
    ip saddr ${OTHER} counter comment "post-other"
  }
}
EOF`);
  const progsBefore = bpfIds('prog');
  const linksBefore = bpfIds('link');
  daemon = spawn(process.execPath, [path.join(root, 'bin/ctscope.js'), 'run'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  daemon.stdout.on('data', (d) => (output += d));
  daemon.stderr.on('data', (d) => (output += d));
  for (let i = 0; ; i++) {
    if (daemon.exitCode !== null) throw new Error(`daemon exited ${daemon.exitCode}: ${output}`);
    try {
      await get('/healthz');
      break;
    } catch {
      // Up to ~90 s: the daemon starts in ~10 s in the TCG guest on a quiet
      // machine, several times slower when the host is busy.
      if (i > 900) throw new Error(`daemon not answering: ${output}`);
      await sleep(100);
    }
  }
  result.status = await get('/v1/status');

  // the other source's flows: bound to OTHER (a plain socket would leave from FLOODER, the first address)
  sh(`ip netns exec ${A} ${process.execPath} -e '
    const s = require("dgram").createSocket("udp4"); let left = ${OTHER_FLOWS};
    s.bind(0, "${OTHER}", () => { for (let i = 0; i < ${OTHER_FLOWS}; i++) s.send("x", 6001 + i, "${NET}.2", () => { if (--left === 0) process.exit(0); }); });'`);
  const oldMax = sh('sysctl -n net.netfilter.nf_conntrack_max').trim();
  sh(`sysctl -qw net.netfilter.nf_conntrack_max=${FLOOD_MAX}`);
  try {
    sh(`ip netns exec ${A} bash -c 'for p in $(seq 20000 ${20000 + FLOOD - 1}); do echo x >/dev/udp/${NET}.2/$p; done' 2>/dev/null || true`);
  } finally {
    sh(`sysctl -qw net.netfilter.nf_conntrack_max=${oldMax}`);
  }
  await sleep(1200);
  const k = {};
  for (const c of ['pre-flooder', 'pre-other', 'post-flooder', 'post-other', 'new-flooder', 'new-other']) k[c] = counter(c);
  result.kernel = k;
  result.netns = fs.statSync(`/run/netns/${B}`).ino;
  result.churn = await get('/v1/churn?by=src&window=300&limit=20');
  result.tableFull = await get('/v1/drops?by=src&kind=table_full&window=300&limit=20');
  result.netfilter = await get('/v1/drops?by=src&kind=netfilter&window=300&limit=20');
  result.allDrops = await get('/v1/drops?by=src&window=300&limit=20');
  result.statusAfter = await get('/v1/status');
  result.metrics = await get('/metrics');
  const promtool = fs.existsSync('/usr/bin/promtool') ? execFileSync('bash', ['-c', 'promtool check metrics; echo "exit=$?"'], { input: result.metrics, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] }) : 'exit=missing';
  result.promtool = promtool.trim();
  result.progsRunning = [...bpfIds('prog')].filter((id) => !progsBefore.has(id)).length;
  daemon.kill('SIGKILL');
  await new Promise((r) => daemon.once('exit', r));
  daemon = null;
  let left = { progs: [], links: [] };
  for (let i = 0; i < 25; i++) {
    left = { progs: [...bpfIds('prog')].filter((id) => !progsBefore.has(id)), links: [...bpfIds('link')].filter((id) => !linksBefore.has(id)) };
    if (left.progs.length === 0 && left.links.length === 0) break;
    await sleep(200);
  }
  result.leftAfterKill9 = left;
  result.output = output;
  result.expect = { FLOODER, OTHER, OTHER_FLOWS, FLOOD };
  log(`churn ${JSON.stringify(result.churn.items.map((i) => [i.key, i.count]))} table_full ${JSON.stringify(result.tableFull.items.map((i) => [i.key, i.count]))} kernel ${JSON.stringify(k)}`);
} catch (e) {
  result.error = String(e?.stack ?? e);
  log(result.error);
} finally {
  daemon?.kill('SIGKILL');
  try {
    sh(`ip netns del ${A}; ip netns del ${B}`);
  } catch {
    /* gone */
  }
}
fs.writeFileSync(path.join(OUT, 'daemon.json'), JSON.stringify(result, null, 1));
process.exit(result.error ? 1 : 0);
