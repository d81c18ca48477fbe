// What-if against the kernel: a flood into a namespace whose table fills
// (nf_conntrack_max 3,000), recorded by the daemon, then the same load run
// again in a fresh namespace with its udp_timeout lowered from 30 to 5 s. The
// replay's what-if under the settings in force must give back the recorded
// drops (±10 %), and under udp_timeout=5 the re-run's (±25 %).
//
// The kernel's garbage collector is one worker for every namespace, its next
// cycle set by a running mean of the entries' time to expiry (after a bias of
// 100 entries at 60 s): an idle machine's comes a minute after the last, and
// when it first comes after a flood begins would decide a udp_timeout=5
// re-run's drops by chance (a table of 5-second entries waits for it). A
// steady churn of short-lived flows (udp_timeout 1, 400 flows/s in each of
// two labs, tracked on both sides: four tables) keeps it coming every ~7 s
// (measured: the mean stalls there) through both runs, as on a busy node; the
// floods start once the churn's count has fallen (a cycle, or another walk of
// the table). nf_conntrack_max is one limit for every namespace, so the
// churn's tables fill too when the collector is slow: their drops are in the
// recording and the model plays them as well. Each flood: 500 flows/s for
// 20 s.
import { spawn } from 'node:child_process';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DaemonProcess } from '../helpers/daemon.js';
import { Lab, kernelTier } from '../helpers/lab.js';
import { holdKernelLock } from './netlink-lab.js';
import { cannotRun } from '../helpers/requires.js';
import { pace } from './incident-fixtures/pace.js';

const run = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const MAX = 3000;

const tier = kernelTier();
const skip = cannotRun(tier);


/** The flood into `fw` under udp_timeout `udpTimeout`; the flood namespace's drop and early-drop counters' increase. */
async function flood(fw: Lab, udpTimeout: number): Promise<{ drop: number; early_drop: number }> {
  await fw.exec(fw.server, ['sysctl', '-qw', `net.netfilter.nf_conntrack_udp_timeout=${udpTimeout}`]);
  const before = await fw.conntrackStats(fw.server);
  await pace(fw, fw.client, [fw.clientAddress, fw.serverAddress, 1024, 500, 20], 120_000);
  await new Promise((r) => setTimeout(r, 3000));
  const after = await fw.conntrackStats(fw.server);
  return { drop: after.drop! - before.drop!, early_drop: after.early_drop! - before.early_drop! };
}

/** A lab whose conntrack tracks one side (server) or both. */
async function lab(prefix: string, bothSides: boolean): Promise<Lab> {
  const l = await Lab.create(prefix);
  for (const ns of bothSides ? [l.client, l.server] : [l.server]) {
    const hook = ns === l.server ? 'prerouting' : 'output';
    await l.nft(ns, `table inet lab {\n chain c { type filter hook ${hook} priority -150;\n  ct state new counter\n }\n}`);
  }
  return l;
}

/** Resolves when the namespace's count falls by more than `by` between two readings 200 ms apart (a collector pass). */
function nextFall(ns: string, by: number, timeoutMs: number): Promise<void> {
  const child = spawn('ip', ['netns', 'exec', ns, 'sh', '-c', 'while :; do cat /proc/sys/net/netfilter/nf_conntrack_count; sleep 0.2; done'], { stdio: ['ignore', 'pipe', 'ignore'] });
  return new Promise<void>((resolve, reject) => {
    let last = -1;
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`no collector pass in ${ns} within ${timeoutMs} ms`));
    }, timeoutMs);
    child.stdout!.on('data', (d: Buffer) => {
      for (const line of d.toString().split('\n').filter(Boolean)) {
        const n = Number(line);
        if (last >= 0 && last - n > by) {
          clearTimeout(t);
          child.kill('SIGKILL');
          resolve();
        }
        last = n;
      }
    });
  });
}

