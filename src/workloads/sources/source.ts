// Where the node's pods come from. Each source answers one question — which
// pods are on this node now — and is polled by the resolver (resolver.ts).

import type { PodRecord } from '../../model/pod-map.js';

export interface PodSource {
  /** `cri`: the runtime's CRI socket; `proc`: /proc/PID/cgroup (uids, namespaces and addresses only). */
  readonly kind: 'cri' | 'proc';
  /** Every pod on the node now; throws when the source cannot answer (the last map is then kept). */
  list(): Promise<PodRecord[]>;
  close(): void;
}
