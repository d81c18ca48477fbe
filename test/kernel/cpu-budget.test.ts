// Issue 18, bounded under overload: the real daemon with a small CPU budget
// (--max-cpu 15) through a flood of new UDP flows several times what the
// budget pays for at full fidelity. The daemon's CPU (/proc/PID/stat) stays
// within the budget (+10 %) once the governor has reacted, the kernel's exact
// event counts (the ctnetlink filter's) cover every NEW the lab's nft counted,
// nothing is lost uncounted, the sources still rank as nft counted them, the
// answers say they were sampled, and full fidelity returns after the storm.
// The run is recorded: the replay of its capture says it was sampled and
// ranks the sources alike.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DaemonProcess } from '../helpers/daemon.js';
import { Lab, kernelTier } from '../helpers/lab.js';
import { countersBySource, holdKernelLock, until } from './netlink-lab.js';
import { procCpuSeconds } from '../../bench/lib/kernel.mjs';
import { cannotRun } from '../helpers/requires.js';

const tier = kernelTier();
const skip = cannotRun(tier);

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BUDGET = 0.15; // cores
const FLOOD_S = 20;
const SETTLE_S = 4; // the governor's reaction, left out of the budget check
// flows/s per source, 4x apart so a CPU-starved machine keeps their order: ~85k events/s
// in all, ~3x what 0.15 core pays for at full fidelity here (~4-5 us per event, and a part
// that does not shrink with sampling: ~0.08 core under such a flood on this 2-vCPU machine)
const SHARES = [32_000, 8_000, 2_000, 500];

interface Sampling {
  one_in: number;
  cpu: number;
  events: { new: number; update: number; destroy: number };
  refused: { new: number; update: number; destroy: number };
}

