// GET /v1/events: the event stream (server-sent events) that the dashboard
// follows and `ctscope watch` prints; event-feed.ts computes it, docs/EVENTS.md
// documents it. ?types= picks the types (hello always comes first).

import type { FastifyInstance } from 'fastify';
import { errorSchema } from '../http-errors.js';
import { EventHub, SUBSCRIBABLE, type EventType, type FeedOptions } from '../event-feed.js';

const TYPE = `(${SUBSCRIBABLE.join('|')})`;

export async function eventRoutes(app: FastifyInstance, opts: FeedOptions & { intervalMs?: number }): Promise<void> {
  const hub = new EventHub(opts, opts.intervalMs);
  // Open streams would hold the server's close() forever: end them first.
  app.addHook('preClose', async () => hub.close());

  app.get(
    '/v1/events',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            types: { type: 'string', pattern: `^${TYPE}(,${TYPE})*$`, default: SUBSCRIBABLE.join(',') },
          },
        },
        response: { '4xx': errorSchema },
      },
    },
    async (req, reply) => {
      const { types } = req.query as { types: string };
      reply.hijack();
      const res = reply.raw;
      const socket = res.socket;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
        // a buffering proxy would hold the events back
        'x-accel-buffering': 'no',
        // the socket goes with the stream: an ended stream must not linger as
        // an idle keep-alive connection that holds the server's close()
        connection: 'close',
      });
      const unsubscribe = hub.subscribe({
        types: new Set(types.split(',') as EventType[]),
        write: (text) => void res.write(text),
        buffered: () => res.writableLength,
        // the server is closing: end the stream, and let go of the socket even
        // when the client is gone without a word (it would hold close())
        end: () => {
          res.end(() => socket?.destroy());
          setTimeout(() => socket?.destroy(), 500).unref();
        },
      });
      res.on('close', unsubscribe);
    },
  );
}
