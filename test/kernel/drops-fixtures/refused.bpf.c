// SPDX-License-Identifier: GPL-2.0-only
// Test fixture for test/kernel/drops.test.ts: one program every kernel
// accepts and one the verifier must refuse (it reads past the tracepoint's
// arguments), to check that a load failure names the program and carries
// the verifier log, and that autoload selection keeps the bad one out.
#include "vmlinux.h"

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

/* RingSource needs a ring buffer to read */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

SEC("tp_btf/kfree_skb")
int BPF_PROG(fixture_good, struct sk_buff *skb)
{
	return 0;
}

SEC("tp_btf/kfree_skb")
int fixture_refused(__u64 *ctx)
{
	/* kfree_skb has 4 arguments; ctx[40] is out of bounds */
	return (int)ctx[40];
}

char LICENSE[] SEC("license") = "GPL";
