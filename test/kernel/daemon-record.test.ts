// Issues 5 and 6 through the real daemon: `ctscope run --record FILE` during a
// lab churn of three sources with different profiles — a UDP storm, short TCP
// connections left in TIME_WAIT, a few long-lived ones. /v1/churn?by=src ranks
// them with the kernel's own per-source counts (nft `ct state new`),
// /v1/occupancy?by=src&state=TIME_WAIT equals `conntrack -L`, and the file the
// daemon recorded replays to the same per-source counts.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DaemonProcess } from '../helpers/daemon.js';
import { Lab, kernelTier } from '../helpers/lab.js';
import { countersBySource, holdKernelLock, tcpClients, tcpServer, udpFlows, until } from './netlink-lab.js';
import { replayCommand } from '../../src/cli/commands/replay.js';
import type { ReplayReport } from '../../src/capture/report.js';
import { cannotRun } from '../helpers/requires.js';

const tier = kernelTier();
const skip = cannotRun(tier);

// prime counts: a swap or an off-by-one shows
const UDP = 409;
const TCP_SHORT = 61;
const TCP_LONG = 7;
const PORT = 8080;

describe.skipIf(skip)('daemon --record on a live lab churn', () => {
  let release: () => void = () => undefined;
  let lab: Lab;
  let daemon: DaemonProcess | undefined;
  const children: ChildProcess[] = [];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ctdrec-'));

  beforeAll(async () => {
    release = await holdKernelLock();
    lab = await Lab.create('ctdrec');
  }, 120_000);

  afterAll(async () => {
    for (const c of children) c.kill('SIGKILL');
    await daemon?.kill9();
    await lab?.destroy();
    release();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('ranks the three sources with the kernel counts, TIME_WAIT as conntrack -L, and the recording replays the same', async () => {
    const [udpSrc, tcpSrc, longSrc] = [await lab.addClientAddress(31), await lab.addClientAddress(32), await lab.addClientAddress(33)];
    await lab.nft(
      lab.server,
      `table inet ctdrec {\n  chain pre {\n    type filter hook prerouting priority 0;\n${[udpSrc, tcpSrc, longSrc].map((s) => `    ip saddr ${s} ct state new counter`).join('\n')}\n  }\n}\n`,
    );
    children.push(await tcpServer(lab.server, lab.serverAddress, PORT));
    const file = path.join(dir, 'daemon.ctcap');
    daemon = await DaemonProcess.start(['--record', file, '--proc-interval', '250']);
    const netlink = (await daemon.get('/v1/status')).sources.find((s: { name: string }) => s.name === 'netlink');
    expect(netlink?.state).toBe('running');
    const serverNs = lab.netnsInode(lab.server);
    // the lab namespace is followed within a second of appearing
    await until(async () => (await daemon!.get('/v1/status')).sources.find((s: { name: string }) => s.name === 'netlink').namespaces.some((n: { inode: number }) => n.inode === serverNs), 5000, 'the lab namespace followed');

    children.push(await tcpClients(lab.client, longSrc, lab.serverAddress, PORT, TCP_LONG, { hold: true }));
    await Promise.all([
      udpFlows((ns, a) => lab.exec(ns, a), lab.client, udpSrc, lab.serverAddress, UDP, { intervalUs: 300 }),
      tcpClients(lab.client, tcpSrc, lab.serverAddress, PORT, TCP_SHORT, { parallel: 4 }),
    ]);
    const truth = countersBySource(await lab.nftJson(lab.server), 'pre');
    expect([truth.get(udpSrc), truth.get(tcpSrc), truth.get(longSrc)]).toEqual([UDP, TCP_SHORT, TCP_LONG]);

    const ours = (items: Array<{ key: string; count: number }>) => items.filter((i) => [udpSrc, tcpSrc, longSrc].includes(i.key)).map((i) => [i.key, i.count]);
    const expected = [
      [udpSrc, UDP],
      [tcpSrc, TCP_SHORT],
      [longSrc, TCP_LONG],
    ];
    let churn: Array<{ key: string; count: number }> = [];
    await until(
      async () => {
        churn = (await daemon!.get('/v1/churn?by=src&window=300&limit=100')).items;
        return JSON.stringify(ours(churn)) === JSON.stringify(expected);
      },
      5000,
      `/v1/churn?by=src to show ${JSON.stringify(expected)} (last: ${JSON.stringify(ours(churn))})`,
    );
    expect(ours(churn)).toEqual(expected);

    // TIME_WAIT holders: the short TCP connections, as conntrack -L lists them
    const { stdout } = await lab.exec(lab.server, ['conntrack', '-L', '-p', 'tcp', '--state', 'TIME_WAIT']);
    const kernelTw = stdout.split('\n').filter((l) => l.includes(`src=${tcpSrc} `)).length;
    expect(kernelTw).toBe(TCP_SHORT);
    const occ = await daemon.get('/v1/occupancy?by=src&state=TIME_WAIT&limit=100');
    expect(occ.items.find((i: { key: string }) => i.key === tcpSrc)?.count).toBe(kernelTw);

    const st = await daemon.get('/v1/status');
    expect(st.sources.find((s: { name: string }) => s.name === 'recorder')).toMatchObject({ state: 'running', hook: file });
    expect(await daemon.stop()).toBe(0);
    daemon = undefined;

    let out = '';
    expect(await replayCommand([file, '--report', 'json', '--limit', '100'], { out: (s) => (out += s), err: () => undefined })).toBe(0);
    const rep = JSON.parse(out) as ReplayReport;
    expect(rep.partial.partial).toBe(false);
    expect(rep.input.sources.map((s) => s.name)).toEqual(expect.arrayContaining(['lifecycle', 'netlink', 'drops']));
    expect(ours(rep.churn.src)).toEqual(expected);
    expect(rep.occupancy.kernel.some((k) => k.netns === serverNs)).toBe(true);
  }, 120_000);
});
