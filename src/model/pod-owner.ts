// The workload a pod belongs to — the owner an operator recognises — derived
// from what the runtime knows of a pod: its name and its labels. Kubernetes
// controllers leave their mark on both, so no API server is needed:
//   Job          label job-name (batch.kubernetes.io/job-name since 1.27)
//   StatefulSet  label statefulset.kubernetes.io/pod-name; name <set>-<ordinal>
//   DaemonSet    labels controller-revision-hash + pod-template-generation; name <set>-<5 random>
//   Deployment   label pod-template-hash H; name <deployment>-H-<5 random> (the ReplicaSet is
//                <deployment>-H). Long names are cut: a generated name keeps at most 58
//                characters of its base before the 5 random ones, so H may be cut short.
//   Pod          none of these: the pod is its own workload
// The first rule that matches wins (a Job's pods carry no pod-template-hash,
// but a StatefulSet's carry controller-revision-hash like a DaemonSet's).

export type WorkloadKind = 'Deployment' | 'DaemonSet' | 'StatefulSet' | 'Job' | 'Pod';

export interface Workload {
  kind: WorkloadKind;
  name: string;
}

export interface PodIdentity {
  name: string;
  labels: Record<string, string>;
}

interface Rule {
  kind: WorkloadKind;
  /** The workload's name, or null when the pod does not carry this kind's marks. */
  match(pod: PodIdentity): string | null;
}

const RANDOM_SUFFIX = /^(.+)-[a-z0-9]{5}$/;
/** A generated name keeps this much of its base (63 - 5 random characters). */
const MAX_GENERATED_BASE = 58;

function deployment(pod: PodIdentity): string | null {
  const hash = pod.labels['pod-template-hash'];
  if (!hash) return null;
  const m = RANDOM_SUFFIX.exec(pod.name);
  if (!m) return null;
  const base = m[1]!; // <deployment>-<hash>, possibly cut
  if (base.endsWith(`-${hash}`) && base.length > hash.length + 1) return base.slice(0, -(hash.length + 1));
  // A base cut at 58 characters (from `<deployment>-<hash>-`): it ends with the
  // start of `-<hash>`, at least the dash and one character of the hash.
  if (pod.name.length - 6 >= MAX_GENERATED_BASE - 1) {
    for (let keep = hash.length; keep >= 1; keep--) {
      const tail = `-${hash.slice(0, keep)}`;
      if (base.endsWith(tail) && base.length > tail.length) return base.slice(0, -tail.length);
    }
  }
  return null;
}

const RULES: Rule[] = [
  {
    kind: 'Job',
    match: (p) => p.labels['batch.kubernetes.io/job-name'] || p.labels['job-name'] || null,
  },
  {
    kind: 'StatefulSet',
    match: (p) => {
      if (p.labels['statefulset.kubernetes.io/pod-name'] !== p.name) return null;
      const m = /^(.+)-\d+$/.exec(p.name);
      return m ? m[1]! : null;
    },
  },
  {
    kind: 'DaemonSet',
    match: (p) => {
      if (!p.labels['controller-revision-hash'] || !p.labels['pod-template-generation']) return null;
      const m = RANDOM_SUFFIX.exec(p.name);
      return m ? m[1]! : null;
    },
  },
  { kind: 'Deployment', match: deployment },
];

export function workloadOf(pod: PodIdentity): Workload {
  for (const rule of RULES) {
    const name = rule.match(pod);
    if (name) return { kind: rule.kind, name };
  }
  return { kind: 'Pod', name: pod.name };
}
