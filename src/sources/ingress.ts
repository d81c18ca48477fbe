// IngressSource: the netdev ingress arrival counter (bpf/ingress.bpf.c via
// the addon's IngressCounter) on every interface the --ingress specs match,
// in ctscope's own namespace and in those named under /run/netns.
//
// Interfaces are rescanned every scanMs (default 500 ms), so one that appears
// is attached within a second; one that vanishes (or comes back under a new
// ifindex) is forgotten. The kernel maps are drained every intervalMs into
// the ArrivalsModel; no record per packet crosses to JavaScript.
//
// stop() detaches everything: tcx links are closed and our legacy clsact
// filters deleted, with the clsact qdisc when ctscope created it and no
// filter is left on it (one that was there before stays). A
// kill -9 leaves no tcx link (they are file descriptors); a legacy filter it
// leaves is removed by the next start on that interface.

import fs from 'node:fs';
import path from 'node:path';

import { bpfObjectPath, loadAddon } from '../native/addon.js';
import { effectiveCapabilities, lackPhrase, REQUIRES } from '../privileges.js';
import { moduleBtfPresent } from './lifecycle-hooks.js';
import type { ArrivalsModel } from '../model/arrivals.js';
import { UserError } from '../errors.js';
import type { RecordSink, SourceState, SourceStatus } from '../records/sink.js';
import type { Source } from './source.js';
import { parseIngressSpecs, type IngressSpec } from './ingress-spec.js';
import type { IngressAttachment, IngressCollected, IngressCounterClass, IngressCounterHandle, IngressHook, IngressObjectNames, IngressStats } from '../native/surface.js';
import { INGRESS_NAMES } from '../native/objects.generated.js';

export type { IngressAttachment, IngressCollected, IngressCounterClass, IngressCounterHandle, IngressHook, IngressStats };

export function ingressCounterClass(): IngressCounterClass {
  return loadAddon().IngressCounter;
}

export const INGRESS_OBJECT = bpfObjectPath('ingress');

const M = INGRESS_NAMES.maps;
/** ingress.bpf.o's programs (one per way of telling a new UDP flow) and maps (two generations of each counting map), by the names its BTF has. */
export const INGRESS_OBJECT_NAMES: IngressObjectNames = {
  programs: { ct: INGRESS_NAMES.programs.cts_ingress_ct, lru: INGRESS_NAMES.programs.cts_ingress_lru },
  maps: { ctl: M.ctl, stats: M.stats, udpSeen: M.udp_seen, src: [M.src0, M.src1], port: [M.port0, M.port1], pair: [M.pair0, M.pair1] },
};

export interface IngressProbe {
  ok: boolean;
  /** The hook 'auto' attaches with on this kernel. */
  hook: 'tcx' | 'tc-clsact' | null;
  /** How "first packet of a UDP flow" is judged. */
  udpNewBy: 'conntrack lookup' | 'recent-tuple LRU' | null;
  why?: string;
}

/** For `ctscope doctor`: loads the ingress program (attaching nothing) and reports what it would use. */
export function probeIngress(object = INGRESS_OBJECT): IngressProbe {
  let c: IngressCounterHandle | null = null;
  try {
    if (!fs.existsSync(object)) return { ok: false, hook: null, udpNewBy: null, why: `${object} is not built (run 'make -s bpf')` };
    c = new (ingressCounterClass())({ object, ...INGRESS_OBJECT_NAMES });
    const info = c.info();
    return { ok: true, hook: info.tcx ? 'tcx' : 'tc-clsact', udpNewBy: info.variant === 'ct' ? 'conntrack lookup' : 'recent-tuple LRU' };
  } catch (e) {
    const msg = (e as Error).message;
    const lack = /EPERM|not permitted/.test(msg) ? lackPhrase(REQUIRES.networkProgram) : null;
    if (lack) return { ok: false, hook: null, udpNewBy: null, why: `EPERM: ${lack} (tc programs need CAP_BPF and CAP_NET_ADMIN, or CAP_SYS_ADMIN)` };
    // Measured on Debian's 6.1: the conntrack lookup kfunc lives in the
    // nf_conntrack module, whose BTF libbpf finds only with CAP_SYS_ADMIN.
    const modular = moduleBtfPresent() && !effectiveCapabilities().has('CAP_SYS_ADMIN');
    return { ok: false, hook: null, udpNewBy: null, why: modular ? `${msg} (nf_conntrack is a module here, and its BTF can only be found with CAP_SYS_ADMIN, which this process lacks)` : msg };
  } finally {
    c?.close();
  }
}

export interface IngressSourceOptions {
  /** Parsed specs, or the --ingress text. */
  specs: IngressSpec[] | string;
  arrivals: ArrivalsModel;
  hook?: IngressHook;
  /** 'ct': judge UDP "first packet" by conntrack lookup (kfunc); 'lru': recent tuples; default auto. */
  variant?: 'auto' | 'ct' | 'lru';
  /** Drain period (default 1000 ms). */
  intervalMs?: number;
  /** Interface rescan period (default 500 ms; at most 1000 so new ones attach within 1 s). */
  scanMs?: number;
  object?: string;
  runNetnsDir?: string;
  /** Called with each drain, after the ArrivalsModel took it (metrics, tests). */
  onCollect?: (c: IngressCollected) => void;
  /** The addon's IngressCounter (default); unit tests pass a fake. */
  counterClass?: IngressCounterClass;
}

