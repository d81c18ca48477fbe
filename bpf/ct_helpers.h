/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Conntrack lifecycle helpers shared by the fentry/fexit and the
 * kprobe/kretprobe programs of lifecycle.bpf.c: the two variants differ only
 * in how they get their arguments, never in what they record.
 *
 * Every read goes through CO-RE (vmlinux.h types carry
 * preserve_access_index) and bpf_probe_read_kernel, so the same helpers run
 * from kprobes, where BTF pointer access is not allowed. nf_conntrack is a
 * module on distribution kernels: libbpf relocates against its module BTF.
 */
#ifndef CTSCOPE_CT_HELPERS_H
#define CTSCOPE_CT_HELPERS_H

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "ctscope_record.h"

#define CTS_IPS_CONFIRMED 8
#define CTS_IPS_TEMPLATE (1 << 11)
#define CTS_NFCT_PTRMASK (~7UL)
#define CTS_MAX_ERRNO 4095
#define CTS_IPPROTO_TCP 6
#define CTS_IPPROTO_ICMP 1
#define CTS_IPPROTO_ICMPV6 58

/* ERR_PTR() values are the top 4095 addresses. */
static __always_inline int cts_is_err(const void *p)
{
	return (unsigned long)p >= (unsigned long)-CTS_MAX_ERRNO;
}

/* ---- opaque entry ids ---------------------------------------------------
 * SipHash-2-4 of the entry's address under a 128-bit key chosen by user
 * space (per boot): stable for the entry's life, unlinkable to the address.
 * The kernel's own ctnetlink id (nf_ct_get_id) is the same idea with a key
 * we cannot read, so the two never match. */

#define CTS_ROTL(x, b) (((x) << (b)) | ((x) >> (64 - (b))))
#define CTS_SIPROUND                                                        \
	do {                                                                \
		v0 += v1; v1 = CTS_ROTL(v1, 13); v1 ^= v0; v0 = CTS_ROTL(v0, 32); \
		v2 += v3; v3 = CTS_ROTL(v3, 16); v3 ^= v2;                  \
		v0 += v3; v3 = CTS_ROTL(v3, 21); v3 ^= v0;                  \
		v2 += v1; v1 = CTS_ROTL(v1, 17); v1 ^= v2; v2 = CTS_ROTL(v2, 32); \
	} while (0)

