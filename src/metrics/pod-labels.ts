// Labels that let a dashboard show "top pods" without a join: a per-key
// series whose key is a pod, a workload, a Kubernetes namespace, or a pod's
// address carries `namespace`, `pod` and `workload` (KIND/NAME) where known.

import type { Dimension } from '../model/keys.js';
import { NO_POD, podKey, type PodEntry, type PodMap } from '../model/pod-map.js';

export type PodLabels = (by: Dimension, key: string) => Record<string, string>;

function labelsOf(p: PodEntry): Record<string, string> {
  if (!p.name) return { pod: `pod:${p.uid}` };
  return { namespace: p.namespace, pod: p.name, workload: `${p.workload.kind}/${p.workload.name}` };
}

/** One labeller per exposition (the pods indexed once). */
export function podLabeller(map: PodMap): PodLabels {
  if (map.empty) return () => ({});
  let byKey: Map<string, PodEntry> | null = null;
  let byIp: Map<string, PodEntry> | null = null;
  const index = () => {
    if (byKey) return;
    byKey = new Map();
    byIp = new Map();
    // deleted first, so a live pod wins a reused address
    for (const p of [...map.deleted(), ...map.live()]) {
      byKey.set(podKey(p), p);
      if (!p.hostNetwork) for (const ip of p.ips) byIp.set(ip, p);
    }
  };
  return (by, key) => {
    if (key === NO_POD) return {};
    index();
    switch (by) {
      case 'pod': {
        const p = byKey!.get(key);
        return p ? labelsOf(p) : {};
      }
      case 'workload': {
        const i = key.indexOf('/');
        return i > 0 ? { namespace: key.slice(0, i), workload: key.slice(i + 1) } : {};
      }
      case 'k8s_namespace':
        return { namespace: key };
      case 'src':
      case 'dst': {
        const p = byIp!.get(key);
        return p ? labelsOf(p) : {};
      }
      default:
        return {};
    }
  };
}
