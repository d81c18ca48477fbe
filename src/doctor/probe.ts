// `ctscope doctor`: what this kernel allows and which hook each capability
// gets. The same probing the sources do at start (BTF lookups and trial
// attaches of each candidate program alone), without starting anything.

import fs from 'node:fs';
import os from 'node:os';

import { ADDON_PATH, loadAddon } from '../native/addon.js';
import { collectPrivileges, formatPrivileges, type PrivilegeReport } from './privileges.js';
import { bpfObjectPath, ringSourceClass } from '../sources/bpf-ring.js';
import { netfilterDropReasons } from '../sources/bpf-drops.js';
import { probeIngress } from '../sources/ingress.js';
import {
  BLIND_SPOT,
  CONNTRACK_MODULE,
  explainRefusal,
  kernelHookProbe,
  planLifecycleHooks,
  type HookAttempt,
  type HookMode,
  type HookProbe,
} from '../sources/lifecycle-hooks.js';

export interface DoctorCapability {
  capability: string;
  chosen: string | null;
  tried: Array<{ hook: string; result: string }>;
}

export interface DoctorReport {
  /** The native addon this install loads: a prebuild (the package) or a local build (a clone). */
  addon: { path: string; loaded: boolean };
  kernel: {
    release: string;
    version: string;
    btf: { vmlinux: boolean; conntrack: 'built in' | 'module BTF' | 'module without BTF' | 'not loaded' };
    /** The selected lockdown level, or null when the kernel has no lockdown LSM file. */
    lockdown: string | null;
    unprivilegedBpfDisabled: number | null;
  };
  features: {
    fentry: string;
    kprobe: string;
    tpBtf: string;
    ringbuf: string;
    tcx: string;
  };
  conntrack: Record<string, number | null>;
  capabilities: DoctorCapability[];
  blindSpots: string[];
  /** This process's capabilities, what each missing one costs, and trials of netlink and namespaces. */
  privileges: PrivilegeReport;
  /** Problems that kept doctor from checking something (not built, no addon). */
  problems: string[];
}

export interface DoctorOptions {
  hooks?: HookMode;
  /** Injected in tests. */
  probe?: HookProbe;
  procRoot?: string;
  sysRoot?: string;
  /** Injected in tests. */
  privileges?: PrivilegeReport;
}

function readText(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return null;
  }
}

function readInt(file: string): number | null {
  const t = readText(file);
  return t !== null && /^-?\d+$/.test(t) ? Number(t) : null;
}

/** '[none] integrity confidentiality' -> 'none' */
export function parseLockdown(text: string | null): string | null {
  if (text === null) return null;
  return /\[(\w+)\]/.exec(text)?.[1] ?? text;
}

function conntrackBtf(sys: string): DoctorReport['kernel']['btf']['conntrack'] {
  if (fs.existsSync(`${sys}/kernel/btf/${CONNTRACK_MODULE}`)) return 'module BTF';
  if (fs.existsSync(`${sys}/module/${CONNTRACK_MODULE}/initstate`)) return 'module without BTF';
  if (fs.existsSync(`${sys}/module/${CONNTRACK_MODULE}`)) return 'built in';
  return 'not loaded';
}

