// What a --what-if asks for (what-if.ts plays it): the timeout classes an
// entry can end in, as the kernel's sysctl keys with its defaults, the class
// of an entry from its protocol, TCP state and status, and the parser of
// 'KEY=VALUE[,NETNS/KEY=VALUE...]'.

import { IPS, TCP_STATE_NAMES } from '../records/layout.js';
import { UserError } from '../errors.js';

/** Timeout classes an entry can end in, as the sysctl keys (without nf_conntrack_). */
export const TIMEOUT_KEYS = [
  'generic_timeout',
  'tcp_timeout_syn_sent',
  'tcp_timeout_syn_recv',
  'tcp_timeout_established',
  'tcp_timeout_fin_wait',
  'tcp_timeout_close_wait',
  'tcp_timeout_last_ack',
  'tcp_timeout_time_wait',
  'tcp_timeout_close',
  'udp_timeout',
  'udp_timeout_stream',
  'icmp_timeout',
  'icmpv6_timeout',
  'gre_timeout',
  'gre_timeout_stream',
] as const;
export type TimeoutKey = (typeof TIMEOUT_KEYS)[number];

/** Linux 6.x defaults (net/netfilter/nf_conntrack_proto_*.c), seconds. */
export const KERNEL_DEFAULT_TIMEOUTS: Record<TimeoutKey, number> = {
  generic_timeout: 600,
  tcp_timeout_syn_sent: 120,
  tcp_timeout_syn_recv: 60,
  tcp_timeout_established: 432000,
  tcp_timeout_fin_wait: 120,
  tcp_timeout_close_wait: 60,
  tcp_timeout_last_ack: 30,
  tcp_timeout_time_wait: 120,
  tcp_timeout_close: 10,
  udp_timeout: 30,
  udp_timeout_stream: 120,
  icmp_timeout: 30,
  icmpv6_timeout: 30,
  gre_timeout: 30,
  gre_timeout_stream: 180,
};

const KEY_INDEX = new Map<string, number>(TIMEOUT_KEYS.map((k, i) => [k, i]));
const GENERIC = 0;
const TCP_CLASS: number[] = TCP_STATE_NAMES.map((name) => {
  const k = name === 'SYN_SENT2' ? 'syn_sent' : name.toLowerCase();
  return KEY_INDEX.get(`tcp_timeout_${k}`) ?? GENERIC;
});

/** The timeout class of an entry in this protocol, TCP state and status. */
export function timeoutClass(proto: number, state: number, status: number): number {
  switch (proto) {
    case 6:
      return TCP_CLASS[state] ?? GENERIC;
    case 17:
    case 136:
      return KEY_INDEX.get(status & IPS.ASSURED ? 'udp_timeout_stream' : 'udp_timeout')!;
    case 1:
      return KEY_INDEX.get('icmp_timeout')!;
    case 58:
      return KEY_INDEX.get('icmpv6_timeout')!;
    case 47:
      return KEY_INDEX.get(status & IPS.ASSURED ? 'gre_timeout_stream' : 'gre_timeout')!;
    default:
      return GENERIC;
  }
}

export interface WhatIfSpec {
  /** Timeouts for every namespace. */
  timeouts: Partial<Record<TimeoutKey, number>>;
  /** Timeouts for one namespace (timeout sysctls are per namespace), by its name or inode: 'lab-s/udp_timeout=5'. */
  netns?: Record<string, Partial<Record<TimeoutKey, number>>>;
  max?: number;
}

/** A --what-if value that cannot be read: a command-line error (exit code 2). */
export class WhatIfSpecError extends UserError {
  constructor(message: string) {
    super(message, 2);
  }
}

/** Parse 'tcp_timeout_time_wait=30,udp_timeout=10,max=65536'. Throws WhatIfSpecError. */
export function parseWhatIf(text: string): WhatIfSpec {
  const spec: WhatIfSpec = { timeouts: {} };
  const seen = new Set<string>();
  const items = text.split(',').map((s) => s.trim());
  if (text.trim() === '') throw new WhatIfSpecError(`--what-if is empty; give KEY=VALUE[,KEY=VALUE...], e.g. 'tcp_timeout_time_wait=30,max=65536'`);
  for (const item of items) {
    if (item === '') throw new WhatIfSpecError(`--what-if '${text}' has an empty item (two commas?)`);
    const eq = item.indexOf('=');
    if (eq <= 0) throw new WhatIfSpecError(`--what-if item '${item}' is not KEY=VALUE`);
    let key = item.slice(0, eq).trim();
    // NETNS/KEY: a namespace's own timeout (by /run/netns name or inode)
    const slash = key.lastIndexOf('/');
    const ns = slash >= 0 ? key.slice(0, slash) : null;
    if (ns !== null && !/^[A-Za-z0-9_.:-]{1,64}$/.test(ns)) throw new WhatIfSpecError(`--what-if item '${item}': '${ns}' is not a namespace name or inode`);
    key = key.slice(slash + 1).replace(/^net\.netfilter\./, '').replace(/^nf_conntrack_/, '');
    const value = item.slice(eq + 1).trim();
    if (key === 'nf_conntrack_max' || key === 'conntrack_max') key = 'max';
    if (ns !== null && key === 'max') throw new WhatIfSpecError(`--what-if ${item}: nf_conntrack_max is one limit for every namespace; give max=N without a namespace`);
    const label = ns === null ? key : `${ns}/${key}`;
    if (seen.has(label)) throw new WhatIfSpecError(`--what-if sets ${label} twice`);
    seen.add(label);
    if (!/^\d+$/.test(value)) throw new WhatIfSpecError(`--what-if ${key}=${value}: expected a whole number${key === 'max' ? ' of entries' : ' of seconds'}`);
    const n = Number(value);
    if (key === 'max') {
      if (n < 1 || n > 2 ** 31 - 1) throw new WhatIfSpecError(`--what-if max=${value}: must be between 1 and ${2 ** 31 - 1}`);
      spec.max = n;
      continue;
    }
    if (!KEY_INDEX.has(key)) {
      const near = TIMEOUT_KEYS.filter((k) => k.includes(key) || key.includes(k) || editDistance(k, key) <= 3);
      throw new WhatIfSpecError(
        `--what-if: unknown key '${item.slice(0, eq).trim()}'${near.length ? ` (did you mean ${near.join(' or ')}?)` : ''}; keys: max, ${TIMEOUT_KEYS.join(', ')}`,
      );
    }
    if (n < 1 || n > 10 * 365 * 86400) throw new WhatIfSpecError(`--what-if ${key}=${value}: seconds must be between 1 and ${10 * 365 * 86400}`);
    if (ns === null) spec.timeouts[key as TimeoutKey] = n;
    else ((spec.netns ??= {})[ns] ??= {})[key as TimeoutKey] = n;
  }
  return spec;
}

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0]!;
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = d[j]!;
      d[j] = Math.min(d[j]! + 1, d[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return d[b.length]!;
}
