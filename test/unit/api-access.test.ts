// The API off loopback: which flags each address needs (the CLI's rule), the
// files they name checked at start, and the rule enforced on a real socket —
// HTTPS only, a wrong or missing token refused on every path (unknown ones
// too), the paths left open answered without it.
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveReplay, type RunningReplay } from '../../src/app/serve-replay.js';
import { isLoopback } from '../../src/app/listen.js';
import { apiAccess, type ListenFlags } from '../../src/cli/listen-flags.js';
import { runCommand } from '../../src/cli/commands/run.js';
import { topCommand } from '../../src/cli/commands/top.js';
import { watchCommand } from '../../src/cli/commands/watch.js';
import { UserError } from '../../src/errors.js';
import { selfSignedCert } from '../helpers/tls.js';

const SAMPLE = path.resolve(__dirname, '../../share/sample.ctcap');
let dir: string;
const f = (name: string) => path.join(dir, name);
const TOKEN = 'c0ffee'.repeat(8);

const cert = (name: string) => selfSignedCert(dir, name);

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ctscope-access-'));
  cert('a');
  cert('b');
  fs.writeFileSync(f('token'), `${TOKEN}\n`, { mode: 0o600 });
  fs.writeFileSync(f('token-world'), `${TOKEN}\n`, { mode: 0o644 });
  fs.chmodSync(f('token-world'), 0o644); // whatever the umask
  fs.writeFileSync(f('token-short'), 'abc\n', { mode: 0o600 });
  fs.writeFileSync(f('token-space'), 'a b c d e f g h i j k\n', { mode: 0o600 });
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('isLoopback', () => {
  it.each([
    ['127.0.0.1', true],
    ['127.1.2.3', true],
    ['::1', true],
    ['::ffff:127.0.0.1', true],
    ['localhost', true],
    ['0.0.0.0', false],
    ['::', false],
    ['10.0.0.1', false],
    ['128.0.0.1', false],
    ['node-1.example', false],
  ])('%s → %s', (host, want) => expect(isLoopback(host)).toBe(want));
});

