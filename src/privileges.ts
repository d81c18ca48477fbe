// The Linux capabilities the daemon needs, which feature each one serves and
// what is lost without it — the one table behind `ctscope doctor`, the
// refusal messages, the systemd unit and the DaemonSet (their capability
// lists are checked against DAEMON_CAPABILITIES by the tests), measured on
// the kernels this project is tested on (docs/SECURITY.md has the
// measurements).
//
// The kernel's own rule for BPF (kernel/bpf/syscall.c): bpf_capable() is
// CAP_BPF or CAP_SYS_ADMIN, perfmon_capable() CAP_PERFMON or CAP_SYS_ADMIN,
// bpf_net_capable() CAP_NET_ADMIN or CAP_SYS_ADMIN — so while CAP_SYS_ADMIN
// is held (the daemon needs it to enter namespaces) CAP_BPF and CAP_PERFMON
// add nothing. They are in the set anyway: they name what the programs need,
// and a daemon run without CAP_SYS_ADMIN (its own namespace only) still
// loads them.

import fs from 'node:fs';

/** Capability numbers (include/uapi/linux/capability.h). */
export const CAPABILITY_BITS = {
  CAP_DAC_OVERRIDE: 1,
  CAP_DAC_READ_SEARCH: 2,
  CAP_NET_ADMIN: 12,
  CAP_IPC_LOCK: 14,
  CAP_SYS_PTRACE: 19,
  CAP_SYS_ADMIN: 21,
  CAP_SYS_RESOURCE: 24,
  CAP_SYSLOG: 34,
  CAP_PERFMON: 38,
  CAP_BPF: 39,
} as const;

export type CapabilityName = keyof typeof CAPABILITY_BITS;

export interface CapabilityNeed {
  capability: CapabilityName;
  /** What it is used for. */
  for: string;
  /** What the daemon cannot do without it. */
  without: string;
  /** Another capability that grants the same (the kernel's rule above). */
  coveredBy?: CapabilityName;
}

/** The daemon's capabilities: exactly these, ambient, for a non-root user. */
export const DAEMON_NEEDS: readonly CapabilityNeed[] = [
  {
    capability: 'CAP_BPF',
    for: 'loading the BPF programs and maps (drops, lifecycle hooks, --ingress)',
    without: 'no eBPF: drops are only the /proc counter (no per-source attribution), lifecycles come from ctnetlink only, no --ingress',
    coveredBy: 'CAP_SYS_ADMIN',
  },
  {
    capability: 'CAP_PERFMON',
    for: 'tracing programs: tp_btf/kfree_skb (drops), fentry/fexit and kprobes (lifecycles)',
    without: 'drops are only the /proc counter (no per-source attribution); lifecycles come from ctnetlink only',
    coveredBy: 'CAP_SYS_ADMIN',
  },
  {
    capability: 'CAP_NET_ADMIN',
    for: "ctnetlink events and dumps (the lifecycle source where fentry/kprobes are refused), the netlink receive buffer (SO_RCVBUFFORCE), tc/tcx programs (--ingress), net sysctls (--enable-conntrack-accounting)",
    without: 'no ctnetlink: where the kernel refuses fentry/fexit and kprobes, no lifecycles at all (no churn, occupancy or lifetimes); no --ingress',
  },
  {
    capability: 'CAP_SYS_ADMIN',
    for: "entering other network namespaces (setns): ctnetlink and the /proc table figures of pods' and /run/netns namespaces; where nf_conntrack is a module (Debian's kernels), its BTF (libbpf walks BTF ids) for the fentry/kprobe lifecycle hooks and --ingress's conntrack lookup",
    without: "only ctscope's own network namespace is followed by ctnetlink and /proc (eBPF hooks still see every namespace); where nf_conntrack is a module, no fentry/kprobe lifecycle hooks (ctnetlink instead) and no --ingress",
  },
  {
    capability: 'CAP_SYS_PTRACE',
    for: "opening /proc/PID/ns/net of other users' processes (namespaces without a /run/netns name)",
    without: "namespaces known only through another user's process are not followed (those under /run/netns still are)",
  },
];

export const DAEMON_CAPABILITIES: readonly CapabilityName[] = DAEMON_NEEDS.map((n) => n.capability);

/** What a primitive needs: every group must be satisfied by one of its capabilities. */
export type Requirement = CapabilityName[][];

