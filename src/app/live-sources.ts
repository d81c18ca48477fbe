// The live feed: the kernel-facing sources and the /proc poller, started
// together for `ctscope run` and `ctscope record`.
//
// Each source starts on its own: one the kernel refuses keeps its reason
// (state 'failed' / 'unavailable') instead of stopping the others, and what
// the chosen hooks cannot see is reported as blind spots in /v1/status. The
// lifecycle capabilities take the eBPF hooks this kernel allows; whatever
// falls back to ctnetlink is served by the netlink source, which also names
// the namespaces the /proc poller reads.

import fs from 'node:fs';
import os from 'node:os';
import { DelayTap, writeDelayMetrics, type DelayHistogram } from '../metrics/delay.js';
import type { Exposition } from '../metrics/exposition.js';
import { readEnvironment } from '../advice/environment.js';
import type { Model } from '../model/model.js';
import { boottimeNs } from '../native/addon.js';
import { ProcPoller } from '../proc/poller.js';
import type { Staleness } from '../proc/read-plan.js';
import type { RecordSink, SourceStatus } from '../records/sink.js';
import { DropSource } from '../sources/bpf-drops.js';
import { LifecycleSource, type HookMode } from '../sources/lifecycle.js';
import { NetlinkSource } from '../sources/netlink.js';
import { loadNetlinkFilter, type NetlinkFilter } from '../sources/netlink-filter.js';
import { CpuBudget } from '../sources/cpu-budget.js';
import { renderSamplingMetrics, type SamplingStatus } from '../metrics/sampling.js';
import { scanNamespaces } from '../sources/netns.js';
import type { Source } from '../sources/source.js';
import { lostTotal, turn, type Delivery, type Feed, type FeedStatus } from './feed.js';
import { createIngress, type IngressWiring } from './ingress-wiring.js';
import { PodMap, textAddressKeys } from '../model/pod-map.js';
import { WorkloadResolver } from '../workloads/resolver.js';
import { withPodNames } from '../workloads/netns-names.js';
import { enterNetns } from '../workloads/stale-command.js';

type Capability = NonNullable<FeedStatus['capabilities']>[number];
/** The /proc poller as a source: also its bound per tick and how old its readings may be. */
type ProcSourceStatus = SourceStatus & { readings: Staleness & { late_ticks: number } };

export interface LiveOptions {
  /** auto (default): the first hook this kernel allows per capability; or force one mode. */
  hooks?: HookMode;
  /** /proc polling period (default 1000 ms). */
  procIntervalMs?: number;
  /** Turn on nf_conntrack_acct/timestamp in followed namespaces (opt-in: ctscope changes no sysctl unasked). */
  enableAccounting?: boolean;
  /** --ingress SPEC[,SPEC] and --ingress-hook: count new-flow arrivals before conntrack. */
  ingress?: { spec: string; hook?: string };
  /** --max-cpu: the daemon's CPU budget in cores (0.5: half of one); 0 or absent: none. */
  maxCpu?: number;
  /** --cri-socket: the runtime's CRI socket (default: the first of CRI_SOCKETS that answers). */
  criSocket?: string;
  /** Pod polling period (default 1000 ms; 5000 where only /proc answers). */
  podIntervalMs?: number;
  /** --netlink-datagrams: ctnetlink events as datagrams parsed by the reader, not decoded in the kernel. */
  netlinkDatagrams?: boolean;
}

export class LiveSources implements Feed {
  readonly lifecycle: LifecycleSource;
  readonly drops = new DropSource();
  netlink: NetlinkSource | null = null;
  /** The ctnetlink sockets' filter (exact counts; sampling under the budget), when the kernel allows it. */
  filter: NetlinkFilter | null = null;
  budget: CpuBudget | null = null;
  private filterError: string | null = null;
  private model: Model | null = null;
  private ingress: IngressWiring | null = null;
  private poller: ProcPoller | null = null;
  /** The node's pods (src/workloads): polled here, delivered as changes to the model and the recorder. */
  readonly pods = new PodMap({ addressKey: textAddressKeys() });
  private resolver: WorkloadResolver | null = null;
  /** Per source, the delay of its records to the model (ctscope_record_delay_seconds). */
  readonly delays = new Map<string, DelayHistogram>();
  private readonly btf = fs.existsSync('/sys/kernel/btf/vmlinux');

  constructor(private readonly opts: LiveOptions = {}) {
    this.lifecycle = new LifecycleSource({ hooks: opts.hooks ?? 'auto' });
  }

  attach(model: Model | null): void {
    this.model = model;
    // Bad --ingress values fail here, before anything is attached.
    if (this.opts.ingress) this.ingress = createIngress({ spec: this.opts.ingress.spec, hook: this.opts.ingress.hook, ...(model ? { model } : {}) });
  }

