// A real Chromium for the dashboard's tests and benchmark: Debian's package
// (/usr/bin/chromium, installed by scripts/setup.sh --test), driven headless
// by playwright-core, nothing downloaded. A fresh profile per launch; the
// flags keep it from reaching for the network on its own (update checks,
// sync, field trials), which on a closed network floods it with refused
// connections.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type ConsoleMessage, type Page } from 'playwright-core';
import type { Requirement } from './requires.js';

export const CHROMIUM = '/usr/bin/chromium';
export const ARTIFACTS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../test-artifacts/dashboard');

/** Why Chromium cannot run here, or null. */
/** Debian's Chromium, which the browser tests drive. */
export function chromiumInstalled(): Requirement {
  return fs.existsSync(CHROMIUM) ? { ok: true } : { ok: false, kind: 'setup', why: `${CHROMIUM} is missing (Debian package chromium; scripts/setup.sh --test installs it)` };
}

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

/** trustSpki: base64 SHA-256 of the public keys of certificates to trust (a test's self-signed one; no other certificate error is ignored). */
export async function launchBrowser(opts: { trustSpki?: string[] } = {}): Promise<Browser> {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'ctscope-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync',
      ...(opts.trustSpki?.length ? [`--ignore-certificate-errors-spki-list=${opts.trustSpki.join(',')}`] : []),
    ],
  });
  return {
    context,
    close: async () => {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Everything a page did wrong: console errors and warnings, uncaught exceptions, failed or refused requests. */
export function watchProblems(page: Page): string[] {
  const problems: string[] = [];
  page.on('console', (m: ConsoleMessage) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`exception: ${e.message}`));
  page.on('requestfailed', (r) => {
    // a stream the page itself closes on navigation or close is not a failure
    if (!(r.url().includes('/v1/events') && r.failure()?.errorText === 'net::ERR_ABORTED')) problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`);
  });
  page.on('response', (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`);
  });
  return problems;
}

export async function screenshot(page: Page, name: string): Promise<string> {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name}.png`);
  // from the top: a full-page shot of a scrolled page draws the sticky header where it was scrolled to
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/** Numbers as the page prints them ("1,234", "85.3 %") back to numbers. */
export function shownNumber(text: string | null): number {
  const m = /-?[\d,]+(\.\d+)?/.exec(text ?? '');
  if (!m) throw new Error(`no number in '${text}'`);
  return Number(m[0].replaceAll(',', ''));
}
