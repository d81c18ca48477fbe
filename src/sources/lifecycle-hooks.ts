// Which hook each lifecycle capability gets on this kernel. Per capability,
// candidates are tried in order — fentry/fexit, then kprobe/kretprobe — first
// by a BTF lookup (vmlinux and the nf_conntrack module's BTF), then by a
// trial attach of each of the candidate's programs alone. What is left goes
// to the ctnetlink fallback (a separate source, wired by the daemon), with
// the capabilities netlink cannot see reported as blind spots.
//
// The planning is pure given a `HookProbe`, so it is unit-tested with fakes;
// `kernelHookProbe()` is the real one.

import fs from 'node:fs';
import os from 'node:os';

import { loadAddon } from '../native/addon.js';
import { LIFECYCLE_NAMES } from '../native/objects.generated.js';
import { bpfObjectPath, ringSourceClass, type ProbeResult } from './bpf-ring.js';
import { effectiveCapabilities, lackPhrase, REQUIRES } from '../privileges.js';

export type HookMode = 'auto' | 'fentry' | 'kprobe' | 'netlink';
export const HOOK_MODES: readonly HookMode[] = ['auto', 'fentry', 'kprobe', 'netlink'];

export type LifecycleCapability = 'alloc' | 'table_full' | 'evict' | 'confirm' | 'destroy';
export const LIFECYCLE_CAPABILITIES: readonly LifecycleCapability[] = ['alloc', 'table_full', 'evict', 'confirm', 'destroy'];

/** Whether nf_conntrack is a module with its own BTF (Debian's kernels) rather than built in. */
export function moduleBtfPresent(sysRoot = '/sys'): boolean {
  return fs.existsSync(`${sysRoot}/kernel/btf/${CONNTRACK_MODULE}`);
}

/** The module holding the conntrack functions on distribution kernels (built in elsewhere). */
export const CONNTRACK_MODULE = 'nf_conntrack';
export const NETLINK_HOOK = 'ctnetlink';

interface Candidate {
  /** e.g. 'fexit:__nf_conntrack_alloc' */
  hook: string;
  kind: 'fentry' | 'kprobe';
  /** Functions that must exist (BTF for fentry, kallsyms for kprobes). */
  functions: string[];
  /** Programs of bpf/lifecycle.bpf.c to autoload (a name not in the object does not compile). */
  programs: LifecycleProgram[];
}

/** A program of bpf/lifecycle.bpf.c, by the names its BTF has (native/objects.generated.ts). */
type LifecycleProgram = keyof typeof LIFECYCLE_NAMES.programs;

const fentry = (hook: string, functions: string[], programs: LifecycleProgram[]): Candidate => ({ hook, kind: 'fentry', functions, programs });
const kprobe = (hook: string, functions: string[], programs: LifecycleProgram[]): Candidate => ({ hook, kind: 'kprobe', functions, programs });

/**
 * Candidates in order of preference. table_full rides on alloc's programs
 * (the ERR_PTR return); evict needs alloc too (its record is completed with
 * the tuple that needed room when the allocation returns). nf_ct_delete
 * tells a user-space delete (and the eviction victim) apart at destroy.
 */
export const CANDIDATES: Record<LifecycleCapability, Candidate[]> = {
  alloc: [
    fentry('fexit:__nf_conntrack_alloc', ['__nf_conntrack_alloc'], ['fx_alloc']),
    kprobe('kprobe:__nf_conntrack_alloc', ['__nf_conntrack_alloc'], ['kp_alloc', 'kr_alloc']),
  ],
  table_full: [
    fentry('fexit:__nf_conntrack_alloc', ['__nf_conntrack_alloc'], ['fx_alloc']),
    kprobe('kretprobe:__nf_conntrack_alloc', ['__nf_conntrack_alloc'], ['kp_alloc', 'kr_alloc']),
  ],
  evict: [
    fentry('fexit:early_drop', ['early_drop', 'nf_ct_delete'], ['fe_early_drop', 'fx_early_drop', 'fe_ct_delete', 'fx_ct_delete']),
    kprobe('kretprobe:early_drop', ['early_drop', 'nf_ct_delete'], ['kp_early_drop', 'kr_early_drop', 'kp_ct_delete', 'kr_ct_delete']),
  ],
  confirm: [
    fentry('fexit:__nf_conntrack_confirm', ['__nf_conntrack_confirm'], ['fx_confirm']),
    kprobe('kretprobe:__nf_conntrack_confirm', ['__nf_conntrack_confirm'], ['kp_confirm', 'kr_confirm']),
  ],
  destroy: [
    fentry('fentry:nf_ct_destroy', ['nf_ct_destroy'], ['fe_destroy']),
    // before 5.17 (commit 1bc91a5ddf3e) the destructor was destroy_conntrack
    fentry('fentry:destroy_conntrack', ['destroy_conntrack'], ['fe_destroy_old']),
    kprobe('kprobe:nf_ct_destroy', ['nf_ct_destroy'], ['kp_destroy']),
    kprobe('kprobe:destroy_conntrack', ['destroy_conntrack'], ['kp_destroy_old']),
  ],
};

