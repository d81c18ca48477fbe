// Who may read the API when it listens beyond loopback: TLS (fastify's own
// HTTPS server, given at construction in app.ts) and one bearer token,
// checked by @fastify/bearer-auth (constant-time comparison) on every request
// before routing — unknown paths included, so a caller without the token
// learns nothing, not even which routes exist. A few paths may be left open
// for probes and scrapers that cannot send a token (--no-token-for).
//
// A browser cannot send the header on a navigation or an event stream, so the
// dashboard's files (GET /, /assets/*, which hold no data) are served without
// it, and a request may instead carry the session cookie the page got by
// trading the token at POST /v1/session (session.ts): the API accepts either.
//
// What is allowed where (loopback free, anything else TLS + token unless the
// operator says --insecure-listen) is the CLI's rule (cli/listen-flags.ts);
// this file only enforces what it is given.

import bearerAuth from '@fastify/bearer-auth';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError } from './http-errors.js';
import { sessionRoutes } from './routes/session.js';
import { SessionStore, sessionIdOf } from './session.js';

/** Paths that may be served without the token (the liveness probe, the scrape). */
export const OPENABLE_PATHS = ['/healthz', '/metrics'] as const;
export type OpenablePath = (typeof OPENABLE_PATHS)[number];

export interface ApiAccess {
  /** PEM certificate chain and key: the API is served over HTTPS only. */
  tls?: { cert: Buffer; key: Buffer };
  /** Every request must carry `Authorization: Bearer TOKEN`. */
  token?: string;
  /** Paths answered without the token (needs `token`). */
  open?: readonly OpenablePath[];
  /** The operator's --insecure-listen: browser sessions allowed over plain HTTP too. */
  insecure?: boolean;
}

/** What the dashboard's page is told about access: sign in first, signed in by a session, or nothing to say (no token, or a bearer header). */
export type PageAccess = 'signin' | 'session' | null;

/** The page's files: no data in them, and a browser's navigation cannot carry the header. */
function isPageFile(path: string): boolean {
  return path === '/' || path.startsWith('/assets/');
}

const REFUSED = 'this API needs a bearer token: send Authorization: Bearer TOKEN (the daemon reads it from its --token-file)';

/**
 * Require the token (the header, or a session cookie) on every request but
 * the open paths, the page's files and the session routes; returns what to
 * tell the page about a request (null without a token).
 */
export async function installAccess(app: FastifyInstance, access: ApiAccess): Promise<(req: FastifyRequest) => PageAccess> {
  const token = access.token;
  if (token === undefined) return () => null;
  // Refusals are counted in /metrics (ctscope_http_requests_total{code="401"})
  // rather than logged one line each: a client without the token would
  // otherwise write the daemon's log as fast as it can send.
  await app.register(bearerAuth, { keys: [token], addHook: false, verifyErrorLogLevel: 'debug' });
  const verify = app.verifyBearerAuth!;
  const open = new Set<string>(access.open ?? []);
  // sessions only where their cookie is safe on the wire
  const store = access.tls || access.insecure ? new SessionStore() : null;
  const bySession = (req: FastifyRequest) => store !== null && store.valid(sessionIdOf(req.headers.cookie));
  await app.register(sessionRoutes, { token, store, tls: access.tls !== undefined });
  app.addHook('onRequest', (req, reply, done) => {
    const path = req.url.split('?')[0]!;
    if (open.has(path) || path === '/v1/session' || (isPageFile(path) && (req.method === 'GET' || req.method === 'HEAD')) || bySession(req)) {
      done();
      return;
    }
    verify(req, reply, (err) => {
      if (!err) return done();
      void reply.header('www-authenticate', 'Bearer realm="ctscope"');
      done(new ApiError(401, REFUSED));
    });
  });
  return (req) => (bySession(req) ? 'session' : req.headers.authorization !== undefined ? null : 'signin');
}
