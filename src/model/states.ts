// One state vocabulary for every protocol: TCP's conntrack states, and for the
// others what the status bits say (UNREPLIED / REPLIED / ASSURED), which is
// what an operator reads in `conntrack -L` ([UNREPLIED], [ASSURED]).

import { IPS, TCP_STATE_NAMES } from '../records/layout.js';

export const UNREPLIED = 16;
export const REPLIED = 17;
export const ASSURED = 18;
export const NSTATE_CODES = 19;

export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;

export function stateCode(proto: number, tcpState: number, status: number): number {
  if (proto === IPPROTO_TCP) return tcpState < TCP_STATE_NAMES.length ? tcpState : 0;
  if (status & IPS.ASSURED) return ASSURED;
  if (status & IPS.SEEN_REPLY) return REPLIED;
  return UNREPLIED;
}

export function stateName(code: number): string {
  if (code === UNREPLIED) return 'UNREPLIED';
  if (code === REPLIED) return 'REPLIED';
  if (code === ASSURED) return 'ASSURED';
  return TCP_STATE_NAMES[code] ?? 'NONE';
}

export const STATE_NAMES: readonly string[] = [...TCP_STATE_NAMES, 'UNREPLIED', 'REPLIED', 'ASSURED'];

/** Code of a state name (case-insensitive), -1 when unknown. */
export function stateFromName(name: string): number {
  const n = name.toUpperCase();
  if (n === 'UNREPLIED') return UNREPLIED;
  if (n === 'REPLIED') return REPLIED;
  if (n === 'ASSURED') return ASSURED;
  return (TCP_STATE_NAMES as readonly string[]).indexOf(n);
}
