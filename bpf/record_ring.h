/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The output side every record-emitting program shares: the ring buffer,
 * the per-CPU count of reserve failures (nothing is lost silently), and the
 * submit policy. Records go in with the ring's adaptive wakeup (flags 0): the
 * kernel wakes the reader only for a record that finds everything before it
 * consumed, and the reader then lets records gather for 1-5 ms before it
 * drains (native/ring_source.cc), so there is at most one wakeup per period —
 * a wakeup per record, measured on this project's machine (BENCHMARKS.md,
 * "Drop path"), adds 7.5-8.5 us to the dropping packet's own path and 14-16 us
 * of process CPU per record — and, while nothing happens, a drain every 100 ms
 * at most. When the
 * backlog crosses `wakeup_bytes` (set by user space before load; 0: never)
 * the reader is woken at once.
 *
 * Include once per .bpf.c, after defining CTS_RING_BYTES when the default
 * size does not suit (user space may resize the map before load).
 */
#ifndef __CTSCOPE_RECORD_RING_H
#define __CTSCOPE_RECORD_RING_H

#include <bpf/bpf_helpers.h>
#include "ctscope_record.h"

#ifndef CTS_RING_BYTES
#define CTS_RING_BYTES (4 << 20)
#endif

/* Backlog in bytes above which a submit forces a wakeup; 0: never. */
const volatile __u64 wakeup_bytes = 0;

/*
 * The ring's value type is the record, so the object's BTF carries the
 * record's layout (scripts/gen-record.mjs reads it back). The kernel wants a
 * ring buffer's value size to be 0: the loader (native/bpf_loader.cc) sets it
 * so before load.
 */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, CTS_RING_BYTES);
	__type(value, struct ctscope_record);
} events SEC(".maps");

/* The record's enums, typed here so that they are in the object's BTF too
 * (enum constants alone leave no trace in it). Never read. */
struct ctscope_enums {
	enum ctscope_record_const record;
	enum ctscope_kind kind;
	enum ctscope_origin origin;
	enum ctscope_cause cause;
	enum ctscope_flag flag;
};
const volatile struct ctscope_enums ctscope_enums = {};

/* Ring-buffer reserve failures, per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} lost SEC(".maps");

/* Room for one record (not zeroed: callers fill or clear it), or NULL with the loss counted. */
static __always_inline struct ctscope_record *cts_reserve(void)
{
	struct ctscope_record *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);

	if (!r) {
		__u32 zero = 0;
		__u64 *n = bpf_map_lookup_elem(&lost, &zero);

		/* Atomic although per CPU: a program run in process context
		 * can be interrupted by one in softirq on the same CPU. */
		if (n)
			__sync_fetch_and_add(n, 1);
	}
	return r;
}

static __always_inline void cts_submit(struct ctscope_record *r)
{
	__u64 flags = 0;

	if (wakeup_bytes && bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes)
		flags = BPF_RB_FORCE_WAKEUP;
	bpf_ringbuf_submit(r, flags);
}

#endif /* __CTSCOPE_RECORD_RING_H */
