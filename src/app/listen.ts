// Where the API listens, and what an operator reads about it: the one
// sentence when a listen fails — each errno its own cause and fix (issue 17
// had EADDRNOTAVAIL worded as "another daemon running?") — and a one-line
// warning when the API is served beyond this machine.

import net from 'node:net';
import type { FastifyInstance } from 'fastify';
import { UserError } from '../errors.js';

export interface Listen {
  host: string;
  port: number;
}

const hostPort = (l: Listen) => (l.host.includes(':') ? `[${l.host}]:${l.port}` : `${l.host}:${l.port}`);

/** http://HOST:PORT, with brackets around an IPv6 host. */
export function listenUrl(l: Listen): string {
  return `http://${hostPort(l)}`;
}

/** The operator's sentence for a failed listen, or null when `err` is not one of those. */
export function listenFailure(l: Listen, err: unknown): UserError | null {
  const at = `cannot listen on ${hostPort(l)}`;
  switch ((err as NodeJS.ErrnoException | undefined)?.code) {
    case 'EADDRINUSE':
      return new UserError(`${at}: the port is in use (another ctscope running? choose another --listen)`);
    case 'EADDRNOTAVAIL':
      return new UserError(`${at}: no interface of this machine has the address ${l.host} (see ip -br addr; choose one it has with --listen)`);
    case 'EACCES':
      return new UserError(`${at}: permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)`);
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new UserError(`${at}: ${l.host} does not resolve to an address of this machine`);
    case 'EAFNOSUPPORT':
      return new UserError(`${at}: this machine has no ${net.isIPv6(l.host) ? 'IPv6' : 'IPv4'} (choose another --listen)`);
    default:
      return null;
  }
}

/** Listen on `l`; an address in use, refused or absent is a UserError. Resolves to the address served. */
export async function listenOn(app: FastifyInstance, l: Listen): Promise<string> {
  try {
    return await app.listen({ host: l.host, port: l.port });
  } catch (e) {
    throw listenFailure(l, e) ?? e;
  }
}

/**
 * Whether `l` can be listened on now — the address is this machine's, the
 * port free and ours to take — found before anything is attached: a
 * UserError if not. The port is freed again at once (listenOn() takes it
 * for good once the rest has started).
 */
export async function checkListen(l: Listen): Promise<void> {
  const probe = net.createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      probe.once('error', reject);
      probe.listen({ host: l.host, port: l.port, exclusive: true }, () => resolve());
    });
  } catch (e) {
    throw listenFailure(l, e) ?? e;
  } finally {
    await new Promise<void>((resolve) => (probe.listening ? probe.close(() => resolve()) : resolve()));
  }
}

/** True for addresses only this machine can reach. */
export function isLoopback(host: string): boolean {
  if (host === 'localhost' || host === '::1') return true;
  if (net.isIPv4(host)) return host.startsWith('127.');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(host);
  return mapped ? mapped[1]!.startsWith('127.') : false;
}

/** One line when the API is reachable from other machines without TLS and a token (--insecure-listen); null on loopback. */
export function exposureWarning(l: Listen): string | null {
  if (isLoopback(l.host)) return null;
  return `ctscope: warning: listening on ${hostPort(l)} serves the API (flow tuples of the whole node) beyond this machine, without authentication (--insecure-listen): give it --tls-cert/--tls-key and --token-file, or listen on 127.0.0.1\n`;
}
