// Issue 12, "a recycled inode": the kernel numbers network namespaces from a
// pool of free inodes (the lowest free one first), so a namespace created
// after another died often gets the dead one's inode — and, before the
// table accounts told them apart, its history ("175 samples in 299 s" for a
// namespace 10 s old, and the dead one's peak). Here a lab namespace holds
// 401 UDP entries under the daemon's eye, is deleted, and a new one is made
// (and kept) until the kernel hands out the same inode; the daemon's account of that
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
import { cannotRun } from '../helpers/requires.js';

const run = promisify(execFile);
const tier = kernelTier();
const skip = cannotRun(tier);

const FLOWS = 401;
/** The probe namespaces' names (kept until the end; removed also after a crashed run). */
const PROBE = 'ctreuse-p';
const probes: string[] = [];

async function removeProbes(): Promise<void> {
  const names = (await run('ip', ['netns', 'list'])).stdout.split('\n').map((l) => l.split(' ')[0]!).filter((n) => n.startsWith(PROBE));
  for (const n of names) await run('ip', ['netns', 'del', n]).catch(() => undefined);
}

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

describe.skipIf(skip)('a namespace on a recycled inode', () => {
  let release: () => void = () => undefined;
  let lab: Lab;
  let daemon: DaemonProcess | undefined;

  beforeAll(async () => {
    release = await holdKernelLock();
    await removeProbes();
    lab = await Lab.create('ctreuse');
  }, 900_000); // most of it waiting for the machine-wide kernel lock other runs hold

  afterAll(async () => {
    await daemon?.stop();
    await lab?.destroy();
    await removeProbes();
    release();
  });

  it('starts a new account, with none of the dead namespace history', async () => {
    const ino = lab.netnsInode(lab.server);
    // a rule that needs conntrack makes the namespace track (its hooks are per namespace, on demand)
    await lab.nft(lab.server, 'table inet ctru {\n chain pre {\n  type filter hook prerouting priority 0;\n  ct state new counter\n }\n}\n');
    await lab.exec(lab.server, ['sysctl', '-qw', 'net.netfilter.nf_conntrack_udp_timeout=600']);
    daemon = await DaemonProcess.start([], 60_000); // start-up is slow on a loaded machine
    const table = async (): Promise<TableView | null> => ((await daemon!.get('/v1/table?limit=1000000')).tables as TableView[]).find((t) => t.netns === ino) ?? null;
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
    // daemon let go of it); a new namespace takes the lowest free inode, so
    // probes are kept (filling any lower hole) until one gets it.
    await run('ip', ['netns', 'del', lab.server]);
    let made = 0;
    let reborn: string | null = null;
    for (let i = 0; i < 400 && !reborn; i++) {
      made = bootSeconds();
      const name = `${PROBE}${i}`;
      await run('ip', ['netns', 'add', name]);
      probes.push(name);
      const got = fs.statSync(`/run/netns/${name}`).ino;
      if (got === ino) reborn = name;
      else if (got > ino) await new Promise((r) => setTimeout(r, 250)); // ours not freed yet
    }
    expect(reborn, `the kernel did not hand inode ${ino} out again in ${probes.length} namespaces`).not.toBeNull();

    await until(async () => {
      const t = await table();
      return t !== null && t.generation > old.generation && t.read_at_s > made + 2;
    }, 15_000, 'the new namespace read a few times').catch(() => 0);
    const now = (await table())!;
    const newCount = Number((await run('ip', ['netns', 'exec', reborn!, 'cat', '/proc/sys/net/netfilter/nf_conntrack_count'])).stdout.trim());
    const age = bootSeconds() - made;
    expect(now.generation).toBeGreaterThan(old.generation);
    expect(now.first_seen_s).toBeGreaterThanOrEqual(made - 0.5);
    expect(now.count).toBe(newCount);
    expect(now.peak?.count ?? 0).toBeLessThanOrEqual(newCount);
    // the forecast's evidence is the new namespace's readings only
    expect(now.forecast.horizon_s).toBeLessThanOrEqual(age + 1);
    expect(now.forecast.samples).toBeLessThanOrEqual(Math.ceil(age) + 2);
    console.info(`recycled inode ${ino} after ${probes.length} new namespace(s): generation ${old.generation} -> ${now.generation}; old peak ${old.peak!.count}, ${old.forecast.samples} samples; new count ${now.count} (kernel ${newCount}), ${now.forecast.samples} samples over ${now.forecast.horizon_s} s of a ${age.toFixed(1)} s old namespace`);
  }, 180_000);
});
