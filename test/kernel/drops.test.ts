// The drop path against the kernel's own figures. A table-full flood in a lab
// namespace: every packet conntrack refused must arrive as exactly one DROP
// record, under the right source, netns and interface. The kernel's count is
// taken two independent ways: nft per-source counters before conntrack
// (priority -300) minus after it (-100), and the `drop` column of the server
// namespace's /proc/net/stat/nf_conntrack.
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

import { Lab, kernelTier, withKernelLock } from '../helpers/lab.js';
import { ADDON_PATH } from '../../src/native/addon.js';
import { formatAddress } from '../../src/records/address.js';
import { decodeBatch, type RecordColumns } from '../../src/records/batch.js';
import { FIELDS, RECORD_SIZE } from '../../src/records/layout.js';
import { DropSource, netfilterDropReasons, probeDropHook } from '../../src/sources/bpf-drops.js';
import { bpfObjectPath, isBpfLoadError, ringSourceClass } from '../../src/sources/bpf-ring.js';
import type { RecordSink } from '../../src/records/sink.js';
import { all, built, cannotRun } from '../helpers/requires.js';

const run = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const fixtures = path.join(here, 'drops-fixtures');
const DROPS_OBJECT = bpfObjectPath('drops');

const skip = cannotRun(all(kernelTier(), built('drops')));

const CTS_KIND_DROP = 1;
const CTS_ORIGIN_TP_BTF = 4;
const CTS_F_HAS_CT = 0x01;

interface Group {
  count: number;
  protos: Set<number>;
  families: Set<number>;
  daddrs: Set<string>;
  minDport: number;
  maxDport: number;
  minSport: number;
  maxSport: number;
  tcpFlags: Set<number>;
  icmp: Set<string>;
  ifindexes: Set<number>;
  hasCt: number;
  kinds: Set<number>;
  origins: Set<number>;
}

/** Counts DROP records by netns|saddr|reason|proto, keeping what the checks need. */
class CountingSink implements RecordSink {
  readonly groups = new Map<string, Group>();
  total = 0;

  ingest(c: RecordColumns): void {
    for (let i = 0; i < c.length; i++) {
      const o = i * RECORD_SIZE;
      const saddr = formatAddress(c.bytes, o + FIELDS.saddr.offset, c.family[i]!);
      const key = `${c.netns[i]}|${saddr}|${c.aux[i]}|${c.proto[i]}`;
      let g = this.groups.get(key);
      if (!g) {
        g = {
          count: 0,
          protos: new Set(),
          families: new Set(),
          daddrs: new Set(),
          minDport: 65536,
          maxDport: -1,
          minSport: 65536,
          maxSport: -1,
          tcpFlags: new Set(),
          icmp: new Set(),
          ifindexes: new Set(),
          hasCt: 0,
          kinds: new Set(),
          origins: new Set(),
        };
        this.groups.set(key, g);
      }
      g.count++;
      g.protos.add(c.proto[i]!);
      g.families.add(c.family[i]!);
      g.daddrs.add(formatAddress(c.bytes, o + FIELDS.daddr.offset, c.family[i]!));
      g.minDport = Math.min(g.minDport, c.dport[i]!);
      g.maxDport = Math.max(g.maxDport, c.dport[i]!);
      g.minSport = Math.min(g.minSport, c.sport[i]!);
      g.maxSport = Math.max(g.maxSport, c.sport[i]!);
      g.tcpFlags.add(c.tcpFlags[i]!);
      g.icmp.add(`${c.icmpType[i]}/${c.icmpCode[i]}`);
      g.ifindexes.add(c.ifindex[i]!);
      if (c.flags[i]! & CTS_F_HAS_CT) g.hasCt++;
      g.kinds.add(c.kind[i]!);
      g.origins.add(c.origin[i]!);
      this.total++;
    }
  }

  inNetns(netns: number): number {
    let n = 0;
    for (const [k, g] of this.groups) if (k.startsWith(`${netns}|`)) n += g.count;
    return n;
  }
}

async function nftCounters(lab: Lab, ns: string): Promise<Record<string, number>> {
  const { stdout } = await lab.exec(ns, ['nft', '-j', 'list', 'counters', 'table', 'inet', 'ctsdrop']);
  const out: Record<string, number> = {};
  for (const item of (JSON.parse(stdout) as { nftables: Array<{ counter?: { name: string; packets: number } }> }).nftables) {
    if (item.counter) out[item.counter.name] = item.counter.packets;
  }
  return out;
}

