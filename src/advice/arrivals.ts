// The advice on arrivals at ingress alone (SYN floods, scans), for callers
// that have the arrivals and maybe the model but no tables: the same rules
// the engine runs (rules/syn-flood.ts, rules/port-scan.ts).

import type { ArrivalsModel } from '../model/arrivals.js';
import type { AdviceItem, AdviceModel } from './types.js';
import { synFloodItems, type SynFloodOptions } from './rules/syn-flood.js';
import { portScanItems } from './rules/port-scan.js';

export function arrivalsAdvice(arrivals: ArrivalsModel, model?: AdviceModel | null, opts: SynFloodOptions & { scanPorts?: number } = {}): AdviceItem[] {
  return [...synFloodItems(arrivals, model ?? null, opts), ...portScanItems(arrivals, opts)];
}
