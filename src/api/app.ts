// The app factory: one Fastify instance with every route plugin, separate
// from any socket so tests drive it with inject(). The live daemon, a served
// replay and the tests all build it here (through src/app/ for the first
// two), over their own model, status and table view; this is the one list of
// the routes.

import Fastify, { type FastifyInstance } from 'fastify';
import type { Model } from '../model/model.js';
import type { Advice, AdviceEnvironment } from '../model/advice.js';
import type { ArrivalsModel } from '../model/arrivals.js';
import type { StatusReport, TableView } from './context.js';
import { errorHandler } from './http-errors.js';
import { statusRoutes } from './routes/status.js';
import { tableRoutes } from './routes/table.js';
import { metricsRoutes } from './routes/metrics.js';
import { churnRoutes } from './routes/churn.js';
import { dropsRoutes } from './routes/drops.js';
import { occupancyRoutes } from './routes/occupancy.js';
import { flowsRoutes } from './routes/flows.js';
import { lifetimesRoutes } from './routes/lifetimes.js';
import { forecastRoutes } from './routes/forecast.js';
import { adviceRoutes } from './routes/advice.js';
import { arrivalsRoutes } from './routes/arrivals.js';
import type { NetnsNames } from './routes/netns-names.js';

export interface AppOptions {
  status: () => StatusReport;
  table: TableView;
  /** The whole /metrics exposition text. */
  metrics: () => string;
  /** The model the query routes answer from (churn, drops, occupancy, flows, lifetimes, forecast, advice); none: those routes are absent. */
  model?: Model;
  /** Names of network namespaces by inode, for rankings by netns. */
  netnsNames?: NetnsNames;
  /** Host facts for /v1/advice (slab object size, memory); read per request. */
  environment?: () => AdviceEnvironment;
  /** Advice from outside the model (the ingress source's), appended to /v1/advice. */
  moreAdvice?: () => Advice[];
  /** New-flow arrivals at netdev ingress: /v1/arrivals. */
  arrivals?: ArrivalsModel;
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
  await app.register(metricsRoutes, { metrics: opts.metrics });
  const { model } = opts;
  if (model) {
    const named = { model, ...(opts.netnsNames ? { netnsNames: opts.netnsNames } : {}) };
    await app.register(churnRoutes, named);
    await app.register(dropsRoutes, named);
    await app.register(occupancyRoutes, named);
    await app.register(flowsRoutes, { model });
    await app.register(lifetimesRoutes, { model });
    await app.register(forecastRoutes, { model });
    await app.register(adviceRoutes, {
      model,
      ...(opts.environment ? { environment: opts.environment } : {}),
      ...(opts.moreAdvice ? { moreAdvice: opts.moreAdvice } : {}),
    });
  }
  if (opts.arrivals) await app.register(arrivalsRoutes, { arrivals: opts.arrivals, ...(model ? { model } : {}) });
  await app.ready();
  return app;
}