type FlowKind = 'udp' | 'udp-ext' | 'tcp-syn' | 'icmp';

function protoOf(f: { kind: FlowKind; dst: string }): number {
  if (f.kind === 'tcp-syn') return 6;
  if (f.kind === 'icmp') return f.dst.includes(':') ? 58 : 1;
  return 17;
}

type FlowGroup = [kind: FlowKind | 'udp-same', src: string, dst: string, first: number, count: number];

/** Exactly `count` new flows of one kind, one packet each, per group, back to back in one process (drops-fixtures/flows.py). */
async function sendFlows(lab: Lab, ...groups: FlowGroup[]): Promise<void> {
  const { stdout } = await lab.exec(lab.client, ['python3', path.join(fixtures, 'flows.py'), ...groups.flatMap((g) => g.map(String))]);
  expect(stdout.trim().split('\n')).toEqual(groups.map((g) => String(g[4])));
}

// more than nf_conntrack_max (300) in the test: the table is full after them
const REFILL = 331;
const SYN_REFILL = 20;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface BpfObj {
  id: number;
  name?: string;
  prog_id?: number;
  /** Runs the kernel skipped (the program already running on that CPU); bpftool prints it only when not 0. */
  recursion_misses?: number;
}
async function bpftoolList(what: 'prog' | 'link'): Promise<BpfObj[]> {
  const { stdout } = await run('bpftool', ['-j', what, 'list'], { maxBuffer: 64 << 20 });
  return JSON.parse(stdout || '[]') as BpfObj[];
}

/** Waits until `cond` holds or `ms` pass; returns whether it held. */
async function until(cond: () => Promise<boolean> | boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    if (await cond()) return true;
    if (Date.now() > end) return false;
    await sleep(50);
  }
}

