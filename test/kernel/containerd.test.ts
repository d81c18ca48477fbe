// The containerd harness itself (test/helpers/containerd.ts): real pods made
// through CRI get bridge addresses and network namespaces of their own, their
// traffic is tracked by the node's conntrack, containers get what they were
// given (capabilities, mounts, read-only root, the node's network and PID
// namespaces), and stop() leaves nothing behind.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Containerd, containerdTier, type Pod } from '../helpers/containerd.js';
import { kernelTier } from '../helpers/lab.js';
import { holdKernelLock } from './netlink-lab.js';
import { cannotRun } from '../helpers/requires.js';

const tier = kernelTier().ok ? containerdTier() : kernelTier();
const skip = cannotRun(tier);

const FLOWS = path.resolve('test/kernel/drops-fixtures/flows.py');

describe.skipIf(skip)('containerd harness', () => {
  let node: Containerd;
  let release: () => void = () => undefined;
  let web: Pod;
  let startMs = 0;

  // other test runs on the machine may hold the kernel lock for minutes
  beforeAll(async () => {
    release = await holdKernelLock();
  }, 30 * 60_000);

  beforeAll(async () => {
    const t0 = Date.now();
    node = await Containerd.start('ctch');
    startMs = Date.now() - t0;
  }, 120_000);

  afterAll(async () => {
    await node?.stop();
    release();
  }, 60_000);

  it('runs a pod with a bridge address and its own network namespace, named as asked', async () => {
    const t0 = Date.now();
    web = await node.runPod({ name: 'web-6d4b9c7f8-abcde', namespace: 'shop', labels: { app: 'web', 'pod-template-hash': '6d4b9c7f8' } });
    console.log(`containerd ready in ${startMs} ms; pod ready in ${Date.now() - t0} ms at ${web.ip}`);
    expect(web.ip).toMatch(new RegExp(`^10\\.78\\.${node.subnet}\\.\\d+$`));
    expect(web.netnsInode).not.toBe(node.nodeNetnsInode());
    expect(fs.readFileSync(`/proc/${web.pid}/cgroup`, 'utf8')).toContain(`/kubepods/besteffort/pod${web.uid}`);
    const list = await node.cri.listPodSandbox();
    const item = list.find((p) => p.id === web.id)!;
    expect(item.metadata).toMatchObject({ name: 'web-6d4b9c7f8-abcde', namespace: 'shop', uid: web.uid });
    expect(item.labels).toEqual({ app: 'web', 'pod-template-hash': '6d4b9c7f8' });
    expect(item.state).toBe('SANDBOX_READY');
  }, 60_000);

  it("tracks the pod's traffic in the node's conntrack table, under the pod's address", async () => {
    // 29 UDP flows from the pod to the node (the bridge's gateway address); a
    // `ct` rule makes the node namespace track, a counter per source counts.
    await node.nodeExec(['nft', '-f', '-'], {
      input: `table inet ctch {\n chain in {\n type filter hook input priority 0;\n ip saddr ${web.ip} ct state new counter\n }\n}\n`,
    });
    await node.podExec(web, ['python3', FLOWS, 'udp', web.ip!, node.gateway, '20000', '29']);
    const { stdout } = await node.nodeExec(['conntrack', '-L', '-p', 'udp', '-s', web.ip!]);
    const entries = stdout.split('\n').filter((l) => l.includes('dport='));
    expect(entries).toHaveLength(29);
    const rules = JSON.parse((await node.nodeExec(['nft', '-j', 'list', 'table', 'inet', 'ctch'])).stdout) as {
      nftables: Array<{ rule?: { expr: Array<{ counter?: { packets: number } }> } }>;
    };
    const packets = rules.nftables.flatMap((i) => i.rule?.expr ?? []).find((e) => e.counter)?.counter?.packets;
    expect(packets).toBe(29);
  }, 60_000);

  it("runs containers with capabilities, mounts and a read-only root, in the node's network and PID namespaces", async () => {
    const agent = await node.runPod({ name: 'agent-x7k2p', namespace: 'kube-system', hostNetwork: true, hostPid: true, labels: { app: 'agent' } });
    expect(agent.ip).toBeNull();
    expect(agent.netnsInode).toBe(node.nodeNetnsInode());
    const out = `${node.dir}/mount-test`;
    fs.mkdirSync(out);
    const c = await node.runContainer(agent, {
      name: 'agent',
      command: ['/bin/sh', '-c', 'touch /probe 2>/dev/null; echo $? > /out/rootfs-write; echo ok > /out/ran; exec sleep 600'],
      mounts: [{ hostPath: out, containerPath: '/out' }],
      capAdd: ['CAP_NET_ADMIN', 'CAP_BPF'],
      readOnlyRoot: true,
    });
    const deadline = Date.now() + 10_000;
    while (!fs.existsSync(`${out}/ran`) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(fs.readFileSync(`${out}/rootfs-write`, 'utf8').trim()).not.toBe('0'); // read-only root refused the write
    expect((await node.containerStatus(c.id)).state).toBe('CONTAINER_RUNNING');
    const capEff = BigInt(`0x${/CapEff:\s*([0-9a-f]+)/.exec(fs.readFileSync(`/proc/${c.pid}/status`, 'utf8'))![1]}`);
    expect((capEff >> 12n) & 1n).toBe(1n); // CAP_NET_ADMIN
    expect((capEff >> 39n) & 1n).toBe(1n); // CAP_BPF
    expect((capEff >> 21n) & 1n).toBe(0n); // CAP_SYS_ADMIN was not given
    expect(fs.statSync(`/proc/${c.pid}/ns/pid`).ino).toBe(fs.statSync('/proc/self/ns/pid').ino);
    expect(fs.statSync(`/proc/${c.pid}/ns/net`).ino).toBe(node.nodeNetnsInode());
    await node.removePod(agent);
    expect(fs.existsSync(`/proc/${c.pid}`)).toBe(false);
  }, 60_000);

  it('removes a pod as kubelet does, and stop() leaves no process, mount, namespace, cgroup or file', async () => {
    await node.removePod(web);
    expect((await node.cri.listPodSandbox()).find((p) => p.id === web.id)).toBeUndefined();
    expect(fs.existsSync(`/proc/${web.pid}`)).toBe(false);
    const leftover = await node.runPod({ name: 'left-behind', namespace: 'shop' }); // stop() must remove it too
    const dir = node.dir;
    await node.stop();
    expect(fs.existsSync(`/proc/${leftover.pid}`)).toBe(false);
    expect(fs.existsSync(dir)).toBe(false);
    expect(fs.existsSync(`/run/netns/${node.netns}`)).toBe(false);
    expect(fs.readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(dir);
    for (const ctl of ['memory', 'pids', 'unified']) {
      expect(fs.existsSync(`/sys/fs/cgroup/${ctl}/kubepods/besteffort/pod${leftover.uid}`)).toBe(false);
    }
  }, 60_000);
});
