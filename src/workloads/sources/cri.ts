// Pods from the container runtime's CRI socket: ListPodSandbox for who is
// there, PodSandboxStatus(verbose) once per new sandbox for its addresses and
// its process (hence its network namespace). A sandbox's addresses and
// namespace do not change while it lives, so a poll of an unchanged node is
// one ListPodSandbox call.

import fs from 'node:fs';
import type { PodRecord } from '../../model/pod-map.js';
import { CriClient, type PodSandbox, type PodSandboxStatusResponse } from '../cri/client.js';
import type { PodSource } from './source.js';

interface Known {
  ips: string[];
  netns: number;
  hostNetwork: boolean;
}

/**
 * The network namespace inode of a sandbox from its verbose status: the
 * sandbox process's /proc/PID/ns/net (containerd and CRI-O both give `pid` in
 * info), else the namespace path of its runtime spec.
 */
export function netnsOfStatus(st: PodSandboxStatusResponse, statIno: (p: string) => number): number {
  let info: { pid?: number; runtimeSpec?: { linux?: { namespaces?: Array<{ type: string; path?: string }> } } } = {};
  try {
    info = JSON.parse(st.info.info ?? '{}');
  } catch {
    /* a runtime that puts something else there */
  }
  if (info.pid) {
    const ino = statIno(`/proc/${info.pid}/ns/net`);
    if (ino) return ino;
  }
  const p = info.runtimeSpec?.linux?.namespaces?.find((n) => n.type === 'network')?.path;
  return p ? statIno(p) : 0;
}

/** The addresses of a sandbox (its CNI address first). */
export function ipsOfStatus(st: PodSandboxStatusResponse): string[] {
  const n = st.status?.network;
  if (!n) return [];
  return [n.ip, ...(n.additional_ips ?? []).map((a) => a.ip)].filter((ip) => ip);
}

function statIno(p: string): number {
  try {
    return fs.statSync(p).ino;
  } catch {
    return 0;
  }
}

export class CriPodSource implements PodSource {
  readonly kind = 'cri' as const;
  private readonly known = new Map<string, Known>(); // by sandbox id

  constructor(readonly client: CriClient) {}

  async list(): Promise<PodRecord[]> {
    const items = await this.client.listPodSandbox();
    // A pod restarted by kubelet has an old NOTREADY sandbox beside the new one;
    // a stopped sandbox has given its address back: only ready ones count.
    const ready = items.filter((s): s is PodSandbox & { metadata: NonNullable<PodSandbox['metadata']> } => s.state === 'SANDBOX_READY' && !!s.metadata);
    const out: PodRecord[] = [];
    const live = new Set<string>();
    for (const s of ready) {
      live.add(s.id);
      let k = this.known.get(s.id);
      if (!k || (!k.netns && !k.hostNetwork)) {
        let st: PodSandboxStatusResponse;
        try {
          st = await this.client.podSandboxStatus(s.id, true);
        } catch (e) {
          // gone between the two calls: the next poll will not list it
          if ((e as { code?: string }).code === 'NOT_FOUND') continue;
          throw e;
        }
        const hostNetwork = st.status?.linux?.namespaces?.options?.network === 'NODE';
        k = { ips: hostNetwork ? [] : ipsOfStatus(st), netns: hostNetwork ? 0 : netnsOfStatus(st, statIno), hostNetwork };
        this.known.set(s.id, k);
      }
      out.push({
        uid: s.metadata.uid,
        name: s.metadata.name,
        namespace: s.metadata.namespace,
        labels: withoutRuntimeLabels(s.labels),
        ips: k.ips,
        netns: k.netns,
        hostNetwork: k.hostNetwork,
      });
    }
    for (const id of this.known.keys()) if (!live.has(id)) this.known.delete(id);
    return out;
  }

  close(): void {
    this.client.close();
  }
}

/** kubelet adds io.kubernetes.pod.{name,namespace,uid} to the pod's labels; they are the metadata again. */
function withoutRuntimeLabels(labels: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels)) if (!k.startsWith('io.kubernetes.pod.')) out[k] = v;
  return out;
}