describe('apiAccess: what each address needs', () => {
  const lo = { host: '127.0.0.1', port: 9640 };
  const any = { host: '0.0.0.0', port: 9640 };
  const tls = () => ({ 'tls-cert': f('a.crt'), 'tls-key': f('a.key') });
  const cases: Array<[string, { host: string; port: number }, () => ListenFlags, RegExp | 'none' | 'tls+token' | 'token' | 'tls+token+open']> = [
    ['loopback, nothing', lo, () => ({}), 'none'],
    ['loopback, a token alone', lo, () => ({ 'token-file': f('token') }), 'token'],
    ['any address, nothing', any, () => ({}), /0\.0\.0\.0: an address beyond loopback needs --tls-cert\/--tls-key and --token-file .* or --insecure-listen/],
    ['any address, TLS without a token', any, tls, /needs --tls-cert\/--tls-key and --token-file/],
    ['any address, a token without TLS', any, () => ({ 'token-file': f('token') }), /needs --tls-cert\/--tls-key and --token-file/],
    ['any address, TLS and a token', any, () => ({ ...tls(), 'token-file': f('token') }), 'tls+token'],
    ['any address, TLS, token, open probe', any, () => ({ ...tls(), 'token-file': f('token'), 'no-token-for': '/healthz,/metrics' }), 'tls+token+open'],
    ['any address, --insecure-listen', any, () => ({ 'insecure-listen': true }), 'none'],
    ['a certificate without its key', lo, () => ({ 'tls-cert': f('a.crt') }), /--tls-cert and --tls-key go together/],
    ['an open path without a token', lo, () => ({ 'no-token-for': '/healthz' }), /--no-token-for needs --token-file/],
    ['a data route left open', lo, () => ({ 'token-file': f('token'), 'no-token-for': '/v1/flows' }), /'\/v1\/flows' cannot be left open; only \/healthz, \/metrics/],
    ['a key of another certificate', lo, () => ({ 'tls-cert': f('a.crt'), 'tls-key': f('b.key') }), /not a usable certificate and key \(.*mismatch/],
    ['a certificate that is not PEM', lo, () => ({ 'tls-cert': f('token'), 'tls-key': f('a.key') }), /not a usable certificate and key/],
    ['a missing token file', lo, () => ({ 'token-file': f('nope') }), /--token-file .*nope: ENOENT/],
    ['a token every user reads', lo, () => ({ 'token-file': f('token-world') }), /readable by every user: chmod o-r/],
    ['a short token', lo, () => ({ 'token-file': f('token-short') }), /3 characters, at least 16/],
    ['a token with spaces', lo, () => ({ 'token-file': f('token-space') }), /one line of printable characters without spaces/],
  ];
  it.each(cases)('%s', (_name, listen, flags, want) => {
    if (want instanceof RegExp) {
      let err: unknown;
      try {
        apiAccess(listen, flags(), 'run');
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(UserError);
      expect((err as Error).message).toMatch(want);
      expect((err as Error).message).not.toMatch(/\n\s+at /);
      return;
    }
    const a = apiAccess(listen, flags(), 'run');
    if (want === 'none') return expect(a).toBeUndefined();
    expect(a!.token).toBe(want === 'tls' ? undefined : TOKEN); // the newline is not part of it
    expect(a!.tls !== undefined).toBe(want.startsWith('tls'));
    expect(a!.open ?? []).toEqual(want.endsWith('open') ? ['/healthz', '/metrics'] : []);
  });

  it('ctscope run refuses a bare non-loopback --listen with exit code 2, before anything starts', async () => {
    const err = await runCommand(['--listen', '0.0.0.0:9640']).catch((e: UserError) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).exitCode).toBe(2);
  });
});

/** One request with this CA trusted; resolves to status, headers and body, rejects on a transport error. */
function request(url: string, opts: { token?: string; ca?: Buffer } = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  const mod = url.startsWith('https:') ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.get(url, { ...(opts.ca ? { ca: opts.ca } : {}), headers: opts.token ? { authorization: `Bearer ${opts.token}` } : {}, timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

describe('the served API with TLS and a token', () => {
  let served: RunningReplay;
  let base: string;
  let ca: Buffer;
  beforeAll(async () => {
    ca = fs.readFileSync(f('a.crt'));
    const listen = { host: '127.0.0.1', port: 0 };
    const access = apiAccess(listen, { 'tls-cert': f('a.crt'), 'tls-key': f('a.key'), 'token-file': f('token'), 'no-token-for': '/healthz' }, 'replay')!;
    served = await serveReplay([SAMPLE], listen, { access });
    await served.feed.done;
    base = served.ctscope.address!;
  });
  afterAll(() => served?.ctscope.stop());

  it('serves HTTPS only: plain HTTP on the port gets no answer', async () => {
    expect(base).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const plain = base.replace('https:', 'http:');
    await expect(request(`${plain}/healthz`)).rejects.toThrow();
  });

  it('does not trust a certificate the client does not know', async () => {
    await expect(request(`${base}/v1/status`, { token: TOKEN })).rejects.toThrow(/self[- ]signed/);
  });

  it('answers the right token', async () => {
    const r = await request(`${base}/v1/status`, { token: TOKEN, ca });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body).mode).toBe('replay');
  });

  it.each([
    ['no token', '/v1/status', undefined],
    ['a wrong token', '/v1/status', TOKEN.replace(/.$/, '0')],
    ['a prefix of the token', '/v1/status', TOKEN.slice(0, 20)],
    ['a wrong token on /metrics (not left open)', '/metrics', 'x'.repeat(48)],
    ['no token on a route that does not exist', '/v1/secret', undefined],
  ])('refuses %s with 401 and a sentence, saying how to authenticate', async (_n, p, token) => {
    const r = await request(`${base}${p}`, { ca, ...(token ? { token } : {}) });
    expect(r.status).toBe(401);
    expect(r.headers['www-authenticate']).toBe('Bearer realm="ctscope"');
    expect(JSON.parse(r.body).message).toMatch(/^this API needs a bearer token: send Authorization: Bearer TOKEN/);
  });

  it('answers the path left open without a token, and counts the refusals', async () => {
    const r = await request(`${base}/healthz`, { ca });
    expect(r.status).toBe(200);
    const m = await request(`${base}/metrics`, { token: TOKEN, ca });
    const refused = m.body.split('\n').filter((l) => l.startsWith('ctscope_http_requests_total{') && l.includes('code="401"'));
    expect(refused.reduce((n, l) => n + Number(l.split(' ').pop()), 0)).toBeGreaterThanOrEqual(5);
  });
});

describe('top and watch with a token', () => {
  it('send the token from --token-file; without it the daemon refuses and they say so', async () => {
    const listen = { host: '127.0.0.1', port: 0 };
    const served = await serveReplay([SAMPLE], listen, { access: apiAccess(listen, { 'token-file': f('token') }, 'replay')! });
    try {
      await served.feed.done;
      const base = served.ctscope.address!;
      let text = '';
      expect(await topCommand(['--url', base, '--once', '--token-file', f('token')], { out: (s) => (text += s) })).toBe(0);
      expect(text).toMatch(/^ctscope \S+ — replay — /);
      await expect(topCommand(['--url', base, '--once'], { out: () => undefined })).rejects.toThrow(/answered 401: .*bearer token/);

      const lines: string[] = [];
      let stop!: () => void;
      const stopped = new Promise<void>((r) => (stop = r));
      const run = watchCommand(['--url', base, '--token-file', f('token'), '-o', 'json'], { out: (l) => lines.push(l), stop: () => stopped });
      for (let i = 0; i < 250 && lines.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
      stop();
      expect(await run).toBe(0);
      expect(JSON.parse(lines[0]!)).toMatchObject({ type: 'hello', mode: 'replay' });
      await expect(watchCommand(['--url', base], { out: () => undefined, stop: () => new Promise(() => undefined) })).rejects.toThrow(
        /\/v1\/events answered 401: .*bearer token/,
      );
    } finally {
      await served.ctscope.stop();
    }
  });
});
