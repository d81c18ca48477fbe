// JSON schemas of the model's routes. Every top-k answer (/v1/churn,
// /v1/drops, /v1/occupancy) has one shape: { by, window, total, items:
// [{ key, count, rate, share, ... }], error_bound }, with route-specific
// extras declared here (the serializer drops anything undeclared).

import { DIMENSIONS } from '../../model/keys.js';
import { STATE_NAMES } from '../../model/states.js';
import { DROP_KINDS } from '../../model/model.js';

export const PROTO_NAMES = ['tcp', 'udp', 'icmp', 'icmpv6', 'sctp', 'dccp', 'gre', 'udplite'] as const;

export const byParam = { type: 'string', enum: [...DIMENSIONS] } as const;
export const limitParam = { type: 'integer', minimum: 1, maximum: 1000, default: 10 } as const;
export function windowParam(maxSeconds: number) {
  return { type: 'integer', minimum: 1, maximum: maxSeconds, default: 60 } as const;
}
export const stateParam = { type: 'string', enum: [...STATE_NAMES] } as const;
export const protoParam = { type: 'string', enum: [...PROTO_NAMES] } as const;
export const dropKindParam = { type: 'string', enum: ['all', ...DROP_KINDS], default: 'all' } as const;

const stateCount = {
  type: 'object',
  properties: { proto: { type: 'string' }, state: { type: 'string' }, count: { type: 'integer' }, share: { type: 'number' } },
  required: ['proto', 'state', 'count'],
} as const;

/**
 * The one top-k answer shape, `{ by, window, total, items: [{ key, count,
 * rate, share, ... }], error_bound }`, with what a route adds to the items
 * and to the answer (and which of those it always sends).
 */
export function topKShape(
  item: Record<string, unknown> = {},
  answer: Record<string, unknown> = {},
  requiredItem: readonly string[] = [],
) {
  return {
    type: 'object',
    properties: {
      by: { type: 'string' },
      window: { type: 'integer' },
      total: { type: 'number' },
      items: {
        type: 'array',
        items: {
          type: 'object',
          properties: { key: { type: 'string' }, count: { type: 'number' }, rate: { type: 'number' }, share: { type: 'number' }, ...item },
          required: ['key', 'count', 'rate', 'share', ...requiredItem],
        },
      },
      error_bound: { type: 'number' },
      ...answer,
    },
    required: ['by', 'window', 'total', 'items', 'error_bound'],
  } as const;
}

export const topKSchema = topKShape(
  {
    // /v1/churn
    destroyed: { type: 'number' },
    median_lifetime_s: { type: ['number', 'null'] },
    // /v1/occupancy
    states: { type: 'array', items: stateCount },
    // by=netns, live
    netns_name: { type: ['string', 'null'] },
  },
  {
    // /v1/drops
    kind: { type: 'string' },
    // /v1/churn
    destroyed_error_bound: { type: 'number' },
    // destroys left out of the per-key median lifetimes while the model sampled them (load above 200,000 destroys/s)
    median_lifetime_skipped: { type: 'number' },
    // /v1/occupancy
    live: { type: 'integer' },
    state: { type: 'string' },
    proto: { type: 'string' },
    states: { type: 'array', items: stateCount },
  },
);

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
  properties: { total: { type: 'integer' }, limit: { type: 'integer' }, flows: { type: 'array', items: flowSchema } },
  required: ['total', 'flows'],
} as const;

const bucket = {
  type: 'object',
  properties: { le: { anyOf: [{ type: 'number' }, { type: 'string', enum: ['+Inf'] }] }, count: { type: 'number' } },
  required: ['le', 'count'],
} as const;

export const lifetimesSchema = {
  type: 'object',
  properties: {
    by: { type: 'string' },
    unknown_start: { type: 'number' },
    groups: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          proto: { type: 'string' },
          state: { type: 'string' },
          count: { type: 'number' },
          mean_s: { type: 'number' },
          p50_s: { type: ['number', 'null'] },
          p90_s: { type: ['number', 'null'] },
          p99_s: { type: ['number', 'null'] },
          buckets: { type: 'array', items: bucket },
        },
        required: ['proto', 'count', 'mean_s', 'p50_s', 'p90_s', 'p99_s', 'buckets'],
      },
    },
  },
  required: ['by', 'unknown_start', 'groups'],
} as const;

export const forecastSchema = {
  type: 'object',
  properties: {
    netns: { type: 'integer' },
    count: { type: 'integer' },
    max: { type: 'integer' },
    utilization: { type: 'number' },
    trend_per_s: { type: ['number', 'null'] },
    net_alloc_rate_per_s: { type: ['number', 'null'] },
    time_to_full_s: { type: ['number', 'null'] },
    horizon_s: { type: 'number' },
    samples: { type: 'integer' },
    r2: { type: ['number', 'null'] },
    confidence: { type: 'number' },
    level: { type: 'string', enum: ['none', 'low', 'medium', 'high'] },
    basis: { type: 'string' },
  },
  required: ['netns', 'count', 'max', 'time_to_full_s', 'horizon_s', 'confidence', 'level', 'basis'],
} as const;

export const adviceSchema = {
  type: 'object',
  properties: {
    generated_at_s: { type: 'number' },
    observed_s: { type: 'number' },
    advice: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          id: { type: 'string' },
          severity: { type: 'string', enum: ['info', 'warn', 'action'] },
          title: { type: 'string' },
          recommendation: { type: 'string' },
          evidence: { type: 'object', additionalProperties: true },
        },
        required: ['id', 'severity', 'title', 'recommendation', 'evidence'],
      },
    },
  },
  required: ['advice'],
} as const;
