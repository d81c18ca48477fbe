// The advice engine: every rule (rules/, one file each, one interface) over
// the same inputs, items ordered by level and then by the rules' order —
// what is dropping packets first, what will soon, then what to tune. The live
// daemon's /v1/advice, `replay --report` and `top` (through /v1/advice) all
// come here, so the same data gives the same advice.

import type { AdviceInputs, AdviceItem, AdviceLevel, AdviceRule } from './types.js';
import { dropsRule } from './rules/drops.js';
import { tableFullRule } from './rules/table-full.js';
import { earlyDropsRule } from './rules/early-drops.js';
import { insertFailedRule } from './rules/insert-failed.js';
import { synFloodRule } from './rules/syn-flood.js';
import { portScanRule } from './rules/port-scan.js';
import { tableSizeRule } from './rules/table-size.js';
import { notrackRule } from './rules/notrack.js';
import { connectionReuseRule } from './rules/connection-reuse.js';
import { lostRecordsRule } from './rules/lost-records.js';

/** The rules, in the order their items are listed within a level. */
export const RULES: readonly AdviceRule[] = [dropsRule, tableFullRule, earlyDropsRule, insertFailedRule, synFloodRule, portScanRule, tableSizeRule, notrackRule, connectionReuseRule, lostRecordsRule];

const RANK: Record<AdviceLevel, number> = { critical: 0, action: 1, warn: 2, info: 3 };

export interface AdviceReport {
  /** Model clock of the answer (CLOCK_BOOTTIME s). */
  generated_at_s: number;
  /** Seconds of data the model holds. */
  observed_s: number;
  /** Seconds judged. */
  window_s: number;
  advice: AdviceItem[];
}

export function advise(x: AdviceInputs, rules: readonly AdviceRule[] = RULES): AdviceReport {
  const items: Array<{ item: AdviceItem; order: number }> = [];
  rules.forEach((r, order) => {
    for (const item of r.run(x)) items.push({ item, order });
  });
  items.sort((a, b) => RANK[a.item.level] - RANK[b.item.level] || a.order - b.order);
  return { generated_at_s: Math.round(x.model.nowNs / 1e6) / 1e3, observed_s: x.model.span(), window_s: x.window, advice: items.map((i) => i.item) };
}

/** The window advice judges: all the data the model holds, at most its history. */
export function adviceWindow(model: { span(): number; opts: { historySeconds: number } }): number {
  return Math.max(1, Math.min(model.span(), model.opts.historySeconds));
}
