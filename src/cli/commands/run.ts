// `ctscope run` (the daemon) and `ctscope start` (what `npm start` runs: the
// daemon where this machine can host it, else a replay of the bundled sample).

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, parseIntFlag, parseListen, UsageError, type Listen } from '../args.js';
import { apiAccess, LISTEN_OPTIONS, LISTEN_USAGE } from '../listen-flags.js';
import type { ApiAccess } from '../../api/access.js';
import type { StatusReport } from '../../api/context.js';
import { Ctscope, StartAborted } from '../../app/ctscope.js';
import { LiveSources } from '../../app/live-sources.js';
import { serveReplay } from '../../app/serve-replay.js';
import { ADDON_PATH } from '../../native/addon.js';
import { capabilityReport, DAEMON_CAPABILITIES, holdsAnyDaemonCapability } from '../../privileges.js';
import { HOOK_MODES, type HookMode } from '../../sources/lifecycle-hooks.js';
import { UserError } from '../../errors.js';
import { untilSignal } from '../signals.js';
import { exposureWarning } from '../../app/listen.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const SAMPLE_CAPTURE = path.join(root, 'share/sample.ctcap');
const DEFAULT_LISTEN = '127.0.0.1:9640';

export const RUN_USAGE = `usage: ctscope run [options]

The daemon: loads the eBPF programs this kernel allows (ctnetlink where it
refuses function hooks), follows every network namespace, and serves the HTTP
API and /metrics until SIGINT/SIGTERM.

Options:
  --listen HOST:PORT       address to serve on (default ${DEFAULT_LISTEN}: loopback;
                           another address needs TLS and a token, see below)
${LISTEN_USAGE}  --hooks MODE             auto (default), fentry, kprobe or netlink: force the
                           lifecycle hooks instead of the first the kernel allows
  --record FILE            also record every record to a .ctcap capture file
  --ingress SPEC[,SPEC]    count new-flow arrivals at netdev ingress before conntrack:
                           NAME, a GLOB (veth*) or NETNS/NAME (a /run/netns name)
  --ingress-hook HOOK      auto (default: tcx where the kernel has it), tcx or tc-clsact
  --max-flows N            live flows tracked (default 1000000); beyond, the least
                           recently seen are evicted and counted
  --metrics-top-k K        per-key series in /metrics for the top K keys only (default 10)
  --proc-interval MS       /proc polling period (default 1000)
  --keep-gone S            how long a gone namespace's table stays listed (default 300)
  --max-cpu PERCENT        CPU budget, % of one core (default 50; 0: none): above it,
                           ctnetlink entries are sampled by id in the kernel (1 in 2,
                           4, …; the same entries every time) until the storm passes;
                           /v1/status, /metrics and the answers say so
  --cri-socket PATH        the container runtime's CRI socket, for pod names (default:
                           the first of /run/containerd/containerd.sock,
                           /run/crio/crio.sock that answers; none: pods by uid from
                           /proc/PID/cgroup)
  --netlink-datagrams      read ctnetlink events as datagrams and parse them in the
                           reader, instead of decoding them in the kernel into a ring
                           (the default where the kernel allows it: cheaper per event)
  --enable-conntrack-accounting
                           turn on nf_conntrack_acct and nf_conntrack_timestamp in the
                           followed namespaces (ctscope changes no sysctl unless asked)
  -h, --help               this help
`;

