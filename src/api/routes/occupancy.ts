// GET /v1/occupancy?by=&state=&proto=&limit= — who holds entries now: live
// entries by key, each with its protocol/state breakdown.

import type { FastifyInstance } from 'fastify';
import type { Dimension, Model } from '../../model/model.js';
import { protoNumber } from '../../model/keys.js';
import { stateFromName } from '../../model/states.js';
import { errorSchema } from '../http-errors.js';
import { byParam, limitParam, protoParam, stateCount, stateParam, topKShape } from './schemas.js';
import { netnsNameField, withNetnsNames } from './netns-names.js';

export const occupancySchema = topKShape(
  { states: { type: 'array', items: stateCount }, ...netnsNameField },
  { live: { type: 'integer' }, state: { type: 'string' }, proto: { type: 'string' }, states: { type: 'array', items: stateCount } },
);

export async function occupancyRoutes(app: FastifyInstance, opts: { model: Model }): Promise<void> {
  const { model } = opts;
  app.get(
    '/v1/occupancy',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { by: { ...byParam, default: 'src' }, state: stateParam, proto: protoParam, limit: limitParam },
        },
        response: { 200: occupancySchema, '4xx': errorSchema, '5xx': errorSchema },
      },
    },
    async (req) => {
      const q = req.query as { by: Dimension; state?: string; proto?: string; limit: number };
      const r = model.occupancy({
        by: q.by,
        limit: q.limit,
        state: q.state === undefined ? undefined : stateFromName(q.state),
        proto: q.proto === undefined ? undefined : protoNumber(q.proto),
      });
      return withNetnsNames({ ...r, state: q.state, proto: q.proto, sampling: model.sampled(0) }, model.tables);
    },
  );
}
