// /healthz and /v1/status: is the daemon alive, which sources run with which
// hook, and how many records were lost where.

import type { FastifyInstance } from 'fastify';
import type { StatusReport } from '../context.js';
import { errorSchema } from '../http-errors.js';
import { noQuery } from './schemas.js';

const lossSchema = {
  type: 'object',
  properties: {
    ringbufReserveFailed: { type: 'array', items: { type: 'integer' } },
    recursionMisses: { type: 'integer' },
    queueDropped: { type: 'integer' },
    netlinkOverruns: { type: 'integer' },
    resyncs: { type: 'integer' },
    total: { type: 'integer' },
  },
  required: ['total'],
} as const;

const sourceSchema = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    state: { type: 'string' },
    hook: { type: ['string', 'null'] },
    detail: { type: 'string' },
    records: { type: 'integer' },
    lost: lossSchema,
    delay_p99_s: { type: ['number', 'null'] },
    // the ctnetlink source: the namespaces it follows (and failed to)
    namespaces: {
      type: 'array',
      items: {
        type: 'object',
        properties: { inode: { type: 'integer' }, name: { type: 'string' }, state: { type: 'string' }, error: { type: ['string', 'null'] } },
      },
    },
    // the ctnetlink source: namespaces that went since start (the detail's list is capped)
    vanishedTotal: { type: 'integer' },
    // the /proc poller: its bound per tick and how old its readings may be
    readings: {
      type: 'object',
      properties: {
        namespaces: { type: 'integer' },
        per_tick: { type: 'integer' },
        cycle_ticks: { type: 'integer' },
        count_age_max_s: { type: ['number', 'null'] },
        timeouts_age_max_s: { type: ['number', 'null'] },
        timeouts_every_s: { type: 'number' },
        unread: { type: 'integer' },
        late_ticks: { type: 'integer' },
      },
    },
  },
  required: ['name', 'state', 'hook', 'records', 'lost'],
} as const;

const kindCounts = { new: { type: 'integer' }, update: { type: 'integer' }, destroy: { type: 'integer' } } as const;
const workloadsSchema = {
  type: 'object',
  properties: {
    source: { type: 'string', enum: ['cri', 'proc', 'none'] },
    state: { type: 'string', enum: ['running', 'fallback', 'unavailable', 'off'] },
    socket: { type: ['string', 'null'] },
    runtime: { type: ['string', 'null'] },
    pods: { type: 'integer' },
    deleted_pods: { type: 'integer' },
    interval_s: { type: 'number' },
    last_poll_age_s: { type: ['number', 'null'] },
    error: { type: ['string', 'null'] },
    tried: {
      type: 'array',
      items: { type: 'object', properties: { socket: { type: 'string' }, result: { type: 'string' } }, required: ['socket', 'result'] },
    },
    message: { type: 'string' },
  },
  required: ['source', 'state', 'socket', 'runtime', 'pods', 'message'],
} as const;

export const statusSchema = {
  type: 'object',
  properties: {
    version: { type: 'string' },
    mode: { type: 'string', enum: ['live', 'replay'] },
    kernel: { type: 'object', properties: { release: { type: 'string' }, btf: { type: 'boolean' } } },
    started_at: { type: 'string' },
    uptime_seconds: { type: 'number' },
    replay: {
      type: 'object',
      properties: { file: { type: 'string' }, partial: { type: 'boolean' }, detail: { type: 'string' } },
    },
    sources: { type: 'array', items: sourceSchema },
    workloads: workloadsSchema,
    capabilities: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          capability: { type: 'string' },
          chosen: { type: ['string', 'null'] },
          tried: { type: 'array', items: { type: 'object', properties: { hook: { type: 'string' }, result: { type: 'string' } } } },
        },
      },
    },
    blind_spots: { type: 'array', items: { type: 'string' } },
    lost: { type: 'object', properties: { total: { type: 'integer' } }, required: ['total'] },
    sampling: {
      type: 'object',
      properties: {
        max_cpu: { type: ['number', 'null'] },
        one_in: { type: 'integer' },
        cpu: { type: 'number' },
        sampled_seconds: { type: 'number' },
        changes: { type: 'integer' },
        events: { type: ['object', 'null'], properties: kindCounts },
        refused: { type: ['object', 'null'], properties: kindCounts },
        detail: { type: 'string' },
        sampled_out_entries: { type: 'integer' },
      },
      required: ['max_cpu', 'one_in', 'events', 'refused'],
    },
  },
  required: ['version', 'mode', 'kernel', 'sources', 'lost'],
} as const;

export async function statusRoutes(app: FastifyInstance, opts: { status: () => StatusReport }): Promise<void> {
  app.get(
    '/healthz',
    { schema: { querystring: noQuery, response: { 200: { type: 'object', properties: { ok: { type: 'boolean' } } } } } },
    async () => ({ ok: true }),
  );
  app.get(
    '/v1/status',
    { schema: { querystring: noQuery, response: { 200: statusSchema, '4xx': errorSchema } } },
    async () => opts.status(),
  );
}
