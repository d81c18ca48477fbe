// A real containerd (Debian's, with its built-in CRI plugin) for kernel-tier
// tests, driven through the CRI v1 API the way kubelet drives it. Everything
// it makes is its own: a root, state and socket under one folder, a CNI
// config whose bridge and IPAM store are named from the test's prefix, and —
// by default — a network namespace of its own standing in for the node, so no
// other runtime, bridge or address of the machine is touched.
//
// API
//   containerdTier(): Tier                  can this machine run it (root, containerd, runc, CNI plugins, busybox-static)
//   const node = await Containerd.start(prefix, { subnet?, hostNetwork?, cgroups? })
//       prefix        [a-z][a-z0-9]{0,7}: names everything (folder /var/tmp/ctscope-cri-PREFIX,
//                     node netns PREFIX-node, bridge PREFIX0, CNI network ctscope-PREFIX)
//       subnet        N of the pods' 10.78.N.0/24 (default: from the prefix)
//       hostNetwork   run containerd (hence the bridge and host-network pods) in the machine's own
//                     network namespace instead of PREFIX-node
//       A stale run of the same prefix (a crashed test) is removed first. The sandbox image
//       (static busybox sleeping, tagged registry.k8s.io/pause:3.6 and ctscope.test/busybox:1)
//       is built and imported before start() returns.
//   node.socket, node.netns (null with hostNetwork), node.bridge, node.gateway, node.cidr
//   node.cri                                a CriClient: node.cri.call('AnyRuntimeServiceMethod', req)
//   await node.importImage(archive)         an OCI/docker archive (`ctr -n k8s.io images import`)
//   const pod = await node.runPod({ name, namespace, uid?, labels?, annotations?, hostNetwork?, hostPid? })
//       RunPodSandbox + PodSandboxStatus(verbose): { id, name, namespace, uid, ip, pid, netnsInode, cgroupParent, config }.
//       The cgroup parent is kubelet's cgroupfs one, /kubepods/besteffort/pod<uid>.
//   const c = await node.runContainer(pod, { name, image?, command, args?, env?, mounts?,
//                                            capAdd?, capDrop?, privileged?, readOnlyRoot?, runAsUser?,
//                                            runAsGroup?, noNewPrivs?, seccomp?, maskedPaths?, readonlyPaths? })
//       CreateContainer + StartContainer, host network/PID as its pod; returns { id, pid }.
//   await node.containerStatus(id)          CRI ContainerStatus (state, exit code, reason)
//   await node.podExec(pod, argv)           a command of this machine run inside the pod's network namespace
//   await node.nodeExec(argv)               a command in the node's network namespace
//   await node.removePod(pod)               StopPodSandbox + RemovePodSandbox (what kubelet does on delete)
//   await node.killRuntime() / restartRuntime()   SIGKILL containerd (pods keep running) / start it again
//   await node.stop()                       removes every pod, image, mount, process, bridge, netns, cgroup
//                                           and file it made (also after a failed test or a killed runtime)
//
// Facts this relies on (measured on this project's Debian 12 machines): containerd
// must be entered into the node namespace with nsenter (`ip netns exec` remounts
// /sys and runc then finds no cgroup mount); the sandbox's runc init fails unless
// restrict_oom_score_adj and disable_apparmor are set; Debian's CNI plugins are in
// /usr/lib/cni.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { CriClient } from '../../src/workloads/cri/client.js';
import type { ExecResult, Tier } from './lab.js';
import { BUSYBOX, BUSYBOX_IMAGE, buildOciArchive, busyboxImageSpec } from './oci-image.js';

const run = promisify(execFile);

const CNI_BIN = '/usr/lib/cni';
const K8S_NS = 'k8s.io'; // the containerd namespace the CRI plugin uses

function has(cmd: string): boolean {
  try {
    return fs.statSync(cmd).isFile();
  } catch {
    return false;
  }
}

function which(cmd: string): string | null {
  for (const d of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':')) if (has(path.join(d, cmd))) return path.join(d, cmd);
  return null;
}

