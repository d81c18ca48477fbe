// Keeps the pod map current: every second asks the container runtime (CRI)
// which pods are on the node — kubelet relists as often; an unchanged node
// costs one ListPodSandbox call — or, where no runtime socket answers, reads
// them from /proc/PID/cgroup every 5 s, and hands what changed to the pod map and
// to whoever records it (a capture). A runtime that stops answering does not
// make pods disappear: the last answer is kept (and /proc fills in until it
// answers again), and /v1/status says so.

import fs from 'node:fs';
import type { PodChange, PodMap, PodRecord } from '../model/pod-map.js';
import type { CriPodSource } from './sources/cri.js';
import { ProcPodSource } from './sources/proc.js';
import type { PodSource } from './sources/source.js';

/** Where kubelet's runtimes listen, in the order they are tried. */
export const CRI_SOCKETS = ['/run/containerd/containerd.sock', '/run/crio/crio.sock'] as const;

export interface WorkloadStatus {
  /** Where the pod map comes from now. */
  source: 'cri' | 'proc' | 'none';
  /** running: the runtime answers; fallback: no runtime socket, /proc only; unavailable: the socket stopped answering. */
  state: 'running' | 'fallback' | 'unavailable' | 'off';
  socket: string | null;
  runtime: string | null;
  pods: number;
  deleted_pods: number;
  interval_s: number;
  last_poll_age_s: number | null;
  error: string | null;
  /** Each socket tried at the last connection attempt and what it said. */
  tried: Array<{ socket: string; result: string }>;
  /** One sentence for people (status line, doctor). */
  message: string;
}

export interface ResolverOptions {
  /** Read for names and counts; changed through `sync`. */
  map: PodMap;
  /** Replace the live pods (default map.sync; the model's syncPods re-attributes its entries too). */
  sync?: (pods: PodRecord[], nowNs: number) => PodChange;
  /** --cri-socket: only this socket is tried. */
  criSocket?: string;
  candidates?: readonly string[];
  /** Between polls of the runtime (default 1000 ms: kubelet relists its pods as often). */
  intervalMs?: number;
  /** Between /proc scans where no runtime answers (default 5000 ms: a scan reads every process). */
  procIntervalMs?: number;
  /** The model's clock (ns), for when pods came and went. */
  now: () => number;
  onChange?: (change: PodChange, nowNs: number) => void;
  procRoot?: string;
  callTimeoutMs?: number;
}

function isSocket(p: string): boolean {
  try {
    return fs.statSync(p).isSocket();
  } catch {
    return false;
  }
}

export class WorkloadResolver {
  private cri: CriPodSource | null = null;
  private readonly proc: PodSource;
  private runtime: string | null = null;
  /** The socket that last answered (named while it does not). */
  private lastSocket: string | null = null;
  private triedSockets: string[] = [];
  private triedResults: Array<{ socket: string; result: string }> = [];
  private lastError: string | null = null;
  private lastPollMs: number | null = null;
  private state: WorkloadStatus['state'] = 'off';
  private source: WorkloadStatus['source'] = 'none';
  private timer: NodeJS.Timeout | null = null;
  private polling: Promise<void> | null = null;
  private stopped = false;
  readonly intervalMs: number;
  readonly procIntervalMs: number;

  constructor(private readonly opts: ResolverOptions) {
    this.intervalMs = opts.intervalMs ?? 1000;
    this.procIntervalMs = opts.procIntervalMs ?? Math.max(5000, this.intervalMs);
    this.proc = new ProcPodSource(opts.procRoot);
  }

  /** First poll done (pods known) when this resolves; then every intervalMs. */
  async start(): Promise<void> {
    await this.poll();
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(
      () => {
        void this.poll().finally(() => this.schedule());
      },
      this.source === 'cri' ? this.intervalMs : this.procIntervalMs,
    );
    this.timer.unref();
  }

  /** One round (tests call it to avoid waiting). Never throws. */
  poll(): Promise<void> {
    if (!this.polling) this.polling = this.round().finally(() => (this.polling = null));
    return this.polling;
  }

