// The ingress arrival counter against the kernel's own figures, in a lab:
// a SYN flood from one source (hping3), normal HTTP connections from another
// (curl, IPv4 and IPv6) and new UDP flows; arrivals per source must EQUAL
// nft's per-source counters on the same interface's ingress path. Then: the
// program never changes a packet's fate (an nft drop rule drops the same
// packets with and without us, tcx and legacy), stop() and kill -9 leave
// nothing of ours attached, a stale legacy filter left by a crash is removed
// by the next start while a foreign filter survives, and interfaces that
// appear later are attached within 1 s.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

import { Lab, kernelTier, withKernelLock } from '../helpers/lab.js';
import { ADDON_PATH } from '../../src/native/addon.js';
import { Model } from '../../src/model/model.js';
import { appOver } from '../helpers/app.js';
import { ArrivalsModel } from '../../src/model/arrivals.js';
import { arrivalsAdvice } from '../../src/advice/arrivals.js';
import { INGRESS_OBJECT, INGRESS_OBJECT_NAMES, IngressSource, ingressCounterClass, type IngressHook } from '../../src/sources/ingress.js';
import { all, built, cannotRun, command } from '../helpers/requires.js';

const run = promisify(execFile);
const skip = cannotRun(
  all(
    kernelTier(),
    built('ingress'),
    command('hping3', 'hping3'),
    command('curl', 'curl'),
    command('bpftool', 'bpftool'),
    command('tc', 'iproute2'),
    command('python3', 'python3'),
  ),
);

const FLOOD = 3001; // SYNs from the flood source
const CONNS = 7; // HTTP connections from the normal source (IPv4)
const CONNS6 = 3; // ... over IPv6
const UDP = 13; // new UDP flows from the normal source
const SRC_ENTRIES = 16384; // CTS_IN_SRC_ENTRIES (bpf/ingress.h)
const SPOOFED = 20011; // SYNs from random sources

async function counter(lab: Lab, ns: string, family: string, table: string, name: string): Promise<number> {
  const { stdout } = await lab.exec(ns, ['nft', '-j', 'list', 'counter', family, table, name]);
  const j = JSON.parse(stdout) as { nftables: Array<{ counter?: { packets: number } }> };
  return j.nftables.find((x) => x.counter)!.counter!.packets;
}

async function waitFor(cond: () => boolean | Promise<boolean>, ms: number, step = 20): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    if (await cond()) return true;
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, step));
  }
}

/** Two drains: the first may already be in flight from the timer. */
async function drain(s: IngressSource): Promise<void> {
  await s.collectOnce();
  await s.collectOnce();
}

async function ourFilters(lab: Lab, ifname: string): Promise<string[]> {
  const { stdout } = await lab.exec(lab.server, ['tc', 'filter', 'show', 'dev', ifname, 'ingress']);
  return stdout.split('\n').filter((l) => l.includes('cts_ingress'));
}

async function linksOf(progId: number): Promise<unknown[]> {
  const { stdout } = await run('bpftool', ['-j', 'link', 'list']);
  return (JSON.parse(stdout || '[]') as Array<{ prog_id: number }>).filter((l) => l.prog_id === progId);
}

