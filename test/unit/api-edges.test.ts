// The API at its edges (issue 17): every integer parameter of every route
// refuses non-finite and non-decimal numbers with a 400 naming it; hostile
// query values never give a 5xx; a route that throws is answered 500
// without its message, logged with its stack and counted in /metrics; odd
// methods (CONNECT included) get an answer. Routes and parameters are
// enumerated from the app's own declared schemas, so a new route is covered
// as soon as it is registered (and every route the README documents must be).

import fs from 'node:fs';
import net from 'node:net';
import { spawnSync } from 'node:child_process';
import { Writable } from 'node:stream';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/api/app.js';
import type { StatusReport } from '../../src/api/context.js';
import { declaredRoutes, type DeclaredRoute } from '../../src/api/validation.js';
import { captureEnvironment } from '../../src/advice/environment.js';
import { modelTable } from '../../src/app/model-views.js';
import { ArrivalsModel } from '../../src/model/arrivals.js';
import { Model } from '../../src/model/model.js';
import { Kind } from '../../src/records/layout.js';
import { batch, SEC } from './model-batch.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

const status = (): StatusReport => ({
  version: '0.1.0',
  mode: 'replay',
  kernel: { release: '6.18.0', btf: true },
  started_at: new Date(0).toISOString(),
  uptime_seconds: 1,
  sources: [],
  lost: { total: 0 },
});

/** The log lines the app wrote (pino JSON, one per line). */
class LogCapture extends Writable {
  readonly lines: Array<Record<string, any>> = [];
  override _write(chunk: Buffer, _enc: string, done: () => void): void {
    for (const l of chunk.toString().split('\n')) if (l.trim()) this.lines.push(JSON.parse(l));
    done();
  }
}

const log = new LogCapture();
const brokenLog = new LogCapture();
const snapshot = { ts: 10 * SEC, netns: 5, count: 1, max: 60, buckets: 64, stats: {}, timeouts: {} };
let app: FastifyInstance;
/** The same app where reading the status throws (as a bug would) and the table has no reading yet. */
let broken: FastifyInstance;

beforeAll(async () => {
  const model = new Model({ historySeconds: 900 });
  model.ingest(batch([{ kind: Kind.ALLOC, id: 7n, ts: 10 * SEC, start: 10 * SEC, src: '10.0.0.1', dst: '10.0.0.9', sport: 2000, dport: 53, proto: 17, netns: 5 }]));
  for (let t = 0; t < 5; t++) model.ingestProc({ ...snapshot, ts: (10 + t) * SEC });
  model.advance(11 * SEC);
  const arrivals = new ArrivalsModel({ now: () => 100 });
  app = await buildApp({
    status,
    table: modelTable(model),
    metrics: () => '',
    logStream: log,
    model,
    environment: () => captureEnvironment(null),
    arrivals,
  });
  broken = await buildApp({
    status: () => {
      throw new TypeError('secret internal detail: cannot read properties of undefined');
    },
    table: { list: () => [], get: () => null, snapshot: () => null, snapshots: () => [] },
    metrics: () => '',
    logStream: brokenLog,
  });
});
afterAll(async () => {
  await app.close();
  await broken.close();
});

function routes(): DeclaredRoute[] {
  return declaredRoutes(app).filter((r) => r.method === 'GET');
}

/** A URL for `route` with path parameters filled with a valid value. */
function urlOf(route: DeclaredRoute, query: Record<string, string>): string {
  const p = route.url.replace(/:(\w+)/g, (_m, name: string) => (name in query ? encodeURIComponent(query[name]!) : '1'));
  const qs = Object.entries(query)
    .filter(([k]) => !route.url.includes(`:${k}`))
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
    .join('&');
  return qs ? `${p}?${qs}` : p;
}

function integerParams(route: DeclaredRoute): Array<{ name: string; part: 'querystring' | 'params'; min: number; max: number }> {
  const out: Array<{ name: string; part: 'querystring' | 'params'; min: number; max: number }> = [];
  for (const part of ['querystring', 'params'] as const) {
    for (const [name, s] of Object.entries(route[part]?.properties ?? {})) {
      if (s.type === 'integer') out.push({ name, part, min: s.minimum ?? 0, max: s.maximum ?? Number.MAX_SAFE_INTEGER });
    }
  }
  return out;
}

