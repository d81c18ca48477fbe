// Issue 13 end to end: the daemon on a node with real pods (containerd's CRI,
// pods made as kubelet makes them), traffic sent from inside the pods'
// network namespaces, and the kernel's own counts as the truth — nft counters
// per pod address before and after conntrack in the pod's table and in the
// node's, conntrack -L, /proc/net/stat/nf_conntrack.
//   - churn, occupancy and drops (a table-full flood from one pod) by pod,
//     workload and Kubernetes namespace, with the kernel's counts;
//   - a pod created after the daemon started is named within seconds;
//   - /metrics labels per-key series with namespace, pod and workload;
//   - a pod deleted while a Service's DNAT still sends its entries to it shows
//     up in /v1/stale with the right count and a conntrack -D command that
//     deletes exactly those entries;
//   - the runtime dying gives a status line, not a crash;
//   - the recorded capture replays elsewhere with the same pods.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Containerd, containerdTier, type Pod } from '../helpers/containerd.js';
import { DaemonProcess } from '../helpers/daemon.js';
import { kernelTier } from '../helpers/lab.js';
import { holdKernelLock } from './netlink-lab.js';

const tier = kernelTier().ok ? containerdTier() : kernelTier();
const skip = cannotRun(tier);

const CT_MAX = '/proc/sys/net/netfilter/nf_conntrack_max';
const VIP = '10.96.0.10'; // a Service address, DNAT'd in the node as kube-proxy does
const STATSD_PORT = 8125;

// UDP datagrams from SRC to DST, ports FIRST.. (one flow each) or one port from
// COUNT sockets (one flow each too); a send the kernel refuses (a full table
// drops on output) is counted out, not fatal. Prints how many were sent.
const SENDER = `
import socket, sys
src, dst, first, count, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
sent = 0
one = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); one.bind((src, 0))
keep = []
for i in range(count):
    s = one
    if mode == 'sockets':
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((src, 0)); keep.append(s)
    try:
        s.sendto(b'ctscope', (dst, first + (i if mode == 'ports' else 0))); sent += 1
    except OSError:
        pass
print(sent)
`;
import { cannotRun } from '../helpers/requires.js';

interface Rule {
  chain: string;
  saddr?: string;
  ctNew: boolean;
  packets: number;
}

function rules(json: string): Rule[] {
  const out: Rule[] = [];
  for (const item of (JSON.parse(json) as { nftables: Array<{ rule?: { chain: string; expr: Array<Record<string, any>> } }> }).nftables) {
    if (!item.rule) continue;
    const r: Rule = { chain: item.rule.chain, ctNew: false, packets: 0 };
    for (const e of item.rule.expr) {
      if (e.match?.left?.payload?.field === 'saddr') r.saddr = e.match.right;
      if (e.match?.left?.ct?.key === 'state') r.ctNew = true;
      if (e.counter) r.packets = e.counter.packets;
    }
    out.push(r);
  }
  return out;
}