export function collectDoctorReport(opts: DoctorOptions = {}): DoctorReport {
  const proc = opts.procRoot ?? '/proc';
  const sys = opts.sysRoot ?? '/sys';
  const problems: string[] = [];
  const report: DoctorReport = {
    addon: { path: ADDON_PATH, loaded: false },
    kernel: {
      release: os.release(),
      version: os.version(),
      btf: { vmlinux: fs.existsSync(`${sys}/kernel/btf/vmlinux`), conntrack: conntrackBtf(sys) },
      lockdown: parseLockdown(readText(`${sys}/kernel/security/lockdown`)),
      unprivilegedBpfDisabled: readInt(`${proc}/sys/kernel/unprivileged_bpf_disabled`),
    },
    features: { fentry: 'not checked', kprobe: 'not checked', tpBtf: 'not checked', ringbuf: 'not checked', tcx: 'not checked' },
    conntrack: Object.fromEntries(
      ['nf_conntrack_max', 'nf_conntrack_count', 'nf_conntrack_buckets', 'nf_conntrack_acct', 'nf_conntrack_timestamp', 'nf_conntrack_events'].map(
        (n) => [n, readInt(`${proc}/sys/net/netfilter/${n}`)],
      ),
    ),
    capabilities: [],
    blindSpots: [],
    privileges: { uid: -1, capabilities: [], needs: [], trials: [] },
    problems,
  };

  let addonOk = true;
  try {
    loadAddon();
    report.addon.loaded = true;
  } catch (e) {
    addonOk = false;
    problems.push((e as Error).message);
  }
  report.privileges = opts.privileges ?? collectPrivileges(addonOk);
  if (!report.kernel.btf.vmlinux) problems.push('no kernel BTF (/sys/kernel/btf/vmlinux): CO-RE programs cannot load; only ctnetlink and /proc work');

  // lifecycle capabilities
  const lifecycleObj = bpfObjectPath('lifecycle');
  if (!opts.probe && (!addonOk || !fs.existsSync(lifecycleObj))) {
    if (addonOk) problems.push(`${lifecycleObj} not built: run 'npm run build'`);
    report.capabilities.push(
      ...planLifecycleHooks('netlink', unavailableProbe()).map((c) => ({ capability: c.capability, chosen: c.chosen, tried: c.tried.map(strip) })),
    );
  } else {
    const probe = opts.probe ?? kernelHookProbe(lifecycleObj);
    const plan = planLifecycleHooks(opts.hooks ?? 'auto', probe);
    report.capabilities.push(...plan.map((c) => ({ capability: c.capability, chosen: c.chosen, tried: c.tried.map(strip) })));
    const all = plan.flatMap((c) => c.tried);
    report.features.fentry = featureFrom(all, /^(fentry|fexit):/);
    report.features.kprobe = featureFrom(all, /^(kprobe|kretprobe):/);
    if (report.features.kprobe === 'not checked') {
      const k = probe.kprobes();
      report.features.kprobe = k.ok ? 'available (not tried: fentry/fexit attached)' : (k.why ?? 'no kprobes');
    }
  }

  // drops: tp_btf kfree_skb with netfilter reasons from BTF
  const drops = { capability: 'drops', chosen: null as string | null, tried: [] as Array<{ hook: string; result: string }> };
  const dropsObj = bpfObjectPath('drops');
  if (!addonOk) drops.tried.push({ hook: 'tp_btf:kfree_skb', result: 'not checked: native addon not built' });
  else if (!fs.existsSync(dropsObj)) drops.tried.push({ hook: 'tp_btf:kfree_skb', result: `not checked: ${dropsObj} not built` });
  else {
    const reasons = Object.keys(netfilterDropReasons()).length;
    if (reasons === 0) {
      drops.tried.push({ hook: 'tp_btf:kfree_skb', result: 'no netfilter reason in BTF enum skb_drop_reason (needs Linux >= 5.17)' });
    } else {
      const r = ringSourceClass().probe(dropsObj, 'cts_kfree_skb');
      drops.tried.push({ hook: 'tp_btf:kfree_skb', result: r.ok ? `attached (${reasons} netfilter drop reasons)` : explainRefusal('tp_btf', r.errno, r.message) });
      if (r.ok) drops.chosen = 'tp_btf:kfree_skb';
      report.features.tpBtf = r.ok ? 'ok' : explainRefusal('tp_btf', r.errno, r.message);
      report.features.ringbuf = r.ok ? 'ok (a ring buffer map was created)' : report.features.ringbuf;
    }
  }
  if (!drops.chosen) drops.tried.push({ hook: 'none', result: 'blind: netfilter drops are only counted by /proc/net/stat/nf_conntrack' });
  report.capabilities.push(drops);

  // ingress: tcx from 6.6, the clsact qdisc before (the ingress source's own probe)
  const ingress = { capability: 'ingress', chosen: null as string | null, tried: [] as Array<{ hook: string; result: string }> };
  let attach: Record<string, number> | null = null;
  try {
    attach = addonOk ? loadAddon().enumValues('bpf_attach_type') : null;
  } catch {
    attach = null;
  }
  report.features.tcx =
    attach && 'BPF_TCX_INGRESS' in attach
      ? 'ok (BTF enum bpf_attach_type has BPF_TCX_INGRESS)'
      : attach
        ? 'no (kernel < 6.6: no BPF_TCX_INGRESS)'
        : 'unknown (no BTF or addon)';
  const ip = addonOk ? probeIngress() : { ok: false, hook: null, udpNewBy: null, why: 'native addon not built' };
  if (ip.ok && ip.hook) {
    ingress.chosen = ip.hook === 'tcx' ? 'tcx:ingress' : 'tc:clsact-ingress';
    if (ip.hook !== 'tcx') ingress.tried.push({ hook: 'tcx:ingress', result: report.features.tcx });
    ingress.tried.push({ hook: ingress.chosen, result: `loaded (UDP first packets judged by ${ip.udpNewBy})` });
  } else {
    ingress.tried.push({ hook: 'tcx:ingress', result: report.features.tcx });
    ingress.tried.push({ hook: 'tc:clsact-ingress', result: ip.why ?? 'refused' });
  }
  report.capabilities.push(ingress);

  if (report.features.ringbuf === 'not checked' && report.features.fentry.startsWith('ok')) report.features.ringbuf = 'ok (a ring buffer map was created)';
  for (const c of report.capabilities) {
    const spot = (BLIND_SPOT as Record<string, string>)[c.capability];
    if (c.chosen === null) report.blindSpots.push(`${c.capability}: ${spot ?? 'not observed'}`);
    else if (c.chosen === 'ctnetlink' && spot) report.blindSpots.push(`${c.capability} (via ctnetlink): ${spot}`);
  }
  return report;
}