  private async round(): Promise<void> {
    if (!this.cri) await this.connect();
    let pods: PodRecord[] | null = null;
    if (this.cri) {
      try {
        pods = await this.cri.list();
        this.state = 'running';
        this.source = 'cri';
        this.lastError = null;
      } catch (e) {
        this.lastError = (e as Error).message;
        this.state = 'unavailable';
        // A fresh client next round: grpc's own reconnection backs off up to
        // minutes, and a restarted runtime should be seen at the next poll.
        this.dropCri();
      }
    }
    if (!pods) {
      try {
        pods = this.withKnownNames(await this.proc.list());
        this.source = 'proc';
        if (this.state !== 'unavailable') this.state = 'fallback';
      } catch (e) {
        this.lastError = (e as Error).message;
        this.source = 'none';
        return;
      }
    }
    if (this.stopped) return;
    const now = this.opts.now();
    const change = this.opts.sync ? this.opts.sync(pods, now) : this.opts.map.sync(pods, now);
    this.lastPollMs = Date.now();
    if (change.upsert.length || change.remove.length) this.opts.onChange?.(change, now);
  }

  /** Pods /proc found that the runtime had named before keep their names. */
  private withKnownNames(pods: PodRecord[]): PodRecord[] {
    const byUid = new Map(this.opts.map.live().map((p) => [p.uid, p]));
    return pods.map((p) => {
      const k = byUid.get(p.uid);
      return k && k.name ? { ...p, name: k.name, namespace: k.namespace, labels: k.labels, ips: k.ips.length ? k.ips : p.ips } : p;
    });
  }

  private async connect(): Promise<void> {
    const sockets = this.opts.criSocket ? [this.opts.criSocket] : [...(this.opts.candidates ?? CRI_SOCKETS)];
    this.triedSockets = sockets;
    this.triedResults = [];
    for (const socket of sockets) {
      if (!isSocket(socket)) {
        this.triedResults.push({ socket, result: 'no socket there' });
        continue;
      }
      // gRPC and the .proto are loaded only where a runtime socket is there
      // (half a second of start-up a node without one does not pay)
      const [{ CriClient }, { CriPodSource }] = await Promise.all([import('./cri/client.js'), import('./sources/cri.js')]);
      const client = new CriClient(socket, this.opts.callTimeoutMs ?? 5000);
      try {
        const v = await client.version();
        this.runtime = `${v.runtime_name} ${v.runtime_version}`;
        this.cri = new CriPodSource(client);
        this.lastSocket = socket;
        this.triedResults.push({ socket, result: `${this.runtime} (CRI ${v.runtime_api_version})` });
        return;
      } catch (e) {
        this.lastError = (e as Error).message;
        this.triedResults.push({ socket, result: this.lastError });
        client.close();
      }
    }
  }

  private dropCri(): void {
    this.cri?.close();
    this.cri = null;
  }

  status(): WorkloadStatus {
    const socket = this.cri?.client.socket ?? this.lastSocket;
    const tried = this.triedSockets.join(', ');
    let message: string;
    switch (this.state) {
      case 'running':
        message = `pods from ${this.runtime} over CRI at ${socket}`;
        break;
      case 'unavailable':
        message = `the CRI socket ${socket} stopped answering (${this.lastError}); pods from /proc/PID/cgroup until it does, names seen before kept`;
        break;
      case 'fallback':
        message = `no CRI socket answered (${tried}${this.opts.criSocket ? ', from --cri-socket' : ''}); pods from /proc/PID/cgroup, by uid only`;
        break;
      default:
        message = 'pods not resolved yet';
    }
    return {
      source: this.source,
      state: this.state,
      socket,
      runtime: this.cri ? this.runtime : null,
      pods: this.opts.map.liveCount,
      deleted_pods: this.opts.map.goneCount,
      interval_s: (this.source === 'cri' ? this.intervalMs : this.procIntervalMs) / 1000,
      last_poll_age_s: this.lastPollMs === null ? null : (Date.now() - this.lastPollMs) / 1000,
      error: this.lastError,
      tried: this.triedResults,
      message,
    };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.polling;
    this.dropCri();
    this.proc.close();
  }
}