describe.skipIf(skip)('drops: tp_btf kfree_skb against the kernel', () => {
  it('attributes every table-full drop to its source, equal to nft counters and the drop column', async () => {
    await withKernelLock(async () => {
      const reasons = netfilterDropReasons();
      const nfDrop = Number(Object.entries(reasons).find(([, n]) => n === 'SKB_DROP_REASON_NETFILTER_DROP')?.[0]);
      expect(nfDrop).toBeGreaterThan(0);

      const lab = await Lab.create('drp');
      const source = new DropSource({ pollMs: 2 });
      try {
        const v6Host = (h: number) => `fd77:${lab.subnet.toString(16)}::${h}`;
        for (const h of [5, 6]) await lab.exec(lab.client, ['ip', '-6', 'addr', 'add', `${v6Host(h)}/64`, 'dev', lab.clientIf, 'nodad']);
        // One source address per workload, so nft can count each apart.
        // Prime counts catch off-by-one and double counting.
        const flows: Array<{ name: string; kind: FlowKind; src: string; dst: string; first: number; count: number; also?: string }> = [
          { name: 'flood', kind: 'udp', src: lab.clientAddress, dst: lab.serverAddress, first: 10000, count: 2003 },
          { name: 'few', kind: 'udp', src: await lab.addClientAddress(3), dst: lab.serverAddress, first: 20000, count: 11 },
          { name: 'syn', kind: 'tcp-syn', src: await lab.addClientAddress(4), dst: lab.serverAddress, first: 21000, count: 11 },
          { name: 'ping', kind: 'icmp', src: await lab.addClientAddress(5), dst: lab.serverAddress, first: 4000, count: 7 },
          { name: 'v6', kind: 'udp', src: lab.clientAddress6, dst: lab.serverAddress6, first: 30000, count: 13 },
          { name: 'v6ext', kind: 'udp-ext', src: v6Host(5), dst: lab.serverAddress6, first: 31000, count: 3, also: 'exthdr hbh exists exthdr dst exists' },
          { name: 'ping6', kind: 'icmp', src: v6Host(6), dst: lab.serverAddress6, first: 5000, count: 5 },
        ];
        const serverNetns = lab.netnsInode(lab.server);
        const link = JSON.parse((await lab.exec(lab.server, ['ip', '-j', 'link', 'show', lab.serverIf])).stdout) as Array<{ ifindex: number }>;
        const serverIfindex = link[0]!.ifindex;

        // Counters before (-300) and after (-100) conntrack (-200); the `ct
        // state` rule is what makes conntrack track this namespace. v6ext is
        // only counted when its packets really carry the extension headers.
        // By source and L4 protocol: a source may also send neighbour
        // discovery, which conntrack refuses too when the table is full.
        const match = (f: (typeof flows)[number]) =>
          `${f.src.includes(':') ? 'ip6' : 'ip'} saddr ${f.src} meta l4proto ${protoOf(f)} ${f.also ?? ''}`;
        await lab.nft(
          lab.server,
          `table inet ctsdrop {
            ${flows.map((f) => `counter pre_${f.name} {}\ncounter post_${f.name} {}`).join('\n')}
            chain before_ct {
              type filter hook prerouting priority -300; policy accept;
              ${flows.map((f) => `${match(f)} counter name "pre_${f.name}"`).join('\n')}
            }
            chain after_ct {
              type filter hook prerouting priority -100; policy accept;
              ct state new,established,related counter
              ${flows.map((f) => `${match(f)} counter name "post_${f.name}"`).join('\n')}
            }
          }`,
        );
        // IPv6 neighbour discovery is tracked, so once the table is full it
        // would be refused and stall the IPv6 flows: fixed neighbours instead.
        const mac = async (ns: string, dev: string) =>
          (JSON.parse((await lab.exec(ns, ['ip', '-j', 'link', 'show', dev])).stdout) as Array<{ address: string }>)[0]!.address;
        const clientMac = await mac(lab.client, lab.clientIf);
        const serverMac = await mac(lab.server, lab.serverIf);
        await lab.exec(lab.client, ['ip', '-6', 'neigh', 'replace', lab.serverAddress6, 'lladdr', serverMac, 'dev', lab.clientIf, 'nud', 'permanent']);
        for (const a of [lab.clientAddress6, v6Host(5), v6Host(6)]) {
          await lab.exec(lab.server, ['ip', '-6', 'neigh', 'replace', a, 'lladdr', clientMac, 'dev', lab.serverIf, 'nud', 'permanent']);
        }
        await lab.exec(lab.client, ['ping', '-c', '1', '-W', '2', lab.serverAddress]);

        const sink = new CountingSink();
        await source.start(sink);
        expect(source.status().state).toBe('running');
        // A second reader with a one-page ring (24 records) drained once a
        // second and no forced wakeup: it must lose most of the flood, and
        // count every record it lost.
        const tinySink = new CountingSink();
        const RingSource = ringSourceClass();
        const tiny = new RingSource({
          object: DROPS_OBJECT,
          programs: ['cts_kfree_skb'],
          maps: { reasons: [[nfDrop, 1]] },
          rodata: { wakeup_bytes: 0 },
          ringBytes: 4096,
          lossMap: 'lost',
          pollMs: 1000,
          onBatch: (buf, n) => tinySink.ingest(decodeBatch(buf, n)),
        });
        tiny.start();

        const statsBefore = await lab.conntrackStats(lab.server);
        const countersBefore = await nftCounters(lab, lab.server);
        const savedMax = Number(fs.readFileSync('/proc/sys/net/netfilter/nf_conntrack_max', 'utf8'));
        lab.setConntrackMax(300);
        let statsAfter: Record<string, number>;
        let counters: Record<string, number>;
        try {
          // The flood fills the table. conntrack's gc worker evicts unassured
          // entries of a table over 95 % full, so right before each other
          // workload the flood opens REFILL more flows (in the same process,
          // no gap): each workload meets a full table and is dropped, if not
          // always entirely (early_drop and gc make room for a few).
          const flood = flows[0]!;
          let next = flood.first + flood.count;
          await sendFlows(lab, [flood.kind, flood.src, flood.dst, flood.first, flood.count]);
          for (const f of flows.slice(1)) {
            const groups: FlowGroup[] = [['udp', flood.src, flood.dst, next, REFILL]];
            next += REFILL;
            if (f.kind === 'tcp-syn') {
              // A connect is slow next to a sendto: between SYNs the gc found
              // time to make room, and once every SYN got in. Each SYN comes
              // right after a few more flood flows that take any room made.
              for (let i = 0; i < f.count; i++) {
                groups.push(['udp', flood.src, flood.dst, next, SYN_REFILL], [f.kind, f.src, f.dst, f.first + i, 1]);
                next += SYN_REFILL;
              }
            } else groups.push([f.kind, f.src, f.dst, f.first, f.count]);
            await sendFlows(lab, ...groups);
          }
          flood.count = next - flood.first;
          // The kernel counts drops synchronously; records are drained every
          // 2 ms. Wait (bounded) until the sink has caught up with the drop
          // column, then compare everything.
          await until(async () => {
            const s = await lab.conntrackStats(lab.server);
            return sink.inNetns(serverNetns) >= s.drop! - statsBefore.drop!;
          }, 5000);
          await sleep(100);
          statsAfter = await lab.conntrackStats(lab.server);
          counters = await nftCounters(lab, lab.server);
          tiny.stop();
        } finally {
          // other namespaces share the limit: restore it as soon as possible
          lab.setConntrackMax(savedMax);
        }
        const kernelDrops = (name: string) =>
          counters[`pre_${name}`]! - countersBefore[`pre_${name}`]! - (counters[`post_${name}`]! - countersBefore[`post_${name}`]!);
        const group = (f: (typeof flows)[number]) => sink.groups.get(`${serverNetns}|${f.src}|${nfDrop}|${protoOf(f)}`);
        const recorded = (f: (typeof flows)[number]) => group(f)?.count ?? 0;
        const dropColumn = statsAfter.drop! - statsBefore.drop!;
        console.info(
          `drops (records/kernel, nft before/after conntrack): ${flows.map((f) => `${f.name} ${recorded(f)}/${kernelDrops(f.name)} (${counters[`pre_${f.name}`]! - countersBefore[`pre_${f.name}`]!}/${counters[`post_${f.name}`]! - countersBefore[`post_${f.name}`]!})`).join(', ')}; ` +
            `netns total ${sink.inNetns(serverNetns)}, drop column ${dropColumn}, early_drop ${statsAfter.early_drop! - statsBefore.early_drop!}`,
        );

        // The flood overflowed the table: most of its flows were refused. The
        // rest came while it was full; early drop made room for a few at most.
        expect(kernelDrops('flood')).toBeGreaterThan(1000);
        for (const f of flows) {
          expect(kernelDrops(f.name), f.name).toBeGreaterThan(0);
          expect(recorded(f), `${f.name}: records = nft before - after conntrack`).toBe(kernelDrops(f.name));
        }
        // Every drop in the namespace is one record: the drop column, summed over CPUs.
        expect(sink.inNetns(serverNetns)).toBe(dropColumn);

        // Only the enabled reasons are recorded (the accepted UDP flows were
        // dropped later for want of a socket, reason NO_SOCKET).
        for (const key of sink.groups.keys()) expect(reasons[Number(key.split('|')[2])], key).toBeDefined();

        // Loss is accounted, never silent: delivered + reserve failures = drops.
        const tinyStats = tiny.stats();
        expect(await until(() => tinySink.total === tinyStats.delivered, 3000)).toBe(true);
        const tinyLost = tinyStats.perCpuReserveFailed.reduce((a, b) => a + b, 0);
        console.info(`one-page ring: ${tinySink.inNetns(serverNetns)} delivered, ${tinyLost} reserve failures`);
        expect(tinyLost).toBeGreaterThan(1000);
        expect(tinySink.inNetns(serverNetns) + tinyLost).toBe(dropColumn);
        expect(tinyStats.queueDropped).toBe(0);

        // What the records say about the packets.
        for (const f of flows) {
          const g = group(f)!;
          const v6 = f.dst.includes(':');
          expect([...g.families], f.name).toEqual([v6 ? 10 : 2]);
          expect([...g.daddrs], f.name).toEqual([f.dst]);
          expect([...g.ifindexes], f.name).toEqual([serverIfindex]);
          expect(g.hasCt, f.name).toBe(0); // refused before an entry existed
          expect([...g.kinds], f.name).toEqual([CTS_KIND_DROP]);
          expect([...g.origins], f.name).toEqual([CTS_ORIGIN_TP_BTF]);
          if (f.kind === 'icmp') {
            expect([...g.protos], f.name).toEqual([v6 ? 58 : 1]);
            expect([...g.icmp], f.name).toEqual([v6 ? '128/0' : '8/0']);
            // the echo identifier, which conntrack keys the flow by
            expect(g.minSport, f.name).toBeGreaterThanOrEqual(f.first);
            expect(g.maxSport, f.name).toBeLessThan(f.first + f.count);
          } else {
            // udp-ext: the hop-by-hop and destination options headers were skipped
            expect([...g.protos], f.name).toEqual([f.kind === 'tcp-syn' ? 6 : 17]);
            expect(g.minDport, f.name).toBeGreaterThanOrEqual(f.first);
            expect(g.maxDport, f.name).toBeLessThan(f.first + f.count);
            expect(g.minSport, f.name).toBeGreaterThan(0);
            expect([...g.tcpFlags], f.name).toEqual([f.kind === 'tcp-syn' ? 0x02 : 0]);
          }
        }

        const st = source.status();
        expect(st.state).toBe('running');
        expect(st.records).toBe(sink.total);
        expect(st.lost.total).toBe(0);
        expect(st.lost.ringbufReserveFailed!.length).toBe(os.cpus().length);
      } finally {
        await source.stop();
        await lab.destroy();
      }
    });
  }, 120_000);

  it('wakes the reader when the backlog crosses wakeup_bytes, and stop() drains the rest at once', async () => {
    await withKernelLock(async () => {
      const reasons = netfilterDropReasons();
      const nfDrop = Number(Object.entries(reasons).find(([, n]) => n === 'SKB_DROP_REASON_NETFILTER_DROP')?.[0]);
      const lab = await Lab.create('drw');
      try {
        // A rule drop is a netfilter drop too; no conntrack involved.
        await lab.nft(lab.server, 'table inet ctsw { chain pre { type filter hook prerouting priority 0; udp dport 40000-40999 drop; }; }');
        await lab.exec(lab.client, ['ping', '-c', '1', '-W', '2', lab.serverAddress]);
        const serverNetns = lab.netnsInode(lab.server);
        const RECORD_IN_RING = RECORD_SIZE + 8; // + the ring's sample header
        const PACKETS = 211;

        // With a 30 s drain period and no idle drain, records can only arrive
        // early through forced wakeups, or through stop()'s final drain. (The
        // 100 ms idle drain, a safety net for a missed wakeup, would read
        // whatever a burst has put in the ring when it fires: this test is
        // of the wakeup policy alone.)
        const phase = async (wakeupRecords: number) => {
          const sink = new CountingSink();
          const rs = new (ringSourceClass())({
            object: DROPS_OBJECT,
            programs: ['cts_kfree_skb'],
            maps: { reasons: [[nfDrop, 1]] },
            rodata: { wakeup_bytes: wakeupRecords * RECORD_IN_RING },
            pollMs: 30_000,
            idleDrainMs: 0,
            batchRecords: 64,
            onBatch: (buf, n) => sink.ingest(decodeBatch(buf, n)),
          });
          rs.start();
          try {
            await sendFlows(lab, ['udp', lab.clientAddress, lab.serverAddress, 40000, PACKETS]);
            await until(() => sink.inNetns(serverNetns) >= PACKETS - wakeupRecords, 1500);
            await sleep(100);
            const early = sink.inNetns(serverNetns);
            const t0 = Date.now();
            rs.stop();
            const stopMs = Date.now() - t0;
            expect(await until(() => sink.total === rs.stats().delivered, 3000)).toBe(true);
            return { early, stopMs, total: sink.inNetns(serverNetns) };
          } finally {
            rs.stop();
          }
        };

        const woken = await phase(16);
        const silent = await phase(0);
        console.info(`wakeups: threshold 16 records: ${woken.early}/${PACKETS} before stop; none: ${silent.early}/${PACKETS}; stop took ${woken.stopMs}/${silent.stopMs} ms`);
        // Forced wakeups end gathering periods: records arrive long before the
        // 30 s period. Not necessarily all but the last threshold's worth: a
        // wakeup that finds the reader idle starts a gathering period, which
        // only a later forced wakeup (a fresh edge: more records) ends, so
        // the tail of a burst the reader read behind waits for the period or
        // stop() — one poll period, 2-5 ms in the sources (CI saw 114 and 132
        // of 211 early here, a quiet run 211).
        expect(woken.early).toBeGreaterThanOrEqual(16);
        expect(silent.early).toBe(0);
        for (const p of [woken, silent]) {
          expect(p.total).toBe(PACKETS);
          expect(p.stopMs).toBeLessThan(1000);
        }
      } finally {
        await lab.destroy();
      }
    });
  }, 60_000);

  it('stop() and the death of the process leave no program or link of ours', async () => {
    await withKernelLock(async () => {
      const ours = async () => {
        const progs = (await bpftoolList('prog')).filter((p) => p.name === 'cts_kfree_skb').map((p) => p.id);
        const links = (await bpftoolList('link')).filter((l) => progs.includes(l.prog_id!)).map((l) => l.id);
        return { progs, links };
      };
      const before = await ours();

      const RingSource = ringSourceClass();
      const rs = new RingSource({ object: DROPS_OBJECT, programs: ['cts_kfree_skb'], lossMap: 'lost', onBatch: () => undefined });
      expect(rs.start()).toEqual({ attached: ['cts_kfree_skb'], failed: [] });
      const during = await ours();
      const added = during.progs.filter((id) => !before.progs.includes(id));
      expect(added.length).toBe(1);
      expect(during.links.filter((id) => !before.links.includes(id)).length).toBe(1);
      // The runs the kernel skipped, as the kernel itself reports them: counted as lost (test/unit/ring-loss.test.ts).
      const shown = (await bpftoolList('prog')).find((p) => p.id === added[0]);
      expect(Number.isInteger(rs.stats().recursionMisses)).toBe(true);
      expect(rs.stats().recursionMisses).toBe(shown?.recursion_misses ?? 0);
      rs.stop();
      rs.stop(); // idempotent
      expect(await until(async () => !(await ours()).progs.includes(added[0]!), 3000)).toBe(true);
      expect((await ours()).links.filter((id) => !before.links.includes(id))).toEqual([]);

      // kill -9: links are file descriptors, the kernel detaches on exit.
      const child = spawn(
        process.execPath,
        [
          '-e',
          `const a = require(${JSON.stringify(ADDON_PATH)});
           const rs = new a.RingSource({ object: ${JSON.stringify(DROPS_OBJECT)}, programs: ['cts_kfree_skb'], onBatch() {} });
           rs.start(); console.log('ready'); setInterval(() => {}, 1000);`,
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      await new Promise<void>((resolve, reject) => {
        child.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
        child.on('exit', (code) => reject(new Error(`child exited ${code}`)));
      });
      const withChild = await ours();
      const childProgs = withChild.progs.filter((id) => !before.progs.includes(id));
      expect(childProgs.length).toBe(1);
      child.kill('SIGKILL');
      expect(await until(async () => !(await ours()).progs.includes(childProgs[0]!), 5000)).toBe(true);
      const after = await ours();
      expect(after.links.filter((id) => !before.links.includes(id))).toEqual([]);
    });
  }, 60_000);

  it('a load failure names the program and carries the tail of the verifier log', async () => {
    await withKernelLock(async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ctscope-drops-'));
      try {
        const obj = path.join(dir, 'refused.bpf.o');
        const arch = os.arch() === 'arm64' ? 'arm64' : 'x86';
        await run('clang', ['-g', '-O2', '-target', 'bpf', `-D__TARGET_ARCH_${arch}`, `-I${path.join(root, 'bpf/.output')}`, `-I${path.join(root, 'bpf')}`, '-c', path.join(fixtures, 'refused.bpf.c'), '-o', obj]);
        const RingSource = ringSourceClass();

        let err: unknown;
        try {
          new RingSource({ object: obj, programs: ['fixture_good', 'fixture_refused'], onBatch: () => undefined }).start();
        } catch (e) {
          err = e;
        }
        expect(isBpfLoadError(err)).toBe(true);
        if (!isBpfLoadError(err)) return;
        expect(err.code).toBe('EBPFLOAD');
        expect(err.program).toBe('fixture_refused');
        expect(err.message).toMatch(/program 'fixture_refused'/);
        expect(err.message).toMatch(/invalid bpf_context access/);
        expect(err.verifierLog).toMatch(/invalid bpf_context access/);
        expect(err.verifierLog!.split('\n').length).toBeLessThanOrEqual(20);

        // Autoload keeps the refused program out: the good one loads alone.
        const good = new RingSource({ object: obj, programs: ['fixture_good'], onBatch: () => undefined });
        expect(good.start()).toEqual({ attached: ['fixture_good'], failed: [] });
        good.stop();

        expect(RingSource.probe(obj, 'fixture_refused')).toMatchObject({ ok: false, errno: 13 });
        expect(RingSource.probe(DROPS_OBJECT, 'cts_kfree_skb')).toMatchObject({ ok: true, errno: 0 });
        expect(probeDropHook()).toMatchObject({ hook: 'tp_btf:kfree_skb', ok: true });
        expect(() => new RingSource({ object: obj, programs: ['nope'], onBatch: () => undefined }).start()).toThrow(/'nope' is not in .*has: fixture_good, fixture_refused/);

        // A missing object: the error names it and says how to build it.
        const missing = path.join(dir, 'missing.bpf.o');
        const ds = new DropSource({ object: missing });
        await expect(ds.start({ ingest: () => undefined })).rejects.toThrow(/missing\.bpf\.o.*make -s bpf/s);
        expect(ds.status()).toMatchObject({ state: 'failed', hook: 'tp_btf:kfree_skb' });
        expect(ds.status().detail).toMatch(/missing\.bpf\.o/);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  }, 60_000);
});
