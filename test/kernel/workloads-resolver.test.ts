// The workload resolver against a real containerd: pods made through CRI as
// kubelet makes them are named with their namespace, uid, labels, address,
// network namespace and workload; a new pod is named at the next poll, a
// deleted one is remembered; a runtime that dies gives a status line (and the
// names already known), and /proc alone still finds the pods by uid.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Containerd, containerdTier, type Pod } from '../helpers/containerd.js';
import { kernelTier } from '../helpers/lab.js';
import { PodMap } from '../../src/model/pod-map.js';
import { WorkloadResolver } from '../../src/workloads/resolver.js';
import { holdKernelLock } from './netlink-lab.js';
import { cannotRun } from '../helpers/requires.js';

const tier = kernelTier().ok ? containerdTier() : kernelTier();
const skip = cannotRun(tier);

const v4 = (ip: string): number | null => (ip.includes('.') ? ip.split('.').reduce((a, b) => a * 256 + Number(b), 0) : null);

describe.skipIf(skip)('workload resolver with containerd', () => {
  let node: Containerd;
  let release: () => void = () => undefined;
  let map: PodMap;
  let resolver: WorkloadResolver;
  let web: Pod;
  let proxy: Pod;

  beforeAll(async () => {
    release = await holdKernelLock();
  }, 30 * 60_000);

  beforeAll(async () => {
    node = await Containerd.start('ctwr');
    [web, proxy] = await Promise.all([
      node.runPod({ name: 'web-7d9f8b6c5-x2x4q', namespace: 'shop', labels: { app: 'web', 'pod-template-hash': '7d9f8b6c5' } }),
      node.runPod({
        name: 'proxy-h8d2k',
        namespace: 'kube-system',
        labels: { 'controller-revision-hash': '5c8f7b9d6', 'pod-template-generation': '3' },
        hostNetwork: true,
      }),
    ]);
    map = new PodMap({ addressKey: v4 });
    resolver = new WorkloadResolver({ map, now: () => Date.now() * 1e6, criSocket: node.socket, intervalMs: 60_000 });
    await resolver.start();
  }, 120_000);

  afterAll(async () => {
    await resolver?.stop();
    await node?.stop();
    release();
  }, 60_000);

  it('names every pod with its namespace, uid, labels, address, network namespace and workload', () => {
    const st = resolver.status();
    expect(st).toMatchObject({ source: 'cri', state: 'running', socket: node.socket, pods: 2, error: null });
    expect(st.runtime).toMatch(/^containerd /);
    expect(st.message).toBe(`pods from ${st.runtime} over CRI at ${node.socket}`);
    const w = map.podOfAddress(v4(web.ip!)!)!;
    expect(w).toMatchObject({ uid: web.uid, name: web.name, namespace: 'shop', labels: { app: 'web', 'pod-template-hash': '7d9f8b6c5' }, ips: [web.ip] });
    expect(w.netns).toBe(web.netnsInode);
    expect(map.podOfNetns(web.netnsInode)?.id).toBe(w.id);
    expect(map.formatWorkload(w.workloadId)).toBe('shop/Deployment/web');
    const p = map.live().find((e) => e.uid === proxy.uid)!;
    expect(p).toMatchObject({ hostNetwork: true, ips: [], netns: 0 });
    expect(map.formatWorkload(p.workloadId)).toBe('kube-system/DaemonSet/proxy');
    // the node's own namespace belongs to no pod, though a host-network pod lives in it
    expect(map.podOfNetns(node.nodeNetnsInode())).toBeUndefined();
  });

  it('doctor says where pods come from, and names the sockets it tried', () => {
    const found = JSON.parse(execFileSync(process.execPath, ['bin/ctscope.js', 'doctor', '--json', '--cri-socket', node.socket], { encoding: 'utf8' })).pods;
    expect(found).toMatchObject({ source: 'cri', state: 'running', socket: node.socket, pods: 2, tried: [{ socket: node.socket, result: expect.stringMatching(/^containerd \S+ \(CRI v1\)$/) }] });
    const text = execFileSync(process.execPath, ['bin/ctscope.js', 'doctor', '--cri-socket', `${node.dir}/absent.sock`], { encoding: 'utf8' });
    expect(text).toContain(`no CRI socket answered (${node.dir}/absent.sock, from --cri-socket); pods from /proc/PID/cgroup, by uid only`);
    expect(text).toContain(`${node.dir}/absent.sock → no socket there`);
  }, 60_000);

  it('names a new pod at the next poll and remembers a deleted one', async () => {
    const t0 = Date.now();
    const late = await node.runPod({ name: 'late', namespace: 'shop' });
    await resolver.poll();
    console.log(`new pod ready and named in ${Date.now() - t0} ms (pod creation included)`);
    expect(map.podOfAddress(v4(late.ip!)!)?.name).toBe('late');
    await node.removePod(late);
    await resolver.poll();
    expect(map.podOfAddress(v4(late.ip!)!)).toBeUndefined();
    expect(map.gonePodOfAddress(v4(late.ip!)!)?.name).toBe('late');
    expect(resolver.status().deleted_pods).toBe(1);
  }, 60_000);

  it('keeps the names it knows and says so when the runtime dies; is back when it is', async () => {
    await node.killRuntime();
    await resolver.poll();
    const st = resolver.status();
    expect(st.state).toBe('unavailable');
    expect(st.source).toBe('proc');
    expect(st.message).toMatch(new RegExp(`^the CRI socket ${node.socket} stopped answering \\(CRI ListPodSandbox: UNAVAILABLE: .+\\); pods from /proc/PID/cgroup until it does, names seen before kept$`));
    // the pods still run: /proc finds them, and they keep their names
    expect(map.podOfAddress(v4(web.ip!)!)?.name).toBe(web.name);
    await node.restartRuntime();
    await resolver.poll();
    expect(resolver.status()).toMatchObject({ state: 'running', source: 'cri', pods: 2 });
  }, 60_000);

  it('finds the same pods by uid from /proc alone when no runtime socket answers', async () => {
    const alone = new PodMap({ addressKey: v4 });
    const r = new WorkloadResolver({ map: alone, now: () => 1, candidates: [`${node.dir}/absent.sock`], intervalMs: 60_000 });
    await r.start();
    const st = r.status();
    await r.stop();
    expect(st).toMatchObject({ source: 'proc', state: 'fallback' });
    const w = alone.podOfAddress(v4(web.ip!)!);
    expect(w).toMatchObject({ uid: web.uid, netns: web.netnsInode, ips: [web.ip] });
    expect(alone.formatPod(w!.id)).toBe(`pod:${web.uid}`);
    // /proc knows host networking as "init's namespace"; this test's node is a
    // namespace of its own, so its host-network pod is found by uid and namespace
    expect(fs.existsSync(`/proc/${proxy.pid}`)).toBe(true);
    expect(alone.live().find((e) => e.uid === proxy.uid)).toMatchObject({ netns: node.nodeNetnsInode() });
  }, 60_000);
});
