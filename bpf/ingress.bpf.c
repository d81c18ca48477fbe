// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * New-flow arrivals at netdev ingress, before conntrack: TCP SYN without ACK
 * and the first packet of a UDP flow, counted per source address, per
 * (protocol, destination port) and per (source, protocol, port).
 *
 * The program never changes a packet's fate: it always returns TCX_NEXT,
 * which is TC_ACT_UNSPEC (-1) for a legacy clsact filter, so the next
 * program/filter (or the stack) decides as if we were not there.
 *
 * Headers are read relative to the network header
 * (bpf_skb_load_bytes_relative), so devices with and without an Ethernet
 * header (veth, wireguard, tun) are parsed alike.
 *
 * "First packet of a UDP flow": cts_ingress_ct asks conntrack itself
 * (bpf_skb_ct_lookup kfunc, tc programs since 6.0): no entry in either
 * direction yet means new, which is what `ct state new` means to nft. Where
 * the kfunc is missing, cts_ingress_lru remembers recent tuples instead (an
 * entry older than the UDP unreplied timeout counts as new again). The addon
 * loads one of the two.
 */
#include "vmlinux.h"

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "ingress.h"

#define CTS_AF_INET 2
#define CTS_AF_INET6 10
#define CTS_ETH_P_IP 0x0800
#define CTS_ETH_P_IPV6 0x86DD
#define CTS_TCP_FLAG_SYN 0x02
#define CTS_TCP_FLAG_ACK 0x10
#define CTS_IPV6_MAX_EXTHDRS 6
/* uapi values vmlinux.h does not carry (macros, not enums) */
#define CTS_NEXTHDR_HOP 0
#define CTS_NEXTHDR_ROUTING 43
#define CTS_NEXTHDR_FRAGMENT 44
#define CTS_NEXTHDR_AUTH 51
#define CTS_NEXTHDR_DEST 60
#define CTS_ENOENT 2
#define CTS_EEXIST 17
/* nf_conntrack_udp_timeout (unreplied) default. */
#define CTS_UDP_SEEN_NS (30ULL * 1000000000ULL)
/* bpf_ct_opts as of 6.0 (12 bytes); later kernels accept this size too. */
#define CTS_CT_OPTS_SZ 12

/* enum tcx_action_base (6.6+) has TCX_NEXT = -1, the value of
 * TC_ACT_UNSPEC: "continue with the next program/filter" in both modes.
 * Spelled out for vmlinux.h files that predate tcx. */
#define CTS_TC_NEXT -1

extern struct nf_conn *bpf_skb_ct_lookup(struct __sk_buff *skb_ctx, struct bpf_sock_tuple *bpf_tuple,
					 __u32 tuple__sz, struct bpf_ct_opts *opts,
					 __u32 opts__sz) __ksym __weak;
extern void bpf_ct_release(struct nf_conn *ct) __ksym __weak;

#define CTS_COUNT_MAP(name, entries, k, v)           \
	struct {                                     \
		__uint(type, BPF_MAP_TYPE_HASH);     \
		__uint(max_entries, entries);        \
		__type(key, k);                      \
		__type(value, v);                    \
	} name SEC(".maps")

CTS_COUNT_MAP(src0, CTS_IN_SRC_ENTRIES, struct cts_in_src_key, struct cts_in_src_val);
CTS_COUNT_MAP(src1, CTS_IN_SRC_ENTRIES, struct cts_in_src_key, struct cts_in_src_val);
CTS_COUNT_MAP(port0, CTS_IN_PORT_ENTRIES, struct cts_in_port_key, __u64);
CTS_COUNT_MAP(port1, CTS_IN_PORT_ENTRIES, struct cts_in_port_key, __u64);
CTS_COUNT_MAP(pair0, CTS_IN_PAIR_ENTRIES, struct cts_in_pair_key, __u64);
CTS_COUNT_MAP(pair1, CTS_IN_PAIR_ENTRIES, struct cts_in_pair_key, __u64);

