// The dashboard's sessions where the API wants a token, through the real app
// (inject) and, for the event stream, its real HTTPS socket: the page and its
// assets are served without the token (the page told to sign in), the token
// traded at POST /v1/session for an HttpOnly, Secure, SameSite=Strict cookie
// holding a random id (never the token), that cookie accepted for /v1/* and
// /v1/events, refused once signed out, forged or from another origin; wrong
// tokens refused 401 without a cookie; no session over plain HTTP unless
// --insecure-listen; the token never in the log. The store itself: expiry and
// its bound.
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { serveReplay, startReplay, type RunningReplay } from '../../src/app/serve-replay.js';
import { apiAccess } from '../../src/cli/listen-flags.js';
import { MAX_SESSIONS, SESSION_TTL_S, SessionStore, sameToken, sessionIdOf } from '../../src/api/session.js';
import { selfSignedCert } from '../helpers/tls.js';

const SAMPLE = path.resolve(__dirname, '../../share/sample.ctcap');
const TOKEN = 'feed5eed'.repeat(6);
const COOKIE = /^ctscope_session=([A-Za-z0-9_-]{43}); Path=\/; HttpOnly; SameSite=Strict; Max-Age=43200(; Secure)?$/;
let dir: string;
let tls: { cert: string; key: string };
let tokenFile: string;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ctscope-session-'));
  tls = selfSignedCert(dir, 'api');
  tokenFile = path.join(dir, 'token');
  fs.writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const signIn = (app: FastifyInstance, token: string, headers: Record<string, string> = {}) =>
  app.inject({ method: 'POST', url: '/v1/session', headers: { 'content-type': 'application/json', ...headers }, payload: JSON.stringify({ token }) });
const cookieOf = (setCookie: unknown) => `ctscope_session=${COOKIE.exec(String(setCookie))![1]}`;

describe('sessions over TLS', () => {
  let served: RunningReplay;
  let app: FastifyInstance;
  let cookie: string;
  const log = new PassThrough();
  let logged = '';
  log.on('data', (b: Buffer) => (logged += b.toString()));

  beforeAll(async () => {
    const listen = { host: '127.0.0.1', port: 0 };
    const access = apiAccess({ host: '0.0.0.0', port: 9640 }, { 'tls-cert': tls.cert, 'tls-key': tls.key, 'token-file': tokenFile }, 'replay')!;
    served = await startReplay([SAMPLE], { speed: Infinity, api: { listen, access, logStream: log } });
    await served.feed.done;
    app = served.ctscope.app!;
  });
  afterAll(() => served?.ctscope.stop());

  it('serves the page and its assets without the token, telling the page to sign in; the data needs it', async () => {
    const page = await app.inject('/');
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('<body data-auth="signin">');
    // nor does that page preload any answer (each would be a refused request)
    expect(page.body).not.toContain('rel="preload"');
    expect((await app.inject('/assets/app.js')).statusCode).toBe(200);
    expect((await app.inject('/assets/app.css')).statusCode).toBe(200);
    for (const p of ['/v1/status', '/v1/series/tables', '/v1/events', '/metrics', '/v1/nothing']) expect((await app.inject(p)).statusCode, p).toBe(401);
    // a bearer caller (top, watch, a script) is not told about sessions
    const bearer = await app.inject({ url: '/', headers: { authorization: `Bearer ${TOKEN}` } });
    expect(bearer.body).toContain('<body>');
  });

  it.each([
    ['a wrong token', TOKEN.replace(/.$/, '0'), 401, /^wrong token/],
    ['a prefix of the token', TOKEN.slice(0, 24), 401, /^wrong token/],
    ['the token and more', `${TOKEN}x`, 401, /^wrong token/],
    ['an empty token', '', 400, /token/],
  ])('refuses %s (%i), setting no cookie', async (_n, token, code, msg) => {
    const r = await signIn(app, token);
    expect(r.statusCode).toBe(code);
    expect(r.headers['set-cookie']).toBeUndefined();
    expect(r.json().message).toMatch(msg);
  });

  it('refuses a body that is not JSON, and another origin even with the right token', async () => {
    const text = await app.inject({ method: 'POST', url: '/v1/session', headers: { 'content-type': 'text/plain' }, payload: TOKEN });
    expect(text.statusCode).toBe(400);
    const cross = await signIn(app, TOKEN, { origin: 'https://elsewhere.example', host: '127.0.0.1:9640' });
    expect(cross.statusCode).toBe(403);
    expect(cross.headers['set-cookie']).toBeUndefined();
  });

  it('trades the right token for an HttpOnly, Secure, SameSite=Strict cookie of a random id, never the token', async () => {
    const r = await signIn(app, TOKEN, { origin: 'https://127.0.0.1:9640', host: '127.0.0.1:9640' });
    expect(r.statusCode).toBe(204);
    const set = String(r.headers['set-cookie']);
    expect(set).toMatch(COOKIE);
    expect(set).toContain('; Secure');
    expect(set).not.toContain(TOKEN);
    cookie = cookieOf(set);
    // another sign-in: another id
    const again = cookieOf((await signIn(app, TOKEN)).headers['set-cookie']);
    expect(again).not.toBe(cookie);
  });

  it('accepts the cookie for every route, and tells the page it has a session', async () => {
    for (const p of ['/v1/status', '/v1/series/headline', '/v1/series/tables?limit=20', '/v1/series?by=src&stream=alloc&limit=6', '/v1/occupancy?by=src&limit=8', '/v1/flows?limit=5', '/v1/advice', '/metrics']) {
      const r = await app.inject({ url: p, headers: { cookie: `other=1; ${cookie}` } });
      expect(r.statusCode, p).toBe(200);
    }
    const page = (await app.inject({ url: '/', headers: { cookie } })).body;
    expect(page).toContain('<body data-auth="session">');
    expect(page.match(/rel="preload"/g)).toHaveLength(1);
  });

  it('accepts the cookie for the event stream, on the real HTTPS socket', async () => {
    const first = await new Promise<{ status: number; chunk: string }>((resolve, reject) => {
      const req = https.get(`${served.ctscope.address}/v1/events`, { ca: fs.readFileSync(tls.cert), headers: { cookie, accept: 'text/event-stream' } }, (res) => {
        res.once('data', (b: Buffer) => {
          resolve({ status: res.statusCode!, chunk: b.toString() });
          req.destroy();
        });
      });
      req.on('error', reject);
    });
    expect(first.status).toBe(200);
    expect(first.chunk).toMatch(/^event: hello\n/m);
  });

  it('refuses a forged or altered cookie', async () => {
    for (const c of ['ctscope_session=' + 'A'.repeat(43), `${cookie}x`, `ctscope_session=${TOKEN}`, 'ctscope_session=']) {
      expect((await app.inject({ url: '/v1/status', headers: { cookie: c } })).statusCode, c).toBe(401);
    }
  });

  it('signs out: the cookie is cleared and the session no longer accepted', async () => {
    const r = await app.inject({ method: 'DELETE', url: '/v1/session', headers: { cookie } });
    expect(r.statusCode).toBe(204);
    expect(String(r.headers['set-cookie'])).toMatch(/^ctscope_session=; Path=\/; HttpOnly; SameSite=Strict; Max-Age=0; Secure$/);
    expect((await app.inject({ url: '/v1/status', headers: { cookie } })).statusCode).toBe(401);
    expect((await app.inject({ url: '/', headers: { cookie } })).body).toContain('data-auth="signin"');
  });

  it('never writes the token to the log', () => {
    expect(logged).not.toContain(TOKEN);
    expect(logged).not.toContain(TOKEN.slice(0, 24));
  });
});