/** A separate process that attaches the counter and waits to be killed. */
function attachingChild(nsPath: string, ifname: string, hook: IngressHook, then: 'wait' | 'exit' = 'wait'): Promise<{ child: ChildProcess; progId: number }> {
  // 'exit': leaves without close(), as a daemon dying of an exception would
  const script = `
    const a = require(${JSON.stringify(ADDON_PATH)});
    const c = new a.IngressCounter({ object: ${JSON.stringify(INGRESS_OBJECT)}, ...${JSON.stringify(INGRESS_OBJECT_NAMES)} });
    const r = c.attach(${JSON.stringify(nsPath)}, ${JSON.stringify(ifname)}, ${JSON.stringify(hook)});
    process.stdout.write(JSON.stringify({ progId: c.info().progId, hook: r.hook }) + '\\n');
    if (${JSON.stringify(then)} === 'exit') setTimeout(() => process.exit(3), 100);
    else setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) {
        const info = JSON.parse(out) as { progId: number; hook: string };
        if (info.hook !== hook) reject(new Error(`child attached ${info.hook}, wanted ${hook}`));
        else resolve({ child, progId: info.progId });
      }
    });
    child.on('exit', (code) => {
      if (!out.includes('\n')) reject(new Error(`attaching child exited with ${code}`));
    });
  });
}

function killed(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

describe.skipIf(skip)('ingress arrivals (kernel)', () => {
  it('counts a SYN flood, HTTP connections and new UDP flows per source exactly as nft does', async () => {
    await withKernelLock(async () => {
      const lab = await Lab.create('ingc');
      const arrivals = new ArrivalsModel();
      let source: IngressSource | null = null;
      let server: ChildProcess | null = null;
      try {
        const flooder = lab.clientAddress;
        const normal = await lab.addClientAddress(4);
        const normal6 = lab.clientAddress6;
        // Counters on the same ingress path (nft netdev ingress runs right
        // after tc ingress), and a conntrack user so `ct state new` and the
        // program's conntrack lookup see flows.
        await lab.nft(
          lab.server,
          `table netdev ingc {
             counter synF {}
             counter synN {}
             counter syn6 {}
             chain in {
               type filter hook ingress device "${lab.serverIf}" priority 0;
               ip saddr ${flooder} tcp flags & (syn|ack) == syn counter name synF
               ip saddr ${normal} tcp flags & (syn|ack) == syn counter name synN
               ip6 saddr ${normal6} tcp flags & (syn|ack) == syn counter name syn6
             }
           }
           table inet ingc {
             # every hping3 UDP packet has its own source port: one packet per flow
             counter udpN {}
             chain pre {
               type filter hook prerouting priority 0;
               ip saddr ${normal} udp dport 53 ct state new counter name udpN
             }
           }`,
        );
        server = spawn('ip', ['netns', 'exec', lab.server, 'python3', '-m', 'http.server', '80', '--bind', '::'], { stdio: 'ignore' });
        const up = await waitFor(async () => {
          try {
            await lab.exec(lab.client, ['curl', '-s', '-o', '/dev/null', '--max-time', '1', `http://${lab.serverAddress}/`]);
            return true;
          } catch {
            return false;
          }
        }, 10_000, 200);
        expect(up, 'http server in the lab').toBe(true);

        source = new IngressSource({ specs: `${lab.server}/${lab.serverIf}`, arrivals, hook: 'auto' });
        await source.start();
        const st = source.status();
        expect(st.interfaces).toEqual([{ netns: lab.server, ifname: lab.serverIf, ifindex: expect.any(Number), hook: 'tcx' }]);
        expect(st.udp_new_by).toBe('conntrack lookup');
        const base = {
          synF: await counter(lab, lab.server, 'netdev', 'ingc', 'synF'),
          synN: await counter(lab, lab.server, 'netdev', 'ingc', 'synN'),
          syn6: await counter(lab, lab.server, 'netdev', 'ingc', 'syn6'),
          udpN: await counter(lab, lab.server, 'inet', 'ingc', 'udpN'),
        };
        // the readiness probe's SYN(s) came from the flooder's address before we attached
        await drain(source);
        const before = arrivals.query({ by: 'src', window: 900, limit: 100 });

        await lab.exec(lab.client, ['hping3', '-q', '-S', '-p', '80', '-c', String(FLOOD), '-i', 'u100', lab.serverAddress], { timeoutMs: 60_000 }).catch((e: { stdout?: string }) => e);
        await lab.exec(lab.client, ['sh', '-c', `for i in $(seq ${CONNS}); do curl -s -o /dev/null --max-time 5 --interface ${normal} http://${lab.serverAddress}/; done`]);
        await lab.exec(lab.client, ['sh', '-c', `for i in $(seq ${CONNS6}); do curl -s -g -o /dev/null --max-time 5 'http://[${lab.serverAddress6}]/'; done`]);
        await lab.exec(lab.client, ['hping3', '-q', '--udp', '-a', normal, '-p', '53', '-c', String(UDP), '-i', 'u1000', lab.serverAddress]).catch((e: unknown) => e);
        await drain(source);

        const kernel = {
          synF: (await counter(lab, lab.server, 'netdev', 'ingc', 'synF')) - base.synF,
          synN: (await counter(lab, lab.server, 'netdev', 'ingc', 'synN')) - base.synN,
          syn6: (await counter(lab, lab.server, 'netdev', 'ingc', 'syn6')) - base.syn6,
          udpN: (await counter(lab, lab.server, 'inet', 'ingc', 'udpN')) - base.udpN,
        };
        const r = arrivals.query({ by: 'src', window: 900, limit: 100 });
        const got = (key: string) => {
          const now = r.items.find((i) => i.key === key) ?? { tcp_syn: 0, udp_new: 0 };
          const was = before.items.find((i) => i.key === key) ?? { tcp_syn: 0, udp_new: 0 };
          return { tcp_syn: now.tcp_syn - was.tcp_syn, udp_new: now.udp_new - was.udp_new };
        };
        console.info(`ingress: nft ${JSON.stringify(kernel)}; arrivals ${JSON.stringify(r.items.map((i) => [i.key, i.tcp_syn, i.udp_new]))}`);
        // the workload really happened (hping3 may lose a few to its own timing; nft is the truth)
        expect(kernel.synF).toBeGreaterThanOrEqual(FLOOD * 0.95);
        expect(kernel.synN).toBeGreaterThanOrEqual(CONNS);
        expect(kernel.syn6).toBeGreaterThanOrEqual(CONNS6);
        expect(kernel.udpN).toBe(UDP);
        expect(got(flooder)).toEqual({ tcp_syn: kernel.synF, udp_new: 0 });
        expect(got(normal)).toEqual({ tcp_syn: kernel.synN, udp_new: kernel.udpN });
        expect(got(normal6)).toEqual({ tcp_syn: kernel.syn6, udp_new: 0 });
        expect(r.error_bound).toBe(0);

        // through the API, and flagged by the advice
        const app = await appOver(new Model(), { arrivals });
        const api = (await app.inject('/v1/arrivals?by=src&window=60')).json() as { items: Array<{ key: string; tcp_syn: number }> };
        expect(api.items[0]).toMatchObject({ key: flooder });
        expect(api.items[0]!.tcp_syn).toBe(kernel.synF + (before.items.find((i) => i.key === flooder)?.tcp_syn ?? 0));
        await app.close();
        const adv = arrivalsAdvice(arrivals, undefined, { window: 10 });
        expect(adv.filter((a) => a.id === 'syn-flood').map((a) => (a.evidence as { source: string }).source)).toEqual([flooder]);
      } finally {
        await source?.stop();
        server?.kill('SIGKILL');
        await lab.destroy();
      }
    });
  }, 120_000);

  it.each(['tcx', 'tc-clsact'] as const)('never changes a packet fate (%s): an nft drop rule drops the same packets', async (hook) => {
    await withKernelLock(async () => {
      const lab = await Lab.create(hook === 'tcx' ? 'ingf' : 'ingl');
      let source: IngressSource | null = null;
      try {
        await lab.nft(
          lab.server,
          `table inet ingf {
             counter dropped {}
             counter passed {}
             chain pre {
               type filter hook prerouting priority -300;
               tcp dport 81 counter name dropped drop
               tcp dport 82 counter name passed
             }
           }`,
        );
        const DROP = 211;
        const PASS = 101;
        const round = async () => {
          const d0 = await counter(lab, lab.server, 'inet', 'ingf', 'dropped');
          const p0 = await counter(lab, lab.server, 'inet', 'ingf', 'passed');
          await lab.exec(lab.client, ['hping3', '-q', '-S', '-p', '81', '-c', String(DROP), '-i', 'u500', lab.serverAddress]).catch((e: unknown) => e);
          await lab.exec(lab.client, ['hping3', '-q', '-S', '-p', '82', '-c', String(PASS), '-i', 'u500', lab.serverAddress]).catch((e: unknown) => e);
          return {
            dropped: (await counter(lab, lab.server, 'inet', 'ingf', 'dropped')) - d0,
            passed: (await counter(lab, lab.server, 'inet', 'ingf', 'passed')) - p0,
          };
        };
        const without = await round();
        const arrivals = new ArrivalsModel();
        source = new IngressSource({ specs: `${lab.server}/${lab.serverIf}`, arrivals, hook });
        await source.start();
        expect(source.status().hook).toBe(hook);
        const withUs = await round();
        await drain(source);
        console.info(`fate (${hook}): without ${JSON.stringify(without)}, with ${JSON.stringify(withUs)}`);
        expect(without).toEqual({ dropped: DROP, passed: PASS });
        expect(withUs).toEqual(without);
        // and the counter saw them all arrive, dropped or not
        expect(arrivals.query({ by: 'dport', window: 900, limit: 10 }).items.map((i) => [i.key, i.tcp_syn]).sort()).toEqual([
          ['81', DROP],
          ['82', PASS],
        ]);
        await source.stop();
        source = null;
        // stop() leaves nothing of ours; the qdisc a legacy attach created stays
        expect(await ourFilters(lab, lab.serverIf)).toEqual([]);
      } finally {
        await source?.stop();
        await lab.destroy();
      }
    });
  }, 120_000);

  it('kill -9: no tcx link survives; a stale legacy filter is removed by the next start, a foreign one survives', async () => {
    await withKernelLock(async () => {
      const lab = await Lab.create('ingk');
      let source: IngressSource | null = null;
      const nsPath = `/run/netns/${lab.server}`;
      try {
        // tcx: the link is a file descriptor of the dead process
        const tcx = await attachingChild(nsPath, lab.serverIf, 'tcx');
        expect(await linksOf(tcx.progId)).toHaveLength(1);
        await killed(tcx.child);
        expect(await waitFor(async () => (await linksOf(tcx.progId)).length === 0, 2000), 'tcx link gone after kill -9').toBe(true);
        expect(await ourFilters(lab, lab.serverIf)).toEqual([]);

        // legacy: the filter outlives the process
        await lab.exec(lab.server, ['tc', 'qdisc', 'add', 'dev', lab.serverIf, 'clsact']);
        await lab.exec(lab.server, ['tc', 'filter', 'add', 'dev', lab.serverIf, 'ingress', 'pref', '100', 'protocol', 'all', 'u32', 'match', 'u32', '0', '0']);
        const legacy = await attachingChild(nsPath, lab.serverIf, 'tc-clsact');
        await killed(legacy.child);
        const stale = await ourFilters(lab, lab.serverIf);
        expect(stale.some((l) => l.includes(`cts_ingress_ct:[${legacy.progId}]`) || l.includes(`id ${legacy.progId} `))).toBe(true);

        source = new IngressSource({ specs: `${lab.server}/${lab.serverIf}`, arrivals: new ArrivalsModel(), hook: 'tc-clsact' });
        await source.start();
        const st = source.status();
        expect(st.interfaces).toHaveLength(1);
        expect(st.stale_filters_removed).toBe(1);
        const mine = await ourFilters(lab, lab.serverIf);
        expect(mine.some((l) => l.includes(`${legacy.progId}`))).toBe(false);
        expect(mine.filter((l) => l.includes('handle 0xc75c'))).toHaveLength(1);
        await source.stop();
        source = null;
        expect(await ourFilters(lab, lab.serverIf)).toEqual([]);
        const { stdout } = await lab.exec(lab.server, ['tc', 'filter', 'show', 'dev', lab.serverIf, 'ingress']);
        expect(stdout).toMatch(/pref 100 u32/);
        const q = await lab.exec(lab.server, ['tc', 'qdisc', 'show', 'dev', lab.serverIf]);
        expect(q.stdout).toMatch(/clsact/);

        // a process that exits without stop()/close(): the addon's cleanup
        // hook removes its legacy filter on the way out
        const exiting = await attachingChild(nsPath, lab.serverIf, 'tc-clsact', 'exit');
        await new Promise<void>((r) => (exiting.child.exitCode !== null ? r() : exiting.child.once('exit', () => r())));
        expect(exiting.child.exitCode).toBe(3);
        expect(await ourFilters(lab, lab.serverIf)).toEqual([]);
      } finally {
        await source?.stop();
        await lab.destroy();
      }
    });
  }, 60_000);

  // The two ways of judging "first packet of a UDP flow" agree with the
  // entries conntrack created for the same traffic: 13 one-packet flows plus
  // one flow of 29 packets (fixed source port).
  it.each(['ct', 'lru'] as const)('counts one arrival per new UDP flow, as conntrack creates entries (%s)', async (variant) => {
    await withKernelLock(async () => {
      const lab = await Lab.create(variant === 'ct' ? 'ingu' : 'ingv');
      let source: IngressSource | null = null;
      try {
        await lab.nft(
          lab.server,
          `table inet ingu {
             counter allpkts {}
             chain pre {
               type filter hook prerouting priority 0;
               udp dport 5353 counter name allpkts
               udp dport 5353 ct state new
             }
           }`,
        );
        const arrivals = new ArrivalsModel();
        source = new IngressSource({ specs: `${lab.server}/${lab.serverIf}`, arrivals, variant });
        await source.start();
        expect(source.status().udp_new_by).toBe(variant === 'ct' ? 'conntrack lookup' : 'recent-tuple LRU');
        await lab.exec(lab.client, ['hping3', '-q', '--udp', '-p', '5353', '-c', '13', '-i', 'u1000', lab.serverAddress]).catch((e: unknown) => e);
        await lab.exec(lab.client, ['hping3', '-q', '--udp', '-s', '40000', '-k', '-p', '5353', '-c', '29', '-i', 'u1000', lab.serverAddress]).catch((e: unknown) => e);
        await drain(source);
        // nft's `ct state new` matches every packet of a flow that has not
        // seen a reply yet, so the kernel's count of flows is its table.
        const flows = (await lab.conntrackList(lab.server, ['-p', 'udp', '--dport', '5353'])).filter((l) => l.startsWith('udp')).length;
        const packets = await counter(lab, lab.server, 'inet', 'ingu', 'allpkts');
        const r = arrivals.query({ by: 'src', window: 900, limit: 5 });
        console.info(`udp (${variant}): conntrack ${flows} flows of ${packets} packets; arrivals ${JSON.stringify(r.items)}`);
        expect(packets).toBe(13 + 29);
        expect(flows).toBe(14);
        expect(r.items).toMatchObject([{ key: lab.clientAddress, udp_new: flows, tcp_syn: 0 }]);
      } finally {
        await source?.stop();
        await lab.destroy();
      }
    });
  }, 60_000);

  // More distinct sources in one period than the per-source map holds (a
  // spoofed flood): the map fills, every arrival beyond it is counted as
  // overflow, and the totals still equal nft's counter.
  it('counts what a full per-source map could not hold', async () => {
    await withKernelLock(async () => {
      const lab = await Lab.create('ingo');
      const counterClass = ingressCounterClass();
      const c = new counterClass({ object: INGRESS_OBJECT, ...INGRESS_OBJECT_NAMES });
      try {
        await lab.nft(
          lab.server,
          `table netdev ingo {
             counter syn {}
             chain in {
               type filter hook ingress device "${lab.serverIf}" priority 0;
               tcp flags & (syn|ack) == syn counter name syn
             }
           }`,
        );
        c.attach(`/run/netns/${lab.server}`, lab.serverIf, 'auto');
        await lab.exec(lab.client, ['hping3', '-q', '-S', '--rand-source', '-p', '80', '-c', String(SPOOFED), '-i', 'u20', lab.serverAddress], { timeoutMs: 60_000 }).catch((e: unknown) => e);
        const got = await c.collect();
        const kernel = await counter(lab, lab.server, 'netdev', 'ingo', 'syn');
        const attributed = got.src.reduce((s, e) => s + e.tcpSyn, 0);
        console.info(`overflow: nft ${kernel} SYNs; ${got.src.length} sources held, ${attributed} attributed, overflow ${got.stats.srcOverflow}`);
        expect(kernel).toBeGreaterThan(SRC_ENTRIES + 1000);
        expect(got.stats.tcpSyn).toBe(kernel);
        expect(got.src.length).toBe(SRC_ENTRIES);
        expect(attributed + got.stats.srcOverflow).toBe(kernel);
        expect(got.stats.portOverflow).toBe(0);
        expect(got.ports).toEqual([{ proto: 6, port: 80, count: kernel }]);
        // what the model answers: the total exact, the bound covering the rest
        const arrivals = new ArrivalsModel();
        arrivals.add({ ...got, tcpSyn: got.stats.tcpSyn, udpNew: 0, srcOverflow: got.stats.srcOverflow, portOverflow: 0, pairOverflow: got.stats.pairOverflow });
        const r = arrivals.query({ by: 'src', window: 60, limit: 1 });
        expect(r.total).toBe(kernel);
        expect(r.error_bound).toBeGreaterThanOrEqual(got.stats.srcOverflow);
      } finally {
        c.close();
        await lab.destroy();
      }
    });
  }, 120_000);

  // IPv6 with an extension header before UDP (Hop-by-Hop, sent by
  // ingress-hbh.py): the parser walks it to find the ports.
  it('finds UDP behind an IPv6 Hop-by-Hop header', async () => {
    await withKernelLock(async () => {
      const lab = await Lab.create('ingh');
      let source: IngressSource | null = null;
      try {
        await lab.nft(
          lab.server,
          `table netdev ingh {
             counter hopopts {}
             chain in {
               type filter hook ingress device "${lab.serverIf}" priority 0;
               ip6 saddr ${lab.clientAddress6} exthdr hbh exists udp dport 5555 counter name hopopts
             }
           }
           table inet ingh {
             chain pre {
               type filter hook prerouting priority 0;
               ct state new
             }
           }`,
        );
        const arrivals = new ArrivalsModel();
        source = new IngressSource({ specs: `${lab.server}/${lab.serverIf}`, arrivals });
        await source.start();
        // neighbour discovery first, so no datagram waits for it
        await lab.exec(lab.client, ['ping', '-6', '-c', '1', '-W', '2', lab.serverAddress6]);
        await lab.exec(lab.client, ['python3', fileURLToPath(new URL('./ingress-hbh.py', import.meta.url)), lab.serverAddress6, '5', '5555']);
        await drain(source);
        const withHbh = await counter(lab, lab.server, 'netdev', 'ingh', 'hopopts');
        const flows = (await lab.conntrackList(lab.server, ['-f', 'ipv6', '-p', 'udp', '--dport', '5555'])).filter((l) => l.startsWith('udp')).length;
        const item = arrivals.query({ by: 'src', window: 900, limit: 5 }).items.find((i) => i.key === lab.clientAddress6);
        console.info(`hbh: nft ${withHbh} packets with a Hop-by-Hop header, conntrack ${flows} flows, arrivals ${JSON.stringify(item)}`);
        expect(withHbh).toBe(5);
        expect(flows).toBe(5);
        expect(item).toMatchObject({ udp_new: 5, tcp_syn: 0 });
        expect(arrivals.query({ by: 'dport', window: 900, limit: 5 }).items).toMatchObject([{ key: '5555', udp_new: 5 }]);
      } finally {
        await source?.stop();
        await lab.destroy();
      }
    });
  }, 60_000);

  it('attaches interfaces that appear later within 1 s and forgets vanished ones', async () => {
    await withKernelLock(async () => {
      const lab = await Lab.create('ingn');
      let source: IngressSource | null = null;
      try {
        source = new IngressSource({ specs: `${lab.server}/late*,${lab.client}/${lab.clientIf}`, arrivals: new ArrivalsModel() });
        await source.start();
        expect(source.attachments().map((a) => `${a.nsName}/${a.ifname}`)).toEqual([`${lab.client}/${lab.clientIf}`]);
        await lab.exec(lab.server, ['ip', 'link', 'add', 'late0', 'type', 'veth', 'peer', 'name', 'late1']);
        const t0 = Date.now();
        const seen = await waitFor(() => source!.attachments().filter((a) => a.ifname.startsWith('late')).length === 2, 3000);
        const ms = Date.now() - t0;
        console.info(`ingress: new interfaces attached after ${ms} ms`);
        expect(seen).toBe(true);
        expect(ms).toBeLessThanOrEqual(1000);
        await lab.exec(lab.server, ['ip', 'link', 'del', 'late0']);
        expect(await waitFor(() => source!.attachments().every((a) => !a.ifname.startsWith('late')), 1500)).toBe(true);
        expect(source.status().state).toBe('running');
      } finally {
        await source?.stop();
        await lab.destroy();
      }
    });
  }, 60_000);
});

describe.skipIf(skip)('probeIngress (doctor)', () => {
  it('reports tcx and the conntrack lookup on this kernel without attaching anything', async () => {
    const { probeIngress } = await import('../../src/sources/ingress.js');
    const ingressLinks = async () => {
      const progs = JSON.parse((await run('bpftool', ['-j', 'prog', 'list'])).stdout || '[]') as Array<{ id: number; name?: string }>;
      const ours = new Set(progs.filter((p) => p.name?.startsWith('cts_ingress')).map((p) => p.id));
      const links = JSON.parse((await run('bpftool', ['-j', 'link', 'list'])).stdout || '[]') as Array<{ prog_id: number }>;
      return links.filter((l) => ours.has(l.prog_id)).length;
    };
    await withKernelLock(async () => {
      const before = await ingressLinks();
      expect(probeIngress()).toEqual({ ok: true, hook: 'tcx', udpNewBy: 'conntrack lookup' });
      expect(probeIngress('/nonexistent.bpf.o')).toMatchObject({ ok: false, why: expect.stringContaining('not built') });
      expect(await ingressLinks()).toBe(before);
    });
  });
});
