// Where the API listens, and the one sentence an operator reads when it cannot.

import type { FastifyInstance } from 'fastify';
import { UserError } from '../errors.js';

export interface Listen {
  host: string;
  port: number;
}

/** http://HOST:PORT, with brackets around an IPv6 host. */
export function listenUrl(l: Listen): string {
  return `http://${l.host.includes(':') ? `[${l.host}]` : l.host}:${l.port}`;
}

/** Listen on `l`; an address in use, refused or absent is a UserError. Resolves to the address served. */
export async function listenOn(app: FastifyInstance, l: Listen): Promise<string> {
  try {
    return await app.listen({ host: l.host, port: l.port });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EADDRNOTAVAIL' || code === 'EACCES') {
      throw new UserError(`cannot listen on ${l.host}:${l.port}: ${code} (another ctscope running? choose another --listen)`);
    }
    throw e;
  }
}
