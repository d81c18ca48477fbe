// The TypeScript view of bpf/ctscope_record.h. test/unit/record-layout.test.ts
// compares every offset and size here with what the addon's C compiler says,
// so this table cannot drift from the header unnoticed.

export const RECORD_VERSION = 1;
export const RECORD_SIZE = 160;

export const FIELDS = {
  ts_ns: { offset: 0, size: 8 },
  id: { offset: 8, size: 8 },
  start_ns: { offset: 16, size: 8 },
  packets: { offset: 24, size: 8 },
  bytes: { offset: 32, size: 8 },
  saddr: { offset: 40, size: 16 },
  daddr: { offset: 56, size: 16 },
  rsaddr: { offset: 72, size: 16 },
  rdaddr: { offset: 88, size: 16 },
  netns: { offset: 104, size: 4 },
  ifindex: { offset: 108, size: 4 },
  mark: { offset: 112, size: 4 },
  status: { offset: 116, size: 4 },
  cpu: { offset: 120, size: 4 },
  aux: { offset: 124, size: 4 },
  sport: { offset: 128, size: 2 },
  dport: { offset: 130, size: 2 },
  rsport: { offset: 132, size: 2 },
  rdport: { offset: 134, size: 2 },
  zone: { offset: 136, size: 2 },
  version: { offset: 140, size: 1 },
  kind: { offset: 141, size: 1 },
  family: { offset: 142, size: 1 },
  proto: { offset: 143, size: 1 },
  state: { offset: 144, size: 1 },
  tcp_flags: { offset: 145, size: 1 },
  icmp_type: { offset: 146, size: 1 },
  icmp_code: { offset: 147, size: 1 },
  cause: { offset: 148, size: 1 },
  origin: { offset: 149, size: 1 },
  flags: { offset: 150, size: 1 },
} as const;

export type FieldName = keyof typeof FIELDS;

/** enum ctscope_kind */
export const Kind = {
  DROP: 1,
  ALLOC: 2,
  TABLE_FULL: 3,
  EVICT: 4,
  CONFIRM: 5,
  INSERT_FAILED: 6,
  UPDATE: 7,
  DESTROY: 8,
  SEEN: 9,
  LOSS: 10,
  SYNC: 11,
} as const;
export type KindName = keyof typeof Kind;
export const KIND_NAMES: readonly (KindName | undefined)[] = (() => {
  const a: (KindName | undefined)[] = [];
  for (const [k, v] of Object.entries(Kind)) a[v] = k as KindName;
  return a;
})();

/** enum ctscope_origin */
export const Origin = { FENTRY: 1, KPROBE: 2, NETLINK: 3, TP_BTF: 4, IMPORT: 5 } as const;

/** enum ctscope_cause */
export const Cause = {
  UNKNOWN: 0,
  TIMEOUT: 1,
  EVICTED: 2,
  USER: 3,
  OTHER: 4,
  DESTROY_LOST: 5,
  AT_START: 6,
  AT_RESYNC: 7,
} as const;
export const CAUSE_NAMES = ['unknown', 'timeout', 'evicted', 'user', 'other', 'destroy_lost', 'at_start', 'at_resync'] as const;

/** CTS_F_* */
export const Flag = { HAS_CT: 0x01, HAS_REPLY: 0x02, HAS_COUNTERS: 0x04, HAS_START: 0x08 } as const;

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
