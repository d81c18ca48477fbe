// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * A socket filter on the ctnetlink event sockets (SO_ATTACH_BPF): it runs in
 * the kernel for every conntrack event before the event is queued to the
 * socket, so what it refuses costs the daemon nothing (no queueing, no
 * receive, no parsing) and the kernel only the filter's run.
 *
 * - Counts every event by kind (NEW, UPDATE, DESTROY), kept or refused, per
 *   CPU: exact totals whatever is sampled.
 * - Under a CPU budget (--max-cpu) user space sets `sample_shift` = k: only
 *   entries whose id hash has its top k bits zero are kept (1 in 2^k), by the
 *   kernel's own CTA_ID (a keyed hash of the entry, fixed for its life), so
 *   the same entries are kept every time and a kept entry's NEW, UPDATEs and
 *   DESTROY all arrive. Raising k keeps a subset of what k kept; lowering it
 *   a superset.
 * - `drop_updates` refuses UPDATE events (a configuration that needs no live
 *   states).
 * Anything that is not a ctnetlink conntrack event passes untouched.
 */
#include "vmlinux.h"

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

static __always_inline void count(__u32 kind, __u32 refused)
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

/* The entry's CTA_ID (host order), or 0 when absent (then it is kept). */
static __always_inline __u32 cta_id(struct __sk_buff *skb)
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

SEC("socket")
int cts_ctnetlink_filter(struct __sk_buff *skb)
{
	struct {
		__u32 len;
		__u16 type;
		__u16 flags;
	} h;
	__u32 zero = 0;
	struct cts_nlf_config *cfg;
	__u32 kind, keep = 1;

	if (bpf_skb_load_bytes(skb, 0, &h, sizeof(h)) < 0)
		return skb->len;
	if ((h.type >> 8) != NFNL_SUBSYS_CTNETLINK)
		return skb->len;
	switch (h.type & 0xff) {
	case IPCTNL_MSG_CT_NEW:
		kind = (h.flags & NLM_F_CREATE) ? CTS_NLF_NEW : CTS_NLF_UPDATE;
		break;
	case IPCTNL_MSG_CT_DELETE:
		kind = CTS_NLF_DESTROY;
		break;
	default:
		return skb->len;
	}
	cfg = bpf_map_lookup_elem(&nlf_config, &zero);
	if (cfg) {
		if (kind == CTS_NLF_UPDATE && cfg->drop_updates)
			keep = 0;
		else if (cfg->sample_shift > 0 && cfg->sample_shift < 32) {
			/* Multiplicative hash: the model's own per-key lifetime
			 * sampling uses the top bits of another hash of the id,
			 * so the two samples do not line up. */
			__u32 h32 = cta_id(skb) * 0x9E3779B1u;

			keep = (h32 >> (32 - cfg->sample_shift)) == 0;
		}
	}
	count(kind, !keep);
	return keep ? skb->len : 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