/** Can this machine run a containerd for tests? */
export function containerdTier(): Tier {
  if (process.getuid?.() !== 0) return { ok: false, kind: 'machine', why: 'containerd tests need root (run: sudo npm test)' };
  for (const t of ['containerd', 'ctr', 'runc', 'nsenter', 'ip', 'tar']) {
    if (!which(t)) return { ok: false, kind: 'setup', why: `${t} is not installed (scripts/setup.sh --test installs containerd, runc, containernetworking-plugins)` };
  }
  for (const p of ['bridge', 'host-local', 'loopback']) {
    if (!has(path.join(CNI_BIN, p))) return { ok: false, kind: 'setup', why: `CNI plugin ${CNI_BIN}/${p} missing (apt-get install containernetworking-plugins)` };
  }
  if (!has(BUSYBOX)) return { ok: false, kind: 'setup', why: `${BUSYBOX} missing (apt-get install busybox-static): the sandbox image is built from it` };
  return { ok: true };
}

export interface PodSpec {
  name: string;
  namespace: string;
  /** Default: a random UUID, as the API server makes. */
  uid?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /** The node's network namespace (no CNI, no pod IP). */
  hostNetwork?: boolean;
  /** The node's PID namespace. */
  hostPid?: boolean;
}

export interface Pod {
  id: string;
  name: string;
  namespace: string;
  uid: string;
  /** The CNI address; null for a host-network pod. */
  ip: string | null;
  /** The sandbox (pause) process, in this machine's PID namespace. */
  pid: number;
  /** Inode of the pod's network namespace (what conntrack records carry). */
  netnsInode: number;
  cgroupParent: string;
  /** The PodSandboxConfig it was run with (CreateContainer needs it again). */
  config: Record<string, unknown>;
}

export interface ContainerSpec {
  name: string;
  /** Default: ctscope.test/busybox:1. */
  image?: string;
  command: string[];
  args?: string[];
  env?: Record<string, string>;
  mounts?: Array<{ hostPath: string; containerPath: string; readOnly?: boolean; propagation?: MountPropagation }>;
  /** Capability names, with or without CAP_ (NET_ADMIN, CAP_BPF). */
  capAdd?: string[];
  capDrop?: string[];
  privileged?: boolean;
  readOnlyRoot?: boolean;
  /** runAsUser / runAsGroup (default: the image's user). */
  runAsUser?: number;
  runAsGroup?: number;
  /** allowPrivilegeEscalation: false. */
  noNewPrivs?: boolean;
  /** seccompProfile.type (default: none given, the runtime's choice). */
  seccomp?: 'RuntimeDefault' | 'Unconfined';
  /** What kubelet masks and makes read-only in /proc and /sys (KUBELET_MASKED_PATHS, KUBELET_READONLY_PATHS). */
  maskedPaths?: string[];
  readonlyPaths?: string[];
}

/** Kubernetes' mountPropagation as CRI names it. */
export type MountPropagation = 'PROPAGATION_PRIVATE' | 'PROPAGATION_HOST_TO_CONTAINER' | 'PROPAGATION_BIDIRECTIONAL';

/** kubelet's defaults for a container that is not privileged (procMount: Default). */
export const KUBELET_MASKED_PATHS = [
  '/proc/asound', '/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
  '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware', '/sys/devices/virtual/powercap',
];
export const KUBELET_READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

export interface Container {
  id: string;
  pid: number;
}

const capName = (c: string): string => c.toUpperCase().replace(/^CAP_/, '');

function hashSubnet(prefix: string): number {
  let h = 7;
  for (const ch of prefix) h = (h * 31 + ch.charCodeAt(0)) % 250;
  return h + 1;
}

/**
 * Processes of a run in `dir`: containerd (its config), its shims (`-address` our
 * socket) and containers (their root is under `dir`). A test's own processes that
 * merely name the socket (a daemon with --cri-socket) are not ours to kill here.
 */