/** What ctnetlink gives in place of a capability, or null: a blind spot. */
export const NETLINK_FALLBACK: Record<LifecycleCapability, string | null> = {
  alloc: 'NEW events (sent at confirmation: unconfirmed entries are not seen)',
  table_full: null,
  evict: null,
  confirm: 'NEW events',
  destroy: 'DESTROY events (no eviction cause)',
};

export const BLIND_SPOT: Record<LifecycleCapability, string> = {
  alloc: 'allocations of entries that are never confirmed',
  table_full: 'the tuples refused when the table is full (only the /proc drop counter)',
  evict: 'which entries early_drop evicted (only the /proc early_drop counter)',
  confirm: 'insert failures with their tuples',
  destroy: 'why an entry ended (eviction vs timeout)',
};

export interface HookAttempt {
  hook: string;
  ok: boolean;
  /** 'attached', or '<ERRNO>: <meaning>' */
  result: string;
  errno?: number;
}

export interface CapabilityChoice {
  capability: string;
  /** The hook in use, 'ctnetlink', or null (nothing can see it). */
  chosen: string | null;
  tried: HookAttempt[];
  /** Programs of lifecycle.bpf.c serving it (empty for ctnetlink / none). */
  programs: string[];
}

/** How hooks are checked; kernelHookProbe() asks the running kernel. */
export interface HookProbe {
  /** Whether the function is in BTF (vmlinux or the module's). */
  hasBtfFunction(name: string, module: string): boolean;
  /** Whether the kernel can place kprobes at all; a reason when not. */
  kprobes(): { ok: boolean; why?: string };
  /** Whether `name` is a probe-able symbol (kallsyms). */
  hasSymbol(name: string): boolean;
  /** Load and attach `program` of the lifecycle object alone, then detach. */
  trial(program: string): ProbeResult;
}

const ERRNO_NAMES: Record<number, string> = {
  1: 'EPERM', 2: 'ENOENT', 3: 'ESRCH', 7: 'E2BIG', 13: 'EACCES', 16: 'EBUSY', 22: 'EINVAL', 95: 'EOPNOTSUPP', 524: 'ENOTSUPP',
};

export function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? (os.constants.errno ? Object.entries(os.constants.errno).find(([, v]) => v === errno)?.[0] : undefined) ?? `errno ${errno}`;
}

/** A kernel refusal as '<ERRNO>: what it means for this kind of hook'. */
export function explainRefusal(
  kind: 'fentry' | 'kprobe' | 'tp_btf' | 'tcx',
  errno: number,
  message = '',
  held = effectiveCapabilities(),
  conntrackModule = moduleBtfPresent(),
): string {
  const name = errnoName(errno);
  switch (errno) {
    case 1: {
      // A process without the capabilities gets EPERM too: say so before blaming the kernel.
      const lack = lackPhrase(kind === 'tcx' ? REQUIRES.networkProgram : REQUIRES.tracingProgram, held);
      if (lack) return `${name}: ${lack} (${kind === 'tcx' ? 'tc programs need CAP_BPF and CAP_NET_ADMIN' : 'tracing programs need CAP_BPF and CAP_PERFMON'}, or CAP_SYS_ADMIN)`;
      // Measured on Debian's 6.1: hooks in nf_conntrack built as a module
      // need its BTF, which libbpf finds by walking BTF ids (CAP_SYS_ADMIN).
      if (kind !== 'tp_btf' && conntrackModule && !held.has('CAP_SYS_ADMIN')) {
        return `${name}: nf_conntrack is a module here, and its BTF can only be found with CAP_SYS_ADMIN, which this process lacks`;
      }
      return kind === 'fentry'
        ? `${name}: the kernel refuses trampolines (fentry/fexit)`
        : `${name}: the kernel refuses this program type (lockdown?)`;
    }
    case 2:
    case 3:
      return kind === 'fentry' ? `${name}: not in the kernel's BTF (inlined or renamed)` : `${name}: no such symbol to probe (inlined or renamed)`;
    case 13: {
      const line = message.split('\n').find((l) => /prohibited|invalid|unknown|not allowed|R\d/.test(l));
      return `${name}: the verifier rejected the program${line ? ` (${line.trim()})` : ''}`;
    }
    case 16:
      return `${name}: the hook is busy (another tracer holds it)`;
    case 22:
    case 95:
    case 524:
      return `${name}: this kernel cannot attach this program type here`;
    default:
      return `${name}: ${message.split('\n')[0] ?? ''}`.trim();
  }
}

