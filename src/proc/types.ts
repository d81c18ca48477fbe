// What the /proc poller reads: the kernel's own view of the conntrack table.

/** Where a snapshot's per-CPU statistics came from. */
export type StatsSource = 'proc' | 'ctnetlink';

/** One read of a namespace's conntrack figures. */
export interface ProcSnapshot {
  /** CLOCK_BOOTTIME ns of the read (same clock as records). */
  ts: number;
  /** netns inode this snapshot describes. */
  netns: number;
  /** net.netfilter.nf_conntrack_count */
  count: number;
  /** net.netfilter.nf_conntrack_max (global) */
  max: number;
  /** net.netfilter.nf_conntrack_buckets */
  buckets: number;
  /**
   * Per-CPU statistics summed over CPUs, by /proc/net/stat/nf_conntrack's
   * column names (from ctnetlink's IPCTNL_MSG_CT_GET_STATS_CPU under the same
   * names where that file does not exist: see stats_source).
   */
  stats: Record<string, number>;
  /** net.netfilter.nf_conntrack_*timeout* sysctls, seconds, keyed without the prefix. */
  timeouts: Record<string, number>;
  /** Where `stats` came from (absent in captures of older versions: /proc). */
  stats_source?: StatsSource;
  /**
   * The namespace's cookie (SO_NETNS_COOKIE, decimal) where the kernel gives
   * one: unlike the inode, never reused, so it tells a new namespace from a
   * dead one whose inode it got.
   */
  cookie?: string;
  /** What the namespace was called when read (host, its /run/netns name, pid:N): names tables in a replay. */
  name?: string;
}
