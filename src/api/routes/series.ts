// /v1/series and /v1/series/tables: per-second history over the kept 15
// minutes, what the dashboard draws and what a script wants for "since
// when"; /v1/series/headline, the dashboard's three headline answers (the
// tables, one allocation series, one drop series) in one request, each the
// same as its own route's answer. The seconds are the model's (CLOCK_BOOTTIME of the node that
// produced the records); epoch_offset_s turns them into Unix time. Live, the
// current second is still filling, so the series end at the second before
// it; a finished replay ends at its last second.

import type { FastifyInstance } from 'fastify';
import type { ModelClock } from '../context.js';
import { errorSchema } from '../http-errors.js';
import type { Dimension, Model, StreamName } from '../../model/model.js';
import { tableSeries, type TableSeries } from '../../model/table-series.js';
import { tableName } from '../../proc/accounts.js';
import { byParam } from './schemas.js';

/** What /v1/series can chart: a stream of the model, or `drops` (packets dropped, each once, as /v1/drops kind=all). */
export const SERIES_STREAMS = ['alloc', 'destroy', 'drops', 'table_full', 'evicted', 'insert_failed', 'netfilter'] as const;
export type SeriesStream = (typeof SERIES_STREAMS)[number];

export interface SeriesRoutesOptions {
  model: Model;
  clock: () => ModelClock;
  /** Namespace names by inode (host, /run/netns name, pid:N), where the sources know them. */
}

const nullableNumbers = { type: 'array', items: { type: ['number', 'null'] } } as const;
const numbers = { type: 'array', items: { type: 'number' } } as const;
const timeline = {
  start_s: { type: 'integer' },
  step_s: { type: 'integer' },
  window: { type: 'integer' },
  now_s: { type: 'number' },
  epoch_offset_s: { type: 'number' },
  // nothing more will come (a finished replay): the last second is complete
  final: { type: 'boolean' },
} as const;

export const seriesSchema = {
  type: 'object',
  properties: {
    by: { type: 'string' },
    stream: { type: 'string' },
    limit: { type: 'integer' },
    ...timeline,
    total: numbers,
    other: numbers,
    items: {
      type: 'array',
      items: {
        type: 'object',
        properties: { key: { type: 'string' }, count: { type: 'number' }, values: numbers },
        required: ['key', 'count', 'values'],
      },
    },
    error_bound: { type: 'number' },
    dimensions: { type: 'array', items: { type: 'string' } },
  },
  required: ['by', 'stream', 'start_s', 'step_s', 'window', 'now_s', 'epoch_offset_s', 'final', 'total', 'other', 'items', 'error_bound', 'dimensions'],
} as const;

export const tableSeriesSchema = {
  type: 'object',
  properties: {
    ...timeline,
    tables: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          netns: { type: 'integer' },
          name: { type: ['string', 'null'] },
          host: { type: 'boolean' },
          count: { type: 'integer' },
          max: { type: 'integer' },
          utilization: { type: 'number' },
          level: { type: 'string', enum: ['ok', 'warn', 'action', 'critical'] },
          drops_60s: { type: 'number' },
          time_to_full_s: { type: ['number', 'null'] },
          forecast_confidence: { type: 'number' },
          count_series: nullableNumbers,
          max_series: nullableNumbers,
          utilization_series: nullableNumbers,
          drop_per_s: nullableNumbers,
          early_drop_per_s: nullableNumbers,
          insert_failed_per_s: nullableNumbers,
        },
        required: ['netns', 'name', 'host', 'count', 'max', 'utilization', 'level', 'drops_60s', 'time_to_full_s', 'count_series', 'max_series', 'utilization_series', 'drop_per_s', 'early_drop_per_s', 'insert_failed_per_s'],
      },
    },
  },
  required: ['start_s', 'step_s', 'window', 'now_s', 'epoch_offset_s', 'final', 'tables'],
} as const;

/** The seconds a series covers: `window` seconds ending at `until` (default the last complete second), not before the model's first. */
export function seriesRange(model: Model, clock: ModelClock, window: number, until?: number): { from: number; to: number } {
  const cur = Math.floor(model.nowNs / 1e9);
  const last = clock.final ? cur : cur - 1;
  const to = Math.min(until ?? last, last);
  const from = Math.max(to - window + 1, cur - Math.max(model.span(), 1) + 1);
  return { from, to };
}

