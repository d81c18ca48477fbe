// GET /metrics — the Prometheus exposition, rendered by whoever assembled the
// app (src/app/: the table, the sources, the model, the ingress counters).

import type { FastifyInstance } from 'fastify';
import { noQuery } from './schemas.js';

export async function metricsRoutes(app: FastifyInstance, opts: { metrics: () => string }): Promise<void> {
  app.get(
    '/metrics',
    { schema: { querystring: noQuery } },
    async (_req, reply) => {
      void reply.type('text/plain; version=0.0.4; charset=utf-8');
      return opts.metrics();
    },
  );
}
