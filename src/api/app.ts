// The app factory: one Fastify instance with every route plugin, separate
// from any socket so tests drive it with inject(). The live daemon, a served
// replay and the tests all build it here (through src/app/ for the first
// two), over their own model, status and table view; this is the one list of
// the routes.
//
// The app watches itself: every answer is counted by route and code with its
// latency, every 5xx is logged (fastify's pino logger, JSON lines on stderr,
// where journald picks them up), and /metrics carries those figures and the
// process's own next to the daemon's.

import type { Socket } from 'node:net';
import type { Writable } from 'node:stream';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Model } from '../model/model.js';
import type { AdviceEnvironment } from '../advice/types.js';
import { captureEnvironment } from '../advice/environment.js';
import type { ArrivalsModel } from '../model/arrivals.js';
import { Exposition } from '../metrics/exposition.js';
import { HttpMetrics, UNMATCHED } from '../metrics/http.js';
import { ProcessMetrics } from '../metrics/process.js';
import type { ModelClock, StatusReport, TableView } from './context.js';
import { errorHandler } from './http-errors.js';
import { AJV_OPTIONS, installValidation } from './validation.js';
import { statusRoutes } from './routes/status.js';
import { tableRoutes } from './routes/table.js';
import { metricsRoutes } from './routes/metrics.js';
import { churnRoutes } from './routes/churn.js';
import { dropsRoutes } from './routes/drops.js';
import { occupancyRoutes } from './routes/occupancy.js';
import { flowsRoutes } from './routes/flows.js';
import { lifetimesRoutes } from './routes/lifetimes.js';
import { forecastRoutes } from './routes/forecast.js';
import { adviceNow, adviceRoutes } from './routes/advice.js';
import { arrivalsRoutes } from './routes/arrivals.js';
import { staleRoutes, type NetnsEnter } from './routes/stale.js';
import { seriesRoutes } from './routes/series.js';
import { eventRoutes } from './routes/events.js';
import { pageRoutes } from './routes/page.js';
import { installAccess, type ApiAccess } from './access.js';

export interface AppOptions {
  status: () => StatusReport;
  table: TableView;
  /** The whole /metrics exposition text (the app adds its own HTTP and process figures). */
  metrics: () => string;
  /** The model the query routes answer from (churn, drops, occupancy, flows, lifetimes, forecast, advice); none: those routes are absent. */
  model?: Model;
  /** How to run a command in a namespace (/v1/stale's commands); default: the host only. */
  enterNetns?: NetnsEnter;
  /** Host facts for /v1/advice (what an entry costs, the memory); read per request. Default: the defaults (a replay). */
  environment?: () => AdviceEnvironment;
  /** New-flow arrivals at netdev ingress: /v1/arrivals, and the SYN-flood and scan advice. */
  arrivals?: ArrivalsModel;
  /** Where the log goes (default: stderr); tests pass their own stream. */
  logStream?: Writable;
  /**
   * The model's clock as Unix time, and whether more will come (a replay
   * that finished): /v1/series, /v1/events and the page. Default: model
   * seconds read as Unix seconds, more to come.
   */
  clock?: () => ModelClock;
  /** Where the dashboard's built files are (default dist/web). */
  pageDir?: string;
  /** Milliseconds between the event stream's rounds (default 1000: one per model second). */
  eventsIntervalMs?: number;
  /** TLS and a bearer token (access.ts); none: plain HTTP, open to whoever reaches the socket. */
  access?: ApiAccess;
}

/** What the API accepts; anything else is refused with 405 (the API is read-only). */
const ALLOW = 'GET, HEAD';

export async function buildApp(opts: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    // warn and above: 5xx answers and what fastify itself warns about (requests are logged at info: not one line per request)
    logger: { level: 'warn', stream: opts.logStream ?? process.stderr },
    ajv: AJV_OPTIONS,
    // HTTPS only, when given a certificate: the one server, no plain-HTTP twin.
    ...(opts.access?.tls ? { https: { cert: opts.access.tls.cert, key: opts.access.tls.key } } : {}),
  });
  installValidation(app);
  const http = new HttpMetrics();
  const proc = new ProcessMetrics();
  app.addHook('onClose', async () => proc.stop());
  app.addHook('onResponse', async (req, reply) => {
    http.observe(req.is404 ? UNMATCHED : (req.routeOptions.url ?? UNMATCHED), reply.statusCode, reply.elapsedTime / 1000);
  });
  // node's HTTP server hands CONNECT to a 'connect' listener and, with none,
  // drops the socket without an answer: answer it as any other method we do
  // not serve.
  app.server.on('connect', (_req: unknown, socket: Socket) => {
    const body = JSON.stringify({ message: 'CONNECT is not served here: this is ctscope\'s read-only HTTP API (GET)' });
    socket.end(`HTTP/1.1 405 Method Not Allowed\r\nAllow: ${ALLOW}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    http.observe(UNMATCHED, 405, 0);
  });
  app.setErrorHandler(errorHandler);
  const pageAccess = opts.access ? await installAccess(app, opts.access) : () => null;
  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      void reply.status(405).header('allow', ALLOW).send({ message: `${req.method} is not served: the API is read-only (GET ${path})` });
      return;
    }
    void reply.status(404).send({ message: `no route ${req.method} ${path}; see /v1/status and README for the routes` });
  });
  await app.register(statusRoutes, { status: opts.status });
  await app.register(tableRoutes, { table: opts.table });
  await app.register(metricsRoutes, {
    metrics: () => {
      const own = new Exposition();
      http.write(own);
      proc.write(own);
      return opts.metrics() + own.text();
    },
  });
  const { model } = opts;
  if (model) {
    const named = { model };
    await app.register(churnRoutes, named);
    await app.register(dropsRoutes, named);
    await app.register(occupancyRoutes, named);
    await app.register(flowsRoutes, { model });
    await app.register(staleRoutes, { ...named, ...(opts.enterNetns ? { enterNetns: opts.enterNetns } : {}) });
    await app.register(lifetimesRoutes, { model });
    await app.register(forecastRoutes, { table: opts.table });
    const adviceOpts = {
      model,
      table: opts.table,
      environment: opts.environment ?? (() => captureEnvironment()),
      ...(opts.arrivals ? { arrivals: opts.arrivals } : {}),
    };
    await app.register(adviceRoutes, adviceOpts);
    const clock = opts.clock ?? (() => ({ epochOffsetNs: 0, final: false }));
    await app.register(seriesRoutes, { model, clock });
    await app.register(eventRoutes, {
      model,
      clock,
      mode: opts.status().mode,
      advice: () => adviceNow(adviceOpts).advice,
      ...(opts.eventsIntervalMs ? { intervalMs: opts.eventsIntervalMs } : {}),
    });
  }
  await app.register(pageRoutes, { access: pageAccess, ...(opts.pageDir ? { dir: opts.pageDir } : {}) });
  if (opts.arrivals) await app.register(arrivalsRoutes, { arrivals: opts.arrivals, ...(model ? { model } : {}) });
  await app.ready();
  return app;
}
