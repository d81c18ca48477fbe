import { describe, expect, it } from 'vitest';
import { workloadOf, type Workload } from '../../src/model/pod-owner.js';

// Names and labels as the controllers make them (kube-controller-manager's
// naming: generateName bases cut at 58 characters, 5 random characters).
const cases: Array<{ what: string; name: string; labels: Record<string, string>; want: Workload }> = [
  {
    what: 'Deployment: <deployment>-<pod-template-hash>-<5>',
    name: 'coredns-5d78c9869d-x8lvb',
    labels: { 'k8s-app': 'kube-dns', 'pod-template-hash': '5d78c9869d' },
    want: { kind: 'Deployment', name: 'coredns' },
  },
  {
    what: 'Deployment whose name has dashes and digits',
    name: 'api-v2-canary-7c9b6f4d8-2mz9q',
    labels: { 'pod-template-hash': '7c9b6f4d8' },
    want: { kind: 'Deployment', name: 'api-v2-canary' },
  },
  {
    what: 'Deployment with a long name: the generated base is cut inside the hash',
    // base "<50-char deployment>-7f8d9c6b5b-" cut to 58 characters: "...-7f8d9c6"
    name: `${'a'.repeat(50)}-7f8d9c6-k2j4x`,
    labels: { 'pod-template-hash': '7f8d9c6b5b' },
    want: { kind: 'Deployment', name: 'a'.repeat(50) },
  },
  {
    what: 'Deployment with a long name cut one character into the hash',
    name: `${'b'.repeat(56)}-x-k2j4x`,
    labels: { 'pod-template-hash': 'x8f8d9c6b5' },
    want: { kind: 'Deployment', name: 'b'.repeat(56) },
  },
  {
    what: 'pod-template-hash but a name that does not carry it: not guessed',
    name: 'hand-made',
    labels: { 'pod-template-hash': '5d78c9869d' },
    want: { kind: 'Pod', name: 'hand-made' },
  },
  {
    what: 'a name shaped like a Deployment pod without the label: not guessed',
    name: 'web-5d78c9869d-x8lvb',
    labels: { app: 'web' },
    want: { kind: 'Pod', name: 'web-5d78c9869d-x8lvb' },
  },
  {
    what: 'DaemonSet: <daemonset>-<5>, revision and generation labels',
    name: 'kube-proxy-7xq2p',
    labels: { 'controller-revision-hash': '6c4b9b7d5f', 'k8s-app': 'kube-proxy', 'pod-template-generation': '1' },
    want: { kind: 'DaemonSet', name: 'kube-proxy' },
  },
  {
    what: 'StatefulSet: <statefulset>-<ordinal>',
    name: 'postgres-12',
    labels: {
      'controller-revision-hash': 'postgres-6b8f7c9d4',
      'statefulset.kubernetes.io/pod-name': 'postgres-12',
      'apps.kubernetes.io/pod-index': '12',
    },
    want: { kind: 'StatefulSet', name: 'postgres' },
  },
  {
    what: 'Job (labels of 1.27 and later)',
    name: 'migrate-db-4xk9z',
    labels: { 'batch.kubernetes.io/job-name': 'migrate-db', 'job-name': 'migrate-db', 'batch.kubernetes.io/controller-uid': 'u' },
    want: { kind: 'Job', name: 'migrate-db' },
  },
  {
    what: "Job (older label only); a CronJob's Job is the Job",
    name: 'backup-28391040-q8w2e',
    labels: { 'job-name': 'backup-28391040', 'controller-uid': 'u' },
    want: { kind: 'Job', name: 'backup-28391040' },
  },
  {
    what: 'a bare pod is its own workload',
    name: 'debug',
    labels: {},
    want: { kind: 'Pod', name: 'debug' },
  },
  {
    what: 'a static pod (mirror of a manifest) is its own workload',
    name: 'etcd-node-1',
    labels: { component: 'etcd', tier: 'control-plane' },
    want: { kind: 'Pod', name: 'etcd-node-1' },
  },
];

describe('workloadOf', () => {
  it.each(cases)('$what', ({ name, labels, want }) => {
    expect(workloadOf({ name, labels })).toEqual(want);
  });
});
