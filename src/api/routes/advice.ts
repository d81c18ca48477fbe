// GET /v1/advice — what to do, each item with the evidence it rests on and
// where each number can be checked: the advice engine (src/advice/) over the
// model, every table's account and the ingress arrivals, the same engine
// `replay --report` and `top` use.

import type { FastifyInstance } from 'fastify';
import { advise, adviceWindow } from '../../advice/engine.js';
import type { AdviceEnvironment } from '../../advice/types.js';
import type { ArrivalsModel } from '../../model/arrivals.js';
import type { Model } from '../../model/model.js';
import type { TableView } from '../context.js';
import { errorSchema } from '../http-errors.js';
import { noQuery } from './schemas.js';

export const adviceItemSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    level: { type: 'string', enum: ['info', 'warn', 'action', 'critical'] },
    title: { type: 'string' },
    detail: { type: 'string' },
    evidence: { type: 'object', additionalProperties: true },
    action: { type: 'string' },
    checks: { type: 'object', additionalProperties: { type: 'string' } },
    netns: { type: 'integer' },
  },
  required: ['id', 'level', 'title', 'detail', 'evidence', 'action'],
} as const;

export const adviceSchema = {
  type: 'object',
  properties: {
    generated_at_s: { type: 'number' },
    observed_s: { type: 'number' },
    window_s: { type: 'number' },
    advice: { type: 'array', items: adviceItemSchema },
  },
  required: ['generated_at_s', 'window_s', 'advice'],
} as const;

export interface AdviceRoutesOptions {
  model: Model;
  table: TableView;
  /** Host facts (what an entry costs, the memory); read per request. */
  environment: () => AdviceEnvironment;
  arrivals?: ArrivalsModel;
}

/** The advice /v1/advice answers (also what the event stream diffs). */
export function adviceNow(opts: AdviceRoutesOptions): ReturnType<typeof advise> {
  const window = adviceWindow(opts.model);
  return advise({ model: opts.model, tables: opts.table.list(window), arrivals: opts.arrivals ?? null, environment: opts.environment(), window });
}

export async function adviceRoutes(app: FastifyInstance, opts: AdviceRoutesOptions): Promise<void> {
  app.get(
    '/v1/advice',
    {
      schema: {
        querystring: noQuery,
        response: { 200: adviceSchema, '4xx': errorSchema, '5xx': errorSchema },
      },
    },
    async () => adviceNow(opts),
  );
}
