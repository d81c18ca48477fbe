// The API's shared vocabulary: the query parameters every ranking takes (by,
// window, limit, state, proto, kind) and the one top-k answer shape, `{ by,
// window, total, items: [{ key, count, rate, share, ... }], error_bound }`,
// which each route extends with what it adds (declared in its own file: the
// serializer drops anything undeclared).

import { DIMENSIONS } from '../../model/keys.js';
import { STATE_NAMES } from '../../model/states.js';
import { DROP_KINDS } from '../../model/model.js';

export const PROTO_NAMES = ['tcp', 'udp', 'icmp', 'icmpv6', 'sctp', 'dccp', 'gre', 'udplite'] as const;

// The one parameter vocabulary: every route declares its query with these,
// so the same name means the same type, range and default everywhere. A
// number in a query is a finite integer in range written in decimal digits
// (an optional leading '-'): `0x10`, `1e3`, `+5`, ` 5`, `Infinity` are
// refused with 400 naming the parameter (the app's strict-number check,
// src/api/validation.ts, applies to every `type: 'integer'` parameter,
// declared here or not). Hexadecimal is refused on purpose: namespace
// inodes, ports and windows are printed in decimal everywhere else
// (/proc, ss, conntrack, our own answers), so a hex value is far more
// likely a mistake than a convenience.

/** An integer query or path parameter in [minimum, maximum]. */
export function integerParam(minimum: number, maximum: number, defaultValue?: number) {
  return defaultValue === undefined
    ? ({ type: 'integer', minimum, maximum } as const)
    : ({ type: 'integer', minimum, maximum, default: defaultValue } as const);
}

/** A query schema: these parameters and no others (an unknown one is a 400). */
export function query<P extends Record<string, unknown>>(properties: P) {
  return { type: 'object', additionalProperties: false, properties } as const;
}

/** Routes that take no query parameter at all. */
export const noQuery = query({});

export const byParam = { type: 'string', enum: [...DIMENSIONS] } as const;
/** How many items a top-k answer lists. */
export const limitParam = integerParam(1, 1000, 10);
/** How many tables /v1/table lists (most endangered first; `total` says how many there are). */
export const tableLimitParam = integerParam(1, 1_000_000, 100);
/** How many flows /v1/flows lists. */
export const flowLimitParam = integerParam(1, 1000, 100);
/** A window in seconds, up to the history the model keeps. */
export function windowParam(maxSeconds: number) {
  return integerParam(1, maxSeconds, 60);
}
/** A network namespace by inode (as `ls -iL /proc/PID/ns/net` prints it; never 0). */
export const netnsParam = integerParam(1, 4294967295);
/** A TCP/UDP port. */
export const portParam = integerParam(0, 65535);
export const stateParam = { type: 'string', enum: [...STATE_NAMES] } as const;
export const protoParam = { type: 'string', enum: [...PROTO_NAMES] } as const;
export const dropKindParam = { type: 'string', enum: ['all', ...DROP_KINDS], default: 'all' } as const;

export const stateCount = {
  type: 'object',
  properties: { proto: { type: 'string' }, state: { type: 'string' }, count: { type: 'integer' }, share: { type: 'number' } },
  required: ['proto', 'state', 'count'],
} as const;

/**
 * What pods add to every ranking's items: by pod, k8s_namespace and workload
 * how the entries were attributed (`via`) and, by pod, the pod's namespace,
 * workload and whether it is deleted; by src and dst the pod an address is
 * (or was, `pod_deleted`).
 */
const podItemFields = {
  via: {
    type: 'object',
    properties: { src: { type: 'number' }, reply_src: { type: 'number' }, netns: { type: 'number' } },
    required: ['src', 'reply_src', 'netns'],
  },
  k8s_namespace: { type: ['string', 'null'] },
  workload: { type: 'string' },
  deleted: { type: 'boolean' },
  pod: { type: 'string' },
  pod_deleted: { type: 'boolean' },
} as const;

/**
 * The one top-k answer shape, `{ by, window, total, items: [{ key, count,
 * rate, share, ... }], error_bound }`, with what a route adds to the items
 * and to the answer (and which of those it always sends).
 */
/**
 * What sampling under the CPU budget (--max-cpu) did to an answer: 1 entry
 * in one_in was followed (1: all) during sampled_seconds of its window. Counts,
 * lifetimes and holders are then those of the sample; the kernel's own totals
 * (/v1/table, /v1/status sampling.events) stay exact.
 */
export const samplingField = {
  sampling: {
    type: 'object',
    properties: { one_in: { type: 'integer' }, sampled_seconds: { type: 'number' } },
    required: ['one_in', 'sampled_seconds'],
  },
} as const;

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
          properties: { key: { type: 'string' }, count: { type: 'number' }, rate: { type: 'number' }, share: { type: 'number' }, ...podItemFields, ...item },
          required: ['key', 'count', 'rate', 'share', ...requiredItem],
        },
      },
      error_bound: { type: 'number' },
      ...samplingField,
      // by pod, k8s_namespace and workload: how an entry's pod is found
      attribution: { type: 'string' },
      ...answer,
    },
    required: ['by', 'window', 'total', 'items', 'error_bound'],
  } as const;
}
