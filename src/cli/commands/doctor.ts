// `ctscope doctor [--json] [--hooks auto|fentry|kprobe|netlink]`: what this
// kernel allows and which hook each capability gets (src/doctor/probe.ts).

import path from 'node:path';
import { collectDoctorReport, formatDoctorReport } from '../../doctor/probe.js';
import { PodMap, textAddressKeys } from '../../model/pod-map.js';
import { WorkloadResolver, type WorkloadStatus } from '../../workloads/resolver.js';
import { HOOK_MODES, type HookMode } from '../../sources/lifecycle-hooks.js';
import { parse, UsageError } from '../args.js';

export const DOCTOR_USAGE = `usage: ctscope doctor [--json] [--hooks auto|fentry|kprobe|netlink] [--cri-socket PATH]

Checks what this kernel allows (BTF, lockdown, fentry/fexit, kprobes, tp_btf,
ring buffers, tcx, conntrack sysctls) and, per capability (alloc, table_full,
evict, confirm, destroy, drops, ingress), the hook ctscope would use and why
each better one was refused, and where pod names come from (the container
runtime's CRI socket, else /proc). Trial attaches need root.
  --json          the report as JSON: { kernel, capabilities: [{ capability, chosen, tried }], ... }
  --hooks MODE    check only that kind of hook (as 'ctscope run --hooks MODE' would)
  --cri-socket PATH  the runtime socket to check (as 'ctscope run --cri-socket' would)`;

/** One poll of the pods, as the daemon's first (src/workloads/resolver.ts). */
async function probePods(criSocket: string | undefined): Promise<WorkloadStatus> {
  const r = new WorkloadResolver({ map: new PodMap({ addressKey: textAddressKeys() }), now: () => 0, intervalMs: 3_600_000, ...(criSocket ? { criSocket } : {}) });
  await r.poll();
  const st = r.status();
  await r.stop();
  return st;
}

export function formatPods(p: WorkloadStatus): string {
  const lines = [`${'pods'.padEnd(14)}${p.pods} — ${p.message}`];
  for (const t of p.tried) lines.push(`${''.padEnd(16)}${t.socket} → ${t.result}`);
  return lines.join('\n') + '\n';
}

export async function doctorCommand(argv: string[]): Promise<number> {
  let json = false;
  let hooks: HookMode = 'auto';
  let criSocket: string | undefined;
  try {
    const { values } = parse('doctor', argv, {
      json: { type: 'boolean' },
      hooks: { type: 'string' },
      'cri-socket': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    });
    if (values.help) {
      process.stdout.write(`${DOCTOR_USAGE}\n`);
      return 0;
    }
    json = values.json === true;
    if (values.hooks !== undefined) {
      if (!HOOK_MODES.includes(values.hooks as HookMode)) throw new UsageError(`--hooks must be one of ${HOOK_MODES.join(', ')}, got '${values.hooks}'`, 'doctor');
      hooks = values.hooks as HookMode;
    }
    criSocket = values['cri-socket'];
    if (criSocket !== undefined && !path.isAbsolute(criSocket)) throw new UsageError(`--cri-socket expects an absolute path, got '${criSocket}'`, 'doctor');
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`ctscope doctor: ${e.message}\n${DOCTOR_USAGE}\n`);
    return 2;
  }
  const report = collectDoctorReport({ hooks });
  const pods = await probePods(criSocket);
  process.stdout.write(json ? `${JSON.stringify({ ...report, pods }, null, 2)}\n` : `${formatDoctorReport(report)}\n${formatPods(pods)}`);
  return 0;
}
