// Issue 6, "done when": a recording made by `ctscope record` during a lab churn
// replays to the same per-source counts as the live model showed, and both
// equal the kernel's own per-source counters (nft `ct state new`).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, kernelTier } from '../helpers/lab.js';
import { holdKernelLock, tcpClients, tcpServer, udpFlows, countersBySource, until } from './netlink-lab.js';
import { NetlinkSource } from '../../src/sources/netlink.js';
import { readNetnsSnapshot } from '../../src/proc/poller.js';
import { Model } from '../../src/model/model.js';
import { recordCommand } from '../../src/cli/commands/record.js';
import { replayCommand } from '../../src/cli/commands/replay.js';
import { startReplay } from '../../src/app/serve-replay.js';
import type { Delivery, FeedStatus } from '../../src/app/feed.js';
import { IdleFeed } from '../helpers/app.js';
import type { ReplayReport } from '../../src/capture/report.js';
import { cannotRun } from '../helpers/requires.js';

const tier = kernelTier();
const skip = cannotRun(tier);

// prime counts catch off-by-one and double counting
const UDP = 211;
const TCP_SHORT = 37;
const TCP_LONG = 3;
const PORT = 8080;

describe.skipIf(skip)('ctscope record during a lab churn', () => {
  let release: () => void = () => undefined;
  let lab: Lab;
  const children: ChildProcess[] = [];
  let udpSrc: string, tcpSrc: string, longSrc: string;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ctcaprec-'));

  beforeAll(async () => {
    release = await holdKernelLock();
    lab = await Lab.create('ctcap');
    udpSrc = await lab.addClientAddress(21);
    tcpSrc = await lab.addClientAddress(22);
    longSrc = await lab.addClientAddress(23);
    await lab.nft(
      lab.server,
      `table inet ctcaptest {\n  chain pre {\n    type filter hook prerouting priority 0;\n${[udpSrc, tcpSrc, longSrc].map((s) => `    ip saddr ${s} ct state new counter`).join('\n')}\n  }\n}\n`,
    );
    children.push(await tcpServer(lab.server, lab.serverAddress, PORT));
  }, 120_000);

  afterAll(async () => {
    for (const c of children) c.kill('SIGKILL');
    await lab?.destroy();
    release();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('replays to the live model per-source counts, which equal the kernel counters', async () => {
    const serverNs = lab.netnsInode(lab.server);
    const live = new Model();
    // the live side the daemon would start, limited to the lab's namespace; the
    // live model sees exactly what the recorder sees
    let source: NetlinkSource | null = null;
    class LabFeed extends IdleFeed {
      private timer: NodeJS.Timeout | undefined;
      constructor(private readonly procIntervalMs: number) {
        super();
      }
      override async start(to: Delivery): Promise<void> {
        source = new NetlinkSource({ include: (ns) => ns.inode === serverNs, processes: false });
        await source.start({
          ingest(b) {
            to.ingest(b);
            live.ingest(b);
          },
        });
        const poll = () => {
          const s = readNetnsSnapshot(`/run/netns/${lab.server}`);
          to.proc(s);
          live.ingestProc(s);
        };
        poll();
        this.timer = setInterval(poll, this.procIntervalMs);
      }
      override async stop(): Promise<void> {
        clearInterval(this.timer);
        await source?.stop();
      }
      override status(): FeedStatus {
        return { ...super.status(), mode: 'live', sources: source ? [source.status()] : [] };
      }
    }
    let stop: (r: string) => void = () => undefined;
    const file = path.join(dir, 'lab.ctcap');
    const log: string[] = [];
    const recording = recordCommand(['-o', file, '--proc-interval', '200'], {
      feed: (o) => new LabFeed(o.procIntervalMs),
      stopSignal: () => new Promise((r) => (stop = r)),
      log: (l) => log.push(l),
    });
    await until(() => source !== null && source.status().state === 'running', 10_000, 'the netlink source');
    children.push(await tcpClients(lab.client, longSrc, lab.serverAddress, PORT, TCP_LONG, { hold: true }));
    await Promise.all([
      udpFlows((ns, a) => lab.exec(ns, a), lab.client, udpSrc, lab.serverAddress, UDP, { intervalUs: 500 }),
      tcpClients(lab.client, tcpSrc, lab.serverAddress, PORT, TCP_SHORT, { parallel: 4 }),
    ]);
    const truth = countersBySource(await lab.nftJson(lab.server), 'pre');
    expect([truth.get(udpSrc), truth.get(tcpSrc), truth.get(longSrc)]).toEqual([UDP, TCP_SHORT, TCP_LONG]);
    await until(() => live.counter('alloc') >= UDP + TCP_SHORT + TCP_LONG, 10_000, 'allocations in the live model');
    await new Promise((r) => setTimeout(r, 500));
    stop('signal');
    expect(await recording).toBe(0);
    expect(log.join('\n')).toMatch(/source netlink: running \(ctnetlink\)/);

    const q = { by: 'src' as const, window: 900, limit: 10 };
    const liveChurn = live.churn(q).items.map((i) => [i.key, i.count]);
    expect(liveChurn).toEqual([
      [udpSrc, UDP],
      [tcpSrc, TCP_SHORT],
      [longSrc, TCP_LONG],
    ]);
    const replay = await startReplay([file]);
    await replay.feed.done;
    const model = replay.ctscope.model!;
    expect(model.churn(q).items.map((i) => [i.key, i.count])).toEqual(liveChurn);
    // what is still open in the kernel is open in the replay too
    expect(model.flows.count).toBe(live.flows.count);

    let out = '';
    const code = await replayCommand([file, '--report', 'json'], { out: (s) => (out += s), err: () => undefined });
    expect(code).toBe(0);
    const rep = JSON.parse(out) as ReplayReport;
    expect(rep.partial.partial).toBe(false);
    expect(rep.input.sources.map((s) => s.name)).toEqual(['netlink']);
    expect(rep.churn.src.map((i) => [i.key, i.count])).toEqual(liveChurn);
    expect(rep.occupancy.kernel[0]!.netns).toBe(serverNs);
  }, 120_000);

  it('records with the live sources of the daemon (every namespace, drops, /proc) until --duration', async () => {
    const serverNs = lab.netnsInode(lab.server);
    const before = countersBySource(await lab.nftJson(lab.server), 'pre');
    const file = path.join(dir, 'builtin.ctcap');
    const log: string[] = [];
    const N = 53;
    const recording = recordCommand(['-o', file, '--duration', '4', '--proc-interval', '250'], {
      stopSignal: () => new Promise(() => undefined),
      log: (l) => log.push(l),
    });
    // Started: the sources report in the log before `writing` (a fixed 1.5 s
    // was not enough on a loaded machine: the lifecycle source's trial
    // attaches alone took 2.5 s, and the flows were then only seen in the dump).
    await until(() => log.some((l) => l.startsWith('record: writing')), 60_000, 'the recorder to start');
    await udpFlows((ns, a) => lab.exec(ns, a), lab.client, udpSrc, lab.serverAddress, N, { basePort: 30000, intervalUs: 1000 });
    expect(await recording).toBe(0);
    const after = countersBySource(await lab.nftJson(lab.server), 'pre');
    expect(after.get(udpSrc)! - before.get(udpSrc)!).toBe(N);
    expect(log.join('\n')).toMatch(/source netlink: running/);
    let out = '';
    expect(await replayCommand([file, '--report', 'json', '--limit', '100'], { out: (s) => (out += s), err: () => undefined })).toBe(0);
    const rep = JSON.parse(out) as ReplayReport;
    expect(rep.input.sources.map((s) => s.name)).toContain('netlink');
    expect(rep.churn.src.find((i) => i.key === udpSrc)?.count).toBe(N);
    // a /proc snapshot of the lab's namespace is in the file
    expect(rep.occupancy.kernel.some((k) => k.netns === serverNs)).toBe(true);
  }, 120_000);
});
