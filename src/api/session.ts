// Browser sessions for an API that wants a bearer token. A browser cannot put
// a header on a plain navigation or an EventSource, so the dashboard trades
// the token, once, for a cookie: POST /v1/session with the token answers a
// session cookie — HttpOnly (no script reads it), SameSite=Strict (no other
// site's page sends it), Secure over TLS — holding a random 256-bit id that
// lives only in this process's memory. The token itself is never in the
// cookie, a URL, storage the page can read, or a log. A session ends at
// logout, after SESSION_TTL_S, or when the daemon restarts.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export const SESSION_COOKIE = 'ctscope_session';
/** A session's life: a working day; then the token again. */
export const SESSION_TTL_S = 12 * 3600;
/** Sessions held at once; the oldest goes first (each needs the token, so this bounds memory, not attackers). */
export const MAX_SESSIONS = 1000;

/** Whether the token given equals the token wanted, in time independent of where they differ (or of their lengths). */
export function sameToken(given: string, wanted: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(wanted).digest();
  return timingSafeEqual(a, b);
}

export class SessionStore {
  // id -> expiry (ms, the monotonic-enough wall clock of Date.now); Map keeps insertion order: oldest first
  private readonly sessions = new Map<string, number>();

  constructor(
    private readonly ttlMs = SESSION_TTL_S * 1000,
    private readonly now: () => number = Date.now,
  ) {}

  /** A new session; its id (base64url, 43 characters). */
  open(): string {
    const id = randomBytes(32).toString('base64url');
    while (this.sessions.size >= MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value!);
    this.sessions.set(id, this.now() + this.ttlMs);
    return id;
  }

  valid(id: string | undefined): boolean {
    if (id === undefined) return false;
    const until = this.sessions.get(id);
    if (until === undefined) return false;
    if (until <= this.now()) {
      this.sessions.delete(id);
      return false;
    }
    return true;
  }

  close(id: string | undefined): void {
    if (id !== undefined) this.sessions.delete(id);
  }

  get size(): number {
    return this.sessions.size;
  }
}

/** The session id in a Cookie header, if any. */
export function sessionIdOf(cookieHeader: string | undefined): string | undefined {
  if (!cookieHeader) return undefined;
  for (const part of cookieHeader.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === SESSION_COOKIE) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** Set-Cookie for a session (id) or for ending one (null). Secure whenever the API is served over TLS. */
export function sessionCookie(id: string | null, secure: boolean): string {
  const attrs = ['Path=/', 'HttpOnly', 'SameSite=Strict', `Max-Age=${id === null ? 0 : SESSION_TTL_S}`, ...(secure ? ['Secure'] : [])];
  return `${SESSION_COOKIE}=${id ?? ''}; ${attrs.join('; ')}`;
}
