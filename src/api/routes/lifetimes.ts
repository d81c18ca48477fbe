// GET /v1/lifetimes?by=proto|state — how long entries lived (allocation to
// destroy): exact histograms by protocol, or by protocol and final state.

import type { FastifyInstance } from 'fastify';
import type { Model } from '../../model/model.js';
import { errorSchema } from '../http-errors.js';
import { samplingField } from './schemas.js';

const bucket = {
  type: 'object',
  properties: { le: { anyOf: [{ type: 'number' }, { type: 'string', enum: ['+Inf'] }] }, count: { type: 'number' } },
  required: ['le', 'count'],
} as const;

export const lifetimesSchema = {
  type: 'object',
  properties: {
    by: { type: 'string' },
    unknown_start: { type: 'number' },
    ...samplingField,
    groups: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          proto: { type: 'string' },
          state: { type: 'string' },
          count: { type: 'number' },
          mean_s: { type: 'number' },
          p50_s: { type: ['number', 'null'] },
          p90_s: { type: ['number', 'null'] },
          p99_s: { type: ['number', 'null'] },
          buckets: { type: 'array', items: bucket },
        },
        required: ['proto', 'count', 'mean_s', 'p50_s', 'p90_s', 'p99_s', 'buckets'],
      },
    },
  },
  required: ['by', 'unknown_start', 'groups'],
} as const;

export async function lifetimesRoutes(app: FastifyInstance, opts: { model: Model }): Promise<void> {
  app.get(
    '/v1/lifetimes',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { by: { type: 'string', enum: ['proto', 'state'], default: 'proto' } },
        },
        response: { 200: lifetimesSchema, '4xx': errorSchema, '5xx': errorSchema },
      },
    },
    async (req) => ({ ...opts.model.lifetimeGroups((req.query as { by: 'proto' | 'state' }).by), sampling: opts.model.sampled(opts.model.opts.historySeconds) }),
  );
}
