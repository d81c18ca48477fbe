// The shapes of the API answers the page reads: the server's own types
// (type-only imports, erased from the bundle), with what the routes add.
// The routes' JSON schemas (src/api/routes/) are what goes over the wire.

import type { StatusReport } from '../../src/api/context.js';
import type { AdviceItem as Advice } from '../../src/advice/types.js';
import type { FlowView, LifetimeGroup, TopKItem } from '../../src/model/model.js';
import type { KeySeries as ModelKeySeries } from '../../src/model/queries/series.js';
import type { TableSeries as ModelTableSeries } from '../../src/model/table-series.js';
import type { Level } from '../../src/proc/parse.js';

export type { Advice, Level };
export type Flow = FlowView;
export type Status = StatusReport;

/** The time axis every /v1/series answer carries. */
export interface Timeline {
  start_s: number;
  step_s: number;
  window: number;
  now_s: number;
  epoch_offset_s: number;
  final: boolean;
}

export interface KeySeries extends ModelKeySeries, Timeline {
  by: string;
  stream: string;
  dimensions: string[];
}

export interface TableSeries extends ModelTableSeries {
  name: string | null;
  host: boolean;
  time_to_full_s: number | null;
  forecast_confidence: number;
}

export interface Tables extends Timeline {
  tables: TableSeries[];
}

export interface StateCount {
  proto: string;
  state: string;
  count: number;
  share?: number;
}

export interface Occupancy {
  by: string;
  total: number;
  live: number;
  items: Array<TopKItem & { states: StateCount[] }>;
  states: StateCount[];
}

export interface Lifetimes {
  by: string;
  unknown_start: number;
  groups: LifetimeGroup[];
}

export interface Flows {
  total: number;
  limit: number;
  closed: boolean;
  flows: Flow[];
}
