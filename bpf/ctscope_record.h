/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The kernel -> user record: the single definition of what every source
 * (eBPF programs, the ctnetlink reader, a replayed capture) hands to the
 * control plane. Its TypeScript mirror, src/records/record.generated.ts
 * (offsets, sizes and every enum below), is generated from the compiled
 * objects' BTF by scripts/gen-record.mjs (`make bpf`); a unit test fails when
 * regenerating would change it, and another when the addon's C++ compiler
 * (native/layout.cc offsetof/sizeof) disagrees with it. So everything the
 * generator must see is an enum or a struct member, not a #define.
 *
 * Rules (libbpf-tools style): fixed-width types, largest members first,
 * explicit padding, no bitfields, a static assertion on the size. IPv4 and
 * IPv6 share 16-byte address fields (IPv4 in the first 4 bytes, network
 * order) plus a family. Ports are host byte order.
 *
 * Bump CTSCOPE_RECORD_VERSION on any change; capture files carry it.
 */
#ifndef CTSCOPE_RECORD_H
#define CTSCOPE_RECORD_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

enum ctscope_record_const {
	CTSCOPE_RECORD_VERSION = 1,
	CTSCOPE_RECORD_SIZE = 160,
};

/* What happened. Values are part of the capture-file format: append only. */
enum ctscope_kind {
	CTS_KIND_DROP = 1,          /* kfree_skb with a netfilter/conntrack drop reason */
	CTS_KIND_ALLOC = 2,         /* a conntrack entry was allocated (netlink: NEW) */
	CTS_KIND_TABLE_FULL = 3,    /* allocation refused: table full; tuple of the dropped packet */
	CTS_KIND_EVICT = 4,         /* early_drop evicted an entry to make room */
	CTS_KIND_CONFIRM = 5,       /* entry inserted into the hash table */
	CTS_KIND_INSERT_FAILED = 6, /* confirmation failed (clash), packet dropped */
	CTS_KIND_UPDATE = 7,        /* protocol state or status changed (netlink UPDATE) */
	CTS_KIND_DESTROY = 8,       /* entry destroyed */
	CTS_KIND_SEEN = 9,          /* entry found alive by a dump (at start or resync) */
	CTS_KIND_LOSS = 10,         /* the source lost events; count in aux */
	CTS_KIND_SYNC = 11,         /* a dump of netns `netns` that began at start_ns ended at
				     * ts_ns: live entries of that netns not seen since start_ns
				     * are gone (closed with `cause`, e.g. DESTROY_LOST) */
};

/* Which mechanism produced the record. */
enum ctscope_origin {
	CTS_ORIGIN_FENTRY = 1,
	CTS_ORIGIN_KPROBE = 2,
	CTS_ORIGIN_NETLINK = 3,
	CTS_ORIGIN_TP_BTF = 4,
	CTS_ORIGIN_IMPORT = 5,      /* parsed from conntrack -E / -L text */
};

/* Why an entry ended (DESTROY) or how it was found (SEEN). */
enum ctscope_cause {
	CTS_CAUSE_UNKNOWN = 0,
	CTS_CAUSE_TIMEOUT = 1,      /* gc / timer expiry */
	CTS_CAUSE_EVICTED = 2,      /* early_drop */
	CTS_CAUSE_USER = 3,         /* userspace delete (ctnetlink / conntrack -D) */
	CTS_CAUSE_OTHER = 4,
	CTS_CAUSE_DESTROY_LOST = 5, /* gone from the kernel during a netlink overrun */
	CTS_CAUSE_AT_START = 6,     /* SEEN: alive when ctscope started */
	CTS_CAUSE_AT_RESYNC = 7,    /* SEEN: found by a resync dump after an overrun */
};

/* The record's flags bits. */
enum ctscope_flag {
	CTS_F_HAS_CT = 0x01,       /* DROP: the skb carried a conntrack entry */
	CTS_F_HAS_REPLY = 0x02,    /* reply tuple fields are valid */
	CTS_F_HAS_COUNTERS = 0x04, /* packets/bytes valid (nf_conntrack_acct) */
	CTS_F_HAS_START = 0x08,    /* start_ns is the real allocation time */
};

struct ctscope_record {
	__u64 ts_ns;      /* CLOCK_BOOTTIME when the event happened */
	__u64 id;         /* opaque entry id (keyed hash, never an address); 0: none */
	__u64 start_ns;   /* CLOCK_BOOTTIME of the entry's allocation if known */
	__u64 packets;    /* both directions, when CTS_F_HAS_COUNTERS */
	__u64 bytes;
	__u8 saddr[16];   /* original direction (for EVICT: the victim) */
	__u8 daddr[16];
	__u8 rsaddr[16];  /* reply direction (for EVICT: the tuple that needed room) */
	__u8 rdaddr[16];
	__u32 netns;      /* network namespace inode */
	__u32 ifindex;
	__u32 mark;
	__u32 status;     /* IPS_* bits */
	__u32 cpu;
	__u32 aux;        /* DROP: skb_drop_reason; LOSS: events lost; else: timeout s */
	__u16 sport;      /* host order; ICMP: echo id */
	__u16 dport;
	__u16 rsport;
	__u16 rdport;
	__u16 zone;
	__u16 _pad0;
	__u8 version;     /* CTSCOPE_RECORD_VERSION */
	__u8 kind;        /* enum ctscope_kind */
	__u8 family;      /* AF_INET (2) / AF_INET6 (10) */
	__u8 proto;       /* IPPROTO_* */
	__u8 state;       /* TCP: enum tcp_conntrack; else 0 */
	__u8 tcp_flags;   /* DROP: flags of the dropped TCP segment */
	__u8 icmp_type;
	__u8 icmp_code;
	__u8 cause;       /* enum ctscope_cause */
	__u8 origin;      /* enum ctscope_origin */
	__u8 flags;       /* CTS_F_* */
	__u8 _pad1[9];
};

#ifdef __cplusplus
static_assert(sizeof(struct ctscope_record) == CTSCOPE_RECORD_SIZE,
	      "struct ctscope_record must stay CTSCOPE_RECORD_SIZE bytes");
#else
_Static_assert(sizeof(struct ctscope_record) == CTSCOPE_RECORD_SIZE,
	       "struct ctscope_record must stay CTSCOPE_RECORD_SIZE bytes");
#endif

#endif /* CTSCOPE_RECORD_H */
