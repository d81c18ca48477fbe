// The lifecycle source: ALLOC, TABLE_FULL, EVICT, CONFIRM, INSERT_FAILED and
// DESTROY records from bpf/lifecycle.bpf.c, with the hook of each capability
// chosen for this kernel (src/sources/lifecycle-hooks.ts). Capabilities no
// eBPF hook can serve are listed in `netlinkCapabilities()`: the daemon hands
// those to the ctnetlink source; what netlink cannot see either is reported
// in `blindSpots()` and in status().detail, never silently zero.

import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import type { RecordSink } from '../records/sink.js';
import { BpfRingSource, bpfObjectPath, isBpfLoadError } from './bpf-ring.js';
import {
  BLIND_SPOT,
  HOOK_MODES,
  NETLINK_HOOK,
  kernelHookProbe,
  planLifecycleHooks,
  plannedPrograms,
  type CapabilityChoice,
  type HookMode,
  type HookProbe,
  type LifecycleCapability,
} from './lifecycle-hooks.js';
import { UserError } from '../errors.js';
import { LIFECYCLE_NAMES } from '../native/objects.generated.js';

export type { CapabilityChoice, HookMode, LifecycleCapability } from './lifecycle-hooks.js';

/** Where the per-boot id key lives: /run is a tmpfs, emptied at boot. */
export const DEFAULT_ID_KEY_FILE = '/run/ctscope/id.key';

export interface LifecycleSourceOptions {
  /** 'auto' (default): fentry/fexit, else kprobe/kretprobe, else ctnetlink; or force one. */
  hooks?: HookMode;
  /** The compiled object (default bpf/.output/lifecycle.bpf.o). */
  object?: string;
  /** Reader drain period, 1..5 ms (default 2). */
  pollMs?: number;
  batchRecords?: number;
  /** Ring buffer size (power of two; default 8 MiB). */
  ringBytes?: number;
  /** 16-byte SipHash key of entry ids (default: per boot, from idKeyFile). */
  idKey?: Uint8Array;
  /** File keeping the per-boot key so ids survive a daemon restart (default /run/ctscope/id.key). */
  idKeyFile?: string;
  /** Hook checks (tests inject fakes; default: the running kernel). */
  probe?: HookProbe;
}

export class LifecycleSourceError extends UserError {
  constructor(
    message: string,
    readonly errno = 0,
  ) {
    super(message);
  }
}

const DEFAULT_RING_BYTES = 8 << 20;

/**
 * The per-boot key: read from `file`, or created there (0600). Falls back to
 * a fresh random key when the file cannot be written (ids then change when
 * the daemon restarts).
 */
export function perBootIdKey(file = DEFAULT_ID_KEY_FILE): Uint8Array {
  try {
    const k = fs.readFileSync(file);
    if (k.length === 16) return new Uint8Array(k);
  } catch {
    // not there yet
  }
  const key = crypto.randomBytes(16);
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    fs.writeFileSync(file, key, { mode: 0o600, flag: 'wx' });
  } catch (e) {
    // another process won the race: use its key
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') {
      const k = fs.readFileSync(file);
      if (k.length === 16) return new Uint8Array(k);
    }
  }
  return new Uint8Array(key);
}

export class LifecycleSource extends BpfRingSource {
  readonly name = 'lifecycle';
  private plan: CapabilityChoice[] = [];
  private attachFailures: string[] = [];
  private readonly opts: Required<Pick<LifecycleSourceOptions, 'hooks' | 'pollMs' | 'ringBytes'>> & LifecycleSourceOptions;

  constructor(opts: LifecycleSourceOptions = {}) {
    super();
    const hooks = opts.hooks ?? 'auto';
    if (!HOOK_MODES.includes(hooks)) throw new RangeError(`hooks must be one of ${HOOK_MODES.join(', ')}, got '${opts.hooks}'`);
    const pollMs = opts.pollMs ?? 2;
    if (!Number.isInteger(pollMs) || pollMs < 1 || pollMs > 5) throw new RangeError(`pollMs must be an integer 1..5, got ${opts.pollMs}`);
    const ringBytes = opts.ringBytes ?? DEFAULT_RING_BYTES;
    if (!Number.isInteger(ringBytes) || ringBytes < 4096 || (ringBytes & (ringBytes - 1)) !== 0) {
      throw new RangeError(`ringBytes must be a power of two >= 4096, got ${opts.ringBytes}`);
    }
    if (opts.idKey && opts.idKey.length !== 16) throw new RangeError(`idKey must be 16 bytes, got ${opts.idKey.length}`);
    this.opts = { ...opts, hooks, pollMs, ringBytes };
  }

