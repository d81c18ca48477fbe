// Issue 5 acceptance on a live lab: three sources of known, different
// profiles — a UDP storm, short TCP connections that sit in TIME_WAIT, a few
// long-lived connections — fed through the ctnetlink source into the Model,
// read back through the routes. /v1/churn?by=src ranks them with the
// kernel's own counts (nft `ct state new` counters) and
// /v1/occupancy?by=src&state=TIME_WAIT equals what `conntrack -L` lists.
import type { ChildProcess } from 'node:child_process';
import type { FastifyInstance } from 'fastify';
import { appOver } from '../helpers/app.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, kernelTier } from '../helpers/lab.js';
import { NetlinkSource } from '../../src/sources/netlink.js';
import { Model } from '../../src/model/model.js';
import { boottimeNs } from '../../src/native/addon.js';
import { Kind } from '../../src/records/layout.js';
import type { RecordColumns } from '../../src/records/batch.js';
import { countersBySource, holdKernelLock, tcpClients, tcpServer, udpFlows, until } from './netlink-lab.js';
import { cannotRun } from '../helpers/requires.js';

const tier = kernelTier();
const skip = cannotRun(tier);

// Prime counts, all different, so a swap or an off-by-one shows.
const UDP_FLOWS = 1999;
const TCP_SHORT = 107;
const TCP_LONG = 5;
const PORT = 8080;

describe.skipIf(skip)('model on a live lab churn (ctnetlink)', () => {
  let release: () => void = () => undefined;
  let lab: Lab;
  let source: NetlinkSource;
  let app: FastifyInstance;
  let clock: NodeJS.Timeout;
  const model = new Model();
  const children: ChildProcess[] = [];
  let syncs = 0;
  let udpSrc: string, tcpSrc: string, longSrc: string;

  beforeAll(async () => {
    release = await holdKernelLock();
    lab = await Lab.create('ctmdl');
    udpSrc = await lab.addClientAddress(31);
    tcpSrc = await lab.addClientAddress(32);
    longSrc = await lab.addClientAddress(33);
    await lab.nft(
      lab.server,
      `table inet ctsmodel {
  chain pre {
    type filter hook prerouting priority 0;
${[udpSrc, tcpSrc, longSrc].map((s) => `    ip saddr ${s} ct state new counter`).join('\n')}
  }
}
`,
    );
    const serverNs = lab.netnsInode(lab.server);
    source = new NetlinkSource({ include: (ns) => ns.inode === serverNs, processes: false });
    await source.start({
      ingest(b: RecordColumns) {
        model.ingest(b);
        for (let i = 0; i < b.length; i++) if (b.kind[i] === Kind.SYNC) syncs++;
      },
    });
    // The daemon's clock tick.
    clock = setInterval(() => model.advance(boottimeNs()), 250);
    await until(() => syncs > 0, 5000, 'the dump at start');
    children.push(await tcpServer(lab.server, lab.serverAddress, PORT));
    app = await appOver(model);
  }, 120_000);

  afterAll(async () => {
    clearInterval(clock);
    await source?.stop();
    for (const c of children) c.kill('SIGKILL');
    await app?.close();
    await lab?.destroy();
    release();
  });

  it('ranks the three sources in /v1/churn with the kernel counts, and /v1/occupancy matches conntrack -L', async () => {
    children.push(await tcpClients(lab.client, longSrc, lab.serverAddress, PORT, TCP_LONG, { hold: true }));
    await Promise.all([
      udpFlows((ns, a) => lab.exec(ns, a), lab.client, udpSrc, lab.serverAddress, UDP_FLOWS, { intervalUs: 200 }),
      tcpClients(lab.client, tcpSrc, lab.serverAddress, PORT, TCP_SHORT, { parallel: 8 }),
    ]);
    const truth = countersBySource(await lab.nftJson(lab.server), 'pre');
    expect([truth.get(udpSrc), truth.get(tcpSrc), truth.get(longSrc)]).toEqual([UDP_FLOWS, TCP_SHORT, TCP_LONG]);

    const churn = async () => (await app.inject('/v1/churn?by=src&window=300&limit=10')).json();
    await until(async () => (await churn()).total >= UDP_FLOWS + TCP_SHORT + TCP_LONG, 5000, 'all allocations in /v1/churn').catch(() => 0);
    const c = await churn();
    expect(c.error_bound).toBe(0);
    expect(c.items.map((i: { key: string; count: number }) => [i.key, i.count])).toEqual([
      [udpSrc, truth.get(udpSrc)],
      [tcpSrc, truth.get(tcpSrc)],
      [longSrc, truth.get(longSrc)],
    ]);
    expect(c.total).toBe(UDP_FLOWS + TCP_SHORT + TCP_LONG);

    // Occupancy now against the kernel's table now (TIME_WAIT lasts 120 s; UDP 30 s+).
    const tw = (await app.inject('/v1/occupancy?by=src&state=TIME_WAIT')).json();
    const twKernel = (await lab.conntrackList(lab.server, ['-p', 'tcp', '--state', 'TIME_WAIT', '-s', tcpSrc])).length;
    expect(twKernel).toBeGreaterThan(0);
    expect(tw.items).toEqual([expect.objectContaining({ key: tcpSrc, count: twKernel })]);
    const est = (await app.inject('/v1/occupancy?by=src&state=ESTABLISHED')).json();
    expect(est.items).toEqual([expect.objectContaining({ key: longSrc, count: TCP_LONG })]);
    const udpKernel = (await lab.conntrackList(lab.server, ['-p', 'udp', '-s', udpSrc])).filter((l) => l.includes('[UNREPLIED]')).length;
    const udp = (await app.inject('/v1/occupancy?by=src&proto=udp&state=UNREPLIED')).json();
    expect(udp.items[0]).toMatchObject({ key: udpSrc, count: udpKernel });
    const all = (await app.inject('/v1/flows?limit=1')).json();
    expect(all.total).toBe((await lab.conntrackList(lab.server, [])).length);
  }, 120_000);
});
