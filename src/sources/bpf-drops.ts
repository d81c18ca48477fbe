// The drop source: tp_btf skb:kfree_skb (bpf/drops.bpf.c) emits a DROP record
// for every packet freed with a netfilter or conntrack drop reason. Which
// reasons those are comes from the running kernel's BTF enum skb_drop_reason,
// since reasons are added and renumbered across kernels.

import { loadAddon } from '../native/addon.js';
import type { RecordSink } from '../records/sink.js';
import { BpfRingSource, bpfObjectPath, isBpfLoadError, ringSourceClass, type ProbeResult } from './bpf-ring.js';
import { lackPhrase, REQUIRES } from '../privileges.js';
import { UserError } from '../errors.js';
import { DROPS_NAMES } from '../native/objects.generated.js';

/** Size of the BPF array map `reasons` (bpf/drops.bpf.c CTS_MAX_DROP_REASONS). */
export const MAX_DROP_REASONS = 1024;

const REASON_PREFIX = 'SKB_DROP_REASON_';
// A whole word of the name, so e.g. "..._CONF_..." does not count as NF.
const NETFILTER_WORD = /(^|_)(NETFILTER|NF|NFT|NFQUEUE|CONNTRACK)(_|$)/;

/**
 * The netfilter/conntrack reasons of an skb_drop_reason enum (name -> value),
 * as value -> BTF name. Pure: the BTF read is netfilterDropReasons().
 */
export function selectNetfilterReasons(enumValues: Record<string, number>): Record<number, string> {
  const out: Record<number, string> = {};
  for (const [name, value] of Object.entries(enumValues)) {
    const word = name.startsWith(REASON_PREFIX) ? name.slice(REASON_PREFIX.length) : name;
    if (!NETFILTER_WORD.test(word)) continue;
    if (!Number.isInteger(value) || value < 0 || value >= MAX_DROP_REASONS) continue;
    out[value] ??= name;
  }
  return out;
}

let reasonsCache: Record<number, string> | undefined;

/**
 * Netfilter/conntrack drop reasons of the running kernel: reason number ->
 * BTF name (e.g. 12 -> 'SKB_DROP_REASON_NETFILTER_DROP'). Empty when the
 * kernel has no skb_drop_reason enum (before 5.17) or the addon is missing.
 */
export function netfilterDropReasons(): Record<number, string> {
  if (reasonsCache) return reasonsCache;
  let values: Record<string, number> | null = null;
  try {
    values = loadAddon().enumValues('skb_drop_reason');
  } catch {
    return {};
  }
  reasonsCache = values ? selectNetfilterReasons(values) : {};
  return reasonsCache;
}

export interface DropSourceOptions {
  /** The compiled object (default bpf/.output/drops.bpf.o). */
  object?: string;
  /** Reader drain period, 1..5 ms (default 2). */
  pollMs?: number;
  /** Records per batch to JavaScript (default 1024). */
  batchRecords?: number;
  /** Ring buffer size (power of two; default the object's, 4 MiB). */
  ringBytes?: number;
  /** Backlog (bytes) that forces an immediate wakeup (default a quarter of the ring). */
  wakeupBytes?: number;
  /** Reasons to record, number -> name (default netfilterDropReasons()). */
  reasons?: Record<number, string>;
}

const DEFAULT_RING_BYTES = 4 << 20;
const PROGRAM = DROPS_NAMES.programs.cts_kfree_skb;

export class DropSourceError extends UserError {
  constructor(
    message: string,
    readonly program: string | null = null,
    readonly errno = 0,
    readonly verifierLog = '',
  ) {
    super(message);
  }
}

export class DropSource extends BpfRingSource {
  readonly name = 'drops';
  readonly hook = 'tp_btf:kfree_skb';
  private enabled: Record<number, string> = {};
  private readonly opts: DropSourceOptions;

