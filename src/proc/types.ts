// What the /proc poller reads: the kernel's own view of the conntrack table.

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
  /** /proc/net/stat/nf_conntrack summed over CPUs, keyed by the header's column names. */
  stats: Record<string, number>;
  /** net.netfilter.nf_conntrack_*timeout* sysctls, seconds, keyed without the prefix. */
  timeouts: Record<string, number>;
}
