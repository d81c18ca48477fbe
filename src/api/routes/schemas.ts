// The API's shared vocabulary: the query parameters every ranking takes (by,
// window, limit, state, proto, kind) and the one top-k answer shape, `{ by,
// window, total, items: [{ key, count, rate, share, ... }], error_bound }`,
// which each route extends with what it adds (declared in its own file: the
// serializer drops anything undeclared).

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

export const stateCount = {
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
