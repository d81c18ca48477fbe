// Issue 14, least privilege: the daemon runs as an unprivileged user (nobody)
// with exactly the documented capabilities (ambient, as the systemd unit and
// the DaemonSet give them) and attributes a real table-full flood with the
// kernel's count, follows the lab's namespaces and attaches --ingress there;
// each capability removed in turn makes `doctor` name it and give the
// documented cost, and the trial that needs it is refused with a sentence
// naming the capability (real refusals: program loads, a ctnetlink socket,
// setns, another user's /proc/PID/ns/net).
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withCapabilities } from '../../scripts/lib/setpriv.mjs';
import { DAEMON_CAPABILITIES, DAEMON_NEEDS, type CapabilityName } from '../../src/privileges.js';
import { DaemonProcess } from '../helpers/daemon.js';
import { TableFullFlood } from '../helpers/flood.js';
import { Lab, kernelTier } from '../helpers/lab.js';
import { holdKernelLockForSuite } from './netlink-lab.js';
import { all, cannotRun, command } from '../helpers/requires.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const ctscope = [process.execPath, path.join(root, 'bin/ctscope.js')];

const skip = cannotRun(all(kernelTier(), command('setpriv', 'util-linux'), command('prlimit', 'util-linux')));

interface Doctor {
  capabilities: Array<{ capability: string; chosen: string | null; tried: Array<{ hook: string; result: string }> }>;
  privileges: {
    uid: number;
    capabilities: string[];
    needs: Array<{ capability: string; held: boolean; missing: string | null; covered_by?: string }>;
    trials: Array<{ what: string; ok: boolean; result: string }>;
  };
}

function doctorWith(caps: readonly CapabilityName[]): Doctor {
  const [cmd, ...args] = withCapabilities(caps, [...ctscope, 'doctor', '--json']);
  const r = spawnSync(cmd!, args, { encoding: 'utf8', timeout: 120_000 });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Doctor;
}

const without = (...gone: CapabilityName[]) => DAEMON_CAPABILITIES.filter((c) => !gone.includes(c));
const need = (c: CapabilityName) => DAEMON_NEEDS.find((n) => n.capability === c)!;
const trial = (d: Doctor, what: string) => d.privileges.trials.find((t) => t.what === what)!;
const chosen = (d: Doctor, cap: string) => d.capabilities.find((c) => c.capability === cap)!;

describe.skipIf(skip)('capabilities: the daemon as nobody with only the documented set', () => {
  holdKernelLockForSuite();

  it('attributes a table-full flood with the kernel count, follows the lab namespaces and attaches --ingress there', async () => {
    const lab = await Lab.create('ctcap');
    let daemon: DaemonProcess | undefined;
    try {
      const flood = await TableFullFlood.prepare(lab);
      daemon = await DaemonProcess.start(['--ingress', `${lab.server}/${lab.serverIf}`], 30_000, withCapabilities(DAEMON_CAPABILITIES, ctscope));
      expect(daemon.output).not.toMatch(/without CAP_/); // nothing of the set is missing
      await flood.run();
      await flood.expectAttributed((p) => daemon!.get(p));
      const status = await daemon.get('/v1/status');
      const src = (n: string) => (status.sources as Array<{ name: string; state: string; detail?: string }>).find((s) => s.name === n);
      expect(src('drops')?.state).toBe('running');
      expect(src('ingress')?.state, src('ingress')?.detail).toBe('running');
      // ctnetlink entered the lab's namespaces (setns: CAP_SYS_ADMIN) on this kernel's netlink path
      if (src('netlink')) {
        const byNetns = await daemon.get('/v1/churn?by=netns&window=300');
        expect((byNetns.items as Array<{ netns_name: string }>).map((i) => i.netns_name)).toContain(lab.server);
      }
      // --ingress attached in the lab namespace (tc/tcx: CAP_NET_ADMIN) and counted every new flow; drained every second
      let counted = 0;
      const end = Date.now() + 3000;
      do {
        await new Promise((r) => setTimeout(r, 250));
        counted = (await daemon.get('/v1/arrivals?by=src&window=300')).items.find((i: { key: string }) => i.key === flood.flooder)?.udp_new ?? 0;
      } while (counted < flood.arrived.get(flood.flooder)! && Date.now() < end);
      expect(counted).toBe(flood.arrived.get(flood.flooder));
      expect(await daemon.stop()).toBe(0);
    } finally {
      await daemon?.kill9();
      await lab.destroy();
    }
  }, 180_000);

  it('with the whole set, doctor reports nothing missing and every trial passes', () => {
    const d = doctorWith(DAEMON_CAPABILITIES);
    expect(d.privileges.uid).toBe(65534);
    expect(d.privileges.needs.filter((n) => !n.held)).toEqual([]);
    expect(d.privileges.trials.filter((t) => !t.ok)).toEqual([]);
    expect(chosen(d, 'drops').chosen).toBe('tp_btf:kfree_skb');
  }, 60_000);

  it.each(DAEMON_CAPABILITIES.map((c) => [c]))('without %s, doctor names it with its documented cost and the trial that needs it is refused', (gone) => {
    const d = doctorWith(without(gone));
    const n = d.privileges.needs.find((x) => x.capability === gone)!;
    expect(n.held).toBe(false);
    const coveredBy = need(gone).coveredBy;
    if (coveredBy) {
      // The kernel grants it through CAP_SYS_ADMIN: no cost, and the programs still load.
      expect(n).toMatchObject({ missing: null, covered_by: coveredBy });
      expect(chosen(d, 'drops').chosen).toBe('tp_btf:kfree_skb');
    } else {
      expect(n.missing).toBe(need(gone).without);
    }
    const refused: Partial<Record<CapabilityName, [string, RegExp]>> = {
      CAP_NET_ADMIN: ['ctnetlink', /ctnetlink needs CAP_NET_ADMIN, which this process lacks\)$/],
      CAP_SYS_ADMIN: ['namespaces', /entering another network namespace needs CAP_SYS_ADMIN, which this process lacks\)$/],
      CAP_SYS_PTRACE: ['other users', /needs CAP_SYS_PTRACE, which this process lacks\)$/],
    };
    const r = refused[gone];
    if (r) {
      expect(trial(d, r[0]).ok).toBe(false);
      expect(trial(d, r[0]).result).toMatch(r[1]);
    }
    // every other trial still passes: the refusal is this capability's alone
    expect(d.privileges.trials.filter((t) => !t.ok && t.what !== r?.[0])).toEqual([]);
  }, 60_000);

  it.each([['CAP_BPF'], ['CAP_PERFMON']] as Array<[CapabilityName]>)('without %s and CAP_SYS_ADMIN, drops are refused naming it', (gone) => {
    const d = doctorWith(without(gone, 'CAP_SYS_ADMIN'));
    expect(d.privileges.needs.find((x) => x.capability === gone)!.missing).toBe(need(gone).without);
    const drops = chosen(d, 'drops');
    expect(drops.chosen).toBeNull();
    expect(drops.tried[0]!.result).toBe(`EPERM: this process lacks ${gone} (tracing programs need CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN)`);
  }, 60_000);
});
