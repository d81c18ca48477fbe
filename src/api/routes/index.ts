// The model's routes: churn, drops, occupancy, flows, lifetimes, forecast,
// advice. Registered by the app factory (src/api/app.ts) with the daemon's or
// the replayer's Model: `{ plugin: modelRoutes, opts: { model } }`.
// Validation is declared (schemas.ts); the app's error handler turns a
// schema failure into 400 { message }.

import type { FastifyInstance } from 'fastify';
import { ApiError, errorSchema } from '../errors.js';
import type { Dimension, DropKind, Model, TopKResult } from '../../model/model.js';
import { protoNumber } from '../../model/keys.js';
import { parseAddress } from '../../records/address.js';
import { stateFromName } from '../../model/states.js';
import { advise, type Advice, type AdviceEnvironment } from '../../model/advice.js';
import {
  adviceSchema,
  byParam,
  dropKindParam,
  flowSchema,
  flowsSchema,
  forecastSchema,
  lifetimesSchema,
  limitParam,
  protoParam,
  stateParam,
  topKSchema,
  windowParam,
} from './schemas.js';

export interface ModelRoutesOptions {
  model: Model;
  /** Host facts for /v1/advice (slab object size, memory); read lazily. */
  environment?: () => AdviceEnvironment;
  /** Advice from outside the model (the ingress source's SYN-flood and scan checks), appended. */
  moreAdvice?: () => Advice[];
  /** What an operator calls each namespace (host, its /run/netns name, pid:N), by inode: added to by=netns items. */
  netnsNames?: () => ReadonlyMap<number, string>;
}

const U64_MAX = (1n << 64n) - 1n;

export async function modelRoutes(app: FastifyInstance, opts: ModelRoutesOptions): Promise<void> {
  const { model } = opts;
  const maxWindow = model.opts.historySeconds;
  const errors = { '4xx': errorSchema, '5xx': errorSchema };
  // An inode means nothing to an operator: name the namespace where we can.
  const named = <T extends TopKResult>(r: T): T => {
    if (r.by !== 'netns' || !opts.netnsNames) return r;
    const names = opts.netnsNames();
    return { ...r, items: r.items.map((i) => ({ ...i, netns_name: names.get(Number(i.key)) ?? null })) };
  };

  app.get(
    '/v1/churn',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { by: { ...byParam, default: 'src' }, window: windowParam(maxWindow), limit: limitParam },
        },
        response: { 200: topKSchema, ...errors },
      },
    },
    async (req) => {
      const q = req.query as { by: Dimension; window: number; limit: number };
      return named(model.churn(q));
    },
  );

  app.get(
    '/v1/drops',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { by: { ...byParam, default: 'src' }, kind: dropKindParam, window: windowParam(maxWindow), limit: limitParam },
        },
        response: { 200: topKSchema, ...errors },
      },
    },
    async (req) => {
      const q = req.query as { by: Dimension; kind: 'all' | DropKind; window: number; limit: number };
      const r = model.drops({ by: q.by, window: q.window, limit: q.limit, kinds: q.kind === 'all' ? undefined : [q.kind] });
      return named({ ...r, kind: q.kind });
    },
  );

  app.get(
    '/v1/occupancy',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { by: { ...byParam, default: 'src' }, state: stateParam, proto: protoParam, limit: limitParam },
        },
        response: { 200: topKSchema, ...errors },
      },
    },
    async (req) => {
      const q = req.query as { by: Dimension; state?: string; proto?: string; limit: number };
      const r = model.occupancy({
        by: q.by,
        limit: q.limit,
        state: q.state === undefined ? undefined : stateFromName(q.state),
        proto: q.proto === undefined ? undefined : protoNumber(q.proto),
      });
      return named({ ...r, state: q.state, proto: q.proto });
    },
  );

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
            sport: { type: 'integer', minimum: 0, maximum: 65535 },
            dport: { type: 'integer', minimum: 0, maximum: 65535 },
            proto: protoParam,
            state: stateParam,
            netns: { type: 'integer', minimum: 0, maximum: 4294967295 },
            limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
          },
        },
        response: { 200: flowsSchema, ...errors },
      },
    },
    async (req) => {
      const q = req.query as { src?: string; dst?: string; sport?: number; dport?: number; proto?: string; state?: string; netns?: number; limit: number };
      for (const name of ['src', 'dst'] as const) {
        const v = q[name];
        if (v !== undefined && !parseAddress(v)) throw new ApiError(400, `query parameter '${name}' must be an IPv4 or IPv6 address, got '${v}'`);
      }
      try {
        const r = model.listFlows({
          ...q,
          proto: q.proto === undefined ? undefined : protoNumber(q.proto),
          state: q.state === undefined ? undefined : stateFromName(q.state),
        });
        return { ...r, limit: q.limit };
      } catch (e) {
        if (e instanceof RangeError) throw new ApiError(400, e.message);
        throw e;
      }
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

  app.get(
    '/v1/lifetimes',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { by: { type: 'string', enum: ['proto', 'state'], default: 'proto' } },
        },
        response: { 200: lifetimesSchema, ...errors },
      },
    },
    async (req) => model.lifetimeGroups((req.query as { by: 'proto' | 'state' }).by),
  );

  app.get(
    '/v1/forecast',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { netns: { type: 'integer', minimum: 1, maximum: 4294967295 } },
        },
        response: { 200: forecastSchema, ...errors },
      },
    },
    async (req) => {
      const { netns } = req.query as { netns?: number };
      const f = model.forecast(netns);
      if (!f) {
        if (netns !== undefined) throw new ApiError(404, `no /proc readings of network namespace ${netns}; known: ${model.namespaces().join(', ') || 'none'}`);
        throw new ApiError(503, 'no reading of the conntrack table yet: the forecast needs /proc snapshots');
      }
      return f;
    },
  );

  app.get(
    '/v1/advice',
    {
      schema: {
        querystring: { type: 'object', additionalProperties: false, properties: {} },
        response: { 200: adviceSchema, ...errors },
      },
    },
    async () => {
      const r = advise(model, opts.environment?.() ?? {});
      if (opts.moreAdvice) r.advice.push(...opts.moreAdvice());
      return r;
    },
  );
}
