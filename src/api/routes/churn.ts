// GET /v1/churn?by=&window=&limit= — who allocates entries: the top keys by
// allocations in the window, each with its destroys and median lifetime.

import type { FastifyInstance } from 'fastify';
import type { Dimension, Model } from '../../model/model.js';
import { errorSchema } from '../http-errors.js';
import { byParam, limitParam, topKShape, windowParam } from './schemas.js';
import { netnsNameField, withNetnsNames } from './netns-names.js';

export const churnSchema = topKShape(
  { destroyed: { type: 'number' }, median_lifetime_s: { type: ['number', 'null'] }, ...netnsNameField },
  {
    destroyed_error_bound: { type: 'number' },
    // destroys left out of the per-key median lifetimes while the model sampled them (load above 200,000 destroys/s)
    median_lifetime_skipped: { type: 'number' },
  },
);

export async function churnRoutes(app: FastifyInstance, opts: { model: Model }): Promise<void> {
  const { model } = opts;
  app.get(
    '/v1/churn',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { by: { ...byParam, default: 'src' }, window: windowParam(model.opts.historySeconds), limit: limitParam },
        },
        response: { 200: churnSchema, '4xx': errorSchema, '5xx': errorSchema },
      },
    },
    async (req) => {
      const q = req.query as { by: Dimension; window: number; limit: number };
      return withNetnsNames({ ...model.churn(q), sampling: model.sampled(q.window) }, model.tables);
    },
  );
}
