// POST /v1/session and DELETE /v1/session: the dashboard's sign-in and
// sign-out where the API wants a token (session.ts says why a cookie). Only
// present when the API has a token. Over plain HTTP a session is refused
// unless the operator chose --insecure-listen: the cookie would cross the
// network in the clear, as good as the token to whoever reads it.

import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError, errorSchema } from '../http-errors.js';
import { sameToken, sessionCookie, sessionIdOf, type SessionStore } from '../session.js';

export interface SessionRoutesOptions {
  token: string;
  /** Null: sessions refused (plain HTTP without --insecure-listen). */
  store: SessionStore | null;
  /** The API is served over TLS: the cookie is Secure. */
  tls: boolean;
}

const NO_SESSIONS = 'a browser session needs the API served over TLS (--tls-cert/--tls-key), or --insecure-listen: over plain HTTP its cookie would cross the network in the clear';
const WRONG = 'wrong token: give the one in the daemon\'s --token-file';

/** A request a page of another origin sent (its Origin names another host): refused, whatever its cookie. */
function crossOrigin(req: FastifyRequest): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return false;
  try {
    return new URL(origin).host !== req.headers.host;
  } catch {
    return true;
  }
}

export async function sessionRoutes(app: FastifyInstance, opts: SessionRoutesOptions): Promise<void> {
  const errors = { '4xx': errorSchema };
  app.post(
    '/v1/session',
    {
      schema: {
        body: { type: 'object', additionalProperties: false, properties: { token: { type: 'string', minLength: 1, maxLength: 1024 } }, required: ['token'] },
        response: errors,
      },
    },
    async (req, reply) => {
      if (crossOrigin(req)) throw new ApiError(403, 'a session is opened from the dashboard\'s own origin only');
      if (!opts.store) throw new ApiError(403, NO_SESSIONS);
      if (!sameToken((req.body as { token: string }).token, opts.token)) throw new ApiError(401, WRONG);
      const id = opts.store.open();
      return reply.code(204).header('set-cookie', sessionCookie(id, opts.tls)).header('cache-control', 'no-store').send();
    },
  );
  app.delete('/v1/session', { schema: { response: errors } }, async (req, reply) => {
    if (crossOrigin(req)) throw new ApiError(403, 'a session is closed from the dashboard\'s own origin only');
    opts.store?.close(sessionIdOf(req.headers.cookie));
    return reply.code(204).header('set-cookie', sessionCookie(null, opts.tls)).send();
  });
}
