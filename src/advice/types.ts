// The advice engine's one interface: rules take the same inputs (the model's
// queries, every table's account, the ingress arrivals where counted, host
// facts) and return items an on-call engineer can act on, each with the
// evidence it rests on and where every number of it can be checked.

import type { Model } from '../model/model.js';
import type { ArrivalsModel } from '../model/arrivals.js';
import type { TableAccountView } from '../proc/accounts.js';
import type { EntryCost } from './entry-cost.js';

export type AdviceLevel = 'info' | 'warn' | 'action' | 'critical';

export interface AdviceItem {
  /** The rule that made it (drops, table-full, …). */
  id: string;
  level: AdviceLevel;
  /** One line: what is wrong, where. */
  title: string;
  /** What it means and why the rule thinks so. */
  detail: string;
  /** The numbers it rests on, of one moment or one window. */
  evidence: Record<string, unknown>;
  /** What to do (a command where one applies). */
  action: string;
  /** Where each evidence number can be checked: field -> route or kernel file. */
  checks?: Record<string, string>;
  /** The table (namespace inode) it speaks of, if one. */
  netns?: number;
}

/** The model's queries the rules read (the live daemon's and a replay's Model alike). */
export type AdviceModel = Pick<Model, 'churn' | 'drops' | 'topK' | 'occupancy' | 'liveProtocols' | 'windowSum' | 'counter' | 'span' | 'nowNs' | 'opts' | 'lifetimeGroups' | 'packetDropKinds' | 'statesFollowed'>;

/** Host facts: what an entry costs and how much memory there is. */
export interface AdviceEnvironment {
  entry: EntryCost;
  /** Total memory (/proc/meminfo MemTotal), bytes; null where unknown (a replay of another host's capture). */
  memTotalBytes: number | null;
  /** Memory the table may use; default 5 % of MemTotal. */
  memoryBudgetBytes?: number;
}

export interface AdviceInputs {
  model: AdviceModel;
  /** Every table, most endangered first, with its window counts (TableAccounts.list(window)). */
  tables: TableAccountView[];
  /** Ingress arrivals (--ingress), where counted. */
  arrivals?: ArrivalsModel | null;
  environment: AdviceEnvironment;
  /** Seconds judged: the model's span, at most its history. */
  window: number;
  /** Facts of the input a replay read (partial input, lost events). */
  input?: { partial: boolean; detail: string | null; problems: number };
}

/** One rule: one file under rules/, run in the engine's order. */
export interface AdviceRule {
  id: string;
  run(x: AdviceInputs): AdviceItem[];
}
