// A pod's network namespace is named after the pod (NAMESPACE/POD), wherever
// namespaces are named by inode: rankings by netns, table accounts.

import { podKey, type PodMap } from '../model/pod-map.js';

/** `names` (the sources' host / run-netns name / pid:N) with pods' namespaces named after their pods. */
export function withPodNames(names: ReadonlyMap<number, string>, map: PodMap): Map<number, string> {
  const out = new Map(names);
  if (map.empty) return out;
  for (const p of map.live()) if (p.netns && !p.hostNetwork) out.set(p.netns, podKey(p));
  return out;
}
