// The real app (src/api/app.ts buildApp, every route plugin, the same ajv
// options and error handler) over a model a test filled, with the table and
// /metrics a replay would serve (src/app/model-views.ts). No socket: use
// inject(), and close() it after.

import type { FastifyInstance } from 'fastify';
import { buildApp, type AppOptions } from '../../src/api/app.js';
import type { StatusReport } from '../../src/api/context.js';
import { modelMetrics, modelTable } from '../../src/app/model-views.js';
import type { Model } from '../../src/model/model.js';

export async function appOver(model: Model, extra: Partial<AppOptions> = {}): Promise<FastifyInstance> {
  const table = modelTable(model);
  const status = (): StatusReport => ({
    version: 'test',
    mode: 'replay',
    kernel: { release: 'test', btf: false },
    started_at: new Date(0).toISOString(),
    uptime_seconds: 0,
    sources: [],
    lost: { total: 0 },
  });
  return buildApp({ status, table, metrics: modelMetrics(model, table, () => []), model, ...extra });
}
