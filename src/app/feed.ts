// What feeds a running ctscope (src/app/ctscope.ts): the live sources
// (live-sources.ts) or a replay of a capture or conntrack text
// (replay-feed.ts). A feed delivers record batches and /proc snapshots, says
// how its sources are doing, and adds what only it knows to the status, the
// API and /metrics. Tests give their own.

import type { AppOptions } from '../api/app.js';
import type { StatusReport } from '../api/context.js';
import type { Exposition } from '../metrics/exposition.js';
import type { Model } from '../model/model.js';
import type { ProcSnapshot } from '../proc/types.js';
import type { RecordSink, SourceStatus } from '../records/sink.js';
import type { PodsPayload } from '../capture/pods-frame.js';

/** Where a feed delivers: the model and/or the recorder. */
export interface Delivery extends RecordSink {
  /** A /proc snapshot of one namespace's table. */
  proc(s: ProcSnapshot): void;
  /** The records' clock moved to nowNs without a record (a replay's file clock). */
  advance(nowNs: number): void;
  /** From tsNs on, 1 ctnetlink entry in 2^shift is followed (the CPU budget, --max-cpu). */
  sampling(tsNs: number, shift: number): void;
  /** A namespace whose table was read is gone (the /proc poller could not enter it, or nothing names it). */
  vanish(netns: number, atNs: number): void;
  /** The node's pods changed (the live resolver's poll, or a replayed PODS frame). */
  pods(p: PodsPayload): void;
}

/** The feed's part of /v1/status. */
export type FeedStatus = Pick<StatusReport, 'mode' | 'kernel' | 'replay' | 'capabilities' | 'blind_spots' | 'sources' | 'lost' | 'sampling' | 'workloads'>;

/**
 * What a feed adds to the API. netnsNames: the namespaces as the feed knows
 * them by inode (host, /run/netns name, pid:N, a pod's); they name the
 * tables' accounts (model.tables), and through tableName() every answer.
 */
export type FeedApi = Pick<AppOptions, 'enterNetns' | 'environment' | 'arrivals' | 'clock'> & { netnsNames?: () => ReadonlyMap<number, string> };

export interface Feed {
  /**
   * Called once, before start(), with the model records will reach (null
   * when there is none, `ctscope record`). Throws UserError for options
   * that cannot work, before anything is taken.
   */
  attach(model: Model | null): void;
  /**
   * Start delivering. Resolves once running (a source the kernel refuses is
   * reported in status(), not thrown); rejects only when nothing can run,
   * having released whatever it took.
   */
  start(to: Delivery, signal?: AbortSignal): Promise<void>;
  /** Stop delivering and release everything taken; idempotent, never rejects. */
  stop(): Promise<void>;
  status(): FeedStatus;
  /** What the API adds over this feed (namespace names, host facts for advice, arrivals, the clock as Unix time). */
  api(): FeedApi;
  /** Families only this feed has (delays, ingress counters), and the names of drop reasons. */
  writeMetrics?(e: Exposition): void;
  dropReasonName?(reason: number): string;
  /** The clock that moves the model's windows between records (live: CLOCK_BOOTTIME); none: the records' own. */
  clock?(): number;
}

/**
 * One turn of the event loop through its poll phase, where a pending signal
 * (SIGTERM) is delivered. A start-up made of steps that resolve at once
 * would otherwise run to its end as one chain of microtasks, and a stop
 * asked for meanwhile would be seen only after it.
 */
export function turn(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 1));
}

/** The sum of the sources' known losses. */
export function lostTotal(sources: readonly SourceStatus[]): number {
  return sources.reduce((a, s) => a + s.lost.total, 0);
}
