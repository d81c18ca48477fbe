// GET /v1/flows?src=&dst=&sport=&dport=&proto=&state=&netns=&zone=&mark=&closed=&limit=
// — live entries matching a filter, oldest first (closed=true: the recently
// closed ones, newest first); GET /v1/flows/:id — one entry, live or among
// the recently closed.

import type { FastifyInstance } from 'fastify';
import type { Model } from '../../model/model.js';
import { protoNumber } from '../../model/keys.js';
import { stateFromName } from '../../model/states.js';
import { parseAddress } from '../../records/address.js';
import { ApiError, errorSchema } from '../http-errors.js';
import { flowLimitParam, integerParam, netnsParam, portParam, protoParam, samplingField, stateParam } from './schemas.js';

export const flowSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    live: { type: 'boolean' },
    proto: { type: 'string' },
    src: { type: 'string' },
    sport: { type: 'integer' },
    dst: { type: 'string' },
    dport: { type: 'integer' },
    netns: { type: 'integer' },
    zone: { type: 'integer' },
    mark: { type: 'integer' },
    state: { type: 'string' },
    status: { type: 'integer' },
    confirmed: { type: 'boolean' },
    opened: { type: 'string', enum: ['alloc', 'seen_at_start', 'seen_at_resync', 'update'] },
    start_s: { type: 'number' },
    start_known: { type: 'boolean' },
    age_s: { type: 'number' },
    last_seen_s_ago: { type: 'number' },
    state_since_s: { type: 'number' },
    states: { type: 'array', items: { type: 'string' } },
    closed: {
      type: 'object',
      properties: { at_s: { type: 'number' }, cause: { type: 'string' }, lifetime_s: { type: ['number', 'null'] } },
      required: ['at_s', 'cause', 'lifetime_s'],
    },
  },
  required: ['id', 'live', 'proto', 'src', 'dst', 'state', 'opened', 'age_s'],
} as const;

export const flowsSchema = {
  type: 'object',
  properties: { total: { type: 'integer' }, limit: { type: 'integer' }, closed: { type: 'boolean' }, flows: { type: 'array', items: flowSchema }, ...samplingField },
  required: ['total', 'flows'],
} as const;

const U64_MAX = (1n << 64n) - 1n;

export async function flowsRoutes(app: FastifyInstance, opts: { model: Model }): Promise<void> {
  const { model } = opts;
  const errors = { '4xx': errorSchema, '5xx': errorSchema };
  app.get(
    '/v1/flows',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            src: { type: 'string', minLength: 2, maxLength: 45 },
            dst: { type: 'string', minLength: 2, maxLength: 45 },
            sport: portParam,
            dport: portParam,
            proto: protoParam,
            state: stateParam,
            netns: netnsParam,
            zone: integerParam(0, 65535),
            mark: integerParam(0, 4294967295),
            // the recently closed entries (the last 4,096 destroyed, newest first) instead of the live ones
            closed: { type: 'boolean', default: false },
            limit: flowLimitParam,
          },
        },
        response: { 200: flowsSchema, ...errors },
      },
    },
    async (req) => {
      const q = req.query as { src?: string; dst?: string; sport?: number; dport?: number; proto?: string; state?: string; netns?: number; zone?: number; mark?: number; closed: boolean; limit: number };
      for (const name of ['src', 'dst'] as const) {
        const v = q[name];
        if (v !== undefined && !parseAddress(v)) throw new ApiError(400, `query parameter '${name}' must be an IPv4 or IPv6 address, got '${v}'`);
      }
      // (a RangeError from the model is a bug, answered 500 and logged — no
      // internal message such as "Invalid array length" reaches a client)
      const { closed, ...filter } = q;
      const f = {
        ...filter,
        proto: q.proto === undefined ? undefined : protoNumber(q.proto),
        state: q.state === undefined ? undefined : stateFromName(q.state),
      };
      const r = closed ? model.listClosed(f) : model.listFlows(f);
      return { ...r, limit: q.limit, closed, sampling: model.sampled(0) };
    },
  );

  app.get(
    '/v1/flows/:id',
    {
      schema: {
        params: { type: 'object', properties: { id: { type: 'string', pattern: '^[0-9]{1,20}$' } }, required: ['id'] },
        response: { 200: flowSchema, ...errors },
      },
    },
    async (req) => {
      const { id } = req.params as { id: string };
      const n = BigInt(id);
      if (n > U64_MAX || n === 0n) throw new ApiError(400, `flow id ${id} is out of range (1..${U64_MAX})`);
      const f = model.flow(n);
      if (!f) throw new ApiError(404, `no live or recently closed flow with id ${id}; list live ones with /v1/flows`);
      return f;
    },
  );
}
