// The exact `conntrack -D` command that clears a group of stale entries
// (/v1/stale), run in the table's network namespace. ctscope never runs it:
// deleting entries is the operator's call.
//
//   deleted_pod    conntrack -D -r ADDR           every entry whose reply comes from the
//                                                 dead pod's address (DNAT'd or direct)
//   unreplied_udp  conntrack -D -p udp -r ADDR --dport PORT
// (-f ipv6 for IPv6 addresses: conntrack assumes IPv4 otherwise.)

import type { StaleGroup } from '../model/model.js';

export function conntrackDelete(g: Pick<StaleGroup, 'reason' | 'destination' | 'ipv6' | 'port'>): string {
  const fam = g.ipv6 ? ' -f ipv6' : '';
  if (g.reason === 'deleted_pod') return `conntrack -D${fam} -r ${g.destination}`;
  return `conntrack -D${fam} -p udp -r ${g.destination} --dport ${g.port}`;
}

/**
 * How to run a command in a namespace the sources know by `name` (host, a
 * /run/netns name, pid:N): '' for the host, null when it cannot be entered by
 * name (a replay of another machine's capture).
 */
export function enterNetns(name: string | undefined, isHost: boolean): string | null {
  if (isHost || name === 'host') return '';
  if (!name) return null;
  const pid = /^pid:(\d+)$/.exec(name);
  if (pid) return `nsenter -t ${pid[1]} -n `;
  return /^[A-Za-z0-9_.-]+$/.test(name) ? `ip netns exec ${name} ` : null;
}
