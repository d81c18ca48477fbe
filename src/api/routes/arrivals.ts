// GET /v1/arrivals?by=src|dport|proto&window=&limit= — new-flow arrivals at
// netdev ingress (before conntrack) in the shared top-k shape, each item
// beside what conntrack admitted (allocations) and dropped for the same key
// when the Model is given. Register with
// `{ plugin: arrivalsRoutes, opts: { arrivals, model } }`.

import type { FastifyInstance } from 'fastify';
import { errorSchema } from '../http-errors.js';
import { limitParam, topKShape, windowParam } from './schemas.js';
import { ARRIVAL_DIMENSIONS, type ArrivalDimension, type ArrivalsModel } from '../../model/arrivals.js';
import type { Model } from '../../model/model.js';

export interface ArrivalsRoutesOptions {
  arrivals: ArrivalsModel;
  model?: Model;
}

export const arrivalsSchema = topKShape(
  { tcp_syn: { type: 'number' }, udp_new: { type: 'number' }, admitted: { type: 'number' }, dropped: { type: 'number' } },
  { admitted_error_bound: { type: 'number' }, dropped_error_bound: { type: 'number' } },
  ['tcp_syn', 'udp_new'],
);

/** Keys the Model ranks beyond which admitted/dropped are not looked up. */
const MODEL_KEYS = 1000;

export async function arrivalsRoutes(app: FastifyInstance, opts: ArrivalsRoutesOptions): Promise<void> {
  const { arrivals, model } = opts;
  const maxWindow = arrivals.historySeconds;
  app.get(
    '/v1/arrivals',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            by: { type: 'string', enum: [...ARRIVAL_DIMENSIONS], default: 'src' },
            window: windowParam(maxWindow),
            limit: limitParam,
          },
        },
        response: { 200: arrivalsSchema, '4xx': errorSchema, '5xx': errorSchema },
      },
    },
    async (req) => {
      const q = req.query as { by: ArrivalDimension; window: number; limit: number };
      const r = arrivals.query(q);
      if (!model || r.items.length === 0) return r;
      const window = Math.min(r.window, model.opts.historySeconds);
      const alloc = model.topK({ by: q.by, kinds: ['alloc'], window, limit: MODEL_KEYS });
      const drops = model.drops({ by: q.by, window, limit: MODEL_KEYS });
      const a = new Map(alloc.items.map((i) => [i.key, i.count]));
      const d = new Map(drops.items.map((i) => [i.key, i.count]));
      for (const it of r.items) {
        it.admitted = a.get(it.key) ?? 0;
        it.dropped = d.get(it.key) ?? 0;
      }
      return { ...r, admitted_error_bound: alloc.error_bound, dropped_error_bound: drops.error_bound };
    },
  );
}
