// Host facts the advice needs: what an entry costs (entry-cost.ts) and how
// much memory there is. A replay of another host's capture knows neither
// unless the capture says (then the defaults, and the evidence says so).

import { readFileSync } from 'node:fs';
import { defaultEntryCost, readEntryCost } from './entry-cost.js';
import type { AdviceEnvironment } from './types.js';

/** This host's facts, read now. */
export function readEnvironment(proc = '/proc', sys = '/sys'): AdviceEnvironment {
  let mem: number | null = null;
  try {
    const m = /^MemTotal:\s+(\d+) kB/m.exec(readFileSync(`${proc}/meminfo`, 'utf8'));
    if (m) mem = Number(m[1]) * 1024;
  } catch {
    /* not Linux, or no /proc */
  }
  return { entry: readEntryCost(proc, sys), memTotalBytes: mem };
}

/** What a capture's header keeps of its host (host_facts), from this host's facts. */
export function hostFacts(env: AdviceEnvironment = readEnvironment()): { entry_bytes?: number; entry_bytes_source: string; mem_total_bytes?: number } {
  return { ...(env.entry.source !== 'default' ? { entry_bytes: env.entry.bytes } : {}), entry_bytes_source: env.entry.source, ...(env.memTotalBytes ? { mem_total_bytes: env.memTotalBytes } : {}) };
}

const plausible = (x: unknown, lo: number, hi: number): x is number => typeof x === 'number' && Number.isInteger(x) && x >= lo && x <= hi;

/** For a replay: what the capture recorded of its host (checked: it crossed a file boundary), else the defaults. */
export function captureEnvironment(recorded?: { entry_bytes?: unknown; mem_total_bytes?: unknown } | null): AdviceEnvironment {
  const entry = plausible(recorded?.entry_bytes, 64, 65536) ? { ...defaultEntryCost(), bytes: recorded!.entry_bytes as number, source: 'capture' as const } : defaultEntryCost();
  return { entry, memTotalBytes: plausible(recorded?.mem_total_bytes, 1 << 20, 2 ** 52) ? (recorded!.mem_total_bytes as number) : null };
}
