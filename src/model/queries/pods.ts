// Answers by pod, Kubernetes namespace and workload. The model counts one
// key per record and entry — its pod and how it was attributed (pod id * 4 +
// via, pod-attribution.ts) — and every question by one of the three sums
// those keys into its groups here: a pod is the sum of its ways of being
// found, a namespace or a workload the sum of its pods. A node runs a few
// hundred pods at most, well under the keys a heavy-hitter summary holds
// exactly per second, so the sums are exact whenever the summary is (the
// answer's error_bound, times the most keys summed into one group, bounds
// them otherwise).

import type { PodDimension } from '../keys.js';
import type { KeyCounter } from '../heavy.js';
import { ATTRIBUTION, NO_POD, VIA, type PodMap } from '../pod-map.js';

export interface PodGroup {
  /** Pod id, namespace id or workload id (0: no pod). */
  g: number;
  count: number;
  /** Counts by how the entries were attributed (index: VIA codes). */
  via: [number, number, number, number];
  /** The keys (pod * 4 + via) summed in. */
  codes: number[];
}

/** What every answer by pod, k8s_namespace or workload says about attribution. */
export const ATTRIBUTION_NOTE = ATTRIBUTION;

export class PodRollup {
  constructor(private readonly map: PodMap) {}

  /** The group of key `code` of the `pod` dimension. */
  groupOf(by: PodDimension, code: number): number {
    const pod = Math.floor(code / 4);
    if (by === 'pod' || pod === 0) return pod;
    return by === 'k8s_namespace' ? this.map.namespaceIdOf(pod) : this.map.workloadIdOf(pod);
  }

  /** Sum the keys of `counter` into groups, largest first. */
  group(by: PodDimension, counter: KeyCounter): PodGroup[] {
    const groups = new Map<number, PodGroup>();
    counter.forEach((code, n) => {
      const g = this.groupOf(by, code);
      let x = groups.get(g);
      if (!x) groups.set(g, (x = { g, count: 0, via: [0, 0, 0, 0], codes: [] }));
      x.count += n;
      x.via[code % 4]! += n;
      x.codes.push(code);
    });
    return [...groups.values()].sort((a, b) => b.count - a.count || a.g - b.g);
  }

  /** The most keys any group sums (the multiplier of the answer's error bound). */
  static widest(groups: PodGroup[]): number {
    return groups.reduce((m, x) => Math.max(m, x.codes.length), 1);
  }

  key(by: PodDimension, g: number): string {
    if (g === 0) return NO_POD;
    if (by === 'pod') return this.map.formatPod(g);
    return by === 'k8s_namespace' ? this.map.formatNamespace(g) : this.map.formatWorkload(g);
  }

  /** What an item adds: how its entries were found, and for a pod its namespace, workload and whether it is gone. */
  extras(by: PodDimension, x: PodGroup): Record<string, unknown> {
    const via = { src: x.via[VIA.src], reply_src: x.via[VIA.reply_src], netns: x.via[VIA.netns] };
    if (by !== 'pod' || x.g === 0) return { via };
    const p = this.map.get(x.g);
    if (!p) return { via };
    return {
      via,
      k8s_namespace: p.name ? p.namespace : null,
      workload: this.map.formatWorkload(p.workloadId),
      ...(p.goneNs !== null ? { deleted: true } : {}),
    };
  }
}
