// Issue 4 "done when", below HTTP: the netlink source feeding the real model
// (src/model). In a lab burst, the model's churn by source equals the kernel's
// per-source count of new entries; after an induced overrun the model's live
// flows of that namespace are exactly what `conntrack -L` lists and the loss
// is in its counters.
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, kernelTier } from '../helpers/lab.js';
import { NetlinkSource } from '../../src/sources/netlink.js';
import { Model } from '../../src/model/model.js';
import { conntrackIds, countersBySource, holdKernelLock, tcpClients, tcpServer, udpFlows, until } from './netlink-lab.js';
import { cannotRun } from '../helpers/requires.js';

const tier = kernelTier();
const skip = cannotRun(tier);

const UDP_FLOWS = 3001;
const TCP_SHORT = 101;
const TCP_LONG = 5;
const PORT = 8081;

describe.skipIf(skip)('netlink source -> model', () => {
  let release: () => void = () => undefined;
  let lab: Lab;
  const children: ChildProcess[] = [];
  let serverNs = 0;

  beforeAll(async () => {
    release = await holdKernelLock();
    lab = await Lab.create('ctnlm');
    await lab.exec(lab.server, ['sysctl', '-qw', 'net.netfilter.nf_conntrack_udp_timeout=600']);
    serverNs = lab.netnsInode(lab.server);
    children.push(await tcpServer(lab.server, lab.serverAddress, PORT));
  }, 120_000);

  afterAll(async () => {
    for (const c of children) c.kill('SIGKILL');
    await lab?.destroy();
    release();
  });

  it('churn by source equals the kernel count per source', async () => {
    const [a, b, c] = [await lab.addClientAddress(41), await lab.addClientAddress(42), await lab.addClientAddress(43)];
    await lab.nft(
      lab.server,
      `table inet ctsm {\n chain pre {\n type filter hook prerouting priority 0;\n${[a, b, c].map((s) => `  ip saddr ${s} ct state new counter\n`).join('')} }\n}\n`,
    );
    const model = new Model();
    const source = new NetlinkSource({ include: (ns) => ns.inode === serverNs, processes: false });
    await source.start(model);
    try {
      await until(() => model.namespaces().includes(serverNs) || source.status().namespaces[0]?.stats?.dumps === 1, 5000, 'the dump at start');
      children.push(await tcpClients(lab.client, c, lab.serverAddress, PORT, TCP_LONG, { hold: true }));
      await Promise.all([
        udpFlows((ns, x) => lab.exec(ns, x), lab.client, a, lab.serverAddress, UDP_FLOWS, { intervalUs: 20 }),
        tcpClients(lab.client, b, lab.serverAddress, PORT, TCP_SHORT, { parallel: 16 }),
      ]);
      const truth = countersBySource(await lab.nftJson(lab.server), 'pre');
      expect([truth.get(a), truth.get(b), truth.get(c)]).toEqual([UDP_FLOWS, TCP_SHORT, TCP_LONG]);
      const count = (src: string) => model.churn({ by: 'src', window: 60, limit: 20 }).items.find((i) => i.key === src)?.count ?? 0;
      await until(() => count(a) >= UDP_FLOWS && count(b) >= TCP_SHORT, 5000, 'the allocations in the model').catch(() => 0);
      const churn = model.churn({ by: 'src', window: 60, limit: 20 });
      expect(churn.error_bound).toBe(0);
      expect({ a: count(a), b: count(b), c: count(c) }).toEqual({ a: truth.get(a), b: truth.get(b), c: truth.get(c) });
      expect(source.status().lost.total).toBe(0);
    } finally {
      await source.stop();
    }
  });

  it('after an overrun the model holds exactly the live set and counts the loss', async () => {
    const d = await lab.addClientAddress(44);
    const model = new Model();
    const source = new NetlinkSource({ include: (ns) => ns.inode === serverNs, processes: false, rcvbufBytes: 4096 });
    await source.start(model);
    try {
      await until(() => source.status().namespaces[0]?.stats?.dumps === 1, 5000, 'the dump at start');
      await lab.exec(lab.server, ['conntrack', '-D', '-s', lab.clientAddress]).catch(() => undefined);
      await udpFlows((ns, x) => lab.exec(ns, x), lab.client, d, lab.serverAddress, 2003, { intervalUs: 20, basePort: 30000 });
      // The first test's UDP flows go, their DESTROY events overrunning too.
      await lab.exec(lab.server, ['conntrack', '-D', '-s', `10.77.${lab.subnet}.41`]).catch(() => undefined);
      await until(() => source.status().lost.netlinkOverruns! > 0, 2000, 'the overrun in status');
      await until(() => !source.status().namespaces[0]!.stats!.resyncing, 20_000, 'the resync');
      await new Promise((r) => setTimeout(r, 200));
      const kernel = conntrackIds(await lab.conntrackList(lab.server, ['-o', 'id']));
      const flows = model.listFlows({ netns: serverNs, limit: 1_000_000 });
      const ours = new Set(flows.flows.map((f) => Number(BigInt(f.id) & 0xffffffffn)));
      expect(flows.total).toBe(kernel.size);
      expect([...kernel].filter((id) => !ours.has(id))).toEqual([]);
      expect([...ours].filter((id) => !kernel.has(id))).toEqual([]);
      expect(model.counter('lost')).toBeGreaterThan(0);
      console.info(`model after overrun: live ${flows.total} = conntrack -L ${kernel.size}; lost ${model.counter('lost')}, closed by SYNC ${model.counter('sync_closed')}`);
    } finally {
      await source.stop();
    }
  });
});
