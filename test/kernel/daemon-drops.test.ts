// Issue 2, end to end: a real table-full flood in a lab namespace appears in
// the daemon's /v1/drops under the right source with the kernel's own count,
// /v1/table agrees with /proc, and kill -9 leaves no BPF program or link of
// ours attached.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DaemonProcess } from '../helpers/daemon.js';
import { Lab, kernelTier } from '../helpers/lab.js';
import { TableFullFlood } from '../helpers/flood.js';
import { holdKernelLock } from './netlink-lab.js';
import { cannotRun } from '../helpers/requires.js';

const tier = kernelTier();
const skip = cannotRun(tier);

function bpfIds(kind: 'prog' | 'link'): Set<number> {
  const j = JSON.parse(execFileSync('bpftool', ['-j', kind, 'list'], { encoding: 'utf8' }) || '[]') as Array<{ id: number }>;
  return new Set(j.map((x) => x.id));
}

describe.skipIf(skip)('daemon: table-full drops end to end', () => {
  let lab: Lab;
  let daemon: DaemonProcess | undefined;
  let release: () => void = () => undefined;
  let progsBefore: Set<number>;
  let linksBefore: Set<number>;

  beforeAll(async () => {
    // Hold the machine-wide kernel lock for the whole file.
    release = await holdKernelLock();
    progsBefore = bpfIds('prog');
    linksBefore = bpfIds('link');
    lab = await Lab.create('ctdd');
  }, 120_000);

  afterAll(async () => {
    await daemon?.kill9();
    await lab?.destroy();
    release();
  });

  it('puts the flooding source first in /v1/drops with the kernel count, and /v1/table agrees with /proc', async () => {
    const flood = await TableFullFlood.prepare(lab);
    daemon = await DaemonProcess.start();
    await flood.run();
    await flood.expectAttributed((p) => daemon!.get(p));
    const { statDropBefore, statDrops } = flood;
    const dropped = (a: string) => flood.dropped.get(a)!;

    const byNetns = await daemon.get(`/v1/drops?by=netns&window=300`);
    expect(byNetns.items[0].key).toBe(String(lab.netnsInode(lab.server)));
    expect(byNetns.items[0].netns_name).toBe(lab.server); // its /run/netns name

    // the host table, as /proc has it; the lab's as the lab's /proc has it
    const hostNs = fs.statSync('/proc/self/ns/net').ino;
    const table = await daemon.get(`/v1/table?netns=${hostNs}`);
    const procMax = Number(fs.readFileSync('/proc/sys/net/netfilter/nf_conntrack_max', 'utf8'));
    const procCount = Number(fs.readFileSync('/proc/sys/net/netfilter/nf_conntrack_count', 'utf8'));
    expect(table.max).toBe(procMax);
    expect(Math.abs(table.count - procCount)).toBeLessThanOrEqual(2);
    expect(table.utilization).toBeCloseTo(table.count / table.max, 5);
    expect(table.name).toBe('host');

    const labTable = await daemon.get(`/v1/table?netns=${lab.netnsInode(lab.server)}`);
    expect(labTable.stats.drop - statDropBefore).toBe(statDrops);
    expect(labTable.name).toBe(lab.server);

    const metrics = await daemon.get<string>('/metrics');
    expect(metrics).toMatch(/^node_nf_conntrack_entries_limit 331$/m);
    expect(metrics).toMatch(/^ctscope_records_lost_total\{source="drops"\} 0$/m);
    // every delivered drop record was timed on its way to the model
    const dropSource = ((await daemon.get('/v1/status')).sources as Array<{ name: string; records: number; delay_p99_s?: number | null }>).find((s) => s.name === 'drops')!;
    expect(dropSource.records).toBeGreaterThanOrEqual(dropped(flood.flooder) + dropped(flood.other));
    const timed = Number(/^ctscope_record_delay_seconds_count\{source="drops"\} (\d+)$/m.exec(await daemon.get<string>('/metrics'))?.[1]);
    expect(timed).toBe(dropSource.records);
    expect(typeof dropSource.delay_p99_s).toBe('number');
    const promtool = spawnSync('promtool', ['check', 'metrics'], { input: metrics, encoding: 'utf8' });
    expect(promtool.status, `${promtool.stdout}${promtool.stderr}`).toBe(0);
  }, 120_000);

  it('reports the hook each capability got, as doctor does, and what it cannot see', async () => {
    expect(daemon, 'the first test started the daemon').toBeDefined();
    const status = await daemon!.get('/v1/status');
    const doctor = JSON.parse(execFileSync(process.execPath, ['bin/ctscope.js', 'doctor', '--json'], { encoding: 'utf8' }));
    const chosen = (caps: Array<{ capability: string; chosen: string | null }>) => Object.fromEntries(caps.map((c) => [c.capability, c.chosen]));
    const live = chosen(status.capabilities);
    const probed = chosen(doctor.capabilities);
    for (const cap of ['alloc', 'table_full', 'evict', 'confirm', 'destroy', 'drops']) expect(live[cap], cap).toBe(probed[cap]);
    const names = (status.sources as Array<{ name: string; state: string }>).map((s) => `${s.name}:${s.state}`);
    if (Object.values(live).includes('ctnetlink')) {
      // the fallback runs, and each refusal says why
      expect(names).toContain('netlink:running');
      const alloc = (status.capabilities as Array<{ capability: string; tried: Array<{ hook: string; result: string }> }>).find((c) => c.capability === 'alloc')!;
      for (const t of alloc.tried.filter((t) => t.hook !== 'ctnetlink')) expect(t.result).toMatch(/^(E[A-Z]+|no kprobes|not )/);
    }
    const blind = Object.entries(live).filter(([, c]) => c === null || c === 'ctnetlink').map(([cap]) => cap);
    for (const cap of blind) expect((status.blind_spots as string[]).some((b) => b.startsWith(cap)), cap).toBe(true);
    expect(status.lost.total).toBe(0);
  }, 60_000);

  it('kill -9 leaves no BPF program or link of ours', async () => {
    expect(daemon, 'the previous test started the daemon').toBeDefined();
    const progsRunning = bpfIds('prog');
    expect([...progsRunning].some((id) => !progsBefore.has(id))).toBe(true);
    await daemon!.kill9();
    // Program teardown after the last fd closes is asynchronous (RCU).
    const deadline = Date.now() + 5000;
    let extraProgs: number[] = [];
    let extraLinks: number[] = [];
    do {
      extraProgs = [...bpfIds('prog')].filter((id) => !progsBefore.has(id));
      extraLinks = [...bpfIds('link')].filter((id) => !linksBefore.has(id));
      if (extraProgs.length === 0 && extraLinks.length === 0) break;
      await new Promise((r) => setTimeout(r, 200));
    } while (Date.now() < deadline);
    expect(extraLinks).toEqual([]);
    expect(extraProgs).toEqual([]);
  }, 30_000);
});