/* ctl[0]: which of the map pairs (0 or 1) the program writes. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} ctl SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CTS_IN_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

struct cts_in_udp_tuple {
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 sport;
	__u16 dport;
	__u8 family;
	__u8 pad[3];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, CTS_IN_UDP_SEEN_ENTRIES);
	__type(key, struct cts_in_udp_tuple);
	__type(value, __u64);
} udp_seen SEC(".maps");

struct cts_in_pkt {
	struct cts_in_udp_tuple t;	/* addresses and ports, network order */
	__u8 proto;
	__u8 tcp_flags;
};

static __always_inline void cts_stat(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &idx);

	if (v)
		*v += 1;
}

/* Ports (and TCP flags) from the first 14 bytes of the L4 header. */
static __always_inline void cts_take_l4(struct cts_in_pkt *p, const __u8 *l4)
{
	if (p->proto == IPPROTO_TCP)
		p->tcp_flags = l4[13];
	__builtin_memcpy(&p->t.sport, &l4[0], 2);
	__builtin_memcpy(&p->t.dport, &l4[2], 2);
}

/* Reads L4 ports (and TCP flags) at `off` from the network header. */
static __always_inline int cts_parse_l4(struct __sk_buff *skb, __u32 off, struct cts_in_pkt *p)
{
	__u8 l4[14] = {};

	if (bpf_skb_load_bytes_relative(skb, off, l4, p->proto == IPPROTO_TCP ? 14 : 4, BPF_HDR_START_NET))
		return -1;
	cts_take_l4(p, l4);
	return 0;
}

/*
 * The common case (no IP options, no IPv6 extension headers) costs one
 * helper call: the IP header and the first 14 bytes of L4 in one load
 * (measured here: each load_bytes call ~40 ns). Packets too short for that
 * (tiny UDP payloads) or with options take the second load.
 */
#define CTS_V4_FAST (20 + 14)
#define CTS_V6_FAST (40 + 14)

/* 1: parsed, 0: not a first fragment or not TCP/UDP, -1: unreadable. */
static __always_inline int cts_parse(struct __sk_buff *skb, struct cts_in_pkt *p)
{
	__u16 eth_proto = bpf_ntohs(skb->protocol);

	if (eth_proto == CTS_ETH_P_IP) {
		union {
			struct iphdr ip;
			__u8 raw[CTS_V4_FAST];
		} h;
		struct iphdr ip;
		int fast;

		fast = !bpf_skb_load_bytes_relative(skb, 0, &h, CTS_V4_FAST, BPF_HDR_START_NET);
		if (!fast && bpf_skb_load_bytes_relative(skb, 0, &h, sizeof(ip), BPF_HDR_START_NET))
			return -1;
		ip = h.ip;
		if (ip.version != 4 || ip.ihl < 5)
			return -1;
		/* Only the first fragment carries the L4 header. */
		if (ip.frag_off & bpf_htons(0x1fff))
			return 0;
		p->t.family = CTS_AF_INET;
		p->proto = ip.protocol;
		__builtin_memcpy(p->t.saddr, &ip.saddr, 4);
		__builtin_memcpy(p->t.daddr, &ip.daddr, 4);
		if (p->proto != IPPROTO_TCP && p->proto != IPPROTO_UDP)
			return 0;
		if (fast && ip.ihl == 5) {
			cts_take_l4(p, &h.raw[20]);
			return 1;
		}
		return cts_parse_l4(skb, ip.ihl * 4, p) ? -1 : 1;
	}
	if (eth_proto == CTS_ETH_P_IPV6) {
		union {
			struct ipv6hdr ip6;
			__u8 raw[CTS_V6_FAST];
		} h;
		__u32 off = sizeof(struct ipv6hdr);
		__u8 nexthdr;
		int i, fast;

		fast = !bpf_skb_load_bytes_relative(skb, 0, &h, CTS_V6_FAST, BPF_HDR_START_NET);
		if (!fast && bpf_skb_load_bytes_relative(skb, 0, &h, sizeof(struct ipv6hdr), BPF_HDR_START_NET))
			return -1;
		p->t.family = CTS_AF_INET6;
		__builtin_memcpy(p->t.saddr, &h.ip6.saddr, 16);
		__builtin_memcpy(p->t.daddr, &h.ip6.daddr, 16);
		nexthdr = h.ip6.nexthdr;
		if (fast && (nexthdr == IPPROTO_TCP || nexthdr == IPPROTO_UDP)) {
			p->proto = nexthdr;
			cts_take_l4(p, &h.raw[40]);
			return 1;
		}
		for (i = 0; i < CTS_IPV6_MAX_EXTHDRS; i++) {
			__u8 ext[8];

			if (nexthdr != CTS_NEXTHDR_HOP && nexthdr != CTS_NEXTHDR_ROUTING &&
			    nexthdr != CTS_NEXTHDR_DEST && nexthdr != CTS_NEXTHDR_FRAGMENT &&
			    nexthdr != CTS_NEXTHDR_AUTH)
				break;
			if (bpf_skb_load_bytes_relative(skb, off, ext, 8, BPF_HDR_START_NET))
				return -1;
			if (nexthdr == CTS_NEXTHDR_FRAGMENT) {
				/* fragment offset: upper 13 bits of bytes 2-3 */
				if (((ext[2] << 8) | ext[3]) & 0xfff8)
					return 0;
				off += 8;
			} else if (nexthdr == CTS_NEXTHDR_AUTH) {
				off += (ext[1] + 2) * 4;
			} else {
				off += (ext[1] + 1) * 8;
			}
			nexthdr = ext[0];
		}
		p->proto = nexthdr;
		if (p->proto != IPPROTO_TCP && p->proto != IPPROTO_UDP)
			return 0;
		return cts_parse_l4(skb, off, p) ? -1 : 1;
	}
	return 0;
}