describe.skipIf(skip)('daemon under a flood beyond its CPU budget', () => {
  let lab: Lab;
  let daemon: DaemonProcess | undefined;
  let release: () => void = () => undefined;
  const gen = path.join(os.tmpdir(), `ctscope-budget-gen-${process.pid}`);
  const capture = path.join(os.tmpdir(), `ctscope-budget-${process.pid}.ctcap`);

  beforeAll(async () => {
    release = await holdKernelLock();
    execFileSync('gcc', ['-O2', '-o', gen, path.join(root, 'bench/node-cost/gen.c')]);
    lab = await Lab.create('ctbud');
  }, 120_000);

  afterAll(async () => {
    await daemon?.stop();
    await lab?.destroy();
    release();
    execFileSync('rm', ['-f', gen, capture]);
  });

  it('keeps its CPU within the budget by sampling entries, says so, and ranks sources as nft counted them', async () => {
    const sources = [lab.clientAddress, ...(await Promise.all([3, 4, 5].map((h) => lab.addClientAddress(h))))];
    await lab.exec(lab.server, ['sysctl', '-qw', 'net.netfilter.nf_conntrack_udp_timeout=1']);
    // per-source NEW counts (kernel truth): packets that made an entry, so
    // still unconfirmed at this hook — `ct state new` alone also counts a
    // later packet of an unreplied UDP entry (its state stays new until a
    // reply), which makes no NEW event: once a sender's source ports wrapped
    // onto live entries, nft counted 38 more than the kernel's NEW events.
    // No ICMP port-unreachable answers (they would cost more than the flood).
    await lab.nft(
      lab.server,
      `table inet lab {
        chain in { type filter hook input priority 0;
          ${sources.map((s) => `ip saddr ${s} ct state new ct status ! confirmed counter`).join('\n          ')}
        }
        chain out { type filter hook output priority 0;
          icmp type destination-unreachable drop
        }
      }`,
    );
    daemon = await DaemonProcess.start(['--max-cpu', String(BUDGET * 100), '--record', capture], 60_000);
    const inode = lab.netnsInode(lab.server);
    await until(
      async () => ((await daemon!.get('/v1/status')).sources.find((s: { name: string }) => s.name === 'netlink')?.namespaces ?? []).some((n: { inode: number; state: string }) => n.inode === inode && n.state === 'running'),
      30_000,
      'the daemon follows the lab',
    );
    // before the flood: every entry followed
    await until(async () => ((await daemon!.get('/v1/status')).sampling as Sampling).one_in === 1, 20_000, 'full fidelity before the flood');
    const s0 = (await daemon.get('/v1/status')).sampling as Sampling;

    const k0 = await lab.conntrackStats(lab.server);
    const pid = daemon.child.pid!;
    const floods = sources.map((src, i) =>
      lab.exec(lab.client, [gen, 'udp', lab.serverAddress, String(FLOOD_S), '1', '0', String(SHARES[i]), src], { timeoutMs: (FLOOD_S + 30) * 1000 }),
    );
    const seen: number[] = [];
    const t0 = performance.now();
    let cpuFrom = NaN;
    let tFrom = NaN;
    while (performance.now() - t0 < (FLOOD_S - 1) * 1000) {
      await new Promise((r) => setTimeout(r, 1000));
      seen.push(((await daemon.get('/v1/status')).sampling as Sampling).one_in);
      if (Number.isNaN(cpuFrom) && performance.now() - t0 >= SETTLE_S * 1000) {
        cpuFrom = procCpuSeconds(pid);
        tFrom = performance.now();
      }
    }
    const cpu = (procCpuSeconds(pid) - cpuFrom) / ((performance.now() - tFrom) / 1000);
    const sent = (await Promise.all(floods)).map((r) => JSON.parse(r.stdout).packets as number);
    const nft = countersBySource(await lab.nftJson(lab.server), 'in');
    const churn = await daemon.get(`/v1/churn?by=src&window=${FLOOD_S + 10}&limit=20`);
    const st = await daemon.get('/v1/status');
    const s1 = st.sampling as Sampling;
    const k1 = await lab.conntrackStats(lab.server);
    const kd = Object.fromEntries(Object.keys(k1).map((k) => [k, k1[k]! - (k0[k] ?? 0)]).filter(([, v]) => v !== 0));
    console.log(`cpu-budget: kernel stat deltas ${JSON.stringify(kd)}`);
    console.log(
      `cpu-budget: sent ${sent.join('/')} flows, nft NEW ${sources.map((s) => nft.get(s)).join('/')}, one_in per second ${seen.join(' ')}, ` +
        `daemon ${cpu.toFixed(3)} cores after ${SETTLE_S} s (budget ${BUDGET}), kernel NEW ${s1.events.new - s0.events.new} (refused ${s1.refused.new - s0.refused.new}), ` +
        `churn ${JSON.stringify(churn.items.slice(0, 4).map((x: { key: string; count: number }) => [x.key, x.count]))} sampling ${JSON.stringify(churn.sampling)}`,
    );

    // the flood was several times the budget: the governor sampled
    expect(Math.max(...seen)).toBeGreaterThanOrEqual(4);
    // within the budget (+10 %) once it reacted
    expect(cpu).toBeLessThanOrEqual(BUDGET * 1.1);
    // nothing lost uncounted: no overrun or refused batch, and every NEW the lab's nft counted
    // is in the filter's exact count (which also has the rest of the machine's)
    expect(st.lost.total).toBe(0);
    const labNew = sources.reduce((a, s) => a + nft.get(s)!, 0);
    expect(s1.events.new - s0.events.new).toBeGreaterThanOrEqual(labNew);
    expect(s1.refused.new - s0.refused.new).toBeGreaterThan(0);
    // the top sources rank as nft counted them
    const byNft = [...sources].sort((a, b) => nft.get(b)! - nft.get(a)!);
    expect(churn.items.slice(0, sources.length).map((x: { key: string }) => x.key)).toEqual(byNft);
    // and the answer says it was sampled
    expect(churn.sampling.one_in).toBeGreaterThanOrEqual(4);
    expect(churn.sampling.sampled_seconds).toBeGreaterThan(0);
    const metrics: string = await daemon.get('/metrics');
    expect(metrics).toMatch(/^ctscope_sampling_one_in \d+$/m);

    // the storm passes: back to every entry
    await until(async () => ((await daemon!.get('/v1/status')).sampling as Sampling).one_in === 1, 40_000, 'full fidelity after the storm');

    // the capture says when it sampled: its replay reports it, and ranks as nft counted
    expect(await daemon.stop()).toBe(0);
    const replay = JSON.parse(
      execFileSync(process.execPath, [path.join(root, 'bin/ctscope.js'), 'replay', capture, '--report', 'json'], { encoding: 'utf8', maxBuffer: 64 << 20 }),
    );
    console.log(`cpu-budget: capture ${(fs.statSync(capture).size / 1e6).toFixed(1)} MB, replay sampling ${JSON.stringify(replay.sampling)}`);
    expect(replay.sampling.one_in).toBeGreaterThanOrEqual(4);
    expect(replay.sampling.sampled_seconds).toBeGreaterThan(0);
    const labKeys = new Set(sources);
    expect(replay.churn.src.map((x: { key: string }) => x.key).filter((k: string) => labKeys.has(k))).toEqual(byNft);
  }, 240_000);
});
