import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PodMap } from '../../src/model/pod-map.js';
import { WorkloadResolver } from '../../src/workloads/resolver.js';
import { addressesFromFibTrie, addressesFromIfInet6, podUidFromCgroup, ProcPodSource } from '../../src/workloads/sources/proc.js';

const UID = '0b8f6c1e-1d2a-4c3b-9e8f-7a6b5c4d3e2f';

describe('podUidFromCgroup', () => {
  it.each([
    ['cgroupfs v1, besteffort', `9:name=systemd:/kubepods/besteffort/pod${UID}/4b1c…\n8:pids:/kubepods/besteffort/pod${UID}/4b1c`, UID],
    ['cgroupfs, guaranteed (no QoS folder)', `0::/kubepods/pod${UID}/abc`, UID],
    [
      'systemd driver, cgroup v2 (uid with underscores)',
      `0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID.replace(/-/g, '_')}.slice/cri-containerd-abc.scope`,
      UID,
    ],
    ['not a pod', '0::/system.slice/containerd.service', null],
    ['a pod-like word outside kubepods', `0::/user.slice/pod${UID}`, null],
  ])('%s', (_what, text, want) => {
    expect(podUidFromCgroup(text)).toBe(want);
  });
});

describe('namespace addresses', () => {
  it('reads local IPv4 addresses from fib_trie, without loopback or duplicates', () => {
    const fib = `Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 10.78.3.0/24 2 0 2
        |-- 10.78.3.0
           /24 link UNICAST
        |-- 10.78.3.7
           /32 host LOCAL
        |-- 10.78.3.255
           /32 link BROADCAST
     |-- 127.0.0.1
        /32 host LOCAL
Local:
  +-- 0.0.0.0/0 3 0 5
        |-- 10.78.3.7
           /32 host LOCAL
`;
    expect(addressesFromFibTrie(fib)).toEqual(['10.78.3.7']);
  });

  it('reads global IPv6 addresses from if_inet6, compressed', () => {
    const text = [
      '00000000000000000000000000000001 01 80 10 80       lo',
      'fe8000000000000000fc00fffe000001 04 40 20 80     eth0',
      'fd000000000000000000000000000002 04 40 00 82     eth0',
      '20010db8000100000000000000000a0b 04 40 00 80     eth0',
    ].join('\n');
    expect(addressesFromIfInet6(text)).toEqual(['fd00::2', '2001:db8:1::a0b']);
  });
});

// A /proc of files: a pod's processes share a namespace when their ns/net is one inode (hard links).
function fakeProc(): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ctscope-proc-'));
  const proc = (pid: number, cgroup: string, netnsFrom?: string) => {
    fs.mkdirSync(path.join(root, String(pid), 'ns'), { recursive: true });
    fs.mkdirSync(path.join(root, String(pid), 'net'), { recursive: true });
    fs.writeFileSync(path.join(root, String(pid), 'cgroup'), cgroup);
    const ns = path.join(root, String(pid), 'ns', 'net');
    if (netnsFrom) fs.linkSync(netnsFrom, ns);
    else fs.writeFileSync(ns, '');
    return ns;
  };
  const hostNs = proc(1, '0::/init.scope');
  const podNs = proc(200, `0::/kubepods/besteffort/pod${UID}/pause`);
  proc(201, `0::/kubepods/besteffort/pod${UID}/app`, podNs);
  fs.writeFileSync(path.join(root, '200/net/fib_trie'), 'Local:\n     |-- 10.78.3.7\n        /32 host LOCAL\n');
  const hostUid = '11111111-2222-3333-4444-555555555555';
  proc(300, `0::/kubepods/besteffort/pod${hostUid}/agent`, hostNs); // a host-network pod
  return root;
}

describe('ProcPodSource', () => {
  const root = fakeProc();
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  it('finds pods by cgroup uid with their namespace and addresses; host-network pods own neither', async () => {
    const pods = await new ProcPodSource(root).list();
    const byUid = new Map(pods.map((p) => [p.uid, p]));
    expect(byUid.get(UID)).toMatchObject({ name: '', ips: ['10.78.3.7'], netns: fs.statSync(path.join(root, '200/ns/net')).ino, hostNetwork: false });
    expect(byUid.get('11111111-2222-3333-4444-555555555555')).toMatchObject({ ips: [], netns: 0, hostNetwork: true });
    expect(pods).toHaveLength(2);
  });

  it('is what the resolver falls back to when no CRI socket answers, and says so', async () => {
    const map = new PodMap({ addressKey: (ip) => (ip.includes('.') ? ip.split('.').reduce((a, b) => a * 256 + Number(b), 0) : null) });
    const r = new WorkloadResolver({ map, now: () => 1, candidates: [path.join(root, 'no-such.sock')], procRoot: root, intervalMs: 60_000 });
    await r.start();
    const st = r.status();
    await r.stop();
    expect(st).toMatchObject({ source: 'proc', state: 'fallback', socket: null, runtime: null, pods: 2 });
    expect(st.message).toBe(`no CRI socket answered (${path.join(root, 'no-such.sock')}); pods from /proc/PID/cgroup, by uid only`);
    expect(map.formatPod(map.podOfNetns(fs.statSync(path.join(root, '200/ns/net')).ino)!.id)).toBe(`pod:${UID}`);
  });

  it('calls a socket that is there but does not answer CRI unavailable, not absent', async () => {
    const sock = path.join(root, 'dead.sock');
    const net = await import('node:net');
    const srv = net.createServer((c) => c.destroy());
    await new Promise<void>((r) => srv.listen(sock, r));
    const map = new PodMap({ addressKey: () => null });
    const r = new WorkloadResolver({ map, now: () => 1, criSocket: sock, procRoot: root, intervalMs: 60_000, callTimeoutMs: 1000 });
    await r.start();
    const st = r.status();
    await r.stop();
    srv.close();
    expect(st.state).toBe('fallback');
    expect(st.error).toMatch(/^CRI Version: /);
    expect(st.message).toContain(`${sock}, from --cri-socket`);
  });
});