/**
 * Chooses a hook per capability. `mode` 'auto' tries fentry then kprobe;
 * 'fentry'/'kprobe' try only that kind; 'netlink' tries none. Capabilities
 * no hook serves fall back to ctnetlink where it can see them.
 */
export function planLifecycleHooks(mode: HookMode, probe: HookProbe): CapabilityChoice[] {
  if (!HOOK_MODES.includes(mode)) throw new RangeError(`hooks must be one of ${HOOK_MODES.join(', ')}, got '${mode}'`);
  const trials = new Map<string, ProbeResult>();
  const trial = (p: string): ProbeResult => {
    let r = trials.get(p);
    if (!r) {
      r = probe.trial(p);
      trials.set(p, r);
    }
    return r;
  };
  let kp: { ok: boolean; why?: string } | undefined;
  const out: CapabilityChoice[] = [];
  for (const capability of LIFECYCLE_CAPABILITIES) {
    const tried: HookAttempt[] = [];
    let chosen: Candidate | null = null;
    for (const c of CANDIDATES[capability]) {
      if (mode === 'netlink') break;
      if (mode !== 'auto' && c.kind !== mode) continue;
      const attempt = tryCandidate(c, probe, trial, () => (kp ??= probe.kprobes()));
      tried.push(attempt);
      if (attempt.ok) {
        chosen = c;
        break;
      }
    }
    // evict and table_full are completed by the allocation programs
    if (chosen && (capability === 'evict' || capability === 'table_full')) {
      const alloc = out.find((o) => o.capability === 'alloc');
      if (!alloc?.programs.length) {
        tried.push({ hook: chosen.hook, ok: false, result: 'needs an allocation hook, which this kernel refused' });
        chosen = null;
      }
    }
    if (chosen) {
      out.push({ capability, chosen: chosen.hook, tried, programs: chosen.programs });
      continue;
    }
    const fb = NETLINK_FALLBACK[capability];
    tried.push({ hook: NETLINK_HOOK, ok: fb !== null, result: fb ? `fallback: ${fb}` : `blind: ctnetlink cannot see ${BLIND_SPOT[capability]}` });
    out.push({ capability, chosen: fb ? NETLINK_HOOK : null, tried, programs: [] });
  }
  return out;
}

function tryCandidate(
  c: Candidate,
  probe: HookProbe,
  trial: (p: string) => ProbeResult,
  kprobes: () => { ok: boolean; why?: string },
): HookAttempt {
  if (c.kind === 'kprobe') {
    const k = kprobes();
    if (!k.ok) return { hook: c.hook, ok: false, result: k.why ?? 'no kprobes on this kernel' };
  }
  for (const fn of c.functions) {
    const present = c.kind === 'fentry' ? probe.hasBtfFunction(fn, CONNTRACK_MODULE) : probe.hasSymbol(fn);
    if (!present) {
      return {
        hook: c.hook,
        ok: false,
        errno: c.kind === 'fentry' ? 3 : 2,
        result: c.kind === 'fentry' ? `ESRCH: ${fn} is not in the kernel's BTF (inlined or renamed)` : `ENOENT: no symbol ${fn} to probe (inlined or renamed)`,
      };
    }
  }
  for (const p of c.programs) {
    const r = trial(p);
    if (!r.ok) return { hook: c.hook, ok: false, errno: r.errno, result: explainRefusal(c.kind, r.errno, `${r.message}\n${r.verifierLog ?? ''}`) };
  }
  return { hook: c.hook, ok: true, result: 'attached' };
}

/** Programs to autoload for a plan (deduplicated, in plan order). */
export function plannedPrograms(plan: CapabilityChoice[]): string[] {
  return [...new Set(plan.flatMap((c) => c.programs))];
}

let kallsyms: Set<string> | undefined;

function kallsymsNames(): Set<string> {
  if (kallsyms) return kallsyms;
  kallsyms = new Set();
  try {
    for (const line of fs.readFileSync('/proc/kallsyms', 'utf8').split('\n')) {
      const name = line.split(/\s+/)[2];
      if (name) kallsyms.add(name);
    }
  } catch {
    // unreadable: every kprobe target counts as missing
  }
  return kallsyms;
}

/** The real probe: the running kernel's BTF, kallsyms and trial attaches of bpf/.output/lifecycle.bpf.o. */
export function kernelHookProbe(object = bpfObjectPath('lifecycle')): HookProbe {
  return {
    hasBtfFunction: (name, module) => loadAddon().hasFunction(name, module),
    kprobes: () =>
      fs.existsSync('/sys/bus/event_source/devices/kprobe')
        ? { ok: true }
        : { ok: false, why: 'no kprobes on this kernel (CONFIG_KPROBES unset: no kprobe event source)' },
    hasSymbol: (name) => kallsymsNames().has(name),
    trial: (program) => ringSourceClass().probe(object, program),
  };
}
