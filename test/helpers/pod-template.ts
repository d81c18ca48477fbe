// A DaemonSet's pod template as kubelet hands it to the container runtime:
// the pod's sandbox (host network, host PID, labels) and its container
// (image, args after the image's entrypoint, capabilities, read-only root, the
// user, no_new_privs from allowPrivilegeEscalation: false, seccomp, /proc
// masked as kubelet masks it, and each volume mount with its propagation), for
// test/helpers/containerd.ts. Only what ctscope's manifest uses is
// translated; anything else in the template is an error here, not silently
// dropped.

import crypto from 'node:crypto';
import { KUBELET_MASKED_PATHS, KUBELET_READONLY_PATHS, type ContainerSpec, type MountPropagation, type PodSpec } from './containerd.js';

/** Where a volume is on the node: its hostPath, or the folder kubelet would have written a Secret to. */
export type VolumeSource = (volume: { name: string; hostPath?: { path: string }; secret?: { secretName: string } }) => string;

const PROPAGATION: Record<string, MountPropagation> = {
  None: 'PROPAGATION_PRIVATE',
  HostToContainer: 'PROPAGATION_HOST_TO_CONTAINER',
  Bidirectional: 'PROPAGATION_BIDIRECTIONAL',
};

/** A DaemonSet pod's name: the set's name and five random characters, as the controller makes them. */
function podName(set: string): string {
  return `${set}-${crypto.randomBytes(4).toString('hex').slice(0, 5)}`;
}

export function criFromDaemonSet(ds: any, container: string, volumeSource: VolumeSource): { pod: PodSpec; container: ContainerSpec } {
  const spec = ds.spec.template.spec;
  const c = (spec.containers as any[]).find((x) => x.name === container);
  if (!c) throw new Error(`no container ${container} in the DaemonSet`);
  const sc = c.securityContext ?? {};
  const volumes = new Map<string, any>((spec.volumes ?? []).map((v: any) => [v.name, v]));
  const mounts = (c.volumeMounts ?? []).map((m: any) => {
    const v = volumes.get(m.name);
    if (!v) throw new Error(`volumeMount ${m.name} has no volume`);
    const propagation = PROPAGATION[m.mountPropagation ?? 'None'];
    if (!propagation) throw new Error(`mountPropagation ${m.mountPropagation}`);
    return { hostPath: volumeSource(v), containerPath: m.mountPath, readOnly: m.readOnly ?? false, propagation };
  });
  if (sc.seccompProfile && !['RuntimeDefault', 'Unconfined'].includes(sc.seccompProfile.type)) throw new Error(`seccompProfile ${sc.seccompProfile.type}`);
  const privileged = sc.privileged ?? false;
  return {
    pod: {
      name: podName(ds.metadata.name),
      namespace: ds.metadata.namespace,
      labels: ds.spec.template.metadata?.labels ?? {},
      hostNetwork: spec.hostNetwork ?? false,
      hostPid: spec.hostPID ?? false,
    },
    container: {
      name: c.name,
      image: c.image,
      // no `command`: the image's entrypoint runs with the manifest's args
      command: c.command ?? [],
      args: c.args ?? [],
      env: Object.fromEntries((c.env ?? []).map((e: any) => [e.name, e.value])),
      mounts,
      capAdd: sc.capabilities?.add ?? [],
      capDrop: sc.capabilities?.drop ?? [],
      privileged,
      readOnlyRoot: sc.readOnlyRootFilesystem ?? false,
      ...(sc.runAsUser !== undefined ? { runAsUser: sc.runAsUser } : {}),
      ...(sc.runAsGroup !== undefined ? { runAsGroup: sc.runAsGroup } : {}),
      noNewPrivs: sc.allowPrivilegeEscalation === false,
      ...(sc.seccompProfile ? { seccomp: sc.seccompProfile.type } : {}),
      ...(privileged ? {} : { maskedPaths: KUBELET_MASKED_PATHS, readonlyPaths: KUBELET_READONLY_PATHS }),
    },
  };
}