  constructor(opts: DropSourceOptions = {}) {
    super();
    const pollMs = opts.pollMs ?? 2;
    if (!Number.isInteger(pollMs) || pollMs < 1 || pollMs > 5) throw new RangeError(`pollMs must be an integer 1..5, got ${opts.pollMs}`);
    const ring = opts.ringBytes ?? DEFAULT_RING_BYTES;
    if (!Number.isInteger(ring) || ring < 4096 || (ring & (ring - 1)) !== 0) {
      throw new RangeError(`ringBytes must be a power of two >= 4096, got ${opts.ringBytes}`);
    }
    const wake = opts.wakeupBytes ?? ring / 4;
    if (!Number.isInteger(wake) || wake < 0 || wake > ring) throw new RangeError(`wakeupBytes must be 0..ringBytes, got ${opts.wakeupBytes}`);
    this.opts = { ...opts, pollMs, ringBytes: ring, wakeupBytes: wake };
  }

  /** The reasons being recorded (number -> BTF name); empty before start(). */
  reasons(): Record<number, string> {
    return { ...this.enabled };
  }

  async start(sink: RecordSink): Promise<void> {
    if (this.ring) throw new Error('drops source already started');
    this.state = 'starting';
    this.detail = undefined;
    try {
      this.enabled = this.opts.reasons ?? netfilterDropReasons();
      const reasonNumbers = Object.keys(this.enabled).map(Number);
      if (reasonNumbers.length === 0) {
        this.state = 'unavailable';
        this.detail =
          'this kernel names no netfilter drop reason in BTF (enum skb_drop_reason needs Linux >= 5.17 with BTF); netfilter drops are not attributed';
        throw new DropSourceError(`drops source: ${this.detail}`);
      }
      this.open(sink, {
        object: this.opts.object ?? bpfObjectPath('drops'),
        programs: [PROGRAM],
        maps: { [DROPS_NAMES.maps.reasons]: reasonNumbers.map((r) => [r, 1] as [number, number]) },
        rodata: { [DROPS_NAMES.rodata.wakeup_bytes]: this.opts.wakeupBytes! },
        ringMap: DROPS_NAMES.maps.events,
        ringBytes: this.opts.ringBytes!,
        lossMap: DROPS_NAMES.maps.lost,
        pollMs: this.opts.pollMs!,
        batchRecords: this.opts.batchRecords ?? 1024,
      });
      this.state = 'running';
    } catch (e) {
      if (this.state === 'unavailable') throw e;
      this.state = 'failed';
      const err = describeFailure(e);
      this.detail = err.message;
      throw err;
    }
  }

  protected hookName(): string {
    return this.hook;
  }
}

/**
 * Can this kernel run the drop source? Loads and attaches the program alone
 * (no reason enabled, so it records nothing), then detaches. For `doctor`.
 */
export function probeDropHook(object = bpfObjectPath('drops')): ProbeResult & { hook: string } {
  return { hook: 'tp_btf:kfree_skb', ...ringSourceClass().probe(object, PROGRAM) };
}

/** A kernel refusal as an error saying which program, why and what to do. */
function describeFailure(e: unknown): DropSourceError {
  if (isBpfLoadError(e)) {
    const lack = e.errno === 1 ? lackPhrase(REQUIRES.tracingProgram) : null;
    const todo =
      e.errno === 2 && !e.program
        ? 'build it with `make -s bpf` (npm run build)'
        : lack
          ? `${lack}: give the daemon CAP_BPF and CAP_PERFMON (docs/SECURITY.md); it keeps its /proc and netlink sources, without drop attribution`
          : 'run `ctscope doctor` to see what this kernel allows; the daemon keeps its /proc and netlink sources, without drop attribution';
    const what = e.program ? `the kernel refused program '${e.program}' (tp_btf/kfree_skb)` : 'cannot load bpf/.output/drops.bpf.o';
    return new DropSourceError(`drops source: ${what}: ${e.message}\nWhat to do: ${todo}`, e.program, e.errno, e.verifierLog ?? '');
  }
  if (e instanceof DropSourceError) return e;
  return new DropSourceError(`drops source: ${(e as Error)?.message ?? String(e)}`);
}