const RUN_OPTIONS = {
  ...LISTEN_OPTIONS,
  hooks: { type: 'string' },
  record: { type: 'string' },
  ingress: { type: 'string' },
  'ingress-hook': { type: 'string' },
  'max-flows': { type: 'string' },
  'metrics-top-k': { type: 'string' },
  'proc-interval': { type: 'string' },
  'keep-gone': { type: 'string' },
  'max-cpu': { type: 'string' },
  'cri-socket': { type: 'string' },
  'netlink-datagrams': { type: 'boolean' },
  'enable-conntrack-accounting': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export interface RunDeps {
  out?: (s: string) => void;
  /** Resolves when the operator asks to stop (default: SIGINT/SIGTERM). */
  stop?: () => Promise<string>;
  /** Why the live daemon cannot run here (default: liveUnavailableReason). */
  unavailable?: () => string | null;
}

const write = (s: string) => void process.stdout.write(s);

export async function runCommand(argv: string[], deps: RunDeps = {}): Promise<number> {
  const out = deps.out ?? write;
  const { values } = parse('run', argv, RUN_OPTIONS);
  if (values.help) {
    out(RUN_USAGE);
    return 0;
  }
  const hooks = (values.hooks ?? 'auto') as HookMode;
  if (!HOOK_MODES.includes(hooks)) throw new UsageError(`--hooks must be one of ${HOOK_MODES.join(', ')}, got '${values.hooks}'`, 'run');
  if (values['ingress-hook'] !== undefined && values.ingress === undefined) throw new UsageError('--ingress-hook needs --ingress', 'run');
  const listen = parseListen(values.listen ?? DEFAULT_LISTEN);
  const access = apiAccess(listen, values, 'run');
  const maxFlows = parseIntFlag('max-flows', values['max-flows'], 1_000_000, 1000, 50_000_000);
  const metricsTopK = parseIntFlag('metrics-top-k', values['metrics-top-k'], 10, 1, 1000);
  const procIntervalMs = parseIntFlag('proc-interval', values['proc-interval'], 1000, 100, 3_600_000);
  const goneKeepSeconds = parseIntFlag('keep-gone', values['keep-gone'], 300, 1, 86_400);
  const maxCpuPercent = parseIntFlag('max-cpu', values['max-cpu'], 50, 0, 6400);
  const criSocket = values['cri-socket'];
  if (criSocket !== undefined && !path.isAbsolute(criSocket)) throw new UsageError(`--cri-socket expects an absolute path, got '${criSocket}'`, 'run');
  if (!holdsAnyDaemonCapability()) {
    throw new UserError(
      `the daemon needs privileges (BPF programs, netlink, namespaces): run it as root, or as a user with the capabilities ${DAEMON_CAPABILITIES.join(' ')} (docs/SECURITY.md); a capture is served without privileges by \`ctscope replay FILE --serve\``,
    );
  }
  const feed = new LiveSources({
    hooks,
    procIntervalMs,
    maxCpu: maxCpuPercent / 100,
    ...(values['netlink-datagrams'] ? { netlinkDatagrams: true } : {}),
    ...(values.ingress !== undefined ? { ingress: { spec: values.ingress, ...(values['ingress-hook'] !== undefined ? { hook: values['ingress-hook'] } : {}) } } : {}),
    ...(values['enable-conntrack-accounting'] ? { enableAccounting: true } : {}),
    ...(criSocket !== undefined ? { criSocket } : {}),
  });
  // A stop asked for at any moment, start-up included, is honoured.
  const stopping = (deps.stop ?? untilSignal)();
  const aborter = new AbortController();
  void stopping.then((sig) => aborter.abort(sig));
  let ctscope: Ctscope;
  try {
    ctscope = await Ctscope.start({
      feed,
      model: { maxFlows, topK: metricsTopK, goneKeepSeconds },
      metricsTopK,
      ...(values.record !== undefined ? { record: { file: values.record } } : {}),
      api: { listen, ...(access ? { access } : {}) },
      signal: aborter.signal,
    });
  } catch (e) {
    if (!(e instanceof StartAborted)) throw e;
    out(`ctscope: ${e.why} during start-up: stopped, nothing left attached\n`);
    return 0;
  }
  const st = ctscope.status();
  out(`ctscope ${st.version}: listening on ${ctscope.address} (kernel ${st.kernel.release})\n`);
  const warn = access ? null : exposureWarning(listen);
  if (warn) out(warn);
  out(startupSummary(st));
  out(missingPrivileges());
  const sig = await stopping;
  out(`ctscope: ${sig}: detaching and stopping\n`);
  await ctscope.stop('daemon stopped');
  return 0;
}

/** A line per capability of the daemon's set this process lacks, with what that costs. */
export function missingPrivileges(report = capabilityReport()): string {
  return report
    .filter((n) => n.missing !== null)
    .map((n) => `ctscope: without ${n.capability}: ${n.missing}\n`)
    .join('');
}

/**
 * What an operator reads at start: each source's state, the hook each
 * capability got with the short reason the better ones were refused, and
 * what nothing can see here. The full reasons are in /v1/status and doctor.
 */
export function startupSummary(st: StatusReport): string {
  const lines: string[] = [];
  lines.push(`sources: ${st.sources.map((s) => `${s.name} ${s.state}${s.hook && s.name !== 'lifecycle' ? ` (${s.hook})` : ''}`).join(' · ')}`);
  for (const s of st.sources) {
    if (s.name !== 'lifecycle' && (s.state === 'failed' || s.state === 'unavailable' || s.state === 'degraded') && s.detail) lines.push(`${s.name}: ${s.detail}`);
  }
  for (const c of st.capabilities ?? []) {
    const refused = c.tried.filter((t) => t.hook !== c.chosen && t.hook !== 'none' && t.hook !== 'ctnetlink').map((t) => `${t.hook}: ${t.result.split(/: | \(/)[0]}`);
    lines.push(`${c.capability} → ${c.chosen ?? 'nothing'}${refused.length ? ` (refused: ${refused.join('; ')})` : ''}`);
  }
  for (const b of st.blind_spots ?? []) lines.push(`cannot see: ${b}`);
  if (st.workloads) lines.push(`pods: ${st.workloads.pods} (${st.workloads.message})`);
  return lines.map((l) => `ctscope: ${l}\n`).join('');
}

/** Why this machine cannot host the live daemon, or null when it can. */
export function liveUnavailableReason(): string | null {
  if (!holdsAnyDaemonCapability()) return 'neither root nor any of the capabilities the daemon needs';
  if (!fs.existsSync('/sys/kernel/btf/vmlinux')) return 'the kernel has no BTF (/sys/kernel/btf/vmlinux)';
  if (!fs.existsSync(ADDON_PATH)) return 'the native addon is not built';
  return null;
}

export async function startCommand(argv: string[], deps: RunDeps = {}): Promise<number> {
  const why = (deps.unavailable ?? liveUnavailableReason)();
  if (why === null) return runCommand(argv, deps);
  const out = deps.out ?? write;
  const { values } = parse('start', argv, { ...LISTEN_OPTIONS, help: { type: 'boolean', short: 'h' } });
  if (values.help) {
    out(RUN_USAGE);
    return 0;
  }
  const listen = parseListen(values.listen ?? DEFAULT_LISTEN);
  return serveSample(listen, apiAccess(listen, values, 'start'), why, out, deps.stop ?? untilSignal);
}

async function serveSample(listen: Listen, access: ApiAccess | undefined, why: string, out: (s: string) => void, stop: () => Promise<string>): Promise<number> {
  const stopping = stop();
  const served = await serveReplay([SAMPLE_CAPTURE], listen, access ? { access } : {});
  out(
    `ctscope: this machine cannot host the live daemon (${why});\n` +
      `ctscope: serving a replay of the bundled sample capture ${SAMPLE_CAPTURE} on ${served.ctscope.address} instead (/v1/status says mode "replay")\n`,
  );
  const warn = access ? null : exposureWarning(listen);
  if (warn) out(warn);
  await stopping;
  await served.ctscope.stop();
  return 0;
}
