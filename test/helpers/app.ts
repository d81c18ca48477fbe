// The real app over a model a test filled: a ctscope assembled as the
// commands assemble one (src/app/ctscope.ts: buildApp with every route, the
// table and /metrics a replay serves), fed by nothing. No socket: use
// inject(), and close() the app after.

import type { FastifyInstance } from 'fastify';
import { Ctscope } from '../../src/app/ctscope.js';
import type { Delivery, Feed, FeedApi, FeedStatus } from '../../src/app/feed.js';
import type { Model } from '../../src/model/model.js';

/** A feed that delivers nothing: the model is what the test put in it. */
export class IdleFeed implements Feed {
  constructor(private readonly extra: FeedApi = {}) {}
  attach(): void {}
  async start(_to: Delivery): Promise<void> {}
  async stop(): Promise<void> {}
  status(): FeedStatus {
    return { mode: 'replay', kernel: { release: 'test', btf: false }, sources: [], lost: { total: 0 } };
  }
  api(): FeedApi {
    return this.extra;
  }
}

export async function appOver(model: Model, extra: FeedApi = {}): Promise<FastifyInstance> {
  const c = await Ctscope.start({ feed: new IdleFeed(extra), model, api: {} });
  return c.app!;
}