export async function seriesRoutes(app: FastifyInstance, opts: SeriesRoutesOptions): Promise<void> {
  const { model } = opts;
  const maxWindow = model.opts.historySeconds;
  const errors = { '4xx': errorSchema, '5xx': errorSchema };
  const window = { type: 'integer', minimum: 1, maximum: maxWindow, default: maxWindow } as const;
  const clockOf = () => {
    const c = opts.clock();
    return { c, now_s: round3(model.nowNs / 1e9), epoch_offset_s: round3(c.epochOffsetNs / 1e9), final: c.final };
  };

  app.get(
    '/v1/series',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            by: { ...byParam, default: 'src' },
            stream: { type: 'string', enum: [...SERIES_STREAMS], default: 'alloc' },
            window,
            limit: { type: 'integer', minimum: 1, maximum: 50, default: 5 },
            until: { type: 'integer', minimum: 0, maximum: 2 ** 40 },
          },
        },
        response: { 200: seriesSchema, ...errors },
      },
    },
    async (req) => keySeries(req.query as KeySeriesQuery),
  );

  app.get(
    '/v1/series/tables',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { window, limit: { type: 'integer', minimum: 1, maximum: 1000, default: 20 } },
        },
        response: { 200: tableSeriesSchema, ...errors },
      },
    },
    async (req) => tableSeriesOf(req.query as { window: number; limit: number }),
  );

  app.get(
    '/v1/series/headline',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            alloc_by: { ...byParam, default: 'src' },
            drops_by: { ...byParam, default: 'src' },
            drops: { type: 'string', enum: [...SERIES_STREAMS], default: 'drops' },
            window,
            limit: { type: 'integer', minimum: 1, maximum: 50, default: 5 },
            tables_limit: { type: 'integer', minimum: 1, maximum: 1000, default: 20 },
          },
        },
        response: {
          200: { type: 'object', properties: { tables: tableSeriesSchema, alloc: seriesSchema, drops: seriesSchema }, required: ['tables', 'alloc', 'drops'] },
          ...errors,
        },
      },
    },
    async (req) => {
      const q = req.query as { alloc_by: Dimension; drops_by: Dimension; drops: SeriesStream; window: number; limit: number; tables_limit: number };
      return {
        tables: tableSeriesOf({ window: q.window, limit: q.tables_limit }),
        alloc: keySeries({ by: q.alloc_by, stream: 'alloc', window: q.window, limit: q.limit }),
        drops: keySeries({ by: q.drops_by, stream: q.drops, window: q.window, limit: q.limit }),
      };
    },
  );

  /** /v1/series's answer. */
  function keySeries(q: KeySeriesQuery) {
    const { c, now_s, epoch_offset_s, final } = clockOf();
    const { from, to } = seriesRange(model, c, q.window, q.until);
    const kinds: readonly StreamName[] = q.stream === 'drops' ? model.packetDropKinds() : [q.stream];
    const s = model.series({ by: q.by, kinds, window: to - from + 1, limit: q.limit, until: to });
    return { by: q.by, stream: q.stream, limit: q.limit, step_s: 1, window: s.total.length, now_s, epoch_offset_s, final, ...s, dimensions: byParam.enum };
  }

  /** /v1/series/tables's answer. */
  function tableSeriesOf(q: { window: number; limit: number }) {
    const { c, now_s, epoch_offset_s, final } = clockOf();
    const { from, to } = seriesRange(model, c, q.window);
    const host = model.snapshot()?.netns;
    const tables: Array<TableSeries & { name: string | null; host: boolean; time_to_full_s: number | null; forecast_confidence: number }> = [];
    // the accounts' order and names, as /v1/table lists them
    for (const account of model.tables.list()) {
      const netns = account.netns;
      const t = tableSeries(netns, model.tables.history(netns)!, from, to);
      if (!t) continue;
      const f = account.forecast;
      tables.push({ ...t, name: tableName(model.tables, netns), host: netns === host, time_to_full_s: f?.time_to_full_s ?? null, forecast_confidence: f?.confidence ?? 0 });
    }
    return { start_s: from, step_s: 1, window: Math.max(0, to - from + 1), now_s, epoch_offset_s, final, tables: tables.slice(0, q.limit) };
  }
}

interface KeySeriesQuery {
  by: Dimension;
  stream: SeriesStream;
  window: number;
  limit: number;
  until?: number;
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