export const REQUIRES = {
  /** tp_btf, fentry/fexit, kprobes: bpf_capable && perfmon_capable. */
  tracingProgram: [
    ['CAP_BPF', 'CAP_SYS_ADMIN'],
    ['CAP_PERFMON', 'CAP_SYS_ADMIN'],
  ],
  /** sched_cls (--ingress): bpf_capable && bpf_net_capable. */
  networkProgram: [
    ['CAP_BPF', 'CAP_SYS_ADMIN'],
    ['CAP_NET_ADMIN', 'CAP_SYS_ADMIN'],
  ],
  /** nfnetlink checks CAP_NET_ADMIN itself (CAP_SYS_ADMIN does not do). */
  ctnetlink: [['CAP_NET_ADMIN']],
  setns: [['CAP_SYS_ADMIN']],
  otherUsersNetns: [['CAP_SYS_PTRACE']],
} satisfies Record<string, Requirement>;

/** Effective capabilities of this process (CapEff of /proc/self/status), by name (only those named above). */
export function effectiveCapabilities(statusText?: string): Set<CapabilityName> {
  let text = statusText;
  if (text === undefined) {
    try {
      text = fs.readFileSync('/proc/self/status', 'utf8');
    } catch {
      text = '';
    }
  }
  const hex = /^CapEff:\s*([0-9a-f]+)$/m.exec(text)?.[1];
  const out = new Set<CapabilityName>();
  if (!hex) return out;
  const mask = BigInt(`0x${hex}`);
  for (const [name, bit] of Object.entries(CAPABILITY_BITS)) if ((mask >> BigInt(bit)) & 1n) out.add(name as CapabilityName);
  return out;
}

/** Capabilities to add so `req` holds: one per unmet group (its first), [] when met. */
export function missingFor(req: Requirement, held: Set<CapabilityName>): CapabilityName[] {
  return req.filter((group) => !group.some((c) => held.has(c))).map((group) => group[0]!);
}

/** "this process lacks CAP_X and CAP_Y", or null when `req` holds. */
export function lackPhrase(req: Requirement, held: Set<CapabilityName> = effectiveCapabilities()): string | null {
  const m = missingFor(req, held);
  return m.length ? `this process lacks ${m.join(' and ')}` : null;
}

/** Per capability of the daemon's set: held, or what its absence costs (nothing when another held one covers it). */
export function capabilityReport(held: Set<CapabilityName> = effectiveCapabilities()): Array<{
  capability: CapabilityName;
  held: boolean;
  for: string;
  /** null when held or covered. */
  missing: string | null;
}> {
  return DAEMON_NEEDS.map((n) => {
    const has = held.has(n.capability);
    const covered = !has && n.coveredBy !== undefined && held.has(n.coveredBy);
    return {
      capability: n.capability,
      held: has,
      for: n.for,
      missing: has ? null : covered ? null : n.without,
      ...(covered ? { covered_by: n.coveredBy } : {}),
    };
  });
}

/** Whether the process holds any capability the daemon uses (root, or a non-root user given some). */
export function holdsAnyDaemonCapability(held: Set<CapabilityName> = effectiveCapabilities()): boolean {
  return DAEMON_CAPABILITIES.some((c) => held.has(c));
}

/**
 * A refused operation's message with the capability it needs when this
 * process lacks it: "setns /run/netns/x: Operation not permitted (entering
 * another network namespace needs CAP_SYS_ADMIN, which this process lacks)".
 */
export function explainPermission(message: string, held: Set<CapabilityName> = effectiveCapabilities()): string {
  if (!/Operation not permitted|Permission denied|EPERM|EACCES/.test(message)) return message;
  const rules: Array<[RegExp, Requirement, string]> = [
    [/setns|enter network namespace/, REQUIRES.setns, 'entering another network namespace'],
    [/open \/proc\/\d+\/ns\/net/, REQUIRES.otherUsersNetns, "opening another user's /proc/PID/ns/net"],
    [/ctnetlink|NETLINK_NETFILTER|SO_RCVBUF/, REQUIRES.ctnetlink, 'ctnetlink'],
    [/sysctl|nf_conntrack_acct|nf_conntrack_timestamp/, REQUIRES.ctnetlink, 'writing net sysctls'],
  ];
  for (const [re, req, what] of rules) {
    if (!re.test(message)) continue;
    const m = missingFor(req, held);
    return m.length ? `${message} (${what} needs ${m.join(' and ')}, which this process lacks)` : message;
  }
  return message;
}
