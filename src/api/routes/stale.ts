// GET /v1/stale?min_age=&limit= — entries that keep traffic blackholed after a
// rollout: those pointing at a deleted pod's address, and destinations whose
// UDP entries have gone unanswered for longer than min_age seconds; each group
// with its entries, sources, ages and the `conntrack -D` command that would
// clear it (ctscope changes nothing).

import type { FastifyInstance } from 'fastify';
import type { Model } from '../../model/model.js';
import { errorSchema } from '../http-errors.js';
import { limitParam } from './schemas.js';
import { tableName } from '../../proc/accounts.js';
import { conntrackDelete } from '../../workloads/stale-command.js';

/** How to enter a namespace by inode ('' for the host, null when it cannot be named). */
export type NetnsEnter = (netns: number) => string | null;

export const DEFAULT_UNREPLIED_MIN_AGE_S = 60;

const groupSchema = {
  type: 'object',
  properties: {
    reason: { type: 'string', enum: ['deleted_pod', 'unreplied_udp'] },
    netns: { type: 'integer' },
    netns_name: { type: ['string', 'null'] },
    destination: { type: 'string' },
    port: { type: ['integer', 'null'] },
    pod: { type: ['string', 'null'] },
    pod_deleted_s_ago: { type: ['number', 'null'] },
    entries: { type: 'integer' },
    protocols: { type: 'object', additionalProperties: { type: 'integer' } },
    sources: {
      type: 'array',
      items: { type: 'object', properties: { source: { type: 'string' }, entries: { type: 'integer' } }, required: ['source', 'entries'] },
    },
    oldest_s: { type: ['number', 'null'] },
    newest_s: { type: ['number', 'null'] },
    command: { type: 'string' },
    // where the command must run when its namespace cannot be entered by name
    run_in_netns: { type: 'integer' },
  },
  required: ['reason', 'netns', 'destination', 'entries', 'sources', 'command'],
} as const;

export const staleSchema = {
  type: 'object',
  properties: {
    unreplied_min_age_s: { type: 'integer' },
    // false where the eBPF lifecycle hooks alone follow entries: no reply is
    // seen to arrive, so no destination is called unanswered (unreplied_udp)
    unreplied_known: { type: 'boolean' },
    entries: { type: 'integer' },
    destinations: { type: 'array', items: groupSchema },
  },
  required: ['unreplied_min_age_s', 'unreplied_known', 'entries', 'destinations'],
} as const;

export async function staleRoutes(app: FastifyInstance, opts: { model: Model; enterNetns?: NetnsEnter }): Promise<void> {
  const { model } = opts;
  app.get(
    '/v1/stale',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            min_age: { type: 'integer', minimum: 1, maximum: 86_400, default: DEFAULT_UNREPLIED_MIN_AGE_S },
            limit: { ...limitParam, default: 100 },
          },
        },
        response: { 200: staleSchema, '4xx': errorSchema, '5xx': errorSchema },
      },
    },
    async (req) => {
      const q = req.query as { min_age: number; limit: number };
      const groups = model.stale({ unrepliedMinAgeS: q.min_age });
      const host = model.snapshot()?.netns;
      return {
        unreplied_min_age_s: q.min_age,
        unreplied_known: model.statesFollowed,
        entries: groups.reduce((a, g) => a + g.entries, 0),
        destinations: groups.slice(0, q.limit).map((g) => {
          const enter = opts.enterNetns ? opts.enterNetns(g.netns) : g.netns === host ? '' : null;
          return {
            ...g,
            netns_name: tableName(model.tables, g.netns),
            command: `${enter ?? ''}${conntrackDelete(g)}`,
            ...(enter === null ? { run_in_netns: g.netns } : {}),
          };
        }),
      };
    },
  );
}
