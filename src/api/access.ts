// Who may read the API when it listens beyond loopback: TLS (fastify's own
// HTTPS server, given at construction in app.ts) and one bearer token,
// checked by @fastify/bearer-auth (constant-time comparison) on every request
// before routing — unknown paths included, so a caller without the token
// learns nothing, not even which routes exist. A few paths may be left open
// for probes and scrapers that cannot send a token (--no-token-for).
//
// What is allowed where (loopback free, anything else TLS + token unless the
// operator says --insecure-listen) is the CLI's rule (cli/listen-flags.ts);
// this file only enforces what it is given.

import bearerAuth from '@fastify/bearer-auth';
import type { FastifyInstance } from 'fastify';
import { ApiError } from './http-errors.js';

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
}

const REFUSED = 'this API needs a bearer token: send Authorization: Bearer TOKEN (the daemon reads it from its --token-file)';

/** Require the token on every request but the open paths. */
export async function installAccess(app: FastifyInstance, access: ApiAccess): Promise<void> {
  if (access.token === undefined) return;
  // Refusals are counted in /metrics (ctscope_http_requests_total{code="401"})
  // rather than logged one line each: a client without the token would
  // otherwise write the daemon's log as fast as it can send.
  await app.register(bearerAuth, { keys: [access.token], addHook: false, verifyErrorLogLevel: 'debug' });
  const verify = app.verifyBearerAuth!;
  const open = new Set<string>(access.open ?? []);
  app.addHook('onRequest', (req, reply, done) => {
    if (open.has(req.url.split('?')[0]!)) {
      done();
      return;
    }
    verify(req, reply, (err) => {
      if (!err) return done();
      void reply.header('www-authenticate', 'Bearer realm="ctscope"');
      done(new ApiError(401, REFUSED));
    });
  });
}
