// GET /v1/table[?netns=&window=&limit=] — every conntrack table ctscope
// follows (one per network namespace; nf_conntrack_max is global, the count
// is not), as its account keeps it (proc/accounts.ts): count, max, level,
// drops and early drops per second, peak, forecast, statistics and where
// they came from. Without netns the answer is the table in most danger
// (level, then drops per second, then utilization) with the tables listed
// after it in that order: a quiet host namespace never hides a full one.
// `tables` holds the first `limit` (default 100) and `total` says how many
// there are: a dense node's 1,000 idle tables, each with its forecast, made
// an answer of 1.2 MB that took over 100 ms; the ones that matter come
// first, and ?limit= asks for more.

import type { FastifyInstance } from 'fastify';
import type { TableView } from '../context.js';
import type { TableAccountView } from '../../proc/accounts.js';
import { ApiError, errorSchema } from '../http-errors.js';
import { forecastSchema } from './forecast.js';
import { integerParam, netnsParam, query, tableLimitParam } from './schemas.js';

const counters = {
  type: 'object',
  properties: {
    seconds: { type: 'number' },
    drop: { type: ['integer', 'null'] },
    early_drop: { type: ['integer', 'null'] },
    insert_failed: { type: ['integer', 'null'] },
  },
} as const;

export const tableAccountSchema = {
  type: 'object',
  properties: {
    netns: { type: 'integer' },
    generation: { type: 'integer' },
    name: { type: 'string' },
    kind: { type: 'string', enum: ['host', 'named', 'process', 'container', 'pod', 'unknown'] },
    pod: { type: 'string' },
    k8s_namespace: { type: 'string' },
    container: { type: 'string' },
    first_seen_s: { type: 'number' },
    read_at_s: { type: 'number' },
    gone: { type: 'boolean' },
    count: { type: 'integer' },
    max: { type: 'integer' },
    utilization: { type: 'number' },
    level: { type: 'string', enum: ['ok', 'warn', 'action', 'critical'] },
    buckets: { type: 'integer' },
    drops_per_s: { type: ['number', 'null'] },
    early_drops_per_s: { type: ['number', 'null'] },
    insert_failed_per_s: { type: ['number', 'null'] },
    drops: counters,
    window: { anyOf: [counters, { type: 'null' }] },
    peak: {
      anyOf: [
        { type: 'object', properties: { count: { type: 'integer' }, max: { type: 'integer' }, utilization: { type: 'number' }, at_s: { type: 'number' } } },
        { type: 'null' },
      ],
    },
    stats: { type: 'object', additionalProperties: { type: 'integer' } },
    stats_source: { type: ['string', 'null'], enum: ['proc', 'ctnetlink', null] },
    timeouts: { type: 'object', additionalProperties: { type: 'integer' } },
    forecast: forecastSchema,
  },
  required: ['netns', 'name', 'kind', 'count', 'max', 'utilization', 'level', 'buckets', 'drops_per_s', 'stats', 'stats_source', 'timeouts', 'forecast'],
} as const;

export const tableSchema = {
  type: 'object',
  properties: {
    ...tableAccountSchema.properties,
    /** Without netns: the first `limit` tables, most endangered first (the first is the answer itself). */
    tables: { type: 'array', items: tableAccountSchema },
    /** Without netns: how many tables there are, listed or not. */
    total: { type: 'integer' },
  },
  required: tableAccountSchema.required,
} as const;

export async function tableRoutes(app: FastifyInstance, opts: { table: TableView }): Promise<void> {
  app.get(
    '/v1/table',
    {
      schema: {
        querystring: query({ netns: netnsParam, window: integerParam(1, 3600), limit: tableLimitParam }),
        response: { 200: tableSchema, '4xx': errorSchema, '5xx': errorSchema },
      },
    },
    async (req): Promise<TableAccountView & { tables?: TableAccountView[]; total?: number }> => {
      const { netns, window, limit } = req.query as { netns?: number; window?: number; limit: number };
      if (netns !== undefined) {
        const t = opts.table.get(netns, window);
        if (!t) {
          const known = opts.table.list().map((x) => `${x.netns} (${x.name})`);
          throw new ApiError(404, `network namespace ${netns} is not followed; known: ${known.join(', ') || 'none'}`);
        }
        return t;
      }
      const listed = opts.table.list(window, limit);
      if (!listed.length) throw new ApiError(503, 'no reading of the conntrack table yet (is nf_conntrack loaded?)');
      return { ...listed[0]!, tables: listed, total: opts.table.total?.() ?? listed.length };
    },
  );
}
