/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Fill a struct ctscope_record from an sk_buff: the packet's tuple (IPv4 or
 * IPv6, extension headers skipped), TCP flags, ICMP type/code, the netns
 * inode, the ifindex and whether the skb carried a conntrack entry.
 *
 * Only BPF_CORE_READ and bpf_probe_read_kernel are used, so the helpers work
 * from any program type that may read kernel memory (tp_btf, raw_tp, fentry,
 * kprobe), not only where direct BTF pointer access is allowed.
 *
 * The caller zeroes the record first (ring-buffer memory is not zeroed).
 */
#ifndef CTSCOPE_SKB_TUPLE_H
#define CTSCOPE_SKB_TUPLE_H

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "ctscope_record.h"

#ifndef CTS_AF_INET
#define CTS_AF_INET 2
#define CTS_AF_INET6 10
#endif
#define CTS_ETH_P_IP 0x0800
#define CTS_ETH_P_IPV6 0x86DD
/* skb->_nfct keeps enum ip_conntrack_info in the low 3 bits (NFCT_INFOMASK);
 * untracked packets have a NULL pointer with IP_CT_UNTRACKED there. */
#define CTS_NFCT_PTRMASK (~7UL)
/* IPv6 extension headers walked before giving up on finding the L4 header. */
#define CTS_IPV6_MAX_EXTHDRS 6

/* Network namespace inode of the skb: its device's, else its socket's (a
 * locally generated packet at LOCAL_OUT has no skb->dev yet). */
static __always_inline __u32 cts_skb_netns(struct sk_buff *skb)
{
	struct net_device *dev = BPF_CORE_READ(skb, dev);
	__u32 inum = 0;

	if (dev)
		inum = BPF_CORE_READ(dev, nd_net.net, ns.inum);
	if (!inum) {
		struct sock *sk = BPF_CORE_READ(skb, sk);

		if (sk)
			inum = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	}
	return inum;
}

static __always_inline __u32 cts_skb_ifindex(struct sk_buff *skb)
{
	struct net_device *dev = BPF_CORE_READ(skb, dev);

	if (dev)
		return BPF_CORE_READ(dev, ifindex);
	return BPF_CORE_READ(skb, skb_iif);
}

/* Did the skb carry a conntrack entry (not merely an "untracked" mark)?
 * _nfct appeared in 4.11 (commit a9e419dc7be6); older kernels: unknown. */
static __always_inline int cts_skb_has_ct(struct sk_buff *skb)
{
	if (bpf_core_field_exists(skb->_nfct)) {
		unsigned long nfct = BPF_CORE_READ(skb, _nfct);

		return (nfct & CTS_NFCT_PTRMASK) != 0;
	}
	return 0;
}

/* Ports, flags or ICMP fields from the L4 header at `l4`. `end` is the end of
 * the linear data as an offset from head: headers past it are not read. */
static __always_inline void cts_fill_l4(struct ctscope_record *r, unsigned char *head,
					__u32 l4, __u32 end)
{
	__u8 hdr[14];

	if (r->proto == IPPROTO_TCP) {
		if (l4 + 14 > end || bpf_probe_read_kernel(hdr, 14, head + l4))
			return;
		r->tcp_flags = hdr[13];
	} else if (r->proto == IPPROTO_UDP || r->proto == IPPROTO_UDPLITE ||
		   r->proto == IPPROTO_SCTP || r->proto == IPPROTO_DCCP) {
		if (l4 + 4 > end || bpf_probe_read_kernel(hdr, 4, head + l4))
			return;
	} else if (r->proto == IPPROTO_ICMP || r->proto == 58 /* IPPROTO_ICMPV6 */) {
		if (l4 + 6 > end || bpf_probe_read_kernel(hdr, 6, head + l4))
			return;
		r->icmp_type = hdr[0];
		r->icmp_code = hdr[1];
		/* echo request/reply: conntrack keys them by the identifier */
		if ((r->proto == IPPROTO_ICMP && (hdr[0] == 8 || hdr[0] == 0)) ||
		    (r->proto == 58 && (hdr[0] == 128 || hdr[0] == 129)))
			r->sport = ((__u16)hdr[4] << 8) | hdr[5];
		return;
	} else {
		return;
	}
	r->sport = ((__u16)hdr[0] << 8) | hdr[1];
	r->dport = ((__u16)hdr[2] << 8) | hdr[3];
}

