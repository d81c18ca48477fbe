// GET /v1/forecast[?netns=] — when a table will be full (forecast/forecast.ts:
// the most pessimistic sound estimate from the records' net allocation rate
// and the kernel's count, named in `basis`, every estimate in `estimates`).
// Without netns, the table in most danger.

import type { FastifyInstance } from 'fastify';
import type { TableView } from '../context.js';
import { ApiError, errorSchema } from '../http-errors.js';
import { netnsParam } from './schemas.js';

const estimateSchema = {
  type: 'object',
  properties: {
    basis: { type: 'string' },
    window_s: { type: 'number' },
    rate_per_s: { type: ['number', 'null'] },
    time_to_full_s: { type: ['number', 'null'] },
    z: { type: ['number', 'null'] },
    sound: { type: 'boolean' },
    why: { type: 'string' },
  },
} as const;

export const forecastSchema = {
  type: 'object',
  properties: {
    netns: { type: 'integer' },
    name: { type: 'string' },
    count: { type: 'integer' },
    max: { type: 'integer' },
    utilization: { type: 'number' },
    time_to_full_s: { type: ['number', 'null'] },
    basis: { type: 'string' },
    chosen: { type: ['string', 'null'] },
    confidence: { type: 'number' },
    level: { type: 'string', enum: ['none', 'low', 'medium', 'high'] },
    trend_per_s: { type: ['number', 'null'] },
    net_alloc_rate_per_s: { type: ['number', 'null'] },
    horizon_s: { type: 'number' },
    samples: { type: 'integer' },
    r2: { type: ['number', 'null'] },
    since_s: { type: 'number' },
    reset: { anyOf: [{ type: 'object', properties: { at_s: { type: 'number' }, why: { type: 'string' } } }, { type: 'null' }] },
    estimates: { type: 'array', items: estimateSchema },
  },
  required: ['netns', 'count', 'max', 'time_to_full_s', 'basis', 'confidence', 'level', 'horizon_s'],
} as const;

export async function forecastRoutes(app: FastifyInstance, opts: { table: TableView }): Promise<void> {
  app.get(
    '/v1/forecast',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { netns: netnsParam },
        },
        response: { 200: forecastSchema, '4xx': errorSchema, '5xx': errorSchema },
      },
    },
    async (req) => {
      const { netns } = req.query as { netns?: number };
      const t = netns === undefined ? (opts.table.list()[0] ?? null) : opts.table.get(netns);
      if (!t) {
        if (netns !== undefined) throw new ApiError(404, `no reading of network namespace ${netns}; known: ${opts.table.list().map((x) => `${x.netns} (${x.name})`).join(', ') || 'none'}`);
        throw new ApiError(503, 'no reading of the conntrack table yet: the forecast needs /proc snapshots');
      }
      return { ...t.forecast, name: t.name };
    },
  );
}
