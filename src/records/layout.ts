// The record as TypeScript reads it. Its layout and enums are generated from
// the compiled BPF objects' BTF (record.generated.ts, scripts/gen-record.mjs:
// never edit them by hand); what the C header does not define (names of
// kinds and causes, address families, TCP states, status bits) is here.

export { RECORD_VERSION, RECORD_SIZE, FIELDS, Kind, Origin, Cause, Flag } from './record.generated.js';
import { Cause, FIELDS, Kind } from './record.generated.js';

export type FieldName = keyof typeof FIELDS;

export type KindName = keyof typeof Kind;
export const KIND_NAMES: readonly (KindName | undefined)[] = (() => {
  const a: (KindName | undefined)[] = [];
  for (const [k, v] of Object.entries(Kind)) a[v] = k as KindName;
  return a;
})();

/** Cause names by value ('unknown', 'timeout', ...), as answers and reports print them. */
export const CAUSE_NAMES: readonly string[] = (() => {
  const a: string[] = [];
  for (const [k, v] of Object.entries(Cause)) a[v] = k.toLowerCase();
  return a;
})();

export const AF_INET = 2;
export const AF_INET6 = 10;

/** enum tcp_conntrack (include/uapi/linux/netfilter/nf_conntrack_tcp.h) */
export const TCP_STATE_NAMES = [
  'NONE',
  'SYN_SENT',
  'SYN_RECV',
  'ESTABLISHED',
  'FIN_WAIT',
  'CLOSE_WAIT',
  'LAST_ACK',
  'TIME_WAIT',
  'CLOSE',
  'SYN_SENT2',
] as const;

/** IPS_* status bits (include/uapi/linux/netfilter/nf_conntrack_common.h) */
export const IPS = { EXPECTED: 1 << 0, SEEN_REPLY: 1 << 1, ASSURED: 1 << 2, CONFIRMED: 1 << 3 } as const;
