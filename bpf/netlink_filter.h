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

#endif