describe.skipIf(skip)('what-if against a re-run of the same load', () => {
  let release: () => void = () => undefined;
  let dir: string;
  let labsNow: Lab[] = [];
  let daemon: DaemonProcess | undefined;

  beforeAll(async () => {
    release = await holdKernelLock();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ctscope-whatif-'));
  }, 900_000); // most of it waiting for the machine-wide kernel lock other runs hold

  afterAll(async () => {
    await daemon?.kill9();
    for (const l of labsNow) await l.destroy();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    release();
  });

  it('reproduces the recorded drops under the settings in force (±10 %) and a re-run under udp_timeout=5 (±25 %)', async () => {
    const capture = path.join(dir, 'flood.ctcap');
    const bg = [await lab('icwb', true), await lab('icwc', true)];
    let fw = await lab('icwf', false);
    labsNow = [...bg, fw];
    for (const b of bg) for (const ns of [b.client, b.server]) await b.exec(ns, ['sysctl', '-qw', 'net.netfilter.nf_conntrack_udp_timeout=1']);
    fw.setConntrackMax(MAX);
    const host = Number(fs.readFileSync('/proc/sys/net/netfilter/nf_conntrack_count', 'utf8'));
    expect(host).toBeLessThan(MAX / 2);
    daemon = await DaemonProcess.start(['--record', capture]);
    // the churn, for both runs; the floods once the collector has come round
    // (killed when its namespace goes at the end)
    const churn = bg.map((b) => pace(b, b.client, [b.clientAddress, b.serverAddress, 1024, 400, 150], 120_000).catch(() => undefined));
    await nextFall(bg[0]!.server, 100, 75_000);
    await new Promise((r) => setTimeout(r, 2000));
    const recorded = await flood(fw, 30);
    expect(await daemon.stop()).toBe(0);
    daemon = undefined;
    const name = fw.server;
    // the same flood again, udp_timeout 5, in a fresh namespace (nothing of the first left in the table)
    await fw.destroy();
    fw = await lab('icwg', false);
    labsNow = [...bg, fw];
    fw.setConntrackMax(MAX);
    await new Promise((r) => setTimeout(r, 3000));
    const rerun = await flood(fw, 5);
    for (const b of bg) await b.destroy(); // stops the churn
    await Promise.all(churn);
    expect(recorded.drop, 'the recorded run filled the table').toBeGreaterThan(2000);
    expect(rerun.drop, 'the re-run still drops').toBeGreaterThan(200);
    expect(rerun.drop).toBeLessThan(recorded.drop);

    const { stdout } = await run(process.execPath, [path.join(root, 'bin/ctscope.js'), 'replay', capture, '--report', 'json', '--what-if', `${name}/udp_timeout=5`], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    const r = JSON.parse(stdout).what_if;
    const n = r.by_netns.find((x: { name: string | null }) => x.name === name);
    expect(n, JSON.stringify(r.by_netns.map((x: { name: string }) => x.name))).toBeDefined();
    const msg = `recorded ${recorded.drop} (early ${recorded.early_drop}), baseline ${n.baseline.drops} (early ${n.baseline.early_drops}); re-run ${rerun.drop} (early ${rerun.early_drop}), what-if ${n.what_if.drops} ${JSON.stringify(n.what_if.drops_range)} (early ${n.what_if.early_drops}); gc passes ${JSON.stringify(r.gc.recorded_pass_s)} recorded, ${JSON.stringify(r.gc.baseline_pass_s)} modelled; lag ${JSON.stringify(r.gc.recorded_lag_s)} recorded, ${JSON.stringify(r.gc.baseline_lag_s)} modelled`;
    console.log(`what-if: ${msg}`);
    expect(n.recorded.drops).toBe(recorded.drop);
    expect(Math.abs(n.baseline.drops - recorded.drop) / recorded.drop, msg).toBeLessThanOrEqual(0.1);
    // Within ±25 % of the re-run, and in the right direction. Since the
    // collector is modelled as gc_worker runs it (capture/kernel-table.ts), ten
    // runs on this machine, quiet and loaded, gave -11 % to +17 % (the last
    // three clean-clone CI runs: +11.6, +12.5 and +13.6 %); before, with a
    // collector coming round every 10-20 s, +10 % to +68 %.
    expect(n.what_if.drops, msg).toBeLessThan(n.baseline.drops);
    expect(Math.abs(n.what_if.drops - rerun.drop) / rerun.drop, msg).toBeLessThanOrEqual(0.25);
    // the text says how far the baseline was from the recording
    const text = (await run(process.execPath, [path.join(root, 'bin/ctscope.js'), 'replay', capture, '--report', 'text', '--what-if', `${name}/udp_timeout=5`], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })).stdout;
    expect(text).toMatch(/the model under the settings in force is \d+ % from the recorded drops/);
  }, 240_000);
});
