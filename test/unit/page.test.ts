// GET / and /assets/*: the built page served from memory with its
// Content-Security-Policy and ETags; nothing but the four files reachable; a
// missing build said in one sentence.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/api/app.js';
import { PAGE_CSP } from '../../src/api/routes/page.js';

async function appWith(dir: string): Promise<FastifyInstance> {
  return buildApp({
    status: () => ({ version: 't', mode: 'live', kernel: { release: 'x', btf: false }, started_at: '', uptime_seconds: 0, sources: [], lost: { total: 0 } }),
    table: { host: () => null, get: () => null, all: () => [] },
    metrics: () => '',
    pageDir: dir,
  });
}

describe('the page plugin', () => {
  let dir: string;
  let app: FastifyInstance;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ctscope-page-'));
    fs.mkdirSync(path.join(dir, 'assets'));
    fs.writeFileSync(path.join(dir, 'index.html'), '<!doctype html><title>t</title>');
    fs.writeFileSync(path.join(dir, 'assets/app.js'), 'console.log(1)');
    fs.writeFileSync(path.join(dir, 'assets/app.css'), 'body{}');
    fs.writeFileSync(path.join(dir, 'assets/icon.svg'), '<svg/>');
    fs.writeFileSync(path.join(dir, 'secret.txt'), 'not served');
    app = await appWith(dir);
  });
  afterAll(async () => {
    await app.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('serves the page with its policy, and each asset with its type', async () => {
    const r = await app.inject('/');
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(r.headers['content-security-policy']).toBe(PAGE_CSP);
    expect(PAGE_CSP).toMatch(/default-src 'none'/);
    expect(r.body).toBe('<!doctype html><title>t</title>');
    for (const [name, type] of [
      ['app.js', 'text/javascript; charset=utf-8'],
      ['app.css', 'text/css; charset=utf-8'],
      ['icon.svg', 'image/svg+xml'],
    ]) {
      const a = await app.inject(`/assets/${name}`);
      expect(a.statusCode, name).toBe(200);
      expect(a.headers['content-type'], name).toBe(type);
      expect(a.headers['x-content-type-options']).toBe('nosniff');
    }
  });

  it('answers 304 to a matching ETag', async () => {
    const first = await app.inject('/assets/app.js');
    const again = await app.inject({ url: '/assets/app.js', headers: { 'if-none-match': String(first.headers.etag) } });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');
  });

  it.each([
    ['/assets/secret.txt', 400],
    ['/assets/..%2Fsecret.txt', 400],
    ['/secret.txt', 404],
    ['/?x=1', 400],
  ])('%s is not served (%i)', async (url, code) => {
    const r = await app.inject(url);
    expect(r.statusCode).toBe(code);
    expect(r.body).not.toContain('not served');
    expect(r.json().message).toEqual(expect.any(String));
  });

  it('says how to build the page when it is missing', async () => {
    const bare = await appWith(path.join(dir, 'nowhere'));
    const r = await bare.inject('/');
    expect(r.statusCode).toBe(503);
    expect(r.json().message).toMatch(/the dashboard is not built .* run `make web`/);
    expect((await bare.inject('/healthz')).statusCode).toBe(200);
    await bare.close();
  });

  it('the built page (make web) is the one the package serves', () => {
    const built = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../dist/web');
    for (const f of ['index.html', 'assets/app.js', 'assets/app.css', 'assets/icon.svg']) expect(fs.existsSync(path.join(built, f)), f).toBe(true);
    const html = fs.readFileSync(path.join(built, 'index.html'), 'utf8');
    // nothing from elsewhere, nothing inline
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).not.toMatch(/<script>|<style>| style=/);
    expect(fs.readFileSync(path.join(built, 'assets/app.js'), 'utf8')).not.toMatch(/https?:\/\/(?!www\.w3\.org)[a-z]/);
  });
});
