// The lifecycle probes on real Debian kernels (scripts/guest/kernels.txt),
// booted under qemu: one boot per kernel runs test/guest/scenarios/
// lifecycle.mjs once with fentry/fexit and once with kprobes, plus
// `ctscope doctor --json`; every figure is compared here with the kernel's
// own ground truth measured in the same guest (nft counters, conntrack -L,
// /proc/net/stat/nf_conntrack, the set of ports that got through).

import { beforeAll, describe, expect, it } from 'vitest';

import { guestSupport, kernelPackages, runInGuest } from '../../scripts/guest/harness.mjs';
import { cannotRun } from '../helpers/requires.js';

const support = guestSupport();
const skip = cannotRun(support);

const TCP_STATE_TIME_WAIT = 7;
/** enum tcp_conntrack, as conntrack(8) prints it. */
const TCP_STATE_NAMES = ['NONE', 'SYN_SENT', 'SYN_RECV', 'ESTABLISHED', 'FIN_WAIT', 'CLOSE_WAIT', 'LAST_ACK', 'TIME_WAIT', 'CLOSE', 'SYN_SENT2'];
const IPS_SEEN_REPLY = 2;
const IPS_ASSURED = 4;
const IPS_CONFIRMED = 8;
const CAUSE = { TIMEOUT: 1, EVICTED: 2, USER: 3 };
// timeouts count in jiffies from the packet, lifetimes in ns from the
// allocation: one tick (10 ms at HZ=100) of slack
const JIFFY_MS = 10;

interface Destroyed {
  id: string;
  proto: number;
  sport: number;
  dport: number;
  state: number;
  status: number;
  cause: number;
  lifetimeMs: number | null;
}

interface Run {
  mode: string;
  error?: string;
  capabilities: Array<{ capability: string; chosen: string | null; tried: Array<{ hook: string; result: string }> }>;
  status: { lost: { total: number } };
  phase1: {
    nftNew: number;
    eventsNew: number;
    alloc: number;
    confirm: number;
    allocUdp: number;
    allocTcp: number;
    allocIds: string[];
    confirmIds: string[];
    udpDports: number[];
    origins: number[];
    nftPerSource: Record<string, number>;
    allocPerSource: Record<string, number>;
  };
  phase2: {
    /** Client port -> the state of the kernel's last UPDATE event for that TCP flow. */
    kernelTcpState: Record<string, string>;
    eventsDestroy: number;
    eventsPackets: number;
    eventsBytes: number;
    destroyPackets: number;
    destroyBytes: number;
    destroyWithCounters: number;
    left: number; wallMs: number; destroy: number; destroyed: Destroyed[] };
  phase3: {
    procDrop: number;
    procEarlyDrop: number;
    tableFull: number;
    tableFullDports: number[];
    notReceived: number[];
    evict: number;
    evictVictimsAllocated: number;
    evictVictimsDestroyedEvicted: number;
    evictNeededInFlood: number;
    evictVictimInFlood: number;
  };
  replay: { records: number; recorded: number; allocPerSource: Record<string, number> };
  expect: {
    UDP_FLOWS: number;
    TCP_FLOWS: number;
    SRC_FLOWS: number;
    FLOWS: number;
    FLOOD: number;
    FLOOD_MAX: number;
    perSource: Record<string, number>;
  };
}

interface TopK {
  total: number;
  items: Array<{ key: string; count: number }>;
}
/** test/guest/scenarios/daemon.mjs's results. */
interface DaemonRun {
  error?: string;
  status: { capabilities: Array<{ capability: string; chosen: string | null }>; sources: Array<{ name: string; state: string }>; blind_spots: string[] };
  statusAfter: { lost: { total: number } };
  kernel: Record<'pre-flooder' | 'pre-other' | 'post-flooder' | 'post-other' | 'new-flooder' | 'new-other', number>;
  churn: TopK;
  tableFull: TopK;
  netfilter: TopK;
  allDrops: TopK;
  promtool: string;
  progsRunning: number;
  leftAfterKill9: { progs: number[]; links: number[] };
  expect: { FLOODER: string; OTHER: string; OTHER_FLOWS: number; FLOOD: number };
  output: string;
}

interface Doctor {
  kernel: { release: string };
  capabilities: Array<{ capability: string; chosen: string | null; tried: Array<{ hook: string; result: string }> }>;
}