interface Wanted {
  nsName: string | null;
  nsPath: string | null;
  ifname: string;
  ifindex: number;
}

const RETRY_MS = 10_000;

function keyOf(nsName: string | null, ifname: string): string {
  return `${nsName ?? ''}/${ifname}`;
}

export class IngressSource implements Source {
  readonly name = 'ingress';
  private readonly specs: IngressSpec[];
  private readonly opts: IngressSourceOptions;
  private counter: IngressCounterHandle | null = null;
  private state: SourceState = 'stopped';
  private detail: string | undefined;
  private readonly attached = new Map<string, IngressAttachment & { nsName: string | null }>();
  private readonly failures = new Map<string, { at: number; message: string }>();
  private scanTimer: NodeJS.Timeout | null = null;
  private collectTimer: NodeJS.Timeout | null = null;
  private collecting: Promise<void> | null = null;
  private last: IngressStats | null = null;
  private staleRemoved = 0;
  private arrivalsCounted = 0;
  private variant: string | null = null;
  private lastError: string | null = null;

  constructor(opts: IngressSourceOptions) {
    this.opts = opts;
    this.specs = typeof opts.specs === 'string' ? parseIngressSpecs(opts.specs) : opts.specs;
  }

  async start(_sink?: RecordSink): Promise<void> {
    if (this.counter) return;
    this.state = 'starting';
    const Counter = this.opts.counterClass ?? ingressCounterClass();
    const object = this.opts.object ?? INGRESS_OBJECT;
    if (!this.opts.counterClass && !fs.existsSync(object)) {
      this.state = 'failed';
      this.detail = `${object} is not built (run 'make -s bpf')`;
      throw new UserError(`ingress: ${this.detail}`);
    }
    try {
      this.counter = new Counter({ object, variant: this.opts.variant ?? 'auto', ...INGRESS_OBJECT_NAMES });
    } catch (e) {
      this.state = 'failed';
      this.detail = (e as Error).message;
      throw e;
    }
    this.variant = this.counter.info().variant;
    this.scan();
    this.state = 'running';
    const scanMs = Math.min(this.opts.scanMs ?? 500, 1000);
    this.scanTimer = setInterval(() => this.scan(), scanMs);
    this.scanTimer.unref();
    this.collectTimer = setInterval(() => void this.collectOnce(), this.opts.intervalMs ?? 1000);
    this.collectTimer.unref();
  }

  /** Drains the kernel maps into the ArrivalsModel now (also done every intervalMs). */
  collectOnce(): Promise<void> {
    if (this.collecting) return this.collecting;
    const c = this.counter;
    if (!c) return Promise.resolve();
    this.collecting = c
      .collect()
      .then((got) => {
        const s = got.stats;
        const p = this.last ?? { packets: 0, tcpSyn: 0, udpNew: 0, srcOverflow: 0, portOverflow: 0, pairOverflow: 0, ctErrors: 0, unparsed: 0 };
        this.last = s;
        this.opts.arrivals.add({
          src: got.src,
          ports: got.ports,
          pairs: got.pairs,
          tcpSyn: s.tcpSyn - p.tcpSyn,
          udpNew: s.udpNew - p.udpNew,
          srcOverflow: s.srcOverflow - p.srcOverflow,
          portOverflow: s.portOverflow - p.portOverflow,
          pairOverflow: s.pairOverflow - p.pairOverflow,
        });
        this.arrivalsCounted = s.tcpSyn + s.udpNew;
        this.lastError = null;
        this.opts.onCollect?.(got);
      })
      .catch((e: Error) => {
        this.lastError = `collect: ${e.message}`;
      })
      .finally(() => {
        this.collecting = null;
      });
    return this.collecting;
  }

  /** What the specs match now, across namespaces. */
  private wanted(): Wanted[] {
    const Counter = this.opts.counterClass ?? ingressCounterClass();
    const out: Wanted[] = [];
    const hostSpecs = this.specs.filter((s) => s.netns === null);
    if (hostSpecs.length) {
      for (const i of Counter.listInterfaces(null)) {
        if (hostSpecs.some((s) => s.iface.test(i.name))) out.push({ nsName: null, nsPath: null, ifname: i.name, ifindex: i.ifindex });
      }
    }
    const nsSpecs = this.specs.filter((s) => s.netns !== null);
    if (nsSpecs.length) {
      const dir = this.opts.runNetnsDir ?? '/run/netns';
      let names: string[] = [];
      try {
        names = fs.readdirSync(dir).sort();
      } catch {
        /* no named namespaces yet */
      }
      for (const ns of names) {
        const specs = nsSpecs.filter((s) => s.netns!.test(ns));
        if (!specs.length) continue;
        const nsPath = path.join(dir, ns);
        let ifs: Array<{ name: string; ifindex: number }>;
        try {
          ifs = Counter.listInterfaces(nsPath);
        } catch {
          continue; // being created (not yet a namespace mount) or just deleted
        }
        for (const i of ifs) {
          if (specs.some((s) => s.iface.test(i.name))) out.push({ nsName: ns, nsPath, ifname: i.name, ifindex: i.ifindex });
        }
      }
    }
    return out;
  }