describe.skipIf(skip)('daemon on a node with pods', () => {
  let node: Containerd;
  let daemon: DaemonProcess | undefined;
  let release: () => void = () => undefined;
  let savedMax: number | null = null;
  let web: Pod;
  let db: Pod;
  let late: Pod;
  const capture = path.join(os.tmpdir(), `ctscope-pods-${process.pid}.ctcap`);

  // the truth: per pod address, new entries and packets dropped by conntrack, in every table
  const tables: Array<{ name: string; exec: (argv: string[], input?: string) => Promise<string> }> = [];
  async function truth(ip: string): Promise<{ allocated: number; dropped: number }> {
    let allocated = 0;
    let dropped = 0;
    for (const t of tables) {
      const rs = rules(await t.exec(['nft', '-j', 'list', 'table', 'inet', 'ctpdt'])).filter((r) => r.saddr === ip);
      const raw = rs.find((r) => r.chain === 'raw')?.packets ?? 0;
      const passed = rs.find((r) => r.chain === 'post' && !r.ctNew)?.packets ?? 0;
      allocated += rs.find((r) => r.chain === 'post' && r.ctNew)?.packets ?? 0;
      dropped += raw - passed;
    }
    return { allocated, dropped };
  }
  const counting = (hook: 'output' | 'prerouting', ips: string[]) => `table inet ctpdt {
  chain raw { type filter hook ${hook} priority -300;
${ips.map((ip) => `    ip saddr ${ip} counter`).join('\n')}
  }
  chain post { type filter hook ${hook} priority -150;
${ips.map((ip) => `    ip saddr ${ip} ct state new counter\n    ip saddr ${ip} counter`).join('\n')}
  }
}
`;
  async function podTable(p: Pod): Promise<void> {
    await node.podExec(p, ['nft', '-f', '-'], { input: counting('output', [p.ip!]) });
    tables.push({ name: p.name, exec: async (argv, input) => (await node.podExec(p, argv, input === undefined ? {} : { input })).stdout });
  }
  const send = (p: Pod, dst: string, first: number, count: number, mode: 'ports' | 'sockets') =>
    node.podExec(p, ['python3', '-c', SENDER, p.ip!, dst, String(first), String(count), mode], { timeoutMs: 60_000 }).then((r) => Number(r.stdout.trim()));
  async function until<T>(what: string, f: () => Promise<T | undefined | null | false>, timeoutMs = 20_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = await f();
      if (v) return v;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  beforeAll(async () => {
    release = await holdKernelLock();
  }, 30 * 60_000);

  beforeAll(async () => {
    node = await Containerd.start('ctpd');
    [web, db] = await Promise.all([
      node.runPod({ name: 'web-7d9f8b6c5-x2x4q', namespace: 'shop', labels: { app: 'web', 'pod-template-hash': '7d9f8b6c5' } }),
      node.runPod({ name: 'db-0', namespace: 'data', labels: { app: 'db', 'statefulset.kubernetes.io/pod-name': 'db-0', 'controller-revision-hash': 'db-5f6c' } }),
    ]);
    // the node: routes between pods, a Service DNAT'd to db-0, counters per pod address
    await node.nodeExec(['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    await node.nodeExec(['nft', '-f', '-'], {
      input: `table ip ctpdnat {\n chain pre {\n type nat hook prerouting priority -100;\n ip daddr ${VIP} udp dport ${STATSD_PORT} dnat to ${db.ip}\n }\n}\n`,
    });
    await podTable(web);
    daemon = await DaemonProcess.start(['--cri-socket', node.socket, '--record', capture], 60_000);
  }, 180_000);

  afterAll(async () => {
    await daemon?.kill9();
    if (savedMax !== null) fs.writeFileSync(CT_MAX, String(savedMax));
    await node?.stop();
    fs.rmSync(capture, { force: true });
    release();
  }, 120_000);

  it('finds the runtime and names the pods at start', async () => {
    const st = await daemon!.get('/v1/status');
    expect(st.workloads).toMatchObject({ source: 'cri', state: 'running', socket: node.socket, pods: 2, error: null });
    expect(daemon!.output).toMatch(/pods: 2 \(pods from containerd \S+ over CRI at /);
  });

  it('names a pod created after it started within seconds, and counts churn and occupancy by pod, workload and namespace as the kernel does', async () => {
    // kubelet starts a pod's containers once its sandbox is ready: the pod is
    // named before its own traffic begins
    const t0 = Date.now();
    late = await node.runPod({ name: 'late', namespace: 'shop', labels: { app: 'late' } });
    const readyMs = Date.now() - t0;
    await until('the late pod named', async () => (await daemon!.get('/v1/status')).workloads.pods === 3);
    const namedMs = Date.now() - t0 - readyMs;
    console.log(`late pod: sandbox ready in ${readyMs} ms, named by the daemon ${namedMs} ms later`);
    expect(namedMs).toBeLessThan(5_000);
    await podTable(late);
    // the node's table counts after the pods' (each flow has an entry in both)
    await node.nodeExec(['nft', '-f', '-'], { input: counting('prerouting', [web.ip!, late.ip!]) });
    tables.push({ name: 'node', exec: async (argv, input) => (await node.nodeExec(argv, input === undefined ? {} : { input })).stdout });
    expect(await send(late, node.gateway, 21000, 13, 'ports')).toBe(13);
    expect(await send(web, node.gateway, 20000, 29, 'ports')).toBe(29);
    const webTruth = await truth(web.ip!);
    const lateTruth = await truth(late.ip!);
    expect(webTruth).toEqual({ allocated: 58, dropped: 0 }); // 29 in the pod's table, 29 in the node's
    expect(lateTruth).toEqual({ allocated: 26, dropped: 0 });
    const live = async (p: Pod) => {
      const inPod = (await node.podExec(p, ['conntrack', '-L', '-p', 'udp', '-s', p.ip!])).stdout.split('\n').filter((l) => l.includes('dport=')).length;
      const inNode = (await node.nodeExec(['conntrack', '-L', '-p', 'udp', '-s', p.ip!])).stdout.split('\n').filter((l) => l.includes('dport=')).length;
      return inPod + inNode;
    };
    const [webLive, lateLive] = [await live(web), await live(late)];
    await until('every allocation in the model', async () => {
      const r = await daemon!.get('/v1/churn?by=pod&window=300&limit=50');
      return r.items.find((i: { key: string }) => i.key === 'shop/web-7d9f8b6c5-x2x4q')?.count === webTruth.allocated;
    });
    const churn = await daemon!.get('/v1/churn?by=pod&window=300&limit=50');
    expect(churn.attribution).toBe('original source address, else reply source address, else network namespace');
    const item = (r: { items: Array<{ key: string }> }, key: string) => r.items.find((i) => i.key === key) as any;
    expect(item(churn, 'shop/web-7d9f8b6c5-x2x4q')).toMatchObject({ count: 58, via: { src: 58 }, k8s_namespace: 'shop', workload: 'shop/Deployment/web' });
    expect(item(churn, 'shop/late')).toMatchObject({ count: 26, workload: 'shop/Pod/late' });
    const byWorkload = await daemon!.get('/v1/churn?by=workload&window=300&limit=50');
    expect(item(byWorkload, 'shop/Deployment/web').count).toBe(58);
    const byNs = await daemon!.get('/v1/churn?by=k8s_namespace&window=300&limit=50');
    expect(item(byNs, 'shop').count).toBe(58 + 26);
    const occ = await daemon!.get('/v1/occupancy?by=pod&proto=udp&limit=50');
    expect(item(occ, 'shop/web-7d9f8b6c5-x2x4q').count).toBe(webLive);
    expect(item(occ, 'shop/late').count).toBe(lateLive);
    // the pods' own tables are named after them, addresses carry their pod
    const byNetns = await daemon!.get('/v1/churn?by=netns&window=300&limit=50');
    expect(item(byNetns, String(web.netnsInode)).netns_name).toBe('shop/web-7d9f8b6c5-x2x4q');
    const bySrc = await daemon!.get('/v1/churn?by=src&window=300&limit=50');
    expect(item(bySrc, web.ip!)).toMatchObject({ count: 58, pod: 'shop/web-7d9f8b6c5-x2x4q' });
  }, 120_000);

  it('puts the flooding pod and its workload first in /v1/drops with the kernel count, in top and in /metrics', async () => {
    const before = await truth(web.ip!);
    savedMax = Number(fs.readFileSync(CT_MAX, 'utf8'));
    fs.writeFileSync(CT_MAX, '337');
    let sent: number;
    try {
      sent = await send(web, node.gateway, 30000, 3001, 'ports');
    } finally {
      fs.writeFileSync(CT_MAX, String(savedMax));
      savedMax = null;
    }
    const after = await truth(web.ip!);
    const dropped = after.dropped - before.dropped;
    expect(dropped).toBeGreaterThan(1000); // the table really filled
    expect(sent + dropped).toBeGreaterThanOrEqual(3001);
    const drops = await until('every drop in the model', async () => {
      const r = await daemon!.get('/v1/drops?by=pod&window=300&limit=10');
      return r.items[0]?.count === dropped ? r : null;
    });
    expect(drops.items[0]).toMatchObject({ key: 'shop/web-7d9f8b6c5-x2x4q', count: dropped, workload: 'shop/Deployment/web' });
    expect((await daemon!.get('/v1/drops?by=workload&window=300')).items[0]).toMatchObject({ key: 'shop/Deployment/web', count: dropped });

    const top = execFileSync(process.execPath, ['bin/ctscope.js', 'top', '--once', '--url', daemon!.base], { encoding: 'utf8' });
    expect(top).toMatch(/^pods\s+3 — pods from containerd/m);
    expect(top).toMatch(new RegExp(`^top dropped pods — last 60 s: [\\d,]+ drops\\n  shop/web-7d9f8b6c5-x2x4q +${dropped.toLocaleString('en')} .*shop/Deployment/web$`, 'm'));

    const metrics = await daemon!.get<string>('/metrics');
    expect(metrics).toMatch(/^ctscope_top_drops_per_second\{dimension="pod",key="shop\/web-7d9f8b6c5-x2x4q",namespace="shop",pod="web-7d9f8b6c5-x2x4q",workload="Deployment\/web"\} [\d.]+$/m);
    expect(metrics).toMatch(/^ctscope_top_allocations_per_second\{dimension="workload",key="shop\/Deployment\/web",namespace="shop",workload="Deployment\/web"\} [\d.]+$/m);
  }, 120_000);

  it('lists a deleted pod that a Service still sends to in /v1/stale, with a conntrack -D command that deletes exactly those entries', async () => {
    // a statsd client: 7 flows to the Service, DNAT'd by the node to db-0
    expect(await send(web, VIP, STATSD_PORT, 7, 'sockets')).toBe(7);
    const toDb = async () => (await node.nodeExec(['conntrack', '-L', '-r', db.ip!])).stdout.split('\n').filter((l) => l.includes('dport=')).length;
    expect(await toDb()).toBe(7);
    await node.removePod(db);
    // the entries reach the daemon as the kernel reports them: wait until all seven are in
    const stale = await until('db-0 in /v1/stale with its 7 entries', async () => {
      const r = await daemon!.get('/v1/stale');
      const d = r.destinations.find((d: { destination: string }) => d.destination === db.ip) as any;
      return d && d.entries >= 7 ? d : undefined;
    });
    expect(stale).toMatchObject({
      reason: 'deleted_pod',
      netns: node.nodeNetnsInode(),
      netns_name: node.netns,
      pod: 'data/db-0',
      entries: await toDb(),
      protocols: { udp: 7 },
      sources: [{ source: 'shop/web-7d9f8b6c5-x2x4q', entries: 7 }],
      command: `ip netns exec ${node.netns} conntrack -D -r ${db.ip}`,
    });
    expect((await daemon!.get<string>('/metrics')).match(/^ctscope_stale_entries\{reason="deleted_pod"\} (\d+)$/m)?.[1]).toBe('7');
    // the command, as the operator would run it
    const out = execFileSync('sh', ['-c', `${stale.command} 2>&1`], { encoding: 'utf8' });
    expect(out).toMatch(/7 flow entries have been deleted/);
    expect(await toDb()).toBe(0);
  }, 120_000);

  it('says so when the runtime dies, and keeps answering', async () => {
    await node.killRuntime();
    const st = await until('the resolver to notice', async () => {
      const s = await daemon!.get('/v1/status');
      return s.workloads.state === 'unavailable' ? s : null;
    });
    expect(st.workloads.message).toMatch(new RegExp(`^the CRI socket ${node.socket} stopped answering \\(CRI ListPodSandbox: UNAVAILABLE: .+\\); pods from /proc/PID/cgroup until it does, names seen before kept$`));
    expect((await daemon!.get('/v1/churn?by=pod&window=300')).items[0].key).toBe('shop/web-7d9f8b6c5-x2x4q');
    await node.restartRuntime();
    await until('the runtime back', async () => (await daemon!.get('/v1/status')).workloads.state === 'running');
  }, 60_000);

  it('replays the capture elsewhere with the same pods', async () => {
    const live = await daemon!.get('/v1/churn?by=pod&window=900&limit=50');
    const liveDrops = await daemon!.get('/v1/drops?by=pod&window=900&limit=50');
    expect(await daemon!.stop()).toBe(0);
    const { startReplay } = await import('../../src/app/serve-replay.js');
    const r = await startReplay([capture], { api: {} });
    await r.feed.done;
    const app = r.ctscope.app!;
    const replayed = (await app.inject('/v1/churn?by=pod&window=900&limit=50')).json();
    const pick = (x: { items: Array<{ key: string; count: number }> }) => Object.fromEntries(x.items.filter((i) => i.key !== '(no pod)').map((i) => [i.key, i.count]));
    expect(pick(replayed)).toEqual(pick(live));
    expect(pick((await app.inject('/v1/drops?by=pod&window=900&limit=50')).json())).toEqual(pick(liveDrops));
    const bySrc = (await app.inject('/v1/churn?by=src&window=900&limit=50')).json();
    expect(bySrc.items.find((i: { key: string }) => i.key === web.ip)).toMatchObject({ pod: 'shop/web-7d9f8b6c5-x2x4q' });
    await r.ctscope.stop();
  }, 60_000);
});
