// The dashboard in a real Chromium over `ctscope replay share/sample.ctcap
// --serve` (the bundled incident; no root needed): the page loads with no
// console error and no failed request, the numbers it shows are the API's,
// the charts hold every second of the last minute, the time cursor moves by
// keyboard and by the "worst second" button, a clicked (or Enter-ed) key
// filters the flows, a row opens its lifecycle, the dimension switch follows
// the API's own list; the sections below the first screen are asked for only
// once scrolled to, and then show the API's figures. Screenshots go to
// test-artifacts/dashboard/.

import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { freePort } from '../helpers/daemon.js';
import { cannotRun } from '../helpers/requires.js';
import { chromiumInstalled, launchBrowser, screenshot, shownNumber, watchProblems, type Browser } from '../helpers/browser.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const skip = cannotRun(chromiumInstalled());

const pct1 = (ratio: number) => `${(ratio * 100).toFixed(1)} %`;

describe.skipIf(skip)('dashboard over replay --serve of the sample capture', () => {
  let server: ChildProcess;
  let base: string;
  let browser: Browser;
  let page: Page;
  let problems: string[];
  /** Every API path the page asked for, in order. */
  const asked: string[] = [];
  const api = async <T = any>(p: string): Promise<T> => {
    const r = await fetch(`${base}${p}`);
    expect(r.status, p).toBe(200);
    return (await r.json()) as T;
  };

  beforeAll(async () => {
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    server = spawn(process.execPath, [path.join(root, 'bin/ctscope.js'), 'replay', path.join(root, 'share/sample.ctcap'), '--serve', '--listen', `127.0.0.1:${port}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    server.stderr!.on('data', (b: Buffer) => (err += b.toString()));
    // served, and the replay finished (the model then holds the whole capture)
    for (let i = 0; ; i++) {
      if (server.exitCode !== null) throw new Error(`replay --serve exited ${server.exitCode}: ${err}`);
      const s = await fetch(`${base}/v1/series/tables`).then((r) => (r.ok ? r.json() : null)).catch(() => null);
      if (s?.final) break;
      if (i > 600) throw new Error(`replay did not finish: ${err}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    browser = await launchBrowser();
    page = await browser.context.newPage();
    problems = watchProblems(page);
    page.on('request', (r) => {
      const u = new URL(r.url());
      if (u.pathname.startsWith('/v1/')) asked.push(u.pathname + u.search);
    });
    await page.goto(`${base}/`);
    await page.waitForFunction(() => (window as any).ctscope?.data?.final === true && document.querySelector('[data-test=head-alloc-count]') !== null, null, { timeout: 30_000 });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    server?.kill('SIGTERM');
  });

  it('shows the API figures: top allocator and its count, the table, the drops and whose', async () => {
    const series = await api('/v1/series?by=src&limit=6');
    const w = series.window;
    const churn = await api(`/v1/churn?by=src&window=${w}&limit=1`);
    const drops = await api(`/v1/drops?by=src&window=${w}&limit=1`);
    const tables = await api('/v1/series/tables');
    const table = await api('/v1/table');
    expect(churn.items[0].key).toBe('10.79.1.3'); // the sample's flooder
    expect(await page.textContent('[data-test=head-alloc-key]')).toBe(churn.items[0].key);
    expect(shownNumber(await page.textContent('[data-test=head-alloc-count]'))).toBe(churn.items[0].count);
    expect(await page.textContent('[data-test=head-util]')).toBe(pct1(table.utilization));
    expect(tables.tables[0].utilization).toBe(table.utilization);
    expect(drops.total).toBeGreaterThan(0);
    expect(shownNumber(await page.textContent('[data-test=head-drops]'))).toBe(drops.total);
    expect(shownNumber(await page.textContent('[data-test=head-drop-count]'))).toBe(drops.items[0].count);
    // the legend under the allocations: the same keys and counts as /v1/series
    const keys = await page.$$eval('#alloc [data-test=alloc-count]', (els) => els.map((e) => e.closest('tr')!.querySelector('.key')!.textContent + '=' + e.textContent));
    expect(keys).toEqual(series.items.map((i: { key: string; count: number }) => `${i.key}=${i.count.toLocaleString('en')}`));
    await screenshot(page, 'replay-desktop');
  });

  it('asks for the sections below the first screen when scrolled to, and shows their API figures', async () => {
    // at the top of the page, laid out: refreshes (a fifth of them also the slow answers) ask for the headline, the status and
    // the sections within a screen of the view, not those further down (with the sample, at least the advice and the flows)
    const gated = /^\/v1\/(occupancy|lifetimes|advice|flows)\b/;
    const far = await page.evaluate(() => ['occupancy', 'lifetimes', 'advice', 'flows'].filter((id) => document.getElementById(id)!.getBoundingClientRect().top > 2 * innerHeight));
    expect(far).toEqual(expect.arrayContaining(['advice', 'flows']));
    asked.length = 0;
    for (let i = 0; i < 5; i++) await page.evaluate(() => (window as any).ctscope.refresh());
    expect(asked.filter((u) => u.startsWith('/v1/series/headline')).length).toBe(5);
    expect(asked.filter((u) => u.startsWith('/v1/status')).length).toBe(1);
    expect(asked.filter((u) => far.some((id) => u.startsWith(`/v1/${id}`)))).toEqual([]);
    // scrolled down, as a reader would: the ones skipped are asked for once, and the API's figures are on the page
    asked.length = 0;
    await page.evaluate(() => (window as any).ctscope.invalidate()); // drawn from the answers asked for now, not the first load's
    await page.locator('#flows').scrollIntoViewIfNeeded();
    await expect.poll(() => far.filter((id) => asked.some((u) => u.startsWith(`/v1/${id}`)))).toEqual(far);
    const [occ, life, adv, flows] = await Promise.all([api('/v1/occupancy?by=src&limit=8'), api('/v1/lifetimes?by=state'), api('/v1/advice'), api('/v1/flows?closed=true&limit=50')]);
    await expect.poll(() => page.textContent('#occupancy .body')).toContain(`${occ.live.toLocaleString('en')} live entries tracked`);
    expect(await page.$$eval('#occupancy .grid tbody td:first-child', (els) => els.map((e) => e.textContent))).toEqual(occ.items.map((i: { key: string }) => i.key));
    await expect.poll(() => page.$$eval('#lifetimes .life h3', (els) => els.map((e) => e.firstChild!.textContent))).toEqual(
      life.groups.slice(0, 6).map((g: { proto: string; state: string | null }) => `${g.proto}${g.state ? ` ${g.state}` : ''}`),
    );
    expect(adv.advice.length).toBeGreaterThan(0);
    await expect.poll(() => page.$$eval('#advice li', (els) => els.map((e) => e.getAttribute('data-id')).sort())).toEqual(adv.advice.map((a: { id: string }) => a.id).sort());
    // the capture ended with an empty table: the flows shown are the recently closed ones
    await expect.poll(async () => shownNumber(await page.textContent('[data-test=flows-total]'))).toBe(flows.total);
    for (const id of far) expect(asked.filter((u) => u.startsWith(`/v1/${id}`)).length, id).toBe(1);
    expect(asked.filter((u) => gated.test(u) && !far.some((id) => u.startsWith(`/v1/${id}`)))).toEqual([]);
    await page.evaluate(() => window.scrollTo(0, 0));
  });

  it('draws every second of the last minute in each chart', async () => {
    const t = await api('/v1/series/tables');
    const last = t.start_s + t.window - 1 + t.epoch_offset_s;
    const charts = await page.$$eval('.chart', (els) => els.map((e) => ({ label: e.getAttribute('aria-label'), points: Number((e as HTMLElement).dataset.points), first: Number((e as HTMLElement).dataset.first), last: Number((e as HTMLElement).dataset.last) })));
    expect(charts.length).toBeGreaterThanOrEqual(3); // a table, allocations, drops
    const minute = Math.min(60, t.window);
    for (const c of charts) {
      expect(Math.round(c.last), c.label!).toBe(Math.round(last));
      expect(c.first, c.label!).toBeLessThanOrEqual(c.last - (minute - 1));
      expect(c.points, c.label!).toBe(c.last - c.first + 1); // no second missing
    }
  });

  it('scrubs: the keyboard moves the cursor, the worst-second button finds the drops', async () => {
    const t = await api('/v1/series/tables');
    const d = await api('/v1/series?by=src&stream=drops&limit=6');
    const slider = page.locator('[data-test=scrub]');
    await slider.focus();
    await page.keyboard.press('Home');
    const first = t.start_s + t.epoch_offset_s;
    const stampOf = (unix: number) => `${new Date(Math.round(unix) * 1000).toISOString().slice(0, 10)} ${new Date(Math.round(unix) * 1000).toISOString().slice(11, 19)} UTC`;
    await expect.poll(() => page.textContent('[data-test=cursor-time]')).toBe(stampOf(first));
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('ArrowRight');
    await expect.poll(() => page.textContent('[data-test=cursor-time]')).toBe(stampOf(first + 2));
    const util = t.tables[0].utilization_series[2];
    expect(await page.textContent(`[data-test=table-util-${t.tables[0].netns}]`)).toBe(util === null ? '–' : pct1(util));

    await page.getByRole('button', { name: 'worst second' }).click();
    const peak = d.total.indexOf(Math.max(...d.total));
    await expect.poll(() => page.textContent('[data-test=cursor-time]')).toBe(stampOf(d.start_s + peak + d.epoch_offset_s));
    const atCursor = await page.$$eval('#drops [data-test=drops-at]', (els) => els.map((e) => e.textContent));
    expect(atCursor.map((x) => shownNumber(x))).toEqual(d.items.map((i: { values: number[] }) => i.values[peak]));
    expect(shownNumber(atCursor[0]!)).toBeGreaterThan(0);
    await screenshot(page, 'replay-scrubbed');
  });

  it('a clicked source filters the flows; a row opens its lifecycle', async () => {
    await page.locator('#alloc button[data-key="10.79.1.4"]').click();
    await expect.poll(() => page.textContent('[data-test=flows-filter]')).toContain('src = 10.79.1.4');
    // the capture ended with an empty table: the page lists the recently closed flows
    const api4 = await api('/v1/flows?closed=true&src=10.79.1.4&limit=50');
    expect(api4.total).toBe(400);
    await expect.poll(async () => shownNumber(await page.textContent('[data-test=flows-total]'))).toBe(api4.total);
    const rows = await page.$$eval('#flows tbody tr', (trs) => trs.map((tr) => [tr.getAttribute('data-id'), tr.querySelector('button')!.textContent]));
    expect(rows.map((r) => r[0])).toEqual(api4.flows.map((f: { id: string }) => f.id));
    for (const [, tuple] of rows) expect(tuple!.startsWith('10.79.1.4:')).toBe(true);

    await page.locator('#flows tbody tr button').first().click();
    const one = await api(`/v1/flows/${rows[0]![0]}`);
    const aside = page.locator('.lifecycle');
    await expect.poll(() => aside.textContent()).toContain(`${one.proto} ${one.src}:${one.sport} → ${one.dst}:${one.dport}`);
    const text = (await aside.textContent())!;
    expect(text).toContain(one.id);
    for (const s of one.states) expect(text).toContain(s);
    expect(text).toContain(`by ${one.closed.cause}`);
    await screenshot(page, 'replay-flow');
  });

  it('is keyboard-usable: a key reached with Tab and Enter filters the flows; the dimension switch follows the API', async () => {
    await page.locator('#flows .chip button').click(); // clear the filter
    await page.locator('#drops button[data-key="10.79.1.3"]').focus();
    await page.keyboard.press('Enter');
    await expect.poll(() => page.textContent('[data-test=flows-filter]')).toContain('src = 10.79.1.3');
    const dims = (await api('/v1/series')).dimensions as string[];
    const buttons = await page.$$eval('#alloc .seg[aria-label=by] button', (bs) => bs.map((b) => b.getAttribute('data-value')));
    expect(buttons).toEqual(dims);
    await page.locator('#alloc .seg[aria-label=by] button[data-value=dport]').click();
    const byPort = await api('/v1/series?by=dport&limit=6');
    await expect.poll(() => page.$$eval('#alloc .legend .key', (els) => els.map((e) => e.textContent))).toEqual(byPort.items.map((i: { key: string }) => i.key));
  });

  it('fits a phone, and did nothing wrong on the way', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForTimeout(300);
    // nothing wider than the screen but the flows table's own scroller
    const wide = await page.evaluate(() => document.documentElement.scrollWidth);
    expect(wide).toBeLessThanOrEqual(390);
    await screenshot(page, 'replay-phone');
    expect(problems).toEqual([]);
  });
});
