// The dashboard where the API wants a token, in Debian's Chromium over TLS
// (`replay --serve` of the sample with a self-signed certificate made by
// openssl, trusted by its key's hash alone, and --token-file): the page asks
// for the token before it asks the API for anything, a wrong one is refused
// in a sentence, the right one gives an HttpOnly, Secure, SameSite=Strict
// session cookie (not the token) and the page with the API's figures, the
// event stream included; signing out ends the session on the server. No
// console error, no failed request (but the one wrong token's 401).

import { spawn, type ChildProcess } from 'node:child_process';
import { X509Certificate, createHash } from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { freePort } from '../helpers/daemon.js';
import { cannotRun } from '../helpers/requires.js';
import { chromiumInstalled, launchBrowser, screenshot, shownNumber, watchProblems, type Browser } from '../helpers/browser.js';
import { selfSignedCert } from '../helpers/tls.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const skip = cannotRun(chromiumInstalled());
const TOKEN = 'b0a7'.repeat(12);

describe.skipIf(skip)('dashboard over TLS with a token', () => {
  let dir: string;
  let server: ChildProcess;
  let base: string;
  let browser: Browser;
  let page: Page;
  let problems: string[];
  let ca: Buffer;
  /** GET over HTTPS trusting the test's certificate only. */
  const get = (p: string, headers: Record<string, string>) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      https
        .get(`${base}${p}`, { ca, headers }, (res) => {
          let body = '';
          res.on('data', (b: Buffer) => (body += b.toString()));
          res.on('end', () => resolve({ status: res.statusCode!, body }));
        })
        .on('error', reject);
    });
  const api = async <T = any>(p: string): Promise<T> => {
    const r = await get(p, { authorization: `Bearer ${TOKEN}` });
    expect(r.status, p).toBe(200);
    return JSON.parse(r.body) as T;
  };

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ctscope-dash-tls-'));
    const tls = selfSignedCert(dir, 'api');
    ca = fs.readFileSync(tls.cert);
    fs.writeFileSync(path.join(dir, 'token'), `${TOKEN}\n`, { mode: 0o600 });
    const port = await freePort();
    base = `https://127.0.0.1:${port}`;
    server = spawn(
      process.execPath,
      [path.join(root, 'bin/ctscope.js'), 'replay', path.join(root, 'share/sample.ctcap'), '--serve', '--listen', `127.0.0.1:${port}`, '--tls-cert', tls.cert, '--tls-key', tls.key, '--token-file', path.join(dir, 'token')],
      { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env } },
    );
    let err = '';
    server.stderr!.on('data', (b: Buffer) => (err += b.toString()));
    for (let i = 0; ; i++) {
      if (server.exitCode !== null) throw new Error(`replay --serve exited ${server.exitCode}: ${err}`);
      const s = await get('/v1/series/tables', { authorization: `Bearer ${TOKEN}` }).then((r) => (r.status === 200 ? JSON.parse(r.body) : null)).catch(() => null);
      if (s?.final) break;
      if (i > 600) throw new Error(`replay did not finish: ${err}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const spki = createHash('sha256').update(new X509Certificate(ca).publicKey.export({ type: 'spki', format: 'der' })).digest('base64');
    browser = await launchBrowser({ trustSpki: [spki] });
    page = await browser.context.newPage();
    problems = watchProblems(page);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    server?.kill('SIGTERM');
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('asks for the token first, and asks the API for nothing before it has one', async () => {
    const requests: string[] = [];
    page.on('request', (r) => requests.push(new URL(r.url()).pathname));
    await page.goto(`${base}/`);
    await page.locator('[data-test=signin] input[type=password]').waitFor();
    await page.waitForTimeout(500);
    expect(requests.filter((p) => p.startsWith('/v1/'))).toEqual([]);
    expect(problems).toEqual([]);
    await screenshot(page, 'token-signin');
  });

  it('refuses a wrong token in a sentence, and keeps asking', async () => {
    await page.fill('[data-test=signin] input[type=password]', TOKEN.replace(/.$/, 'f'));
    await page.click('[data-test=signin] button[type=submit]');
    await expect.poll(() => page.textContent('[data-test=signin-status]')).toMatch(/^wrong token/);
    // the one refused request, and Chromium's console line about it: expected here, nothing else
    expect(problems.every((p) => /401/.test(p))).toBe(true);
    expect(problems.length).toBeGreaterThan(0);
    problems.length = 0;
    expect(await browser.context.cookies()).toEqual([]);
  });

  it('with the right token: a session cookie, then the page with the API figures and its event stream, without a console error', async () => {
    await page.fill('[data-test=signin] input[type=password]', TOKEN);
    await Promise.all([page.waitForNavigation(), page.click('[data-test=signin] button[type=submit]')]);
    await page.waitForFunction(() => (window as any).ctscope?.data?.final === true && document.querySelector('[data-test=head-alloc-count]') !== null, null, { timeout: 30_000 });
    const cookies = await browser.context.cookies();
    expect(cookies).toHaveLength(1);
    expect(cookies[0]).toMatchObject({ name: 'ctscope_session', httpOnly: true, secure: true, sameSite: 'Strict', path: '/' });
    expect(cookies[0]!.value).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(cookies[0]!.value).not.toContain(TOKEN.slice(0, 8));
    // the token is nowhere the page can read
    expect(await page.evaluate(() => document.cookie + JSON.stringify(sessionStorage) + JSON.stringify(localStorage) + location.href)).not.toContain(TOKEN);
    // the figures are the API's
    const series = await api('/v1/series?by=src&limit=6');
    const churn = await api(`/v1/churn?by=src&window=${series.window}&limit=1`);
    const table = await api('/v1/table');
    expect(await page.textContent('[data-test=head-alloc-key]')).toBe(churn.items[0].key);
    expect(shownNumber(await page.textContent('[data-test=head-alloc-count]'))).toBe(churn.items[0].count);
    expect(await page.textContent('[data-test=head-util]')).toBe(`${(table.utilization * 100).toFixed(1)} %`);
    // the event stream is open (the header says nothing about reconnecting) and the charts hold points
    await expect.poll(() => page.textContent('#conn')).toBe('');
    expect(Number(await page.getAttribute('#alloc .chart', 'data-points'))).toBeGreaterThan(30);
    expect(problems).toEqual([]);
    await screenshot(page, 'token-signed-in');
  });

  it('signs out: the server forgets the session, the page asks for the token again', async () => {
    const before = (await browser.context.cookies())[0]!.value;
    await Promise.all([page.waitForNavigation(), page.click('[data-test=signout]')]);
    await page.locator('[data-test=signin] input[type=password]').waitFor();
    expect(await browser.context.cookies()).toEqual([]);
    const r = await get('/v1/status', { cookie: `ctscope_session=${before}` });
    expect(r.status).toBe(401);
    expect(problems).toEqual([]);
  });
});
