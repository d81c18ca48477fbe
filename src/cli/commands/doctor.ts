// `ctscope doctor [--json] [--hooks auto|fentry|kprobe|netlink]`: what this
// kernel allows and which hook each capability gets (src/doctor/probe.ts).

import { collectDoctorReport, formatDoctorReport } from '../../doctor/probe.js';
import { HOOK_MODES, type HookMode } from '../../sources/lifecycle-hooks.js';
import { parse, UsageError } from '../args.js';

export const DOCTOR_USAGE = `usage: ctscope doctor [--json] [--hooks auto|fentry|kprobe|netlink]

Checks what this kernel allows (BTF, lockdown, fentry/fexit, kprobes, tp_btf,
ring buffers, tcx, conntrack sysctls) and, per capability (alloc, table_full,
evict, confirm, destroy, drops, ingress), the hook ctscope would use and why
each better one was refused. Trial attaches need root.
  --json          the report as JSON: { kernel, capabilities: [{ capability, chosen, tried }], ... }
  --hooks MODE    check only that kind of hook (as 'ctscope run --hooks MODE' would)`;

export async function doctorCommand(argv: string[]): Promise<number> {
  let json = false;
  let hooks: HookMode = 'auto';
  try {
    const { values } = parse('doctor', argv, {
      json: { type: 'boolean' },
      hooks: { type: 'string' },
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
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`ctscope doctor: ${e.message}\n${DOCTOR_USAGE}\n`);
    return 2;
  }
  const report = collectDoctorReport({ hooks });
  process.stdout.write(json ? `${JSON.stringify(report, null, 2)}\n` : formatDoctorReport(report));
  return 0;
}