  /** Attaches to new matches, forgets vanished ones. */
  scan(): void {
    const c = this.counter;
    if (!c) return;
    let wanted: Wanted[];
    try {
      wanted = this.wanted();
    } catch (e) {
      this.lastError = `interface scan: ${(e as Error).message}`;
      return;
    }
    const seen = new Set<string>();
    for (const w of wanted) {
      const k = keyOf(w.nsName, w.ifname);
      seen.add(k);
      const cur = this.attached.get(k);
      if (cur && cur.ifindex === w.ifindex) continue;
      if (cur) this.forget(k); // same name, new device
      const failed = this.failures.get(k);
      if (failed && Date.now() - failed.at < RETRY_MS) continue;
      try {
        const r = c.attach(w.nsPath, w.ifname, this.opts.hook ?? 'auto');
        this.staleRemoved += r.staleRemoved;
        this.attached.set(k, { id: r.id, netns: w.nsPath, nsName: w.nsName, ifname: w.ifname, ifindex: r.ifindex, hook: r.hook });
        this.failures.delete(k);
      } catch (e) {
        this.failures.set(k, { at: Date.now(), message: (e as Error).message });
      }
    }
    for (const k of [...this.attached.keys()]) if (!seen.has(k)) this.forget(k);
    for (const k of [...this.failures.keys()]) if (!seen.has(k)) this.failures.delete(k);
  }

  private forget(k: string): void {
    const a = this.attached.get(k);
    this.attached.delete(k);
    if (!a || !this.counter) return;
    try {
      this.counter.detach(a.id);
    } catch {
      /* the device (or its namespace) is gone, and our filter with it */
    }
  }

  async stop(): Promise<void> {
    if (this.scanTimer) clearInterval(this.scanTimer);
    if (this.collectTimer) clearInterval(this.collectTimer);
    this.scanTimer = this.collectTimer = null;
    if (!this.counter) return;
    if (this.collecting) await this.collecting;
    // What arrived since the last drain.
    await this.collectOnce();
    const errors = this.counter.close();
    this.counter = null;
    this.attached.clear();
    this.state = 'stopped';
    this.detail = errors.length ? `detach failed: ${errors.join('; ')}` : undefined;
  }

  attachments(): Array<IngressAttachment & { nsName: string | null }> {
    return [...this.attached.values()];
  }

  /** Interfaces that matched but could not be attached, with why. */
  attachFailures(): Array<{ iface: string; message: string }> {
    return [...this.failures].map(([iface, f]) => ({ iface, message: f.message }));
  }

  status(): SourceStatus & {
    interfaces: Array<{ netns: string | null; ifname: string; ifindex: number; hook: string }>;
    overflow: { src: number; dport: number; pair: number };
    udp_new_by: string | null;
    stale_filters_removed: number;
  } {
    const hooks = new Set([...this.attached.values()].map((a) => a.hook));
    const s = this.last;
    const overflow = { src: s?.srcOverflow ?? 0, dport: s?.portOverflow ?? 0, pair: s?.pairOverflow ?? 0 };
    const parts: string[] = [];
    if (this.counter) {
      parts.push(this.attached.size ? `attached to ${[...this.attached.keys()].map((k) => (k.startsWith('/') ? k.slice(1) : k)).join(', ')}` : `no interface matches ${this.specs.map((x) => x.text).join(',')} yet`);
    }
    if (overflow.src || overflow.dport || overflow.pair) parts.push(`arrivals not attributed (map full): src ${overflow.src}, dport ${overflow.dport}, src+port ${overflow.pair}`);
    for (const f of this.attachFailures()) parts.push(`${f.iface}: ${f.message}`);
    if (this.lastError) parts.push(this.lastError);
    if (this.detail) parts.push(this.detail);
    const degraded = this.state === 'running' && (this.failures.size > 0 || this.lastError !== null);
    return {
      name: this.name,
      state: degraded ? 'degraded' : this.state,
      hook: hooks.size ? [...hooks].sort().join('+') : null,
      detail: parts.length ? parts.join('; ') : undefined,
      records: this.arrivalsCounted,
      lost: { total: 0 },
      interfaces: [...this.attached.values()].map((a) => ({ netns: a.nsName, ifname: a.ifname, ifindex: a.ifindex, hook: a.hook })),
      overflow,
      udp_new_by: this.variant === 'ct' ? 'conntrack lookup' : this.variant === 'lru' ? 'recent-tuple LRU' : null,
      stale_filters_removed: this.staleRemoved,
    };
  }
}
