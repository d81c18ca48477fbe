// /v1/table: the kernel's own view of the table (count, max, buckets, per-CPU
// stats by column name, timeouts) and how close it is to full. ?netns= picks
// another namespace's table (conntrack tables are per namespace).

import type { FastifyInstance } from 'fastify';
import type { TableView } from '../context.js';
import { ApiError, errorSchema } from '../http-errors.js';
import { utilizationLevel } from '../../proc/parse.js';
import type { ProcSnapshot } from '../../proc/types.js';
import { netnsParam, query } from './schemas.js';

export const tableSchema = {
  type: 'object',
  properties: {
    netns: { type: 'integer' },
    count: { type: 'integer' },
    max: { type: 'integer' },
    utilization: { type: 'number' },
    level: { type: 'string', enum: ['ok', 'warn', 'action', 'critical'] },
    buckets: { type: 'integer' },
    stats: { type: 'object', additionalProperties: { type: 'integer' } },
    timeouts: { type: 'object', additionalProperties: { type: 'integer' } },
    namespaces: { type: 'array', items: { type: 'object', properties: { netns: { type: 'integer' }, count: { type: 'integer' } } } },
  },
  required: ['count', 'max', 'utilization', 'level', 'buckets', 'stats', 'timeouts'],
} as const;

export function tableReport(s: ProcSnapshot) {
  const utilization = s.max > 0 ? s.count / s.max : 0;
  return {
    netns: s.netns,
    count: s.count,
    max: s.max,
    utilization: Math.round(utilization * 1e6) / 1e6,
    level: utilizationLevel(utilization),
    buckets: s.buckets,
    stats: s.stats,
    timeouts: s.timeouts,
  };
}

export async function tableRoutes(app: FastifyInstance, opts: { table: TableView }): Promise<void> {
  app.get(
    '/v1/table',
    {
      schema: {
        querystring: query({ netns: netnsParam }),
        response: { 200: tableSchema, '4xx': errorSchema },
      },
    },
    async (req) => {
      const { netns } = req.query as { netns?: number };
      const s = netns === undefined ? opts.table.host() : opts.table.get(netns);
      if (!s) {
        if (netns !== undefined) {
          const known = opts.table.all().map((x) => x.netns);
          throw new ApiError(404, `network namespace ${netns} is not followed; known: ${known.join(', ') || 'none'}`);
        }
        throw new ApiError(503, 'no reading of the conntrack table yet (is nf_conntrack loaded?)');
      }
      return {
        ...tableReport(s),
        namespaces: netns === undefined ? opts.table.all().map((x) => ({ netns: x.netns, count: x.count })) : undefined,
      };
    },
  );
}
