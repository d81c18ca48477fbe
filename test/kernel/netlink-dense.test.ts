// Issue 17, dense nodes: a thousand namespaces followed within the footprint
// docs/ARCHITECTURE.md states ("Dense nodes": one reader thread for all of
// them, two sockets each, no thread and no buffer of their own while idle),
// every namespace's churn as its kernel counts it, and every thread and
// descriptor given back when they go — the vanished count true far past the
// 32 the status lists.
//
// The namespaces are made in one batch (`ip -batch`); one process
// (dense-fixtures/flows-in-each.py) enters each in turn to load a conntrack
// rule and make its flows, and later reads each one's nf_conntrack_count.
// CTSCOPE_DENSE_NS sets how many (default 1000; the whole file takes about a
// minute on an idle machine, several under load).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kernelTier } from '../helpers/lab.js';
import { NetlinkSource } from '../../src/sources/netlink.js';
import type { RecordColumns } from '../../src/records/batch.js';
import { Kind } from '../../src/records/layout.js';
import { holdKernelLock, until } from './netlink-lab.js';
import { all, built, cannotRun, command } from '../helpers/requires.js';

const skip = cannotRun(all(kernelTier(), built(), command('python3', 'python3')));

const PREFIX = 'ctdense-';
const N = Number(process.env.CTSCOPE_DENSE_NS ?? 1000);
const FLOWS = 3;
const helper = path.join(__dirname, 'dense-fixtures/flows-in-each.py');
const names = Array.from({ length: N }, (_, i) => `${PREFIX}${i}`);

// The footprint docs/ARCHITECTURE.md states for followed namespaces beyond
// the first: threads, descriptors and resident memory per namespace.
const FOOTPRINT = { threads: 1, fdsPerNs: 2, rssKiBPerNs: 64 };

function ours(): string[] {
  try {
    return fs.readdirSync('/run/netns').filter((n) => n.startsWith(PREFIX));
  } catch {
    return [];
  }
}

function netnsBatch(verb: 'add' | 'del', list: string[]): void {
  if (list.length) execFileSync('ip', ['-batch', '-'], { input: list.map((n) => `netns ${verb} ${n}\n`).join('') });
}

/** The helper over the names, in slices (argv stays short). */
function eachNs(what: 'setup' | 'count'): Record<string, number> {
  const out: Record<string, number> = {};
  for (let i = 0; i < names.length; i += 200) {
    const r = execFileSync('python3', [helper, what, ...names.slice(i, i + 200)], { encoding: 'utf8', env: { ...process.env, FLOWS: String(FLOWS) } });
    Object.assign(out, JSON.parse(r));
  }
  return out;
}

function footprint(): { threads: number; fds: number; rssKiB: number } {
  const st = fs.readFileSync('/proc/self/status', 'utf8');
  return {
    threads: Number(/^Threads:\s+(\d+)/m.exec(st)![1]),
    fds: fs.readdirSync('/proc/self/fd').length,
    rssKiB: Number(/^VmRSS:\s+(\d+)/m.exec(st)![1]),
  };
}

class AllocsPerNetns {
  readonly allocs = new Map<number, number>();
  losses = 0;
  ingest(c: RecordColumns): void {
    for (let i = 0; i < c.length; i++) {
      if (c.kind[i] === Kind.ALLOC) this.allocs.set(c.netns[i]!, (this.allocs.get(c.netns[i]!) ?? 0) + 1);
      if (c.kind[i] === Kind.LOSS) this.losses++;
    }
  }
}

describe.skipIf(skip)(`netlink source: ${N} namespaces`, () => {
  let release: () => void = () => undefined;
  let source: NetlinkSource;
  const sink = new AllocsPerNetns();
  let before: ReturnType<typeof footprint>;

  beforeAll(async () => {
    release = await holdKernelLock();
    netnsBatch('del', ours());
    source = new NetlinkSource({ include: (ns) => ns.name.startsWith(PREFIX), processes: false });
    await source.start(sink);
    await new Promise((r) => setTimeout(r, 500));
    before = footprint();
  }, 600_000);

  afterAll(async () => {
    await source?.stop();
    netnsBatch('del', ours());
    release();
  });

  it(`follows all ${N} within the documented footprint, each one's churn as its kernel counts it`, async () => {
    const t0 = Date.now();
    netnsBatch('add', names);
    const running = () => source.status().namespaces.filter((n) => n.state === 'running').length;
    await until(() => running() === N, 300_000, `${N} namespaces followed`);
    const followS = (Date.now() - t0) / 1000;
    // their dumps at start done, nothing waiting in a batch
    await until(() => source.status().namespaces.every((n) => (n.stats?.dumps ?? 0) >= 1), 120_000, 'every dump at start');
    await new Promise((r) => setTimeout(r, 1000));
    const at = footprint();
    const perNs = { threads: at.threads - before.threads, fds: (at.fds - before.fds) / N, rssKiB: (at.rssKiB - before.rssKiB) / N };
    console.info(`${N} namespaces followed after ${followS.toFixed(1)} s: threads +${perNs.threads}, ${perNs.fds.toFixed(2)} fds and ${perNs.rssKiB.toFixed(0)} KiB RSS per namespace`);
    expect(perNs.threads).toBeLessThanOrEqual(FOOTPRINT.threads);
    expect(perNs.fds).toBeLessThanOrEqual(FOOTPRINT.fdsPerNs + 0.05);
    expect(perNs.rssKiB).toBeLessThanOrEqual(FOOTPRINT.rssKiBPerNs);

    // churn in every namespace, compared with each kernel's own count
    const made = eachNs('setup');
    expect(Object.values(made).every((n) => n === FLOWS)).toBe(true);
    const inode = new Map(names.map((n) => [n, fs.statSync(`/run/netns/${n}`).ino]));
    await until(() => names.every((n) => (sink.allocs.get(inode.get(n)!) ?? 0) >= FLOWS), 120_000, `${FLOWS} allocations in each namespace`);
    await new Promise((r) => setTimeout(r, 500));
    const kernel = eachNs('count');
    const wrong = names.filter((n) => sink.allocs.get(inode.get(n)!) !== kernel[n] || kernel[n] !== FLOWS);
    expect(wrong.map((n) => `${n}: ctscope ${sink.allocs.get(inode.get(n)!)}, kernel ${kernel[n]}`)).toEqual([]);
    expect(sink.losses).toBe(0);
    expect(source.status().lost.total).toBe(0);
  }, 900_000);

  it('gives back every thread and descriptor when they go, and counts every one that vanished', async () => {
    const peak = footprint();
    netnsBatch('del', ours());
    await until(() => source.status().namespaces.length === 0, 300_000, 'every namespace dropped');
    await new Promise((r) => setTimeout(r, 1000));
    const after = footprint();
    const st = source.status();
    expect(st.vanishedTotal).toBe(N);
    expect(st.vanished.length).toBeLessThan(N); // the list is capped, the count is not
    expect(st.detail).toContain(`${N} vanished`);
    expect(after.threads).toBeLessThanOrEqual(before.threads);
    expect(after.fds).toBeLessThanOrEqual(before.fds);
    console.info(`RSS: ${before.rssKiB} KiB before, ${peak.rssKiB} KiB with ${N} namespaces, ${after.rssKiB} KiB after they went`);
    // Resident memory is not given back to the system (V8's heap and malloc keep what they grew
    // to: BENCHMARKS.md, "Dense nodes"); what stays is bounded by what following them cost.
    expect(after.rssKiB - before.rssKiB).toBeLessThanOrEqual(N * FOOTPRINT.rssKiBPerNs);
  }, 600_000);
});