  /** Per capability: the hook chosen and every refused candidate with its reason (after start()). */
  capabilities(): CapabilityChoice[] {
    return this.plan.map((c) => ({ ...c, tried: [...c.tried], programs: [...c.programs] }));
  }

  /** Capabilities the daemon must serve from ctnetlink (chosen === 'ctnetlink'). */
  netlinkCapabilities(): LifecycleCapability[] {
    return this.plan.filter((c) => c.chosen === NETLINK_HOOK).map((c) => c.capability as LifecycleCapability);
  }

  /** What nobody can see on this kernel, in words. */
  blindSpots(): string[] {
    const out: string[] = [];
    for (const c of this.plan) {
      if (c.chosen === null) out.push(`${c.capability}: ${BLIND_SPOT[c.capability as LifecycleCapability]}`);
      else if (c.chosen === NETLINK_HOOK) out.push(`${c.capability} (via ctnetlink): ${BLIND_SPOT[c.capability as LifecycleCapability]}`);
    }
    return out;
  }

  async start(sink: RecordSink): Promise<void> {
    if (this.ring) throw new Error('lifecycle source already started');
    this.state = 'starting';
    this.detail = undefined;
    const object = this.opts.object ?? bpfObjectPath('lifecycle');
    try {
      if (this.opts.hooks !== 'netlink' && !fs.existsSync(object)) {
        throw new LifecycleSourceError(`cannot load ${object}: not built; run 'npm run build' (make -s bpf)`, 2);
      }
      this.plan = planLifecycleHooks(this.opts.hooks, this.opts.probe ?? kernelHookProbe(object));
      const programs = plannedPrograms(this.plan);
      if (programs.length === 0) {
        this.state = 'unavailable';
        const blind = this.blindSpots();
        this.detail =
          (this.opts.hooks === 'netlink' ? 'hooks forced to netlink' : `no eBPF hook allowed here: ${this.refusals()}`) +
          (this.opts.hooks === 'netlink' ? '' : `; served by ctnetlink: ${this.netlinkCapabilities().join(', ') || 'nothing'}; cannot see: ${blind.join('; ')}`);
        return;
      }
      const res = this.open(sink, {
        object,
        programs,
        rodata: { [LIFECYCLE_NAMES.rodata.id_key]: this.opts.idKey ?? perBootIdKey(this.opts.idKeyFile), [LIFECYCLE_NAMES.rodata.wakeup_bytes]: this.opts.ringBytes / 4 },
        ringMap: LIFECYCLE_NAMES.maps.events,
        ringBytes: this.opts.ringBytes,
        lossMap: LIFECYCLE_NAMES.maps.lost,
        pollMs: this.opts.pollMs,
        batchRecords: this.opts.batchRecords ?? 1024,
      });
      this.attachFailures = res.failed.map((f) => `${f.program}: ${f.message}`);
      // a program that passed its trial but not the joint attach: its capability is lost
      for (const f of res.failed) {
        for (const c of this.plan) {
          if (!c.programs.includes(f.program)) continue;
          c.tried.push({ hook: c.chosen ?? '', ok: false, errno: f.errno, result: `attach failed at start: ${f.message}` });
          c.chosen = null;
          c.programs = [];
        }
      }
      this.state = this.attachFailures.length || this.plan.some((c) => c.chosen !== null && c.programs.length === 0) ? 'degraded' : 'running';
      const blind = this.blindSpots();
      if (blind.length) this.detail = `cannot see: ${blind.join('; ')}`;
    } catch (e) {
      this.state = 'failed';
      const err = describeFailure(e);
      this.detail = err.message;
      throw err;
    }
  }

  private refusals(): string {
    return this.plan
      .map((c) => `${c.capability}: ${c.tried.filter((t) => t.hook !== NETLINK_HOOK).map((t) => `${t.hook} → ${t.result}`).join(', ') || 'not tried'}`)
      .join('; ');
  }

  protected hookName(): string | null {
    const hooks = this.plan.filter((c) => c.programs.length).map((c) => `${c.capability}=${c.chosen}`);
    return hooks.length ? hooks.join(',') : null;
  }
}

function describeFailure(e: unknown): LifecycleSourceError {
  if (e instanceof LifecycleSourceError) return e;
  if (isBpfLoadError(e)) {
    const what = e.program ? `the kernel refused program '${e.program}'` : 'cannot load bpf/.output/lifecycle.bpf.o';
    return new LifecycleSourceError(
      `lifecycle source: ${what}: ${e.message}\nWhat to do: run 'ctscope doctor' to see what this kernel allows, or start with --hooks netlink`,
      e.errno,
    );
  }
  return new LifecycleSourceError(`lifecycle source: ${(e as Error)?.message ?? String(e)}`);
}