function strip(a: HookAttempt): { hook: string; result: string } {
  return { hook: a.hook, result: a.result };
}

function featureFrom(attempts: HookAttempt[], kind: RegExp): string {
  const mine = attempts.filter((a) => kind.test(a.hook));
  if (mine.some((a) => a.ok)) return 'ok';
  const refused = mine.find((a) => a.errno !== undefined && a.errno !== 2 && a.errno !== 3) ?? mine[0];
  return refused ? refused.result : 'not checked';
}

function unavailableProbe(): HookProbe {
  return {
    hasBtfFunction: () => false,
    kprobes: () => ({ ok: false, why: 'not checked' }),
    hasSymbol: () => false,
    trial: () => ({ ok: false, errno: 2, message: 'not built' }),
  };
}

/** The human-readable report. */
export function formatDoctorReport(r: DoctorReport): string {
  const lines: string[] = [];
  const row = (k: string, v: string) => lines.push(`${k.padEnd(14)}${v}`);
  row('kernel', `${r.kernel.release} (${r.kernel.version})`);
  row('addon', `${r.addon.path}${r.addon.loaded ? '' : ' (not loaded)'}`);
  row('BTF', `vmlinux ${r.kernel.btf.vmlinux ? 'yes' : 'NO'}; nf_conntrack ${r.kernel.btf.conntrack}`);
  row('lockdown', r.kernel.lockdown ?? 'not available (no lockdown LSM file)');
  if (r.kernel.unprivilegedBpfDisabled !== null) row('unpriv. bpf', r.kernel.unprivilegedBpfDisabled === 0 ? 'allowed' : `disabled (${r.kernel.unprivilegedBpfDisabled})`);
  row('fentry/fexit', r.features.fentry);
  row('kprobes', r.features.kprobe);
  row('tp_btf', r.features.tpBtf);
  row('ring buffer', r.features.ringbuf);
  row('tcx', r.features.tcx);
  const ct = r.conntrack;
  row(
    'conntrack',
    ct.nf_conntrack_max === null
      ? 'nf_conntrack not loaded (no /proc/sys/net/netfilter)'
      : `count ${ct.nf_conntrack_count}/${ct.nf_conntrack_max}, buckets ${ct.nf_conntrack_buckets}, acct ${ct.nf_conntrack_acct}, timestamp ${ct.nf_conntrack_timestamp}, events ${ct.nf_conntrack_events}`,
  );
  lines.push(...formatPrivileges(r.privileges));
  lines.push('');
  lines.push('capability    hook');
  for (const c of r.capabilities) {
    lines.push(`${c.capability.padEnd(14)}${c.chosen ?? 'none (blind)'}`);
    for (const t of c.tried) if (t.hook !== c.chosen || t.result !== 'attached') lines.push(`${''.padEnd(16)}${t.hook} → ${t.result}`);
  }
  if (r.blindSpots.length) {
    lines.push('');
    lines.push('cannot see:');
    for (const b of r.blindSpots) lines.push(`  ${b}`);
  }
  if (r.problems.length) {
    lines.push('');
    for (const p of r.problems) lines.push(`problem: ${p}`);
  }
  return lines.join('\n') + '\n';
}
