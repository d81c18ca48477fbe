// The node's pods as the model sees them: who owns an address or a network
// namespace right now, and who owned it before (pods deleted a while ago are
// kept, for stale entries and for the history windows that still count them).
//
// Every pod gets a small integer id for the life of the process; the model's
// `pod` dimension counts those ids, `k8s_namespace` and `workload` count
// interned ids of their strings, so ingest never builds a string. Id 0 is "no
// pod" in all three.
//
// Attribution of an entry, first match wins (the order is in every answer):
//   1. its original source address is a pod's      (the pod opened it: pod to Service)
//   2. its reply source address is a pod's          (traffic to a pod, DNAT'd or direct)
//   3. it lives in a pod's network namespace        (the pod's own table)
// Host-network pods own neither an address nor a namespace of their own.

import { workloadOf, type Workload } from './pod-owner.js';

/** A pod as a source reports it (and a capture stores it). */
export interface PodRecord {
  uid: string;
  /** Empty when only /proc/PID/cgroup knew of it (no runtime answered). */
  name: string;
  namespace: string;
  labels: Record<string, string>;
  ips: string[];
  /** Inode of its network namespace; 0 when unknown. */
  netns: number;
  hostNetwork: boolean;
}

export interface PodEntry extends PodRecord {
  id: number;
  workload: Workload;
  nsId: number;
  workloadId: number;
  /** Model clock (ns) when first seen / when it disappeared (null: alive). */
  seenNs: number;
  goneNs: number | null;
}

export interface PodChange {
  /** New pods, and pods whose addresses or namespace changed. */
  upsert: PodRecord[];
  /** Uids that disappeared. */
  remove: string[];
}

/** A change as a capture's PODS frame carries it (capture/pods-frame.ts). */
export interface PodsPayload extends PodChange {
  /** Boot-time ns of the change (the model's clock). */
  ts: number;
  /** The whole map: a replay replaces what it has. */
  full: boolean;
}

/** How an entry was attributed: the answer names it. */
export const VIA = { none: 0, src: 1, reply_src: 2, netns: 3 } as const;
export const VIA_NAMES = ['none', 'src', 'reply_src', 'netns'] as const;
export const ATTRIBUTION = 'original source address, else reply source address, else network namespace';

/** Dimension text of "no pod". */
export const NO_POD = '(no pod)';

class Interner {
  private readonly ids = new Map<string, number>();
  private readonly names: string[] = [NO_POD];
  id(s: string): number {
    let id = this.ids.get(s);
    if (id === undefined) {
      id = this.names.length;
      this.names.push(s);
      this.ids.set(s, id);
    }
    return id;
  }
  name(id: number): string {
    return this.names[id] ?? NO_POD;
  }
}

/** `NAMESPACE/POD`, or `pod:UID` for a pod known only from its cgroup. */
export function podKey(p: { name: string; namespace: string; uid: string }): string {
  return p.name ? `${p.namespace}/${p.name}` : `pod:${p.uid}`;
}

/** `NAMESPACE/KIND/NAME`. */
export function workloadKey(p: { namespace: string; workload: Workload }): string {
  return `${p.namespace}/${p.workload.kind}/${p.workload.name}`;
}

/**
 * Address keys for a map that is not the model's (the live feed's, which only
 * diffs polls): IPv4 as its u32, IPv6 numbered in order of appearance above 2^32.
 */
export function textAddressKeys(): (ip: string) => number | null {
  const v6 = new Map<string, number>();
  return (ip) => {
    const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
    if (m) return m.slice(1).reduce((a, x) => a * 256 + Number(x), 0);
    if (!ip.includes(':')) return null;
    let k = v6.get(ip);
    if (k === undefined) v6.set(ip, (k = 4294967296 + v6.size));
    return k;
  };
}

export interface PodMapOptions {
  /** The model's key of an address text (IPv4 u32, IPv6 interned); null when unusable. */
  addressKey: (ip: string) => number | null;
  /** How long a deleted pod is remembered (model clock, ns). Default 1 h. */
  retainNs?: number;
  /** At most this many deleted pods are remembered (oldest first out). Default 4096. */
  maxGone?: number;
}

export class PodMap {
  private readonly byUid = new Map<string, PodEntry>();
  private readonly byId: Array<PodEntry | undefined> = [undefined];
  private readonly byAddress = new Map<number, number>();
  private readonly byNetns = new Map<number, number>();
  /** Address key → id of the deleted pod that last held it (while no live pod does). */
  private readonly goneByAddress = new Map<number, number>();
  private readonly gone: PodEntry[] = []; // oldest first
  private readonly namespaces = new Interner();
  private readonly workloads = new Interner();
  private readonly retainNs: number;
  private readonly maxGone: number;
  /** Bumped on every change (answers and captures follow it). */
  version = 0;

  constructor(private readonly opts: PodMapOptions) {
    this.retainNs = opts.retainNs ?? 3600e9;
    this.maxGone = opts.maxGone ?? 4096;
  }

  /** Replace the live set with `pods` (one poll of a source); returns what changed. */
  sync(pods: PodRecord[], nowNs: number): PodChange {
    const change: PodChange = { upsert: [], remove: [] };
    const seen = new Set<string>();
    for (const p of pods) {
      seen.add(p.uid);
      const cur = this.byUid.get(p.uid);
      if (!cur || !samePod(cur, p)) change.upsert.push(p);
    }
    for (const uid of this.byUid.keys()) if (!seen.has(uid)) change.remove.push(uid);
    this.apply(change, nowNs);
    return change;
  }

  /** Apply a change (from a poll, or replayed from a capture). */
  apply(change: PodChange, nowNs: number): void {
    for (const uid of change.remove) this.removeLive(uid, nowNs);
    for (const p of change.upsert) this.upsert(p, nowNs);
    this.expire(nowNs);
    if (change.upsert.length || change.remove.length) this.version++;
  }

