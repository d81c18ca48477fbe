// Pods from /proc alone, for a node where no CRI socket answers: kubelet puts
// every pod's processes in a cgroup named after the pod's uid, under
// `kubepods` (cgroupfs driver: /kubepods/besteffort/pod<uid>/…; systemd
// driver: /kubepods.slice/…/kubepods-besteffort-pod<uid with _>.slice/…). A
// pod's processes share its network namespace (their /proc/PID/ns/net), whose
// addresses /proc/PID/net/fib_trie and if_inet6 list. Names, Kubernetes
// namespaces and labels are not in /proc: such pods are keyed `pod:UID`.

import fs from 'node:fs';
import path from 'node:path';
import { formatAddress } from '../../records/address.js';
import { AF_INET6 } from '../../records/layout.js';
import type { PodRecord } from '../../model/pod-map.js';
import type { PodSource } from './source.js';

const POD_UID = /kubepods[^\n]*?pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})/;

/** The pod uid in a /proc/PID/cgroup text, or null when the process is not a pod's. */
export function podUidFromCgroup(text: string): string | null {
  const m = POD_UID.exec(text);
  return m ? m[1]!.replace(/_/g, '-') : null;
}

/** Local IPv4 addresses of a namespace from its /proc/PID/net/fib_trie (loopback left out). */
export function addressesFromFibTrie(text: string): string[] {
  const out = new Set<string>();
  let last = '';
  for (const line of text.split('\n')) {
    const leaf = /\|-- (\d+\.\d+\.\d+\.\d+)$/.exec(line);
    if (leaf) last = leaf[1]!;
    else if (line.includes('/32 host LOCAL') && last && !last.startsWith('127.')) out.add(last);
  }
  return [...out];
}

/** Global IPv6 addresses from /proc/PID/net/if_inet6 (scope 00). */
export function addressesFromIfInet6(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 6 || f[3] !== '00' || !/^[0-9a-f]{32}$/.test(f[0]!)) continue;
    out.push(formatAddress(Buffer.from(f[0]!, 'hex'), 0, AF_INET6));
  }
  return out;
}

export class ProcPodSource implements PodSource {
  readonly kind = 'proc' as const;

  constructor(private readonly procRoot = '/proc') {}

  async list(): Promise<PodRecord[]> {
    const hostNetns = inode(path.join(this.procRoot, '1/ns/net'));
    const pods = new Map<string, { pid: number; netns: number }>();
    for (const e of fs.readdirSync(this.procRoot)) {
      if (!/^\d+$/.test(e)) continue;
      let uid: string | null;
      try {
        uid = podUidFromCgroup(fs.readFileSync(path.join(this.procRoot, e, 'cgroup'), 'utf8'));
      } catch {
        continue; // exited meanwhile
      }
      if (!uid || pods.has(uid)) continue;
      const netns = inode(path.join(this.procRoot, e, 'ns/net'));
      if (netns) pods.set(uid, { pid: Number(e), netns });
    }
    const out: PodRecord[] = [];
    for (const [uid, { pid, netns }] of pods) {
      const hostNetwork = netns === hostNetns;
      const ips = hostNetwork ? [] : this.addresses(pid);
      out.push({ uid, name: '', namespace: '', labels: {}, ips, netns: hostNetwork ? 0 : netns, hostNetwork });
    }
    return out;
  }

  private addresses(pid: number): string[] {
    const read = (f: string): string => {
      try {
        return fs.readFileSync(path.join(this.procRoot, String(pid), 'net', f), 'utf8');
      } catch {
        return '';
      }
    };
    return [...addressesFromFibTrie(read('fib_trie')), ...addressesFromIfInet6(read('if_inet6'))];
  }

  close(): void {}
}

function inode(p: string): number {
  try {
    return fs.statSync(p).ino;
  } catch {
    return 0;
  }
}