  /** Stops starting sources once `signal` is aborted (the caller stops what started). */
  async start(to: Delivery, signal?: AbortSignal): Promise<void> {
    // Pods first: the sources' first dump is then attributed to them.
    this.resolver = new WorkloadResolver({
      map: this.pods,
      now: boottimeNs,
      ...(this.opts.criSocket ? { criSocket: this.opts.criSocket } : {}),
      ...(this.opts.podIntervalMs ? { intervalMs: this.opts.podIntervalMs } : {}),
      onChange: (change, ts) => to.pods({ ts, full: false, ...change }),
    });
    await this.resolver.start();
    const tap = (name: string): RecordSink => {
      const t = new DelayTap(to, boottimeNs);
      this.delays.set(name, t.histogram);
      return t;
    };
    // Each source's failure is its status (state and reason), not an exception.
    // The lifecycle source first: what it cannot hook decides whether ctnetlink is needed.
    const stopAsked = async () => {
      if (!signal) return false;
      await turn();
      return signal.aborted;
    };
    await this.lifecycle.start(tap(this.lifecycle.name)).catch(() => undefined);
    if (await stopAsked()) return;
    if (this.opts.hooks === 'netlink' || this.lifecycle.netlinkCapabilities().length > 0) {
      // The event sockets' filter: exact event counts, and sampling under a
      // CPU budget. Without it (a kernel that refuses socket programs) every
      // event is received, as before, and no budget can be kept.
      try {
        this.filter = loadNetlinkFilter();
      } catch (e) {
        this.filterError = (e as Error).message;
      }
      const filter = this.filter;
      this.netlink = new NetlinkSource({
        ...(this.opts.enableAccounting ? { enableAccounting: true } : {}),
        ...(filter ? { filter } : {}),
        // Events decoded in the kernel into a ring per reader (the same
        // counts and sampling), unless asked for datagrams (--netlink-datagrams).
        ...(filter && !this.opts.netlinkDatagrams ? { decoder: () => filter.decoder() } : {}),
      });
      await this.netlink.start(tap(this.netlink.name)).catch(() => undefined);
      if (await stopAsked()) return;
      if (this.filter && this.opts.maxCpu) this.startBudget(this.opts.maxCpu, to);
    }
    await this.drops.start(tap(this.drops.name)).catch(() => undefined);
    if (await stopAsked()) return;
    if (this.ingress) await this.ingress.source.start(tap(this.ingress.source.name)).catch(() => undefined);
    if (await stopAsked()) return;
    this.poller = new ProcPoller({
      intervalMs: this.opts.procIntervalMs ?? 1000,
      namespaces: () => this.namespacePaths(),
      names: () => this.netnsNames(),
      onSnapshot: (s) => to.proc(s),
      onVanish: (netns, atNs) => to.vanish(netns, atNs),
    });
    this.poller.start();
  }

  async stop(): Promise<void> {
    this.poller?.stop();
    this.budget?.stop();
    // Every source detaches even when another one fails to.
    for (const s of this.sources()) await s.stop().catch(() => undefined);
    // the CRI client and its poll, started first (a failed start-up too)
    await this.resolver?.stop().catch(() => undefined);
    this.filter?.close();
    this.filter = null;
  }

  private startBudget(maxCpu: number, to: Delivery): void {
    const filter = this.filter!;
    this.budget = new CpuBudget({
      maxCpu,
      events: () => {
        const c = filter.counts();
        const kept = c.new.kept + c.update.kept + c.destroy.kept;
        return { kept, total: kept + c.new.refused + c.update.refused + c.destroy.refused };
      },
      apply: (shift) => filter.configure(shift, false),
      onChange: (shift) => {
        // The model stops following what the filter now refuses; the
        // recorder writes the change, so that a replay says it too.
        to.sampling(boottimeNs(), shift);
        // Back to every entry: list the tables again, so the entries that
        // were refused while sampling are followed from now on.
        if (shift === 0) this.netlink?.resyncAll();
      },
    });
    this.budget.start();
  }

  /** The CPU budget and the filter's exact counts (/v1/status `sampling`, /metrics). */
  sampling(): SamplingStatus {
    const c = this.filter?.counts();
    const b = this.budget;
    return {
      max_cpu: b ? b.maxCpu : null,
      one_in: b ? 2 ** b.shift : 1,
      cpu: b ? Math.round(b.lastCpu * 1000) / 1000 : 0,
      sampled_seconds: b ? Math.round(b.sampledSeconds) : 0,
      changes: b ? b.changes : 0,
      events: c ? { new: c.new.kept + c.new.refused, update: c.update.kept + c.update.refused, destroy: c.destroy.kept + c.destroy.refused } : null,
      refused: c ? { new: c.new.refused, update: c.update.refused, destroy: c.destroy.refused } : null,
      ...(this.filterError ? { detail: `no ctnetlink filter: ${this.filterError}` } : {}),
      ...(this.model ? { sampled_out_entries: this.model.sampling.sampledOut } : {}),
    };
  }

  status(): FeedStatus {
    const sources = this.sourceStatus();
    return {
      mode: 'live',
      kernel: { release: os.release(), btf: this.btf },
      sources,
      capabilities: this.capabilities(),
      blind_spots: this.blindSpots(),
      ...(this.resolver ? { workloads: this.resolver.status() } : {}),
      lost: { total: lostTotal(sources) },
      ...(this.netlink ? { sampling: this.sampling() } : {}),
    };
  }