  private upsert(p: PodRecord, nowNs: number): void {
    const cur = this.byUid.get(p.uid);
    if (cur) this.unindex(cur);
    const workload = workloadOf(p);
    const e: PodEntry = {
      ...p,
      labels: { ...p.labels },
      ips: [...p.ips],
      id: cur?.id ?? this.byId.length,
      workload,
      nsId: this.namespaces.id(p.name ? p.namespace : '?'),
      workloadId: this.workloads.id(p.name ? workloadKey({ namespace: p.namespace, workload }) : `?/Pod/${p.uid}`),
      seenNs: cur?.seenNs ?? nowNs,
      goneNs: null,
    };
    if (!cur) this.byId.push(e);
    else this.byId[e.id] = e;
    this.byUid.set(p.uid, e);
    if (!p.hostNetwork) {
      for (const ip of p.ips) {
        const k = this.opts.addressKey(ip);
        if (k === null) continue;
        this.byAddress.set(k, e.id);
        this.goneByAddress.delete(k); // the address is someone's again: not stale
      }
      if (p.netns) this.byNetns.set(p.netns, e.id);
    }
  }

  private unindex(e: PodEntry): void {
    for (const ip of e.ips) {
      const k = this.opts.addressKey(ip);
      if (k !== null && this.byAddress.get(k) === e.id) this.byAddress.delete(k);
    }
    if (e.netns && this.byNetns.get(e.netns) === e.id) this.byNetns.delete(e.netns);
  }

  private removeLive(uid: string, nowNs: number): void {
    const e = this.byUid.get(uid);
    if (!e) return;
    this.byUid.delete(uid);
    this.unindex(e);
    e.goneNs = nowNs;
    if (!e.hostNetwork) {
      for (const ip of e.ips) {
        const k = this.opts.addressKey(ip);
        if (k !== null && !this.byAddress.has(k)) this.goneByAddress.set(k, e.id);
      }
    }
    this.gone.push(e);
  }

  private expire(nowNs: number): void {
    while (this.gone.length && (this.gone.length > this.maxGone || nowNs - this.gone[0]!.goneNs! > this.retainNs)) {
      const e = this.gone.shift()!;
      for (const ip of e.ips) {
        const k = this.opts.addressKey(ip);
        if (k !== null && this.goneByAddress.get(k) === e.id) this.goneByAddress.delete(k);
      }
      // A pod that came back under the same uid is live again: keep its slot.
      if (this.byId[e.id] === e) this.byId[e.id] = undefined;
    }
  }

  /**
   * The pod of an entry and how it was found: `pod * 4 + via` (VIA codes), 0
   * when no pod owns it. Address keys are the model's; -1 for "none".
   */
  attribute(srcKey: number, replySrcKey: number, netns: number): number {
    let id = this.byAddress.get(srcKey);
    if (id !== undefined) return id * 4 + VIA.src;
    id = this.byAddress.get(replySrcKey);
    if (id !== undefined) return id * 4 + VIA.reply_src;
    id = this.byNetns.get(netns);
    if (id !== undefined) return id * 4 + VIA.netns;
    return 0;
  }

  /** Whether any pod is known (ingest skips attribution when none is). */
  get empty(): boolean {
    return this.byUid.size === 0 && this.byId.length === 1;
  }

  get liveCount(): number {
    return this.byUid.size;
  }

  get goneCount(): number {
    return this.gone.length;
  }

  podOfAddress(key: number): PodEntry | undefined {
    const id = this.byAddress.get(key);
    return id === undefined ? undefined : this.byId[id];
  }

  podOfNetns(inode: number): PodEntry | undefined {
    const id = this.byNetns.get(inode);
    return id === undefined ? undefined : this.byId[id];
  }

  /** The deleted pod that last held this address, if no live pod holds it now. */
  gonePodOfAddress(key: number): PodEntry | undefined {
    const id = this.goneByAddress.get(key);
    return id === undefined ? undefined : this.byId[id];
  }

  get(id: number): PodEntry | undefined {
    return this.byId[id];
  }

  namespaceIdOf(id: number): number {
    return this.byId[id]?.nsId ?? 0;
  }

  workloadIdOf(id: number): number {
    return this.byId[id]?.workloadId ?? 0;
  }

  formatPod(id: number): string {
    const e = this.byId[id];
    return e ? podKey(e) : id === 0 ? NO_POD : `pod#${id}`;
  }

  formatNamespace(nsId: number): string {
    return this.namespaces.name(nsId);
  }

  formatWorkload(workloadId: number): string {
    return this.workloads.name(workloadId);
  }

  live(): PodEntry[] {
    return [...this.byUid.values()];
  }

  deleted(): PodEntry[] {
    return [...this.gone];
  }

  /** Every pod as a record (a capture's starting point). */
  records(): PodRecord[] {
    return this.live().map(toRecord);
  }
}

export function toRecord(e: PodRecord): PodRecord {
  return { uid: e.uid, name: e.name, namespace: e.namespace, labels: e.labels, ips: e.ips, netns: e.netns, hostNetwork: e.hostNetwork };
}

function samePod(a: PodRecord, b: PodRecord): boolean {
  if (a.name !== b.name || a.namespace !== b.namespace || a.netns !== b.netns || a.hostNetwork !== b.hostNetwork) return false;
  if (a.ips.length !== b.ips.length || a.ips.some((ip, i) => ip !== b.ips[i])) return false;
  const ka = Object.keys(a.labels);
  if (ka.length !== Object.keys(b.labels).length) return false;
  return ka.every((k) => a.labels[k] === b.labels[k]);
}