describe('the routes the tests enumerate', () => {
  it('include every route the README documents', () => {
    const documented = [...fs.readFileSync(path.join(root, 'README.md'), 'utf8').matchAll(/`GET (\/[^`?[ ]*)/g)].map((m) => m[1]!);
    expect(documented.length).toBeGreaterThan(10);
    const declared = new Set(routes().map((r) => r.url));
    for (const d of documented) expect(declared, `README documents GET ${d}`).toContain(d);
  });

  it('cover the integer parameters we know of', () => {
    const found = routes().flatMap((r) => integerParams(r).map((p) => `${r.url} ${p.name}`));
    for (const p of ['/v1/churn window', '/v1/churn limit', '/v1/drops window', '/v1/flows sport', '/v1/flows dport', '/v1/flows netns', '/v1/flows limit', '/v1/table netns', '/v1/forecast netns', '/v1/arrivals window', '/v1/arrivals limit']) {
      expect(found).toContain(p);
    }
  });
});

// issue 17: ajv's coercion took these as numbers (±Infinity passed the range check)
const NOT_DECIMAL = ['Infinity', '-Infinity', '1e309', '-1e309', 'NaN', '0x10', '0X1f', '0b11', '0o7', '1e2', '5e-1', '10.0', '.5', '+5', ' 5', '5 ', '\t7', '', '1_000', '５', '٣', '5\u0000', '-', '--1', '1-', '1'.repeat(400), '-'.concat('9'.repeat(30))];

describe('every integer parameter of every route: finite, in range, decimal', () => {
  it('refuses non-finite and non-decimal values with 400 naming the parameter', async () => {
    let checked = 0;
    for (const route of routes()) {
      for (const p of integerParams(route)) {
        for (const v of NOT_DECIMAL) {
          const r = await app.inject(urlOf(route, { [p.name]: v }));
          expect(r.statusCode, `${route.url} ${p.name}=${JSON.stringify(v)}: ${r.body}`).toBe(400);
          expect(r.json().message).toContain(`'${p.name}'`);
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThanOrEqual(11 * NOT_DECIMAL.length);
  }, 120_000);

  it('refuses values just outside the range and accepts its ends', async () => {
    for (const route of routes()) {
      for (const p of integerParams(route)) {
        for (const v of [p.min - 1, p.max + 1]) {
          const r = await app.inject(urlOf(route, { [p.name]: String(v) }));
          expect(r.statusCode, `${route.url} ${p.name}=${v}`).toBe(400);
          expect(r.json().message).toContain(`'${p.name}'`);
        }
        for (const v of [p.min, p.max]) {
          const r = await app.inject(urlOf(route, { [p.name]: String(v) }));
          // in range: answered (404/503 only where the value names nothing we have)
          expect([200, 404, 503], `${route.url} ${p.name}=${v}: ${r.body}`).toContain(r.statusCode);
        }
      }
    }
  });

  it('a thousand hostile query values give no 5xx and no internal message', async () => {
    // /v1/events answers a valid query with a stream that never ends (inject() would wait for
    // it); its parameter is checked in events.test.ts
    const rs = routes().filter((r) => r.url !== '/v1/events');
    const value = fc.oneof(
      fc.constantFrom(...NOT_DECIMAL),
      fc.integer().map(String),
      fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }).map(String),
      fc.double().map(String),
      fc.string({ maxLength: 40 }),
      fc.string({ unit: 'binary', maxLength: 20 }),
    );
    // a route, then mostly its own parameters (sometimes unknown ones)
    const request = fc.nat(rs.length - 1).chain((i) => {
      const own = Object.keys(rs[i]!.querystring?.properties ?? {});
      const key = own.length ? fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...own) }, { weight: 1, arbitrary: fc.string({ maxLength: 8 }) }) : fc.string({ maxLength: 8 });
      return fc.tuple(fc.constant(i), fc.dictionary(key, value, { maxKeys: 4 }));
    });
    await fc.assert(
      fc.asyncProperty(request, async ([i, q]) => {
        const r = await app.inject(urlOf(rs[i]!, q));
        expect(r.statusCode, `${urlOf(rs[i]!, q)}: ${r.body}`).toBeLessThan(500);
        if (r.statusCode >= 400) {
          const m = r.json().message as string;
          expect(m.length).toBeGreaterThan(5);
          expect(m).not.toMatch(/Invalid array length|at .+:\d+:\d+|undefined|RangeError|TypeError/);
        }
      }),
      { numRuns: 1000, seed: 17 },
    );
    // ~5 s on an idle machine; CI machines are shared
  }, 300_000);
});

