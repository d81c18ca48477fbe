/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * What both programs on the ctnetlink event sockets share
 * (netlink_filter.bpf.c: keeps or refuses datagrams; netlink_decode.bpf.c:
 * turns events into records in a ring buffer): which event a message is,
 * the exact per-kind counts, and the sampling rule of the CPU budget. Both
 * objects declare these maps; user space loads the filter once and hands
 * its nlf_config and nlf_counts to every decoder (bpf_map__reuse_fd), so
 * there is one configuration and one set of counts whichever path runs.
 */
#ifndef __CTSCOPE_CTNETLINK_EVENT_H
#define __CTSCOPE_CTNETLINK_EVENT_H

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "netlink_filter.h"

/* From the uapi headers (linux/netfilter/nfnetlink*.h, linux/netlink.h),
 * which do not mix with vmlinux.h. */
#define NFNL_SUBSYS_CTNETLINK 1
#define IPCTNL_MSG_CT_NEW 0
#define IPCTNL_MSG_CT_DELETE 2
#define NLM_F_CREATE 0x400
#define CTA_ID 12
#define NLA_TYPE_MASK 0x3fff
#define NLMSG_HDRLEN 16
#define NFGENMSG_LEN 4
/* CTA_ID comes after the tuples, status and timeout in every message
 * ctnetlink builds (ctnetlink_conntrack_event): well within 24 attributes. */
#define MAX_TOP_ATTRS 24

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cts_nlf_config);
} nlf_config SEC(".maps");

/* [kind * 2 + refused] event counts, per CPU (CTS_NLF_* in netlink_filter.h). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CTS_NLF_COUNTERS);
	__type(key, __u32);
	__type(value, __u64);
} nlf_counts SEC(".maps");

static __always_inline void cts_nlf_count(__u32 kind, __u32 refused)
{
	__u32 k = kind * 2 + refused;
	__u64 *n = bpf_map_lookup_elem(&nlf_counts, &k);

	/* Atomic although per CPU: the filter runs for DESTROY events from the
	 * conntrack GC worker in process context, where a softirq's NEW on the
	 * same CPU can interrupt it (BPF programs there only disable
	 * migration); a plain += lost a few counts in a flood. */
	if (n)
		__sync_fetch_and_add(n, 1);
}

/* The event kind (CTS_NLF_*) of the message at the start of skb, or -1 when
 * it is not a ctnetlink conntrack event (it then passes untouched). */
static __always_inline int cts_nlf_kind(struct __sk_buff *skb)
{
	struct {
		__u32 len;
		__u16 type;
		__u16 flags;
	} h;

	if (bpf_skb_load_bytes(skb, 0, &h, sizeof(h)) < 0)
		return -1;
	if ((h.type >> 8) != NFNL_SUBSYS_CTNETLINK)
		return -1;
	switch (h.type & 0xff) {
	case IPCTNL_MSG_CT_NEW:
		return (h.flags & NLM_F_CREATE) ? CTS_NLF_NEW : CTS_NLF_UPDATE;
	case IPCTNL_MSG_CT_DELETE:
		return CTS_NLF_DESTROY;
	}
	return -1;
}

/* Whether an event of this kind, for the entry whose CTA_ID (host order) is
 * cta_id, is kept under the current configuration. get_id is only called
 * when the sampling needs the id. */
static __always_inline int cts_nlf_keep_id(struct cts_nlf_config *cfg, __u32 kind, __u32 cta_id)
{
	if (!cfg)
		return 1;
	if (kind == CTS_NLF_UPDATE && cfg->drop_updates)
		return 0;
	if (cfg->sample_shift > 0 && cfg->sample_shift < 32) {
		/* Multiplicative hash: the model's own per-key lifetime
		 * sampling uses the top bits of another hash of the id, so the
		 * two samples do not line up. src/records/sample.ts is the same
		 * rule in TypeScript. */
		__u32 h32 = cta_id * 0x9E3779B1u;

		return (h32 >> (32 - cfg->sample_shift)) == 0;
	}
	return 1;
}

static __always_inline struct cts_nlf_config *cts_nlf_config(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&nlf_config, &zero);
}

/* Whether the configuration needs the entry's id to decide (sampling on). */
static __always_inline int cts_nlf_needs_id(struct cts_nlf_config *cfg, __u32 kind)
{
	if (!cfg || (kind == CTS_NLF_UPDATE && cfg->drop_updates))
		return 0;
	return cfg->sample_shift > 0 && cfg->sample_shift < 32;
}

/* The entry's CTA_ID (host order) read from skb, or 0 when absent (then it
 * is kept). */
static __always_inline __u32 cts_nlf_skb_cta_id(struct __sk_buff *skb)
{
	__u32 off = NLMSG_HDRLEN + NFGENMSG_LEN;
	__u32 len = skb->len;

	for (int i = 0; i < MAX_TOP_ATTRS; i++) {
		struct {
			__u16 len;
			__u16 type;
			__u32 value;
		} a;

		if (off + 8 > len || bpf_skb_load_bytes(skb, off, &a, sizeof(a)) < 0)
			return 0;
		if ((a.type & NLA_TYPE_MASK) == CTA_ID)
			return bpf_ntohl(a.value);
		if (a.len < 4)
			return 0;
		off += (a.len + 3) & ~3u;
	}
	return 0;
}

/* The datagram filter's decision (the whole of netlink_filter.bpf.c, and the
 * decoder's for a message it does not decode): counts the event, and returns
 * skb->len to keep it, 0 to refuse it. */
static __always_inline int cts_nlf_filter(struct __sk_buff *skb, int kind)
{
	struct cts_nlf_config *cfg = cts_nlf_config();
	__u32 id = cts_nlf_needs_id(cfg, kind) ? cts_nlf_skb_cta_id(skb) : 0;
	int keep = cts_nlf_keep_id(cfg, kind, id);

	cts_nlf_count(kind, !keep);
	return keep ? skb->len : 0;
}

#endif