static __always_inline void cts_fill_ipv4(struct ctscope_record *r, unsigned char *head,
					  __u32 nh, __u32 end)
{
	struct iphdr ip;
	__u32 ihl;

	if (nh + sizeof(ip) > end || bpf_probe_read_kernel(&ip, sizeof(ip), head + nh))
		return;
	r->family = CTS_AF_INET;
	r->proto = ip.protocol;
	__builtin_memcpy(r->saddr, &ip.saddr, 4);
	__builtin_memcpy(r->daddr, &ip.daddr, 4);
	/* a non-first fragment carries no L4 header */
	if (bpf_ntohs(ip.frag_off) & 0x1fff)
		return;
	ihl = (ip.ihl & 0xf) * 4;
	if (ihl < sizeof(ip))
		return;
	cts_fill_l4(r, head, nh + ihl, end);
}

static __always_inline void cts_fill_ipv6(struct ctscope_record *r, unsigned char *head,
					  __u32 nh, __u32 end)
{
	struct ipv6hdr ip6;
	__u32 off;
	__u8 next;

	if (nh + sizeof(ip6) > end || bpf_probe_read_kernel(&ip6, sizeof(ip6), head + nh))
		return;
	r->family = CTS_AF_INET6;
	__builtin_memcpy(r->saddr, &ip6.saddr, 16);
	__builtin_memcpy(r->daddr, &ip6.daddr, 16);
	next = ip6.nexthdr;
	off = nh + sizeof(ip6);

#pragma unroll
	for (int i = 0; i < CTS_IPV6_MAX_EXTHDRS; i++) {
		__u8 ext[8];

		if (next != 0 /* HOPOPTS */ && next != 43 /* ROUTING */ &&
		    next != 60 /* DSTOPTS */ && next != 44 /* FRAGMENT */ &&
		    next != 51 /* AH */)
			break;
		if (off + 8 > end || bpf_probe_read_kernel(ext, 8, head + off)) {
			r->proto = next;
			return;
		}
		if (next == 44) {
			/* non-first fragment: no L4 header follows */
			if ((((__u16)ext[2] << 8) | ext[3]) & 0xfff8) {
				r->proto = ext[0];
				return;
			}
			off += 8;
		} else if (next == 51) {
			off += ((__u32)ext[1] + 2) * 4;
		} else {
			off += ((__u32)ext[1] + 1) * 8;
		}
		next = ext[0];
	}
	r->proto = next;
	cts_fill_l4(r, head, off, end);
}

/*
 * The tuple of the packet in `skb`, read from its network header, into
 * family/proto/saddr/daddr/sport/dport/tcp_flags/icmp_*. Leaves family 0 when
 * the skb is not IPv4/IPv6 or has no network header yet.
 */
static __always_inline void cts_fill_tuple(struct ctscope_record *r, struct sk_buff *skb)
{
	unsigned char *head = BPF_CORE_READ(skb, head);
	__u16 nh = BPF_CORE_READ(skb, network_header);
	/* tail is an offset from head on 64-bit kernels (NET_SKBUFF_DATA_USES_OFFSET) */
	__u32 end = BPF_CORE_READ(skb, tail);
	__u16 proto = bpf_ntohs(BPF_CORE_READ(skb, protocol));

	if (!head || nh == (__u16)~0U)
		return;
	if (proto == CTS_ETH_P_IP) {
		cts_fill_ipv4(r, head, nh, end);
	} else if (proto == CTS_ETH_P_IPV6) {
		cts_fill_ipv6(r, head, nh, end);
	} else {
		/* skb->protocol is not always set yet (e.g. raw sockets at
		 * LOCAL_OUT): trust the version nibble of the header. */
		__u8 v;

		if (bpf_probe_read_kernel(&v, 1, head + nh))
			return;
		if ((v >> 4) == 4)
			cts_fill_ipv4(r, head, nh, end);
		else if ((v >> 4) == 6)
			cts_fill_ipv6(r, head, nh, end);
	}
}

/* Everything the skb tells about a dropped or observed packet. */
static __always_inline void cts_fill_from_skb(struct ctscope_record *r, struct sk_buff *skb)
{
	cts_fill_tuple(r, skb);
	r->netns = cts_skb_netns(skb);
	r->ifindex = cts_skb_ifindex(skb);
	if (cts_skb_has_ct(skb))
		r->flags |= CTS_F_HAS_CT;
}

#endif /* CTSCOPE_SKB_TUPLE_H */
