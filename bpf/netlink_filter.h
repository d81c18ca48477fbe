/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* What netlink_filter.bpf.c shares with user space (native/netlink_filter.cc). */
#ifndef __CTSCOPE_NETLINK_FILTER_H
#define __CTSCOPE_NETLINK_FILTER_H

/* Event kinds counted by the filter. */
#define CTS_NLF_NEW 0
#define CTS_NLF_UPDATE 1
#define CTS_NLF_DESTROY 2
/* counts[kind * 2 + refused] */
#define CTS_NLF_COUNTERS 6

struct cts_nlf_config {
	/* Keep 1 entry in 2^sample_shift (0: all). */
	__u32 sample_shift;
	/* Refuse UPDATE events (non-zero). */
	__u32 drop_updates;
};

/*
 * The decoder's per-namespace context (netlink_decode.bpf.c, one instance per
 * namespace), a memory-mapped array of one entry written by that
 * namespace's reader (native/netlink_reader.cc) and read by the
 * program per event.
 */
struct cts_nld_ctx {
	/* The namespace inode of the socket this instance is attached to. */
	__u32 netns;
	/* Non-zero while events go to the socket as datagrams instead of the
	 * ring (set by the program when it cannot use the ring, cleared by the
	 * reader once the socket is empty), so that the reader reads them in
	 * the order they happened: the ring's, then the socket's. */
	__u32 divert;
	/* CLOCK_REALTIME - CLOCK_BOOTTIME in ns (nf_conntrack_timestamp's
	 * times are CLOCK_REALTIME), kept current by the reader. */
	__s64 real_minus_boot;
};

#endif
