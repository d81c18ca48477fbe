// A replay as a running ctscope: the model filled from a capture or conntrack
// text (ReplayFeed), with the API when asked. What `ctscope replay` and
// `ctscope start` (where the daemon cannot run) use, and the tests with them.

import type { ApiAccess } from '../api/access.js';
import { Ctscope, type CtscopeOptions } from './ctscope.js';
import type { Listen } from './listen.js';
import { ReplayFeed, type ReplayOptions } from './replay-feed.js';

export interface RunningReplay {
  ctscope: Ctscope;
  feed: ReplayFeed;
}

/**
 * Start replaying `files` into a new model; with `api`, the app over it (and
 * a listening server with `api.listen`). Resolves once the replay runs
 * (`feed.done` resolves at its end); throws ReplayInputError when nothing
 * can be read, a UserError when the address cannot be had.
 */
export async function startReplay(files: string[], opts: ReplayOptions & { api?: CtscopeOptions['api'] } = {}): Promise<RunningReplay> {
  const { api, ...replay } = opts;
  const feed = new ReplayFeed(files, replay);
  const ctscope = await Ctscope.start({ feed, ...(api ? { api } : {}) });
  return { ctscope, feed };
}

/**
 * For `npm start` where the daemon cannot run: replay `files` (the shipped
 * sample) and serve it. Resolves once listening; the replay continues (its
 * failure is reported in /v1/status).
 */
export async function serveReplay(files: string[], listen: Listen, opts: { speed?: number; access?: ApiAccess } = {}): Promise<RunningReplay> {
  const r = await startReplay(files, { speed: opts.speed ?? Infinity, api: { listen, ...(opts.access ? { access: opts.access } : {}) } });
  r.feed.done.catch(() => undefined);
  return r;
}
