// The dashboard in a real Chromium over the live daemon, during a lab churn
// and a table-full flood in a lab namespace (as daemon-drops.test.ts): the
// page follows the daemon second by second, names the full table first, and
// shows the kernel's own figures — the flooder's dropped packets equal the
// nft counters before and after conntrack, the table's utilization equals
// /proc's — with the API's numbers for the rest; a clicked key filters the
// live flows; no console error, no failed request. Screenshots go to
// test-artifacts/dashboard/.
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { DaemonProcess } from '../helpers/daemon.js';
import { Lab, kernelTier } from '../helpers/lab.js';
import { chromiumInstalled, launchBrowser, screenshot, shownNumber, watchProblems, type Browser } from '../helpers/browser.js';
import { countConntrackDrops, holdKernelLock } from './netlink-lab.js';
import { all, cannotRun } from '../helpers/requires.js';

const skip = cannotRun(all(kernelTier(), chromiumInstalled()));

const pct1 = (ratio: number) => `${(ratio * 100).toFixed(1)} %`;
const CT_MAX = 331;

describe.skipIf(skip)('dashboard over the live daemon during a table-full flood', () => {
  let lab: Lab;
  let daemon: DaemonProcess | undefined;
  let browser: Browser | undefined;
  let page: Page;
  let problems: string[];
  let release: () => void = () => undefined;

  beforeAll(async () => {
    release = await holdKernelLock();
    lab = await Lab.create('ctdash');
    daemon = await DaemonProcess.start();
    browser = await launchBrowser();
    page = await browser.context.newPage();
    problems = watchProblems(page);
    await page.goto(`${daemon.base}/`);
    await page.waitForFunction(() => (window as any).ctscope?.data?.tables?.tables?.length > 0, null, { timeout: 30_000 });
  }, 900_000); // most of it waiting for the machine-wide kernel lock other runs hold

  afterAll(async () => {
    await browser?.close();
    await daemon?.stop();
    await lab?.destroy(); // restores nf_conntrack_max
    release();
  });

  it('follows the flood live and shows the kernel figures', async () => {
    const flooder = lab.clientAddress;
    const other = await lab.addClientAddress(7);
    const counters = await countConntrackDrops(lab, [flooder, other]);
    // unanswered UDP entries live 10 minutes here, so the full table stays full while the page is read
    await lab.exec(lab.server, ['sysctl', '-qw', 'net.netfilter.nf_conntrack_udp_timeout=600']);
    const inode = lab.netnsInode(lab.server);
    const statDropBefore = (await lab.conntrackStats(lab.server)).drop!;

    // the churn: 149 flows from one source over ~3 s
    await lab.exec(lab.client, ['hping3', '--udp', '-q', '-p', '53', '-i', 'u20000', '-c', '149', '-a', other, lab.serverAddress]).catch((e) => e);
    const before = await page.evaluate(() => (window as any).ctscope.data.tables.now_s as number);
    lab.setConntrackMax(CT_MAX);
    await lab.exec(lab.client, ['hping3', '--udp', '-q', '-p', '9', '-i', 'u300', '-c', '4001', '-a', flooder, lab.serverAddress], { timeoutMs: 60_000 }).catch((e) => e);
    // the page moved with the daemon's clock while the flood ran
    await expect.poll(() => page.evaluate(() => (window as any).ctscope.data.tables.now_s as number), { timeout: 10_000 }).toBeGreaterThan(before + 1);
    const { dropped } = await counters();
    const statDrops = (await lab.conntrackStats(lab.server)).drop! - statDropBefore;
    expect(dropped(flooder)).toBeGreaterThan(1000); // the table really filled
    expect(dropped(flooder) + dropped(other)).toBe(statDrops);

    // the page once the last second of the flood is in, against the kernel and the API read at the same moment
    await new Promise((r) => setTimeout(r, 2000));
    const read = async () => {
      await page.evaluate(() => (window as any).ctscope.refresh());
      const shown = {
        table: await page.textContent('[data-test=head-table]'),
        util: await page.textContent('[data-test=head-util]'),
        drops: shownNumber(await page.textContent('[data-test=head-drops]')),
        dropKey: await page.textContent('[data-test=head-drop-key]'),
        dropCount: shownNumber(await page.textContent('[data-test=head-drop-count]')),
        allocKey: await page.textContent('[data-test=head-alloc-key]'),
        allocCount: shownNumber(await page.textContent('[data-test=head-alloc-count]')),
      };
      const [table, drops, churn] = await Promise.all([daemon!.get(`/v1/table?netns=${inode}`), daemon!.get('/v1/drops?by=src&window=900&limit=1'), daemon!.get('/v1/churn?by=src&window=900&limit=1')]);
      const api = { table: lab.server, util: pct1(table.utilization), drops: drops.total, dropKey: drops.items[0].key, dropCount: drops.items[0].count, allocKey: churn.items[0].key, allocCount: churn.items[0].count };
      return { shown, api, table };
    };
    // Read until the page equals the API and the API the kernel's count: on a
    // busy machine the last drop records can still be on their way (once, at
    // load 9, 6 of 3,720 were not in yet 2 s after the flood); a record lost
    // would show in /v1/status's lost count, printed if it never gets there.
    let r = await read();
    for (let i = 0; i < 10 && (JSON.stringify(r.shown) !== JSON.stringify(r.api) || r.api.dropCount !== dropped(flooder)); i++) {
      await new Promise((res) => setTimeout(res, 1000));
      r = await read();
    }
    expect(r.shown).toEqual(r.api);
    // and the kernel's own: whose packets, how many, how full
    expect(r.shown.dropKey).toBe(flooder);
    expect(r.shown.dropCount, `lost: ${JSON.stringify((await daemon!.get('/v1/status')).lost)}`).toBe(dropped(flooder));
    expect(r.table.max).toBe(Number(fs.readFileSync('/proc/sys/net/netfilter/nf_conntrack_max', 'utf8')));
    // the table as the kernel counts it, once it holds still across a /proc poll; then the page again
    const kernelCount = async () => Number((await lab.exec(lab.server, ['cat', '/proc/sys/net/netfilter/nf_conntrack_count'])).stdout.trim());
    let still = -1;
    for (let i = 0; i < 10 && still < 0; i++) {
      const k1 = await kernelCount();
      await new Promise((res) => setTimeout(res, 1500));
      const t = await daemon!.get(`/v1/table?netns=${inode}`);
      if ((await kernelCount()) === k1 && t.count === k1) still = k1;
    }
    expect(still, 'the lab table held still for a poll').toBeGreaterThan(0);
    await page.evaluate(() => (window as any).ctscope.refresh());
    expect(await page.textContent('[data-test=head-util]')).toBe(pct1(still / CT_MAX));
    await screenshot(page, 'live-desktop');
  }, 180_000);

  it('draws every second of the last minute', async () => {
    const t = await daemon!.get('/v1/series/tables');
    const charts = await page.$$eval('.chart', (els) => els.map((e) => ({ label: e.getAttribute('aria-label'), points: Number((e as HTMLElement).dataset.points), first: Number((e as HTMLElement).dataset.first), last: Number((e as HTMLElement).dataset.last) })));
    expect(charts.length).toBeGreaterThanOrEqual(3);
    for (const c of charts) {
      // the page's last refresh was at most a second or two before this answer
      const lag = Math.round(t.start_s + t.window - 1 + t.epoch_offset_s - c.last);
      expect(lag, c.label!).toBeLessThanOrEqual(2);
      // every second of the last minute (or of all the daemon holds, while that is shorter), none missing
      expect(c.points, c.label!).toBeGreaterThanOrEqual(Math.min(60, t.window - lag));
      expect(c.points, c.label!).toBe(c.last - c.first + 1);
    }
  });

  it('a clicked source filters the live flows; a row opens its lifecycle; nothing went wrong', async () => {
    const flooder = lab.clientAddress;
    await page.locator(`#drops button[data-key="${flooder}"]`).click();
    await expect.poll(() => page.textContent('[data-test=flows-filter]')).toContain(`src = ${flooder}`);
    const api = await daemon!.get(`/v1/flows?src=${flooder}&limit=50`);
    expect(api.total).toBeGreaterThan(0);
    await expect.poll(async () => shownNumber(await page.textContent('[data-test=flows-total]'))).toBe(api.total);
    const tuples = await page.$$eval('#flows tbody tr button', (bs) => bs.map((b) => b.textContent!));
    expect(tuples.length).toBe(Math.min(50, api.total));
    for (const t of tuples) expect(t.startsWith(`${flooder}:`)).toBe(true);
    await page.locator('#flows tbody tr button').first().click();
    const id = await page.getAttribute('#flows tbody tr:first-child', 'data-id');
    const one = await daemon!.get(`/v1/flows/${id}`);
    await expect.poll(() => page.textContent('.lifecycle')).toContain(`${one.src}:${one.sport} → ${one.dst}:${one.dport}`);
    await screenshot(page, 'live-flow');
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForTimeout(300);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await screenshot(page, 'live-phone');
    expect(problems).toEqual([]);
  }, 60_000);
});