describe('failures are answered, logged and counted', () => {
  it('a route that throws: 500 without its message, logged with the stack, counted', async () => {
    const r = await broken.inject('/v1/status');
    expect(r.statusCode).toBe(500);
    expect(r.json().message).toMatch(/^internal error/);
    expect(r.body).not.toContain('secret');
    const line = brokenLog.lines.find((l) => l.err?.message?.includes('secret internal detail'));
    expect(line, JSON.stringify(brokenLog.lines)).toBeDefined();
    expect(line!.level).toBe(50); // pino's "error"
    expect(line!.err.stack).toMatch(/TypeError: secret internal detail[\s\S]*api-edges\.test\.ts/);
    expect(line!.route).toBe('/v1/status');
    const m = (await broken.inject('/metrics')).body;
    expect(m).toMatch(/^ctscope_http_requests_total\{route="\/v1\/status",code="500"\} 1$/m);
    expect(m).toMatch(/^ctscope_http_request_duration_seconds_count\{route="\/v1\/status"\} 1$/m);
  });

  it('our own 5xx (a state, worded for the operator) keeps its sentence and is logged as a warning', async () => {
    const r = await broken.inject('/v1/table');
    expect(r.statusCode).toBe(503);
    expect(r.json().message).toMatch(/^no reading of the conntrack table yet/);
    const line = brokenLog.lines.find((l) => /^no reading of the conntrack table yet/.test(l.msg ?? ''));
    expect(line?.level).toBe(40);
    expect(line?.err).toBeUndefined();
    expect((await broken.inject('/metrics')).body).toMatch(/^ctscope_http_requests_total\{route="\/v1\/table",code="503"\} 1$/m);
  });

  it('/metrics counts by route pattern and code, and carries the process figures; promtool-clean', async () => {
    // let the event-loop monitor's timer run a few times (inject() alone never
    // leaves the microtask queue, and right after a long block it records nothing)
    await new Promise((r) => setTimeout(r, 400));
    await app.inject('/v1/flows/123');
    await app.inject('/v1/churn?limit=0x10');
    await app.inject('/no/such/route');
    const m = (await app.inject('/metrics')).body;
    expect(m).toMatch(/^ctscope_http_requests_total\{route="\/v1\/flows\/:id",code="404"\} [1-9]/m);
    expect(m).toMatch(/^ctscope_http_requests_total\{route="\/v1\/churn",code="400"\} [1-9]/m);
    expect(m).toMatch(/^ctscope_http_requests_total\{route="unmatched",code="404"\} [1-9]/m);
    expect(m).not.toMatch(/route="\/no\/such/);
    for (const f of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'process_open_fds', 'process_max_fds', 'process_threads', 'process_start_time_seconds', 'nodejs_eventloop_lag_p99_seconds']) {
      expect(m).toMatch(new RegExp(`^${f} [0-9.e+-]+$`, 'm'));
    }
    const p = spawnSync('promtool', ['check', 'metrics'], { input: m, encoding: 'utf8' });
    expect(p.error, 'promtool is installed by scripts/setup.sh --test').toBeUndefined();
    expect(p.stdout + p.stderr).toBe('');
    expect(p.status).toBe(0);
  });
});

describe('odd methods', () => {
  it('a method the API does not serve is 405 with Allow', async () => {
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'] as const) {
      const r = await app.inject({ method, url: '/v1/status' });
      expect(r.statusCode, method).toBe(405);
      expect(r.headers.allow).toBe('GET, HEAD');
      expect(r.json().message).toMatch(/read-only/);
    }
    expect((await app.inject({ method: 'HEAD', url: '/v1/status' })).statusCode).toBe(200);
  });

  it('CONNECT over a real socket gets an answer, not a dropped socket', async () => {
    const address = await app.listen({ host: '127.0.0.1', port: 0 });
    const port = Number(new URL(address).port);
    const reply = await new Promise<string>((resolve, reject) => {
      const c = net.connect(port, '127.0.0.1');
      let d = '';
      c.on('data', (x) => (d += x));
      c.on('close', () => resolve(d));
      c.on('error', reject);
      c.write('CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n');
    });
    expect(reply).toMatch(/^HTTP\/1\.1 405 Method Not Allowed\r\n/);
    expect(reply).toMatch(/\r\nAllow: GET, HEAD\r\n/);
    expect(JSON.parse(reply.split('\r\n\r\n')[1]!).message).toMatch(/CONNECT/);
  });
});