describe('sessions over plain HTTP', () => {
  it.each([
    ['refused without --insecure-listen (loopback with a token)', false],
    ['allowed with --insecure-listen, the cookie not Secure', true],
  ])('%s', async (_n, insecure) => {
    const access = apiAccess({ host: '127.0.0.1', port: 9640 }, { 'token-file': tokenFile, ...(insecure ? { 'insecure-listen': true } : {}) }, 'replay')!;
    const served = await startReplay([SAMPLE], { speed: Infinity, api: { access } });
    try {
      await served.feed.done;
      const app = served.ctscope.app!;
      const r = await signIn(app, TOKEN);
      if (!insecure) {
        expect(r.statusCode).toBe(403);
        expect(r.json().message).toMatch(/needs the API served over TLS .* or --insecure-listen/);
        expect(r.headers['set-cookie']).toBeUndefined();
        // nor is any cookie accepted in place of the token
        expect((await app.inject({ url: '/v1/status', headers: { cookie: 'ctscope_session=' + 'A'.repeat(43) } })).statusCode).toBe(401);
        return;
      }
      expect(r.statusCode).toBe(204);
      const set = String(r.headers['set-cookie']);
      expect(set).toMatch(COOKIE);
      expect(set).not.toContain('Secure');
      expect((await app.inject({ url: '/v1/status', headers: { cookie: cookieOf(set) } })).statusCode).toBe(200);
    } finally {
      await served.ctscope.stop();
    }
  });

  it('has no session routes where the API wants no token', async () => {
    const served = await startReplay([SAMPLE], { speed: Infinity, api: {} });
    try {
      await served.feed.done;
      const r = await signIn(served.ctscope.app!, TOKEN);
      expect(r.statusCode).toBe(405);
      expect((await served.ctscope.app!.inject('/')).body).toContain('<body>');
    } finally {
      await served.ctscope.stop();
    }
  });
});

describe('the session store', () => {
  it('expires a session after its life, and holds at most MAX_SESSIONS (the oldest go)', () => {
    let now = 0;
    const s = new SessionStore(SESSION_TTL_S * 1000, () => now);
    const a = s.open();
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(s.valid(a)).toBe(true);
    now = SESSION_TTL_S * 1000 - 1;
    expect(s.valid(a)).toBe(true);
    now = SESSION_TTL_S * 1000;
    expect(s.valid(a)).toBe(false);
    const ids = Array.from({ length: MAX_SESSIONS + 5 }, () => s.open());
    expect(s.size).toBe(MAX_SESSIONS);
    expect(ids.slice(0, 5).some((id) => s.valid(id))).toBe(false);
    expect(ids.slice(5).every((id) => s.valid(id))).toBe(true);
    s.close(ids[5]);
    expect(s.valid(ids[5])).toBe(false);
    expect(s.valid(undefined)).toBe(false);
  });

  it.each([
    [undefined, undefined],
    ['', undefined],
    ['a=1; b=2', undefined],
    ['ctscope_session=abc', 'abc'],
    ['x=1;  ctscope_session=abc ; y=2', 'abc'],
    ['not_ctscope_session=abc', undefined],
  ])('reads the session id in %j', (header, want) => expect(sessionIdOf(header)).toBe(want));

  it.each([
    ['equal', TOKEN, TOKEN, true],
    ['one character off', TOKEN, TOKEN.replace(/^./, 'x'), false],
    ['shorter', TOKEN.slice(1), TOKEN, false],
    ['empty', '', TOKEN, false],
  ])('compares tokens: %s', (_n, a, b, want) => expect(sameToken(a, b)).toBe(want));
});