static __always_inline __u64 cts_siphash64(__u64 m, __u64 k0, __u64 k1)
{
	__u64 v0 = 0x736f6d6570736575ULL ^ k0;
	__u64 v1 = 0x646f72616e646f6dULL ^ k1;
	__u64 v2 = 0x6c7967656e657261ULL ^ k0;
	__u64 v3 = 0x7465646279746573ULL ^ k1;
	__u64 b = 8ULL << 56;

	v3 ^= m;
	CTS_SIPROUND;
	CTS_SIPROUND;
	v0 ^= m;
	v3 ^= b;
	CTS_SIPROUND;
	CTS_SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	CTS_SIPROUND;
	CTS_SIPROUND;
	CTS_SIPROUND;
	CTS_SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

/* A pointer as a plain number: the verifier refuses arithmetic other than
 * add/sub on pointers, and a copy read back through a helper is a scalar. */
static __always_inline __u64 cts_addr(const void *p)
{
	const void *tmp = p;
	__u64 v = 0;

	bpf_probe_read_kernel(&v, sizeof(v), &tmp);
	return v;
}

/* ---- tuples ------------------------------------------------------------- */

/* One direction's tuple into the original (reply == 0) or reply fields. */
static __always_inline void cts_fill_tuple(struct ctscope_record *r, const struct nf_conntrack_tuple *t, int reply)
{
	__u8 proto = BPF_CORE_READ(t, dst.protonum);
	__u16 sport, dport;

	if (reply) {
		bpf_core_read(r->rsaddr, sizeof(r->rsaddr), &t->src.u3);
		bpf_core_read(r->rdaddr, sizeof(r->rdaddr), &t->dst.u3);
	} else {
		bpf_core_read(r->saddr, sizeof(r->saddr), &t->src.u3);
		bpf_core_read(r->daddr, sizeof(r->daddr), &t->dst.u3);
		r->family = BPF_CORE_READ(t, src.l3num);
		r->proto = proto;
	}
	sport = bpf_ntohs(BPF_CORE_READ(t, src.u.all));
	if (proto == CTS_IPPROTO_ICMP || proto == CTS_IPPROTO_ICMPV6) {
		/* ICMP: the echo id is in src.u.icmp.id; dst.u carries type/code */
		dport = 0;
		if (!reply) {
			r->icmp_type = BPF_CORE_READ(t, dst.u.icmp.type);
			r->icmp_code = BPF_CORE_READ(t, dst.u.icmp.code);
		}
	} else {
		dport = bpf_ntohs(BPF_CORE_READ(t, dst.u.all));
	}
	if (reply) {
		r->rsport = sport;
		r->rdport = dport;
	} else {
		r->sport = sport;
		r->dport = dport;
	}
}

static __always_inline __u32 cts_net_inum(const struct net *net)
{
	return net ? BPF_CORE_READ(net, ns.inum) : 0;
}

static __always_inline __u16 cts_zone_id(const struct nf_conntrack_zone *zone)
{
	return zone ? BPF_CORE_READ(zone, id) : 0;
}

/* Everything an entry says about itself: ids, both tuples, netns, zone,
 * mark, status, TCP state. */
static __always_inline void cts_fill_ct(struct ctscope_record *r, struct nf_conn *ct, __u64 id)
{
	r->id = id;
	cts_fill_tuple(r, &ct->tuplehash[0].tuple, 0);
	cts_fill_tuple(r, &ct->tuplehash[1].tuple, 1);
	r->flags |= CTS_F_HAS_REPLY;
	r->netns = cts_net_inum(BPF_CORE_READ(ct, ct_net.net));
	if (bpf_core_field_exists(ct->zone))
		r->zone = BPF_CORE_READ(ct, zone.id);
	if (bpf_core_field_exists(ct->mark))
		r->mark = BPF_CORE_READ(ct, mark);
	r->status = (__u32)BPF_CORE_READ(ct, status);
	if (r->proto == CTS_IPPROTO_TCP)
		r->state = BPF_CORE_READ(ct, proto.tcp.state);
}

/* Packets and bytes of both directions when nf_conntrack_acct gave the entry
 * an accounting extension. */
static __always_inline void cts_fill_counters(struct ctscope_record *r, struct nf_conn *ct)
{
	struct nf_ct_ext *ext = BPF_CORE_READ(ct, ext);
	struct nf_conn_acct *acct;
	__u8 off = 0;
	int id;

	if (!ext || !bpf_core_enum_value_exists(enum nf_ct_ext_id, NF_CT_EXT_ACCT))
		return;
	id = bpf_core_enum_value(enum nf_ct_ext_id, NF_CT_EXT_ACCT);
	if (id < 0 || id >= 16)
		return;
	bpf_probe_read_kernel(&off, 1, (__u8 *)ext + bpf_core_field_offset(ext->offset) + id);
	if (!off)
		return;
	acct = (struct nf_conn_acct *)((char *)ext + off);
	r->packets = BPF_CORE_READ(acct, counter[0].packets.counter) + BPF_CORE_READ(acct, counter[1].packets.counter);
	r->bytes = BPF_CORE_READ(acct, counter[0].bytes.counter) + BPF_CORE_READ(acct, counter[1].bytes.counter);
	r->flags |= CTS_F_HAS_COUNTERS;
}

/* A confirmed entry's timeout is an absolute u32 jiffies stamp (nfct_time_stamp);
 * an unconfirmed one's is relative, so only confirmed entries can expire. */
static __always_inline int cts_ct_expired(struct nf_conn *ct)
{
	__u32 timeout = BPF_CORE_READ(ct, timeout);

	return (__s32)(timeout - (__u32)bpf_jiffies64()) <= 0;
}

static __always_inline void cts_record_init(struct ctscope_record *r, __u8 kind, __u8 origin)
{
	__builtin_memset(r, 0, sizeof(*r));
	r->ts_ns = bpf_ktime_get_boot_ns();
	r->cpu = bpf_get_smp_processor_id();
	r->version = CTSCOPE_RECORD_VERSION;
	r->kind = kind;
	r->origin = origin;
}

#endif /* CTSCOPE_CT_HELPERS_H */
