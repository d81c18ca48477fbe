// The app factory: one Fastify instance with every route plugin, separate
// from any socket so tests drive it with inject(). The daemon (live) and the
// replayer build it the same way over their own model, status and table view.

import Fastify, { type FastifyInstance, type FastifyPluginAsync } from 'fastify';
import type { StatusReport, TableView } from './context.js';
import { errorHandler } from './errors.js';
import { statusRoutes } from './routes/status.js';
import { tableRoutes } from './routes/table.js';

export interface AppOptions {
  status: () => StatusReport;
  table: TableView;
  /** The whole /metrics exposition text. */
  metrics: () => string;
  /** Route plugins over the model (src/api/routes/index.ts), registered as given. */
  plugins?: Array<{ plugin: FastifyPluginAsync<any>; opts?: Record<string, unknown> }>;
  logger?: boolean;
}

export async function buildApp(opts: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    logger: opts.logger ? { level: 'warn' } : false,
    // Unknown query parameters are errors, not silently dropped: a typo in
    // `windwo=60` must not quietly answer for the default window.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: true, allErrors: false } },
  });
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((req, reply) => {
    void reply.status(404).send({ message: `no route ${req.method} ${req.url.split('?')[0]}; see /v1/status and README for the routes` });
  });
  await app.register(statusRoutes, { status: opts.status });
  await app.register(tableRoutes, { table: opts.table });
  app.get(
    '/metrics',
    { schema: { querystring: { type: 'object', additionalProperties: false, properties: {} } } },
    async (_req, reply) => {
      void reply.type('text/plain; version=0.0.4; charset=utf-8');
      return opts.metrics();
    },
  );
  for (const p of opts.plugins ?? []) await app.register(p.plugin, p.opts ?? {});
  await app.ready();
  return app;
}