/* Atomic add, inserting the key when absent; a full map is counted. */
static __always_inline void cts_add_u64(void *map, const void *key, __u32 overflow_stat)
{
	__u64 one = 1, *v;
	long err;

	v = bpf_map_lookup_elem(map, key);
	if (v) {
		__sync_fetch_and_add(v, 1);
		return;
	}
	err = bpf_map_update_elem(map, key, &one, BPF_NOEXIST);
	if (err == -CTS_EEXIST) {
		/* another CPU inserted it meanwhile */
		v = bpf_map_lookup_elem(map, key);
		if (v)
			__sync_fetch_and_add(v, 1);
	} else if (err) {
		cts_stat(overflow_stat);
	}
}

static __always_inline void cts_add_src(void *map, const struct cts_in_src_key *key, int tcp)
{
	struct cts_in_src_val init = {}, *v;
	long err;

	v = bpf_map_lookup_elem(map, key);
	if (!v) {
		if (tcp)
			init.tcp_syn = 1;
		else
			init.udp_new = 1;
		err = bpf_map_update_elem(map, key, &init, BPF_NOEXIST);
		if (!err)
			return;
		if (err != -CTS_EEXIST) {
			cts_stat(CTS_IN_STAT_SRC_OVERFLOW);
			return;
		}
		v = bpf_map_lookup_elem(map, key);
		if (!v)
			return;
	}
	if (tcp)
		__sync_fetch_and_add(&v->tcp_syn, 1);
	else
		__sync_fetch_and_add(&v->udp_new, 1);
}

static __always_inline void cts_count(struct cts_in_pkt *p)
{
	struct cts_in_src_key sk = {};
	struct cts_in_port_key pk = {};
	struct cts_in_pair_key ak = {};
	__u32 zero = 0, *gen;
	int tcp = p->proto == IPPROTO_TCP;

	cts_stat(tcp ? CTS_IN_STAT_TCP_SYN : CTS_IN_STAT_UDP_NEW);

	__builtin_memcpy(sk.addr, p->t.saddr, 16);
	sk.family = p->t.family;
	pk.proto = p->proto;
	pk.port = bpf_ntohs(p->t.dport);
	__builtin_memcpy(ak.addr, p->t.saddr, 16);
	ak.family = p->t.family;
	ak.proto = p->proto;
	ak.port = pk.port;

	gen = bpf_map_lookup_elem(&ctl, &zero);
	if (gen && *gen) {
		cts_add_src(&src1, &sk, tcp);
		cts_add_u64(&port1, &pk, CTS_IN_STAT_PORT_OVERFLOW);
		cts_add_u64(&pair1, &ak, CTS_IN_STAT_PAIR_OVERFLOW);
	} else {
		cts_add_src(&src0, &sk, tcp);
		cts_add_u64(&port0, &pk, CTS_IN_STAT_PORT_OVERFLOW);
		cts_add_u64(&pair0, &ak, CTS_IN_STAT_PAIR_OVERFLOW);
	}
}

