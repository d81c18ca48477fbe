// Issue 12, "a recycled inode": the kernel numbers network namespaces from a
// pool of free inodes (the lowest free one first), so a namespace created
// after another died often gets the dead one's inode — and, before the
// table accounts told them apart, its history ("175 samples in 299 s" for a
// namespace 10 s old, and the dead one's peak). Here a lab namespace holds
// 401 UDP entries under the daemon's eye, is deleted, and a new one is made
// until the kernel hands out the same inode; the daemon's account of that
// inode must then be a new one: a higher generation, first seen after the new
// namespace was made, the new table's count (as its own
// /proc/sys/net/netfilter/nf_conntrack_count says), no peak of the dead
// table's, and a forecast whose evidence spans only the new namespace's life.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DaemonProcess } from '../helpers/daemon.js';
import { Lab, kernelTier } from '../helpers/lab.js';
import { holdKernelLock, udpFlows, until } from './netlink-lab.js';

const run = promisify(execFile);
const tier = kernelTier();
if (!tier.ok) console.warn(`netns-reuse kernel test skipped: ${tier.why}`);

const FLOWS = 401;

/** CLOCK_BOOTTIME seconds (/proc/uptime counts from boot, suspend included): the clock of the accounts. */
const bootSeconds = () => Number(fs.readFileSync('/proc/uptime', 'utf8').split(' ')[0]);

interface TableView {
  netns: number;
  generation: number;
  first_seen_s: number;
  read_at_s: number;
  count: number;
  peak: { count: number; max: number } | null;
  forecast: { samples: number; horizon_s: number };
}

describe.skipIf(!tier.ok)('a namespace on a recycled inode', () => {
  let release: () => void = () => undefined;
  let lab: Lab;
  let daemon: DaemonProcess | undefined;

  beforeAll(async () => {
    release = await holdKernelLock();
    lab = await Lab.create('ctreuse');
  }, 900_000); // most of it waiting for the machine-wide kernel lock other runs hold

  afterAll(async () => {
    await daemon?.stop();
    await lab?.destroy();
    release();
  });

  it('starts a new account, with none of the dead namespace history', async () => {
    const ino = lab.netnsInode(lab.server);
    // a rule that needs conntrack makes the namespace track (its hooks are per namespace, on demand)
    await lab.nft(lab.server, 'table inet ctru {\n chain pre {\n  type filter hook prerouting priority 0;\n  ct state new counter\n }\n}\n');
    await lab.exec(lab.server, ['sysctl', '-qw', 'net.netfilter.nf_conntrack_udp_timeout=600']);
    daemon = await DaemonProcess.start([], 60_000); // start-up is slow on a loaded machine
    const table = async (): Promise<TableView | null> => ((await daemon!.get('/v1/table')).tables as TableView[]).find((t) => t.netns === ino) ?? null;
    await until(async () => (await table()) !== null, 10_000, 'the lab namespace read');
    await udpFlows((ns, x) => lab.exec(ns, x), lab.client, lab.clientAddress, lab.serverAddress, FLOWS, { intervalUs: 500 });
    const kernelCount = async () => Number((await lab.exec(lab.server, ['cat', '/proc/sys/net/netfilter/nf_conntrack_count'])).stdout.trim());
    const held = await kernelCount();
    expect(held).toBeGreaterThanOrEqual(FLOWS);
    await until(async () => ((await table())?.count ?? 0) >= FLOWS, 20_000, 'the entries in the lab table').catch(async () => {
      throw new Error(`the daemon's account of ${ino}: ${JSON.stringify(await table())}; the kernel's count ${held}`);
    });
    await new Promise((r) => setTimeout(r, 3000)); // a few readings of history
    const old = (await table())!;
    expect(old.peak!.count).toBeGreaterThanOrEqual(FLOWS);
    expect(old.forecast.samples).toBeGreaterThanOrEqual(3);

    // The dead namespace's inode is free once the kernel has freed it (after the
    // daemon let go of it); a new namespace takes the lowest free inode.
    await run('ip', ['netns', 'del', lab.server]);
    let made = 0;
    let tries = 0;
    for (; tries < 60; tries++) {
      await new Promise((r) => setTimeout(r, 500));
      made = bootSeconds();
      await run('ip', ['netns', 'add', lab.server]);
      if (lab.netnsInode(lab.server) === ino) break;
      await run('ip', ['netns', 'del', lab.server]);
    }
    expect(lab.netnsInode(lab.server), `the kernel did not hand inode ${ino} out again in ${tries} tries`).toBe(ino);

    await until(async () => {
      const t = await table();
      return t !== null && t.generation > old.generation && t.read_at_s > made + 2;
    }, 15_000, 'the new namespace read a few times').catch(() => 0);
    const now = (await table())!;
    const newCount = await kernelCount();
    const age = bootSeconds() - made;
    expect(now.generation).toBeGreaterThan(old.generation);
    expect(now.first_seen_s).toBeGreaterThanOrEqual(made - 0.5);
    expect(now.count).toBe(newCount);
    expect(now.peak?.count ?? 0).toBeLessThanOrEqual(newCount);
    // the forecast's evidence is the new namespace's readings only
    expect(now.forecast.horizon_s).toBeLessThanOrEqual(age + 1);
    expect(now.forecast.samples).toBeLessThanOrEqual(Math.ceil(age) + 2);
    console.info(`recycled inode ${ino} after ${tries + 1} tries: generation ${old.generation} -> ${now.generation}; old peak ${old.peak!.count}, ${old.forecast.samples} samples; new count ${now.count} (kernel ${newCount}), ${now.forecast.samples} samples over ${now.forecast.horizon_s} s of a ${age.toFixed(1)} s old namespace`);
  }, 180_000);
});
