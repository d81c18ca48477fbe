// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Netfilter/conntrack packet drops, from the skb:kfree_skb tracepoint.
 *
 * Which drop reasons count is decided by user space from the running
 * kernel's BTF enum skb_drop_reason (names differ across kernels), written
 * into `reasons` after load; no reason is enabled until then.
 *
 * Records leave through record_ring.h: without a wakeup, drained by a
 * reader thread every 1-5 ms, the reader woken at once only when the backlog
 * crosses `wakeup_bytes`, so a burst cannot fill the ring between two ticks.
 */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "ctscope_record.h"
#include "skb_tuple.h"
#include "record_ring.h"

/* Reasons are small enum values; subsystem reasons (upper 16 bits set, e.g.
 * SKB_DROP_REASON_SUBSYS_OPENVSWITCH) are not netfilter's and stay out. */
#define CTS_MAX_DROP_REASONS 1024

/* 1 at index r: reason r is recorded. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, CTS_MAX_DROP_REASONS);
	__type(key, __u32);
	__type(value, __u8);
} reasons SEC(".maps");

/* Keeps the record type in the object's BTF, so its layout can be checked
 * with `bpftool btf dump file drops.bpf.o` (a ring buffer has no value type). */
const struct ctscope_record *cts_record_type __attribute__((unused));

SEC("tp_btf/kfree_skb")
int BPF_PROG(cts_kfree_skb, struct sk_buff *skb, void *location, enum skb_drop_reason reason)
{
	__u32 key = reason;
	struct ctscope_record *r;
	__u8 *enabled;

	enabled = bpf_map_lookup_elem(&reasons, &key);
	if (!enabled || !*enabled)
		return 0;

	r = cts_reserve();
	if (!r)
		return 0;
	__builtin_memset(r, 0, sizeof(*r));
	r->ts_ns = bpf_ktime_get_boot_ns();
	r->cpu = bpf_get_smp_processor_id();
	r->version = CTSCOPE_RECORD_VERSION;
	r->kind = CTS_KIND_DROP;
	r->origin = CTS_ORIGIN_TP_BTF;
	r->aux = reason;
	cts_fill_from_skb(r, skb);

	cts_submit(r);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