/* 1 when conntrack has no entry for the packet's UDP tuple (either direction). */
static __always_inline int cts_udp_new_ct(struct __sk_buff *skb, struct cts_in_pkt *p)
{
	struct bpf_ct_opts opts = {};
	struct bpf_sock_tuple tup = {};
	struct nf_conn *ct;
	__u32 tsz;

	if (p->t.family == CTS_AF_INET) {
		__builtin_memcpy(&tup.ipv4.saddr, p->t.saddr, 4);
		__builtin_memcpy(&tup.ipv4.daddr, p->t.daddr, 4);
		tup.ipv4.sport = p->t.sport;
		tup.ipv4.dport = p->t.dport;
		tsz = sizeof(tup.ipv4);
	} else {
		__builtin_memcpy(tup.ipv6.saddr, p->t.saddr, 16);
		__builtin_memcpy(tup.ipv6.daddr, p->t.daddr, 16);
		tup.ipv6.sport = p->t.sport;
		tup.ipv6.dport = p->t.dport;
		tsz = sizeof(tup.ipv6);
	}
	opts.netns_id = -1; /* BPF_F_CURRENT_NETNS: the device's namespace */
	opts.l4proto = IPPROTO_UDP;
	ct = bpf_skb_ct_lookup(skb, &tup, tsz, &opts, CTS_CT_OPTS_SZ);
	if (ct) {
		bpf_ct_release(ct);
		return 0;
	}
	if (opts.error != -CTS_ENOENT) {
		cts_stat(CTS_IN_STAT_CT_ERRORS);
		return 0;
	}
	return 1;
}

/* 1 when the tuple (or its reply) was not seen in the last CTS_UDP_SEEN_NS. */
static __always_inline int cts_udp_new_lru(struct cts_in_pkt *p)
{
	struct cts_in_udp_tuple rev = {};
	__u64 now = bpf_ktime_get_ns(), *seen;

	__builtin_memcpy(rev.saddr, p->t.daddr, 16);
	__builtin_memcpy(rev.daddr, p->t.saddr, 16);
	rev.sport = p->t.dport;
	rev.dport = p->t.sport;
	rev.family = p->t.family;
	seen = bpf_map_lookup_elem(&udp_seen, &rev);
	if (seen && now - *seen < CTS_UDP_SEEN_NS) {
		/* a reply of a flow that left through us: not an arrival */
		*seen = now;
		return 0;
	}
	seen = bpf_map_lookup_elem(&udp_seen, &p->t);
	if (seen && now - *seen < CTS_UDP_SEEN_NS) {
		*seen = now;
		return 0;
	}
	bpf_map_update_elem(&udp_seen, &p->t, &now, BPF_ANY);
	return 1;
}

static __always_inline int cts_ingress(struct __sk_buff *skb, int use_ct)
{
	struct cts_in_pkt p = {};
	int r = cts_parse(skb, &p);

	if (r == 0)
		goto out;
	cts_stat(CTS_IN_STAT_PACKETS);
	if (r < 0) {
		cts_stat(CTS_IN_STAT_UNPARSED);
		goto out;
	}
	if (p.proto == IPPROTO_TCP) {
		if ((p.tcp_flags & (CTS_TCP_FLAG_SYN | CTS_TCP_FLAG_ACK)) == CTS_TCP_FLAG_SYN)
			cts_count(&p);
	} else if (use_ct ? cts_udp_new_ct(skb, &p) : cts_udp_new_lru(&p)) {
		cts_count(&p);
	}
out:
	return CTS_TC_NEXT;
}

SEC("tc")
int cts_ingress_ct(struct __sk_buff *skb)
{
	return cts_ingress(skb, 1);
}

SEC("tc")
int cts_ingress_lru(struct __sk_buff *skb)
{
	return cts_ingress(skb, 0);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
