/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Maps of the ingress arrival counter (ingress.bpf.c), shared with the
 * addon (native/ingress.cc). Arrivals are aggregated in the kernel, never
 * sent one record per packet: the addon drains the maps once a period.
 *
 * Counting maps come in pairs (suffix 0/1): the program writes the one
 * `ctl[0]` selects, the addon flips `ctl[0]` and drains the other one, so
 * draining never races with an increment (a drained map has been idle since
 * the flip, after in-flight programs finished).
 */
#ifndef CTSCOPE_INGRESS_H
#define CTSCOPE_INGRESS_H

/* Distinct keys per period and per map; beyond this, arrivals are counted in
 * CTS_IN_STAT_*_OVERFLOW (and still in the totals). */
#define CTS_IN_SRC_ENTRIES 16384
#define CTS_IN_PORT_ENTRIES 4096
#define CTS_IN_PAIR_ENTRIES 32768
/* Recent UDP tuples (only without the conntrack lookup kfunc). */
#define CTS_IN_UDP_SEEN_ENTRIES 65536

/* Per-CPU counters, index into `stats`. Totals are exact even when a
 * counting map is full. */
enum cts_in_stat {
	CTS_IN_STAT_PACKETS = 0,	/* TCP/UDP packets seen (IPv4, IPv6; first fragments) */
	CTS_IN_STAT_TCP_SYN = 1,	/* TCP SYN without ACK */
	CTS_IN_STAT_UDP_NEW = 2,	/* first packet of a UDP flow */
	CTS_IN_STAT_SRC_OVERFLOW = 3,	/* arrivals not counted per source: map full */
	CTS_IN_STAT_PORT_OVERFLOW = 4,	/* ... per (proto, dport) */
	CTS_IN_STAT_PAIR_OVERFLOW = 5,	/* ... per (source, proto, dport) */
	CTS_IN_STAT_CT_ERRORS = 6,	/* conntrack lookups failing other than "not found" */
	CTS_IN_STAT_UNPARSED = 7,	/* IP packets whose headers could not be read */
	CTS_IN_STAT_MAX = 8,
};

struct cts_in_src_key {
	__u8 addr[16];		/* IPv4 in the first 4 bytes, network order */
	__u8 family;		/* AF_INET (2) or AF_INET6 (10) */
	__u8 pad[3];
};

struct cts_in_src_val {
	__u64 tcp_syn;
	__u64 udp_new;
};

struct cts_in_port_key {
	__u16 port;		/* host order */
	__u8 proto;		/* IPPROTO_TCP or IPPROTO_UDP */
	__u8 pad;
};

struct cts_in_pair_key {
	__u8 addr[16];
	__u16 port;		/* host order */
	__u8 family;
	__u8 proto;
};

#ifdef __cplusplus
#define CTS_IN_STATIC_ASSERT static_assert
#else
#define CTS_IN_STATIC_ASSERT _Static_assert
#endif
CTS_IN_STATIC_ASSERT(sizeof(struct cts_in_src_key) == 20, "cts_in_src_key is ABI");
CTS_IN_STATIC_ASSERT(sizeof(struct cts_in_src_val) == 16, "cts_in_src_val is ABI");
CTS_IN_STATIC_ASSERT(sizeof(struct cts_in_port_key) == 4, "cts_in_port_key is ABI");
CTS_IN_STATIC_ASSERT(sizeof(struct cts_in_pair_key) == 20, "cts_in_pair_key is ABI");

#endif /* CTSCOPE_INGRESS_H */