  api() {
    const ingress = this.ingress;
    return {
      environment: () => readEnvironment(),
      netnsNames: () => withPodNames(this.netnsNames(), this.pods),
      enterNetns: (ino: number) => enterNetns(this.netnsNames().get(ino), ino === this.poller?.host()?.netns),
      // the model's clock is CLOCK_BOOTTIME: Unix time is that plus (now - boot time now)
      clock: () => ({ epochOffsetNs: Date.now() * 1e6 - boottimeNs(), final: false }),
      ...(ingress ? { arrivals: ingress.arrivals } : {}),
    };
  }

  writeMetrics(e: Exposition): void {
    writeDelayMetrics(e, this.delays);
    if (this.netlink) renderSamplingMetrics(e, this.sampling());
    if (this.ingress) e.raw(this.ingress.metrics());
  }

  dropReasonName(reason: number): string {
    return this.drops.reasons()[reason] ?? String(reason);
  }

  clock(): number {
    return boottimeNs();
  }

  /** Every source's status, the /proc poller's included, with its delay to the model. */
  sourceStatus(): SourceStatus[] {
    const out = this.sources().map((s) => s.status());
    const p = this.poller;
    if (p) {
      const r = p.staleness();
      const proc: ProcSourceStatus = {
        name: 'proc',
        state: p.lastError ? 'degraded' : 'running',
        hook: '/proc/sys/net/netfilter',
        detail: p.lastError ?? readingsDetail(r, p.lateTicks),
        records: 0,
        lost: { total: 0 },
        readings: { ...r, late_ticks: p.lateTicks },
      };
      out.push(proc);
    }
    for (const s of out) {
      const h = this.delays.get(s.name);
      if (h && h.count > 0) s.delay_p99_s = h.quantileBound(0.99);
    }
    return out;
  }

  private sources(): Source[] {
    return [this.lifecycle, ...(this.netlink ? [this.netlink] : []), this.drops, ...(this.ingress ? [this.ingress.source] : [])];
  }

  /** Namespaces the poller reads besides the host one: those ctnetlink follows, else a scan. */
  private namespacePaths(): Map<number, string> {
    const out = new Map<number, string>();
    if (this.netlink) {
      for (const n of this.netlink.followed()) if (n.path) out.set(n.inode, n.path);
      return out;
    }
    try {
      for (const n of scanNamespaces({ processes: false }).values()) if (n.path) out.set(n.inode, n.path);
    } catch {
      /* /run/netns unreadable: the host namespace only */
    }
    return out;
  }

  /** Namespace names as the sources know them (host, /run/netns name, pid:N), by inode. */
  private netnsNames(): Map<number, string> {
    if (this.netlink) return new Map(this.netlink.followed().map((n) => [n.inode, n.name]));
    try {
      return new Map([...scanNamespaces({ processes: false }).values()].map((n) => [n.inode, n.name]));
    } catch {
      return new Map();
    }
  }

  /** Per capability: the hook in use and what was refused (the doctor's view, as started). */
  private capabilities(): Capability[] {
    const strip = (t: { hook: string; result: string }) => ({ hook: t.hook, result: t.result });
    const out: Capability[] = this.lifecycle.capabilities().map((c) => ({ capability: c.capability, chosen: c.chosen, tried: c.tried.map(strip) }));
    const d = this.drops.status();
    const ok = d.state === 'running' || d.state === 'degraded';
    out.push({ capability: 'drops', chosen: ok ? d.hook : null, tried: [{ hook: 'tp_btf:kfree_skb', result: ok ? 'attached' : (d.detail ?? d.state) }] });
    return out;
  }

  private blindSpots(): string[] {
    const out = this.lifecycle.blindSpots();
    // eBPF hooks see births and deaths, not the state changes in between
    // (ctnetlink UPDATE events do, but carry other entry ids).
    if (!this.netlink && this.lifecycle.capabilities().some((c) => c.programs.length > 0)) {
      out.push('state changes between allocation and destroy: occupancy by state shows the state at allocation (run with --hooks netlink for live states)');
    }
    const d = this.drops.status();
    if (d.state !== 'running' && d.state !== 'degraded') out.push(`drops: netfilter drops are only counted by /proc/net/stat/nf_conntrack (${d.detail ?? d.state})`);
    return out;
  }
}

/** The /proc poller's bound and how old its readings may be, in a sentence. */
function readingsDetail(r: Staleness, lateTicks: number): string {
  const age = (s: number | null) => (s === null ? 'not read yet' : `at most ${s} s old`);
  return (
    `reads ${r.namespaces} namespace(s), the host and at most ${r.per_tick} others a tick (each every ${r.cycle_ticks} tick(s)): counts ${age(r.count_age_max_s)}, ` +
    `timeouts and buckets re-read every ${r.timeouts_every_s} s (${age(r.timeouts_age_max_s)})` +
    (r.unread ? `; ${r.unread} not read yet` : '') +
    (lateTicks ? `; ${lateTicks} tick(s) skipped while a read was still out` : '')
  );
}