function processesUnder(dir: string): number[] {
  const marks = [`${dir}/config.toml`, `-address\0${dir}/state/containerd.sock\0`];
  const pids: number[] = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${e}/cmdline`, 'utf8');
      let root = '';
      try {
        root = fs.readlinkSync(`/proc/${e}/root`);
      } catch {
        /* kernel thread or gone */
      }
      if (marks.some((m) => cmd.includes(m)) || root.startsWith(`${dir}/`)) pids.push(Number(e));
    } catch {
      /* exited meanwhile */
    }
  }
  return pids;
}

/** Listening unix sockets of a process (shims listen on /run/containerd/s/<hash>, outside our folder). */
function unixSocketsOf(pid: number): string[] {
  const inodes = new Set<string>();
  try {
    for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
      const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    }
  } catch {
    return [];
  }
  const paths: string[] = [];
  for (const line of fs.readFileSync('/proc/net/unix', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 8 && inodes.has(f[6]!) && f[7]!.startsWith('/')) paths.push(f[7]!);
  }
  return paths;
}

function mountsUnder(dir: string): string[] {
  const out: string[] = [];
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const mp = line.split(' ')[4];
    // mountinfo escapes spaces as \040; our paths have none
    if (mp && (mp === dir || mp.startsWith(`${dir}/`))) out.push(mp);
  }
  return out.sort((a, b) => b.length - a.length); // deepest first
}

function cgroupRoots(): string[] {
  const roots: string[] = [];
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [pre, post] = line.split(' - ');
    const fstype = post?.split(' ')[0];
    if (fstype === 'cgroup' || fstype === 'cgroup2') roots.push(pre!.split(' ')[4]!);
  }
  return roots;
}

/** rmdir a cgroup folder and its (empty) children, deepest first; a busy one is left. */
function removeCgroupTree(p: string): void {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(p, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) if (e.isDirectory()) removeCgroupTree(path.join(p, e.name));
  try {
    fs.rmdirSync(p);
  } catch {
    /* busy (another test's pod) or gone */
  }
}

export class Containerd {
  readonly dir: string;
  readonly socket: string;
  /** The node's network namespace under /run/netns (null: the machine's own). */
  readonly netns: string | null;
  readonly bridge: string;
  readonly network: string;
  readonly subnet: number;
  readonly cidr: string;
  readonly gateway: string;
  cri: CriClient;
  private proc: ChildProcess | null = null;
  private log: fs.WriteStream | null = null;
  private readonly pods = new Map<string, Pod>();
  private readonly cgroupsMade = new Set<string>();
  /** Machine-wide folders containerd and libcni create if absent: removed again when empty. */
  private readonly sharedDirs = ['/run/containerd/s', '/run/containerd', '/var/lib/cni/results', '/var/lib/cni'].filter((d) => !fs.existsSync(d));

  private constructor(
    readonly prefix: string,
    opts: { subnet?: number; hostNetwork?: boolean },
  ) {
    if (!/^[a-z][a-z0-9]{0,7}$/.test(prefix)) throw new Error(`containerd prefix must be [a-z][a-z0-9]{0,7}: ${prefix}`);
    this.dir = `/var/tmp/ctscope-cri-${prefix}`;
    this.socket = `${this.dir}/state/containerd.sock`;
    this.netns = opts.hostNetwork ? null : `${prefix}-node`;
    this.bridge = `${prefix}0`;
    this.network = `ctscope-${prefix}`;
    this.subnet = opts.subnet ?? hashSubnet(prefix);
    if (!Number.isInteger(this.subnet) || this.subnet < 1 || this.subnet > 254) throw new Error(`subnet must be 1..254: ${this.subnet}`);
    this.cidr = `10.78.${this.subnet}.0/24`;
    this.gateway = `10.78.${this.subnet}.1`;
    this.cri = new CriClient(this.socket, 60_000);
  }

  /** Start containerd for `prefix` (see the API at the top of this file). */
  static async start(prefix: string, opts: { subnet?: number; hostNetwork?: boolean } = {}): Promise<Containerd> {
    const node = new Containerd(prefix, opts);
    await node.cleanup(); // a crashed run of the same prefix
    try {
      fs.mkdirSync(`${node.dir}/cni`, { recursive: true });
      fs.mkdirSync(`${node.dir}/logs`, { recursive: true });
      fs.writeFileSync(`${node.dir}/config.toml`, node.config());
      fs.writeFileSync(`${node.dir}/cni/10-${node.network}.conflist`, node.cniConfig());
      if (node.netns) {
        await run('ip', ['netns', 'add', node.netns]);
        await run('ip', ['-n', node.netns, 'link', 'set', 'lo', 'up']);
      }
      const archive = `${node.dir}/busybox-image.tar`;
      await Promise.all([buildOciArchive(busyboxImageSpec(), archive, `${node.dir}/image-work`), node.startRuntime()]);
      await node.importImage(archive);
    } catch (e) {
      await node.stop();
      throw e;
    }
    return node;
  }

  private config(): string {
    const d = this.dir;
    // version 2 of containerd 1.6's config; everything that would default to a
    // machine-wide path (root, state, sockets, runc's root, netns mounts) is ours.
    return `version = 2
root = "${d}/root"
state = "${d}/state"
[grpc]
  address = "${this.socket}"
[ttrpc]
  address = "${this.socket}.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.6"
  # without these two the sandbox's runc init fails on this VM ("can't get final child's PID from pipe")
  restrict_oom_score_adj = true
  disable_apparmor = true
  # pods' network namespaces under our state folder, not /run/netns
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "${CNI_BIN}"
    conf_dir = "${d}/cni"
    max_conf_num = 1
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        Root = "${d}/state/runc"
`;
  }

  private cniConfig(): string {
    return JSON.stringify({
      cniVersion: '0.4.0',
      name: this.network,
      plugins: [
        {
          type: 'bridge',
          bridge: this.bridge,
          isGateway: true,
          ipMasq: false,
          hairpinMode: true,
          // a default route through the node, as a cluster's pod network gives (Services are reached through it)
          ipam: { type: 'host-local', ranges: [[{ subnet: this.cidr, gateway: this.gateway }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: `${this.dir}/ipam` },
        },
        { type: 'loopback' },
      ],
    });
  }

  /** Start (or restart) the containerd process; resolves when its CRI answers. */
  private async startRuntime(): Promise<void> {
    this.log = fs.createWriteStream(`${this.dir}/containerd.log`, { flags: 'a' });
    const argv = ['containerd', '--config', `${this.dir}/config.toml`];
    // nsenter, not `ip netns exec`: that one remounts /sys and runc then finds no cgroups
    const cmd = this.netns ? ['nsenter', `--net=/run/netns/${this.netns}`, ...argv] : argv;
    const child = spawn(cmd[0]!, cmd.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.pipe(this.log);
    child.stderr!.pipe(this.log);
    this.proc = child;
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`containerd exited with ${child.exitCode}; see ${this.dir}/containerd.log`);
      if (fs.existsSync(this.socket)) {
        try {
          await this.cri.call('Version', { version: 'v1' }, 2_000);
          return;
        } catch {
          /* CRI plugin not up yet */
        }
      }
      if (Date.now() > deadline) throw new Error(`containerd's CRI did not answer within 30 s; see ${this.dir}/containerd.log`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** The log of containerd so far (for failure messages). */
  logTail(lines = 30): string {
    try {
      return fs.readFileSync(`${this.dir}/containerd.log`, 'utf8').trim().split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  }

  /** `ctr -n k8s.io images import` an archive (OCI image layout or docker save). */
  async importImage(archive: string): Promise<void> {
    await run('ctr', ['-a', this.socket, '-n', K8S_NS, 'images', 'import', archive], { timeout: 120_000 });
  }

  async runPod(spec: PodSpec): Promise<Pod> {
    const uid = spec.uid ?? crypto.randomUUID();
    // kubelet's cgroupfs layout: the fallback that reads /proc/PID/cgroup expects it
    const cgroupParent = `/kubepods/besteffort/pod${uid}`;
    this.cgroupsMade.add(cgroupParent);
    fs.appendFileSync(`${this.dir}/cgroups`, `${cgroupParent}\n`); // for the clean-up after a crash
    const config = {
      metadata: { name: spec.name, uid, namespace: spec.namespace, attempt: 0 },
      hostname: spec.hostNetwork ? '' : spec.name.slice(0, 63),
      log_directory: `${this.dir}/logs/${spec.namespace}_${spec.name}_${uid}`,
      labels: spec.labels ?? {},
      annotations: spec.annotations ?? {},
      linux: {
        cgroup_parent: cgroupParent,
        security_context: {
          namespace_options: { network: spec.hostNetwork ? 'NODE' : 'POD', pid: spec.hostPid ? 'NODE' : 'CONTAINER', ipc: 'POD' },
        },
      },
    };
    fs.mkdirSync(config.log_directory, { recursive: true });
    const { pod_sandbox_id: id } = await this.cri.call<{ pod_sandbox_id: string }>('RunPodSandbox', { config });
    const partial: Pod = { id, name: spec.name, namespace: spec.namespace, uid, ip: null, pid: 0, netnsInode: 0, cgroupParent, config };
    this.pods.set(id, partial);
    const st = await this.cri.podSandboxStatus(id, true);
    const info = JSON.parse(st.info.info ?? '{}') as { pid?: number };
    if (!info.pid) throw new Error(`PodSandboxStatus(${id}) gave no pid`);
    partial.pid = info.pid;
    partial.ip = st.status?.network?.ip || null;
    partial.netnsInode = fs.statSync(`/proc/${info.pid}/ns/net`).ino;
    return partial;
  }

  async runContainer(pod: Pod, spec: ContainerSpec): Promise<Container> {
    const hostNetwork = (pod.config as any).linux.security_context.namespace_options.network === 'NODE';
    const hostPid = (pod.config as any).linux.security_context.namespace_options.pid === 'NODE';
    const config = {
      metadata: { name: spec.name, attempt: 0 },
      image: { image: spec.image ?? BUSYBOX_IMAGE },
      command: spec.command,
      args: spec.args ?? [],
      envs: Object.entries(spec.env ?? {}).map(([key, value]) => ({ key, value })),
      mounts: (spec.mounts ?? []).map((m) => ({
        host_path: m.hostPath,
        container_path: m.containerPath,
        readonly: m.readOnly ?? false,
        propagation: m.propagation ?? 'PROPAGATION_PRIVATE',
      })),
      log_path: `${spec.name}/0.log`,
      linux: {
        security_context: {
          // CRI names them as Kubernetes does, without CAP_ (containerd adds it)
          capabilities: { add_capabilities: (spec.capAdd ?? []).map(capName), drop_capabilities: (spec.capDrop ?? []).map(capName) },
          privileged: spec.privileged ?? false,
          readonly_rootfs: spec.readOnlyRoot ?? false,
          ...(spec.runAsUser !== undefined ? { run_as_user: { value: spec.runAsUser } } : {}),
          ...(spec.runAsGroup !== undefined ? { run_as_group: { value: spec.runAsGroup } } : {}),
          no_new_privs: spec.noNewPrivs ?? false,
          ...(spec.seccomp ? { seccomp: { profile_type: spec.seccomp } } : {}),
          masked_paths: spec.maskedPaths ?? [],
          readonly_paths: spec.readonlyPaths ?? [],
          namespace_options: { network: hostNetwork ? 'NODE' : 'POD', pid: hostPid ? 'NODE' : 'CONTAINER', ipc: 'POD' },
        },
      },
    };
    const { container_id: id } = await this.cri.call<{ container_id: string }>('CreateContainer', {
      pod_sandbox_id: pod.id,
      config,
      sandbox_config: pod.config,
    });
    await this.cri.call('StartContainer', { container_id: id });
    const st = await this.cri.call<{ info: Record<string, string> }>('ContainerStatus', { container_id: id, verbose: true });
    const pid = (JSON.parse(st.info.info ?? '{}') as { pid?: number }).pid ?? 0;
    return { id, pid };
  }

  async containerStatus(id: string): Promise<{ state: string; exit_code: number; reason: string; message: string }> {
    const r = await this.cri.call<{ status: { state: string; exit_code: number; reason: string; message: string } }>('ContainerStatus', {
      container_id: id,
    });
    return r.status;
  }

  /** Run a command of this machine inside the pod's network namespace. */
  async podExec(pod: Pod, argv: string[], opts: { timeoutMs?: number; input?: string } = {}): Promise<ExecResult> {
    return this.exec(['nsenter', '-t', String(pod.pid), '-n', ...argv], opts);
  }

  /** Run a command in the node's network namespace. */
  async nodeExec(argv: string[], opts: { timeoutMs?: number; input?: string } = {}): Promise<ExecResult> {
    return this.exec(this.netns ? ['nsenter', `--net=/run/netns/${this.netns}`, ...argv] : argv, opts);
  }

  /** The node namespace's inode (the machine's own with hostNetwork). */
  nodeNetnsInode(): number {
    return fs.statSync(this.netns ? `/run/netns/${this.netns}` : '/proc/1/ns/net').ino;
  }

  private async exec(argv: string[], opts: { timeoutMs?: number; input?: string }): Promise<ExecResult> {
    const p = run(argv[0]!, argv.slice(1), { timeout: opts.timeoutMs ?? 60_000, maxBuffer: 64 * 1024 * 1024 });
    if (opts.input !== undefined) p.child.stdin?.end(opts.input);
    return p;
  }

  /** Delete a pod the way kubelet does: stop its sandbox (containers, network), then remove it. */
  async removePod(pod: Pod): Promise<void> {
    await this.cri.call('StopPodSandbox', { pod_sandbox_id: pod.id });
    await this.cri.call('RemovePodSandbox', { pod_sandbox_id: pod.id });
    this.pods.delete(pod.id);
  }

  /** kill -9 containerd; its pods keep running (shims are separate processes). */
  async killRuntime(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const done = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await done;
    this.proc = null;
  }

  /** Start containerd again after killRuntime() (same state: it finds its pods again). */
  async restartRuntime(): Promise<void> {
    if (this.proc) return;
    await this.startRuntime();
  }

  get runtimeRunning(): boolean {
    return this.proc !== null && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** Remove everything: pods through CRI where containerd answers, then by force what is left. */
  async stop(): Promise<void> {
    if (this.runtimeRunning) {
      for (const pod of [...this.pods.values()]) {
        await this.removePod(pod).catch(() => undefined);
      }
      const p = this.proc!;
      const done = new Promise((r) => p.once('exit', r));
      p.kill('SIGTERM');
      await Promise.race([done, new Promise((r) => setTimeout(r, 10_000))]);
    }
    this.proc?.kill('SIGKILL');
    this.proc = null;
    this.cri.close();
    this.log?.end();
    await this.cleanup();
  }

  /** What a run of this prefix may have left: processes, sockets, mounts, netns, bridge, cgroups, files. */
  private async cleanup(): Promise<void> {
    for (let round = 0; round < 3; round++) {
      const pids = processesUnder(this.dir);
      if (pids.length === 0) break;
      const sockets = pids.flatMap(unixSocketsOf).filter((s) => s.startsWith('/run/containerd/s/'));
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      await new Promise((r) => setTimeout(r, 200));
      for (const s of sockets) fs.rmSync(s, { force: true });
    }
    for (const mp of mountsUnder(this.dir)) await run('umount', ['-l', mp]).catch(() => undefined);
    // pods' cgroups: ours from this run, or (after a crash) any kubepods pod folder whose
    // processes are gone and that containerd of this folder had made
    const known = new Set(this.cgroupsMade);
    try {
      for (const l of fs.readFileSync(`${this.dir}/cgroups`, 'utf8').split('\n')) if (l) known.add(l);
    } catch {
      /* first run */
    }
    for (const root of cgroupRoots()) for (const cg of known) removeCgroupTree(path.join(root, cg));
    for (const root of cgroupRoots()) {
      for (const parent of ['/kubepods/besteffort', '/kubepods']) {
        try {
          fs.rmdirSync(path.join(root, parent));
        } catch {
          /* not empty (another test's pods) or absent */
        }
      }
    }
    // libcni's result cache of our network (CNI DEL removes them; a crash does not)
    try {
      for (const f of fs.readdirSync('/var/lib/cni/results')) if (f.startsWith(`${this.network}-`)) fs.rmSync(`/var/lib/cni/results/${f}`);
    } catch {
      /* none */
    }
    for (const d of this.sharedDirs) {
      try {
        fs.rmdirSync(d);
      } catch {
        /* in use by now, or absent */
      }
    }
    if (this.netns && fs.existsSync(`/run/netns/${this.netns}`)) await run('ip', ['netns', 'del', this.netns]).catch(() => undefined);
    if (!this.netns) await run('ip', ['link', 'del', this.bridge]).catch(() => undefined);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