const kernels: string[] = support.ok ? kernelPackages() : ['(none)'];

describe.skipIf(skip).each(kernels)('lifecycle probes in a guest running %s', (kernel) => {
  let runs: Run[] = [];
  let doctor: Doctor | null = null;
  let doctorKprobe: Doctor | null = null;
  let daemon: DaemonRun | null = null;
  let output = '';

  beforeAll(async () => {
    const r = await runInGuest({
      kernel,
      command: [
        `node -e 'import("./dist/cli/commands/doctor.js").then((m) => m.doctorCommand(["--json"]))' > "$CTSCOPE_GUEST_OUT/doctor.json"`,
        `node -e 'import("./dist/cli/commands/doctor.js").then((m) => m.doctorCommand(["--json", "--hooks", "kprobe"]))' > "$CTSCOPE_GUEST_OUT/doctor-kprobe.json"`,
        'node test/guest/scenarios/lifecycle.mjs fentry kprobe',
        'node test/guest/scenarios/daemon.mjs',
      ].join('\n'),
      timeoutMs: 8 * 60_000,
      snapshot: ['build/Release/ctscope.node', 'bpf/.output', 'dist'],
    });
    output = r.output;
    console.log(`guest ${r.release}: command reached after ${r.bootMs} ms, done after ${r.durationMs} ms`);
    runs = ((r.results as { runs?: Run[] } | null)?.runs ?? []) as Run[];
    try {
      const fs = await import('node:fs');
      doctor = JSON.parse(fs.readFileSync(`${r.outDir}/doctor.json`, 'utf8')) as Doctor;
      doctorKprobe = JSON.parse(fs.readFileSync(`${r.outDir}/doctor-kprobe.json`, 'utf8')) as Doctor;
      daemon = JSON.parse(fs.readFileSync(`${r.outDir}/daemon.json`, 'utf8')) as DaemonRun;
    } catch {
      // the assertions below say which one is missing
    }
    if (r.exitCode !== 0) console.log(output);
  }, 9 * 60_000);

  const run = (mode: string): Run => {
    const found = runs.find((x) => x.mode === mode);
    if (!found) throw new Error(`the guest produced no ${mode} run; guest output:\n${output}`);
    if (found.error) throw new Error(`the ${mode} run failed in the guest: ${found.error}`);
    return found;
  };

  for (const mode of ['fentry', 'kprobe'] as const) {
    describe(`--hooks ${mode}`, () => {
      it('gets the hooks of that kind for every capability, and loses nothing', () => {
        const r = run(mode);
        const prefix = mode === 'fentry' ? /^(fentry|fexit):/ : /^(kprobe|kretprobe):/;
        for (const c of r.capabilities) expect(c.chosen, `${c.capability}: ${JSON.stringify(c.tried)}`).toMatch(prefix);
        expect(r.phase1.origins).toEqual([mode === 'fentry' ? 1 : 2]);
        expect(r.status.lost.total).toBe(0);
      });

      it('ALLOC and CONFIRM counts equal the kernel (nft ct state new, ctnetlink NEW events)', () => {
        const { phase1: p, expect: e } = run(mode);
        expect(p.nftNew).toBe(e.FLOWS);
        expect(p.eventsNew).toBe(e.FLOWS);
        expect(p.alloc).toBe(p.nftNew);
        expect(p.confirm).toBe(p.eventsNew);
        expect(p.allocUdp).toBe(e.UDP_FLOWS + e.SRC_FLOWS);
        expect(p.allocTcp).toBe(e.TCP_FLOWS);
        expect(p.udpDports).toEqual(Array.from({ length: e.UDP_FLOWS }, (_, i) => 5001 + i));
        expect([...p.confirmIds].sort()).toEqual([...p.allocIds].sort());
        // (ids repeat when a freed entry's slab object is reused: unique only while alive)
      });

      it('DESTROY: every entry ends once, TCP in the state the kernel last reported (TIME_WAIT unless a reset) and UDP by timeout, with the right lifetime', () => {
        const { phase1, phase2: p, expect: e } = run(mode);
        expect(p.left).toBe(0);
        // the flows plus the one deleted with conntrack -D
        expect(p.destroy).toBe(e.FLOWS + 1);
        expect(p.destroy).toBe(p.eventsDestroy);
        // nf_conntrack_acct=1 in the namespace: final counters equal the kernel's DESTROY events
        expect(p.destroyWithCounters).toBe(p.destroy);
        expect(p.eventsPackets).toBeGreaterThan(0);
        expect(p.destroyPackets).toBe(p.eventsPackets);
        expect(p.destroyBytes).toBe(p.eventsBytes);
        const byId = new Map(p.destroyed.map((d) => [d.id, d]));
        for (const id of phase1.allocIds) expect(byId.has(id), `entry ${id} allocated but never destroyed`).toBe(true);
        const tcp = p.destroyed.filter((d) => d.proto === 6);
        const udp = p.destroyed.filter((d) => d.proto === 17 && d.dport !== 6000 && d.dport < 7000);
        expect(tcp).toHaveLength(e.TCP_FLOWS);
        expect(udp).toHaveLength(e.UDP_FLOWS);
        // Each client closes after one line: the kernel ends the entry in TIME_WAIT; on a slow
        // guest an occasional flow ends with a reset instead (CLOSE). Either way the record
        // carries the state of the kernel's last UPDATE event for that flow.
        const states = tcp.map((d) => TCP_STATE_NAMES[d.state]);
        console.log(`${mode}: TCP flows ended in ${states.join(' ')}; kernel: ${tcp.map((d) => p.kernelTcpState[d.sport]).join(' ')}`);
        expect(states.filter((st) => st === 'TIME_WAIT').length).toBeGreaterThan(0);
        for (const d of tcp) {
          expect(TCP_STATE_NAMES[d.state], `flow from port ${d.sport}`).toBe(p.kernelTcpState[d.sport]);
          expect(['TIME_WAIT', 'CLOSE']).toContain(TCP_STATE_NAMES[d.state]);
          expect(d.status & (IPS_CONFIRMED | IPS_ASSURED | IPS_SEEN_REPLY)).toBe(IPS_CONFIRMED | IPS_ASSURED | IPS_SEEN_REPLY);
          expect(d.cause).toBe(CAUSE.TIMEOUT);
          // time_wait timeout is 2 s in the guest's namespace
          if (d.state === TCP_STATE_TIME_WAIT) expect(d.lifetimeMs).toBeGreaterThanOrEqual(2000 - JIFFY_MS);
          expect(d.lifetimeMs).toBeLessThanOrEqual(p.wallMs);
        }
        for (const d of udp) {
          expect(d.status & (IPS_CONFIRMED | IPS_SEEN_REPLY)).toBe(IPS_CONFIRMED);
          expect(d.cause).toBe(CAUSE.TIMEOUT);
          expect(d.lifetimeMs).toBeGreaterThanOrEqual(2000 - JIFFY_MS); // udp timeout 2 s
          expect(d.lifetimeMs).toBeLessThanOrEqual(p.wallMs);
        }
        const user = p.destroyed.filter((d) => d.cause === CAUSE.USER);
        expect(user.map((d) => d.dport)).toEqual([6000]);
      });

      it('TABLE_FULL: one record per dropped packet, with exactly the dropped tuples', () => {
        const { phase3: p, expect: e } = run(mode);
        expect(p.procDrop).toBeGreaterThan(0);
        expect(p.tableFull).toBe(p.procDrop);
        expect(p.notReceived).toHaveLength(p.procDrop);
        expect(p.tableFullDports).toEqual(p.notReceived);
        expect(p.procDrop + p.procEarlyDrop).toBe(e.FLOOD - e.FLOOD_MAX);
      });

      it('the recorded churn replays with per-source allocation counts equal to the kernel (nft per-source counters)', () => {
        const { phase1: p, replay, expect: e } = run(mode);
        expect(p.nftPerSource).toEqual(e.perSource);
        expect(p.allocPerSource).toEqual(p.nftPerSource);
        expect(replay.allocPerSource).toEqual(p.nftPerSource);
        expect(replay.records).toBe(replay.recorded);
      });

      it('EVICT: one record per early_drop eviction, naming the victim and the tuple that needed room', () => {
        const { phase3: p } = run(mode);
        expect(p.procEarlyDrop).toBeGreaterThan(0);
        expect(p.evict).toBe(p.procEarlyDrop);
        expect(p.evictVictimsAllocated).toBe(p.evict);
        expect(p.evictVictimsDestroyedEvicted).toBe(p.evict);
        expect(p.evictVictimInFlood).toBe(p.evict);
        expect(p.evictNeededInFlood).toBe(p.evict);
      });
    });
  }

  it('ctscope doctor --json reports the fexit allocation hook', () => {
    expect(doctor, `doctor produced no JSON; guest output:\n${output}`).not.toBeNull();
    const alloc = doctor!.capabilities.find((c) => c.capability === 'alloc');
    expect(alloc?.chosen).toBe('fexit:__nf_conntrack_alloc');
    expect(doctor!.kernel.release).toMatch(/^\d+\.\d+/);
    const drops = doctor!.capabilities.find((c) => c.capability === 'drops');
    expect(drops?.chosen).toBe('tp_btf:kfree_skb');
    const ingress = doctor!.capabilities.find((c) => c.capability === 'ingress');
    expect(ingress?.chosen).toMatch(/^(tcx:ingress|tc:clsact-ingress)$/);
  });

  it('ctscope doctor --hooks kprobe --json reports the kprobe hooks', () => {
    expect(doctorKprobe, `doctor --hooks kprobe produced no JSON; guest output:\n${output}`).not.toBeNull();
    const chosen = Object.fromEntries(doctorKprobe!.capabilities.map((c) => [c.capability, c.chosen]));
    expect(chosen).toMatchObject({
      alloc: 'kprobe:__nf_conntrack_alloc',
      table_full: 'kretprobe:__nf_conntrack_alloc',
      evict: 'kretprobe:early_drop',
      confirm: 'kretprobe:__nf_conntrack_confirm',
      destroy: 'kprobe:nf_ct_destroy',
    });
  });

  describe('the daemon (ctscope run) on the fexit path', () => {
    const d = (): DaemonRun => {
      expect(daemon, `the guest produced no daemon.json; guest output:\n${output}`).not.toBeNull();
      expect(daemon!.error, daemon!.output).toBeUndefined();
      return daemon!;
    };
    const count = (r: TopK, key: string) => r.items.find((i) => i.key === key)?.count ?? 0;

    it('takes the eBPF hooks, runs no ctnetlink source, and names what it cannot see', () => {
      const r = d();
      const chosen = Object.fromEntries(r.status.capabilities.map((c) => [c.capability, c.chosen]));
      expect(chosen).toMatchObject({ alloc: 'fexit:__nf_conntrack_alloc', table_full: 'fexit:__nf_conntrack_alloc', destroy: 'fentry:nf_ct_destroy', drops: 'tp_btf:kfree_skb' });
      expect(r.status.sources.map((s) => `${s.name}:${s.state}`)).toEqual(expect.arrayContaining(['lifecycle:running', 'drops:running']));
      expect(r.status.sources.map((s) => s.name)).not.toContain('netlink');
      expect(r.status.blind_spots.some((b) => b.startsWith('state changes'))).toBe(true);
    });

    it('/v1/churn counts each source as the kernel admitted it; /v1/drops each refused packet once', () => {
      const r = d();
      const { FLOODER, OTHER, OTHER_FLOWS, FLOOD } = r.expect;
      const k = r.kernel;
      expect([k['pre-flooder'], k['pre-other']]).toEqual([FLOOD, OTHER_FLOWS]);
      const refused = k['pre-flooder'] - k['post-flooder'];
      expect(refused).toBeGreaterThan(0); // the table really filled
      expect(count(r.churn, FLOODER)).toBe(k['new-flooder']);
      expect(count(r.churn, OTHER)).toBe(k['new-other']);
      // the same refused packets, seen by fexit (table_full) and by kfree_skb (netfilter)
      expect(count(r.tableFull, FLOODER)).toBe(refused);
      expect(count(r.netfilter, FLOODER)).toBe(refused);
      expect(r.allDrops.total).toBe(refused + (k['pre-other'] - k['post-other']));
      expect(count(r.allDrops, FLOODER)).toBe(refused);
      expect(r.statusAfter.lost.total).toBe(0);
      expect(r.promtool).toBe('exit=0');
    });

    it('kill -9 leaves no program or link of its own', () => {
      const r = d();
      expect(r.progsRunning).toBeGreaterThan(0);
      expect(r.leftAfterKill9).toEqual({ progs: [], links: [] });
    });
  });
});
