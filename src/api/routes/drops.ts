// GET /v1/drops?by=&kind=&window=&limit= — whose packets are dropped: by
// default every dropped packet once (Model.packetDropKinds), or one kind.

import type { FastifyInstance } from 'fastify';
import type { Dimension, DropKind, Model } from '../../model/model.js';
import { errorSchema } from '../http-errors.js';
import { byParam, dropKindParam, limitParam, topKShape, windowParam } from './schemas.js';
import { netnsNameField, withNetnsNames } from './netns-names.js';

export const dropsSchema = topKShape({ ...netnsNameField }, { kind: { type: 'string' } });

export async function dropsRoutes(app: FastifyInstance, opts: { model: Model }): Promise<void> {
  const { model } = opts;
  app.get(
    '/v1/drops',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { by: { ...byParam, default: 'src' }, kind: dropKindParam, window: windowParam(model.opts.historySeconds), limit: limitParam },
        },
        response: { 200: dropsSchema, '4xx': errorSchema, '5xx': errorSchema },
      },
    },
    async (req) => {
      const q = req.query as { by: Dimension; kind: 'all' | DropKind; window: number; limit: number };
      const r = model.drops({ by: q.by, window: q.window, limit: q.limit, kinds: q.kind === 'all' ? undefined : [q.kind] });
      return withNetnsNames({ ...r, kind: q.kind }, model.tables);
    },
  );
}
