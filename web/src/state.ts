// What the reader chose (dimension, drop kind, time cursor, flow filter) and
// the latest answers; sections render from these two and nothing else.

import type { Advice, Flow, Flows, KeySeries, Lifetimes, Occupancy, Status, Tables } from './types.js';

export interface Choice {
  /** Dimensions by= accepts, as the API lists them (new ones appear without a page change). */
  dims: string[];
  allocBy: string;
  dropsBy: string;
  /** A /v1/series stream: drops (packets, each once) or one kind. */
  dropKind: string;
  /** Follow the newest second (live), or stay at `cursor`. */
  follow: boolean;
  /** The second looked at, Unix s (null: the newest). */
  cursor: number | null;
  filter: { by: string; key: string } | null;
  flowsClosed: boolean;
  flowId: string | null;
}

export interface Data {
  mode: 'live' | 'replay' | null;
  final: boolean;
  tables: Tables | null;
  alloc: KeySeries | null;
  drops: KeySeries | null;
  occupancy: Occupancy | null;
  lifetimes: Lifetimes | null;
  advice: Advice[] | null;
  status: Status | null;
  flows: Flows | null;
  flow: Flow | null;
  /** Why the last refresh failed, if it did. */
  error: string | null;
}

export const choice: Choice = {
  dims: ['src', 'dst', 'dport', 'proto', 'netns', 'zone', 'mark', 'src,dport'],
  allocBy: 'src',
  dropsBy: 'src',
  dropKind: 'drops',
  follow: true,
  cursor: null,
  filter: null,
  flowsClosed: false,
  flowId: null,
};

export const data: Data = {
  mode: null,
  final: false,
  tables: null,
  alloc: null,
  drops: null,
  occupancy: null,
  lifetimes: null,
  advice: null,
  status: null,
  flows: null,
  flow: null,
  error: null,
};

/** Unix second of value i of a timeline. */
export function unixAt(t: { start_s: number; epoch_offset_s: number }, i: number): number {
  return Math.round(t.start_s + i + t.epoch_offset_s);
}

/** Unix seconds of every value of a timeline. */
export function xs(t: { start_s: number; window: number; epoch_offset_s: number }): number[] {
  return Array.from({ length: t.window }, (_, i) => unixAt(t, i));
}

/** Index of the cursor in a timeline (the newest value when following), -1 when out of it. */
export function cursorIndex(t: { start_s: number; window: number; epoch_offset_s: number }): number {
  if (t.window === 0) return -1;
  if (choice.follow || choice.cursor === null) return t.window - 1;
  const i = choice.cursor - unixAt(t, 0);
  return i >= 0 && i < t.window ? i : -1;
}
