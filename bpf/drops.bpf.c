// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Netfilter/conntrack packet drops, from the skb:kfree_skb tracepoint.
 *
 * Which drop reasons count is decided by user space from the running
 * kernel's BTF enum skb_drop_reason (names differ across kernels), written
 * into `reasons` after load; no reason is enabled until then.
 *
 * Records are submitted without a wakeup: a reader thread drains the ring
 * every 1-5 ms (~0.12 us per event here, against ~1.1 us with adaptive
 * wakeups). When the backlog crosses `wakeup_bytes` the reader is woken at
 * once so a burst cannot fill the ring between two timer ticks.
 */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "ctscope_record.h"
#include "skb_tuple.h"

/* Reasons are small enum values; subsystem reasons (upper 16 bits set, e.g.
 * SKB_DROP_REASON_SUBSYS_OPENVSWITCH) are not netfilter's and stay out. */
#define CTS_MAX_DROP_REASONS 1024

/* Backlog in bytes above which a submit forces a wakeup; 0: never. */
const volatile __u64 wakeup_bytes = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} events SEC(".maps");

/* 1 at index r: reason r is recorded. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, CTS_MAX_DROP_REASONS);
	__type(key, __u32);
	__type(value, __u8);
} reasons SEC(".maps");

/* Ring-buffer reserve failures, per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} lost SEC(".maps");

/* Keeps the record type in the object's BTF, so its layout can be checked
 * with `bpftool btf dump file drops.bpf.o` (a ring buffer has no value type). */
const struct ctscope_record *cts_record_type __attribute__((unused));

SEC("tp_btf/kfree_skb")
int BPF_PROG(cts_kfree_skb, struct sk_buff *skb, void *location, enum skb_drop_reason reason)
{
	__u32 key = reason;
	struct ctscope_record *r;
	__u8 *enabled;
	__u64 flags = BPF_RB_NO_WAKEUP;

	enabled = bpf_map_lookup_elem(&reasons, &key);
	if (!enabled || !*enabled)
		return 0;

	r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	if (!r) {
		__u32 zero = 0;
		__u64 *n = bpf_map_lookup_elem(&lost, &zero);

		if (n)
			*n += 1;
		return 0;
	}
	__builtin_memset(r, 0, sizeof(*r));
	r->ts_ns = bpf_ktime_get_boot_ns();
	r->cpu = bpf_get_smp_processor_id();
	r->version = CTSCOPE_RECORD_VERSION;
	r->kind = CTS_KIND_DROP;
	r->origin = CTS_ORIGIN_TP_BTF;
	r->aux = reason;
	cts_fill_from_skb(r, skb);

	if (wakeup_bytes && bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes)
		flags = BPF_RB_FORCE_WAKEUP;
	bpf_ringbuf_submit(r, flags);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
