// GET /v1/advice — recommendations with their evidence: the model's (timeouts,
// table size, NOTRACK, connection reuse) and any given from outside it (the
// ingress source's SYN-flood and scan checks).

import type { FastifyInstance } from 'fastify';
import type { Model } from '../../model/model.js';
import { advise, type Advice, type AdviceEnvironment } from '../../model/advice.js';
import { errorSchema } from '../http-errors.js';
import { noQuery } from './schemas.js';

export const adviceSchema = {
  type: 'object',
  properties: {
    generated_at_s: { type: 'number' },
    observed_s: { type: 'number' },
    advice: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          id: { type: 'string' },
          severity: { type: 'string', enum: ['info', 'warn', 'action'] },
          title: { type: 'string' },
          recommendation: { type: 'string' },
          evidence: { type: 'object', additionalProperties: true },
        },
        required: ['id', 'severity', 'title', 'recommendation', 'evidence'],
      },
    },
  },
  required: ['advice'],
} as const;

export interface AdviceRoutesOptions {
  model: Model;
  /** Host facts for the table-size advice (slab object size, memory); read per request. */
  environment?: () => AdviceEnvironment;
  /** Advice from outside the model, appended. */
  moreAdvice?: () => Advice[];
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
    async () => {
      const r = advise(opts.model, opts.environment?.() ?? {});
      if (opts.moreAdvice) r.advice.push(...opts.moreAdvice());
      return r;
    },
  );
}
