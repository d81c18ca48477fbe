// Issue 12, "a mark set on the reply path": an nft rule in a lab namespace
// sets the conntrack mark on the server's SYN-ACK, after the entry was
// created and confirmed with mark 0, so the mark reaches ctscope only in a
// later ctnetlink UPDATE (IPCT_MARK). The daemon's /v1/occupancy?by=mark (its
// index built before the traffic, so kept up to date entry by entry) and
// /v1/flows?mark= must agree with `conntrack -L -m MARK` in that namespace;
// after `conntrack -D -m MARK` the entries leave with the mark they had.
// Every flow the kernel confirmed says confirmed: true (IPS_CONFIRMED).
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DaemonProcess } from '../helpers/daemon.js';
import { Lab, kernelTier } from '../helpers/lab.js';
import { holdKernelLock, tcpClients, tcpServer, until } from './netlink-lab.js';
import { cannotRun } from '../helpers/requires.js';

const tier = kernelTier();
const skip = cannotRun(tier);

const PORT = 8083;
// marks nothing else on the machine sets; connection counts prime, so a
// double count or an entry under the wrong key shows
const MARK_A = 1833631745; // 0x6d4b0001
const MARK_B = 1833631746;
const N_A = 13;
const N_B = 7;
const N_C = 5; // no rule: mark 0

interface Occ {
  items: Array<{ key: string; count: number }>;
}

describe.skipIf(skip)('a mark set on the reply path', () => {
  let release: () => void = () => undefined;
  let lab: Lab;
  let daemon: DaemonProcess | undefined;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    release = await holdKernelLock();
    lab = await Lab.create('ctmark');
  }, 900_000); // most of it waiting for the machine-wide kernel lock other runs hold

  afterAll(async () => {
    for (const c of children) c.kill('SIGKILL');
    await daemon?.stop();
    await lab?.destroy();
    release();
  });

  it('reaches by=mark and /v1/flows through UPDATE events, as conntrack -L -m counts them', async () => {
    const serverNs = lab.netnsInode(lab.server);
    const [a, b, c] = [await lab.addClientAddress(51), await lab.addClientAddress(52), await lab.addClientAddress(53)];
    await lab.nft(
      lab.server,
      `table inet ctmk {\n chain out {\n  type filter hook output priority 0;\n` +
        `  ct direction reply ip daddr ${a} ct mark set ${MARK_A}\n  ct direction reply ip daddr ${b} ct mark set ${MARK_B}\n }\n}\n`,
    );
    children.push(await tcpServer(lab.server, lab.serverAddress, PORT));
    daemon = await DaemonProcess.start([], 60_000); // start-up is slow on a loaded machine
    await until(async () => (await daemon!.get('/v1/status')).sources.find((s: { name: string }) => s.name === 'netlink')?.namespaces.some((n: { inode: number; state: string }) => n.inode === serverNs && n.state === 'running'), 10_000, 'the lab namespace followed');
    // the question before the traffic builds the mark index: every change after it goes through its upkeep
    await daemon.get('/v1/occupancy?by=mark&limit=1');

    children.push(await tcpClients(lab.client, a, lab.serverAddress, PORT, N_A, { hold: true, parallel: N_A }));
    children.push(await tcpClients(lab.client, b, lab.serverAddress, PORT, N_B, { hold: true, parallel: N_B }));
    children.push(await tcpClients(lab.client, c, lab.serverAddress, PORT, N_C, { hold: true, parallel: N_C }));

    const kernel = async (mark: number) => (await lab.conntrackList(lab.server, ['-m', String(mark)])).filter((l) => l.includes(`dport=${PORT}`)).length;
    expect([await kernel(MARK_A), await kernel(MARK_B)]).toEqual([N_A, N_B]);
    const flows = (mark: number) => daemon!.get(`/v1/flows?netns=${serverNs}&mark=${mark}&dport=${PORT}&limit=1000`);
    await until(async () => (await flows(MARK_A)).total === N_A && (await flows(MARK_B)).total === N_B, 5000, 'the marks in /v1/flows').catch(() => 0);
    expect([(await flows(MARK_A)).total, (await flows(MARK_B)).total, (await flows(0)).total]).toEqual([N_A, N_B, N_C]);
    const marked = (await flows(MARK_A)).flows as Array<{ src: string; mark: number; confirmed: boolean; state: string }>;
    expect(new Set(marked.map((f) => f.src))).toEqual(new Set([a]));
    expect(marked.every((f) => f.mark === MARK_A && f.confirmed && f.state === 'ESTABLISHED')).toBe(true);
    // every entry the kernel holds is confirmed; the status bit says so
    const all = await daemon.get(`/v1/flows?netns=${serverNs}&limit=1000`);
    expect(all.flows.length).toBeGreaterThanOrEqual(N_A + N_B + N_C);
    expect(all.flows.filter((f: { confirmed: boolean }) => !f.confirmed)).toEqual([]);

    // occupancy by mark (every namespace: only this lab's server sets these marks)
    const occ = async (): Promise<Map<string, number>> => new Map(((await daemon!.get('/v1/occupancy?by=mark&limit=1000')) as Occ).items.map((i) => [i.key, i.count]));
    const before = await occ();
    expect([before.get(String(MARK_A)), before.get(String(MARK_B))]).toEqual([await kernel(MARK_A), await kernel(MARK_B)]);

    // the entries leave with the mark they had
    await lab.exec(lab.server, ['conntrack', '-D', '-m', String(MARK_A)]).catch(() => undefined);
    expect(await kernel(MARK_A)).toBe(0);
    await until(async () => !(await occ()).has(String(MARK_A)), 5000, 'the deleted entries gone from by=mark').catch(() => 0);
    const after = await occ();
    expect([after.get(String(MARK_A)) ?? 0, after.get(String(MARK_B))]).toEqual([0, N_B]);
    const closed = await daemon.get(`/v1/flows?closed=true&netns=${serverNs}&mark=${MARK_A}&limit=1000`);
    expect(closed.total).toBe(N_A);
    console.info(`reply-path marks: conntrack -L -m ${MARK_A}: ${N_A}, -m ${MARK_B}: ${N_B}; /v1/occupancy?by=mark and /v1/flows the same; ${N_A} closed with mark ${MARK_A} after conntrack -D`);
  }, 120_000);
});
