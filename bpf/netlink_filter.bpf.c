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
 *
 * The maps and the rule are in ctnetlink_event.h, shared with the decoder
 * (netlink_decode.bpf.c), which does the same and more.
 */
#include "vmlinux.h"

#include "ctnetlink_event.h"

SEC("socket")
int cts_ctnetlink_filter(struct __sk_buff *skb)
{
	int kind = cts_nlf_kind(skb);

	if (kind < 0)
		return skb->len;
	return cts_nlf_filter(skb, kind);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
