// GET /v1/forecast?netns= — when the table will be full: from the count's
// trend in the /proc snapshots and the net allocation rate.

import type { FastifyInstance } from 'fastify';
import type { Model } from '../../model/model.js';
import { ApiError, errorSchema } from '../http-errors.js';
import { netnsParam } from './schemas.js';

export const forecastSchema = {
  type: 'object',
  properties: {
    netns: { type: 'integer' },
    count: { type: 'integer' },
    max: { type: 'integer' },
    utilization: { type: 'number' },
    trend_per_s: { type: ['number', 'null'] },
    net_alloc_rate_per_s: { type: ['number', 'null'] },
    time_to_full_s: { type: ['number', 'null'] },
    horizon_s: { type: 'number' },
    samples: { type: 'integer' },
    r2: { type: ['number', 'null'] },
    confidence: { type: 'number' },
    level: { type: 'string', enum: ['none', 'low', 'medium', 'high'] },
    basis: { type: 'string' },
  },
  required: ['netns', 'count', 'max', 'time_to_full_s', 'horizon_s', 'confidence', 'level', 'basis'],
} as const;

export async function forecastRoutes(app: FastifyInstance, opts: { model: Model }): Promise<void> {
  const { model } = opts;
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
      const f = model.forecast(netns);
      if (!f) {
        if (netns !== undefined) throw new ApiError(404, `no /proc readings of network namespace ${netns}; known: ${model.namespaces().join(', ') || 'none'}`);
        throw new ApiError(503, 'no reading of the conntrack table yet: the forecast needs /proc snapshots');
      }
      return f;
    },
  );
}
