// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The conntrack lifecycle: ALLOC, TABLE_FULL, EVICT, CONFIRM, INSERT_FAILED
 * and DESTROY records, from fentry/fexit programs or, where the kernel
 * refuses trampolines, from kprobe/kretprobe programs doing the same through
 * the helpers of ct_helpers.h. User space (src/sources/lifecycle.ts) picks
 * one variant per capability after a BTF lookup and a trial attach, and
 * autoloads only those programs.
 *
 *   capability   fentry/fexit                      kprobe/kretprobe
 *   alloc        fexit __nf_conntrack_alloc         kprobe+kretprobe
 *   table_full   the same, ERR_PTR return           the same
 *   evict        fentry+fexit early_drop            kprobe+kretprobe
 *                (+ fentry+fexit nf_ct_delete)      (+ kprobe+kretprobe)
 *   confirm      fexit __nf_conntrack_confirm       kprobe+kretprobe
 *   destroy      fentry nf_ct_destroy               kprobe nf_ct_destroy
 *                (destroy_conntrack before 5.17)    (destroy_conntrack)
 *
 * Why no program on nf_ct_resolve_clash: a clash resolved in favour of an
 * existing entry shows up at __nf_conntrack_confirm's exit as NF_ACCEPT with
 * skb->_nfct switched to that entry, which `entries` already knows as
 * confirmed; a clash lost shows up as NF_DROP. Both become INSERT_FAILED.
 *
 * (Some 500 lines in one object: both variants share the entries and per-CPU
 * maps and user space loads one object; each program is a few lines over the
 * shared on_*() handlers.)
 */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "ct_helpers.h"
#include "ctscope_record.h"
#define CTS_RING_BYTES (8 << 20)
#include "record_ring.h"

#define CTS_NF_DROP 0
#define CTS_NF_ACCEPT 1

/* The SipHash key of entry ids (set by user space before load). */
const volatile __u64 id_key[2] = {};
/* What we know about a live entry beyond what it says itself. LRU: entries
 * that existed before we started, or beyond the cap, lose only their start
 * time (DESTROY then lacks CTS_F_HAS_START). */
struct cts_entry {
	__u64 start_ns;
	__u8 confirmed;
	__u8 cause;
	__u8 _pad[6];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 262144);
	__type(key, __u64); /* the entry's address: never leaves the kernel */
	__type(value, struct cts_entry);
} entries SEC(".maps");

/* Per-CPU context of the calling path. early_drop runs inside
 * __nf_conntrack_alloc under rcu_read_lock without sleeping, so a per-CPU
 * slot is not shared with another early_drop while it runs. One early_drop
 * may evict several entries: every unassured entry of the bucket's chain
 * (early_drop_list), so victims are kept until the allocation returns with
 * the tuple they made room for. */
#define CTS_MAX_VICTIMS 8

struct cts_cpu_ctx {
	struct ctscope_record victims[CTS_MAX_VICTIMS];
	__u32 nvictims;
	__u8 in_early_drop;
	__u8 evict_pending;
	__u8 delete_live; /* nf_ct_delete's entry was not expired when called */
	__u8 _pad[1];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cts_cpu_ctx);
} cpu_ctx SEC(".maps");

/* kprobe -> kretprobe arguments, by task and function (nf_ct_delete runs
 * inside __nf_conntrack_alloc on the same task). */
enum cts_kp_fn { CTS_KP_ALLOC = 1, CTS_KP_CONFIRM = 2, CTS_KP_DELETE = 3 };

struct cts_args_key {
	__u64 tid;
	__u64 fn;
};

struct cts_args {
	__u64 a[3];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct cts_args_key);
	__type(value, struct cts_args);
} kp_args SEC(".maps");

/* Keeps the record type in the object's BTF (a ring buffer has no value type). */
const struct ctscope_record *cts_record_type __attribute__((unused));

static __always_inline __u64 cts_id(const void *ct)
{
	__u64 h = cts_siphash64(cts_addr(ct), id_key[0], id_key[1]);

	return h ? h : 1;
}

static __always_inline struct cts_cpu_ctx *cts_ctx(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&cpu_ctx, &zero);
}

/* ---- the shared logic ---------------------------------------------------- */

static __always_inline void on_alloc(struct net *net, const struct nf_conntrack_zone *zone,
				     const struct nf_conntrack_tuple *orig, struct nf_conn *ct, __u8 origin)
{
	struct cts_cpu_ctx *ctx = cts_ctx();
	struct ctscope_record *r;

	/* early_drop ran inside this allocation: its victims and the tuple they
	 * made room for */
	if (ctx && ctx->evict_pending) {
		__u32 n = ctx->nvictims;

		ctx->evict_pending = 0;
		ctx->nvictims = 0;
		for (int i = 0; i < CTS_MAX_VICTIMS; i++) {
			if (i >= n)
				break;
			r = cts_reserve();
			if (!r)
				break;
			__builtin_memcpy(r, &ctx->victims[i], sizeof(*r));
			cts_fill_tuple(r, orig, 1);
			cts_submit(r);
		}
	}

	r = cts_reserve();
	if (!r)
		return;
	if (!ct || cts_is_err(ct)) {
		cts_record_init(r, CTS_KIND_TABLE_FULL, origin);
		cts_fill_tuple(r, orig, 0);
		r->netns = cts_net_inum(net);
		r->zone = cts_zone_id(zone);
		r->aux = ct ? (__u32)(-(long)ct) : 0; /* errno */
		cts_submit(r);
		return;
	}
	cts_record_init(r, CTS_KIND_ALLOC, origin);
	cts_fill_ct(r, ct, cts_id(ct));
	r->start_ns = r->ts_ns;
	r->flags |= CTS_F_HAS_START;

	struct cts_entry e = { .start_ns = r->ts_ns };
	__u64 key = cts_addr(ct);

	cts_submit(r);
	bpf_map_update_elem(&entries, &key, &e, BPF_ANY);
}

static __always_inline void on_early_drop_enter(void)
{
	struct cts_cpu_ctx *ctx = cts_ctx();

	if (!ctx)
		return;
	ctx->in_early_drop = 1;
	ctx->nvictims = 0;
	ctx->evict_pending = 0;
}

static __always_inline void on_early_drop_exit(int evicted)
{
	struct cts_cpu_ctx *ctx = cts_ctx();

	if (!ctx)
		return;
	ctx->in_early_drop = 0;
	ctx->evict_pending = evicted && ctx->nvictims;
}

static __always_inline void fill_victim(struct ctscope_record *v, struct nf_conn *ct, __u8 origin)
{
	struct cts_entry *e;
	__u64 key = cts_addr(ct);

	cts_record_init(v, CTS_KIND_EVICT, origin);
	cts_fill_ct(v, ct, cts_id(ct));
	v->flags &= ~CTS_F_HAS_REPLY; /* reply fields: the needed tuple, when known */
	v->cause = CTS_CAUSE_EVICTED;
	e = bpf_map_lookup_elem(&entries, &key);
	if (e && e->start_ns) {
		v->start_ns = e->start_ns;
		v->flags |= CTS_F_HAS_START;
	}
}

/* An entry early_drop deleted: kept until the allocation returns; beyond
 * CTS_MAX_VICTIMS in one chain, sent at once without the needed tuple. */
static __always_inline void note_victim(struct cts_cpu_ctx *ctx, struct nf_conn *ct, __u8 origin)
{
	struct ctscope_record *r;
	__u32 n = ctx->nvictims;

	if (n >= CTS_MAX_VICTIMS) {
		r = cts_reserve();
		if (!r)
			return;
		fill_victim(r, ct, origin);
		cts_submit(r);
		return;
	}
	fill_victim(&ctx->victims[n], ct, origin);
	ctx->nvictims = n + 1;
}

/* nf_ct_delete(ct, portid, report) returned true: the one path of
 * gc/timeout, early_drop and ctnetlink deletes. In early_drop, an entry that
 * had already expired when nf_ct_delete was called (`live` == 0) is reaped
 * (nf_ct_gc_expired), not evicted: the check is made at entry because the
 * delete itself moves the timeout. A non-zero portid is a user-space
 * requester. */
static __always_inline void on_delete(struct nf_conn *ct, __u32 portid, int live, __u8 origin)
{
	struct cts_cpu_ctx *ctx = cts_ctx();
	__u64 key = cts_addr(ct);
	struct cts_entry *e;
	__u8 cause = 0;

	if (portid) {
		cause = CTS_CAUSE_USER;
	} else if (ctx && ctx->in_early_drop && live) {
		cause = CTS_CAUSE_EVICTED;
		note_victim(ctx, ct, origin);
	}
	if (!cause)
		return; /* decided at destroy from the entry's timeout */
	e = bpf_map_lookup_elem(&entries, &key);
	if (e) {
		e->cause = cause;
	} else {
		struct cts_entry n = { .cause = cause };

		bpf_map_update_elem(&entries, &key, &n, BPF_ANY);
	}
}

static __always_inline void on_confirm(struct sk_buff *skb, int verdict, __u8 origin)
{
	struct nf_conn *ct = (struct nf_conn *)(BPF_CORE_READ(skb, _nfct) & CTS_NFCT_PTRMASK);
	__u64 key = cts_addr(ct);
	struct ctscope_record *r;
	struct cts_entry *e;

	if (!ct)
		return;
	if (verdict == CTS_NF_DROP) {
		r = cts_reserve();
		if (!r)
			return;
		cts_record_init(r, CTS_KIND_INSERT_FAILED, origin);
		cts_fill_ct(r, ct, cts_id(ct));
		cts_submit(r);
		return;
	}
	if (verdict != CTS_NF_ACCEPT)
		return;
	/* a reply-direction packet of an unconfirmed entry is accepted unconfirmed */
	if (!(BPF_CORE_READ(ct, status) & CTS_IPS_CONFIRMED))
		return;
	e = bpf_map_lookup_elem(&entries, &key);
	r = cts_reserve();
	if (!r)
		return;
	if (e && e->confirmed) {
		/* clash resolved: our entry was dropped in favour of this one */
		cts_record_init(r, CTS_KIND_INSERT_FAILED, origin);
		cts_fill_ct(r, ct, 0);
		r->aux = 1;
		cts_submit(r);
		return;
	}
	cts_record_init(r, CTS_KIND_CONFIRM, origin);
	cts_fill_ct(r, ct, cts_id(ct));
	if (e) {
		e->confirmed = 1;
		if (e->start_ns) {
			r->start_ns = e->start_ns;
			r->flags |= CTS_F_HAS_START;
		}
	}
	cts_submit(r);
}

static __always_inline void on_destroy(struct nf_conn *ct, __u8 origin)
{
	__u64 key = cts_addr(ct);
	struct ctscope_record *r;
	struct cts_entry *e;
	__u8 cause = 0;

	/* templates (CT target, zones) are freed through here too: not entries */
	if (BPF_CORE_READ(ct, status) & CTS_IPS_TEMPLATE)
		return;
	r = cts_reserve();
	e = bpf_map_lookup_elem(&entries, &key);
	if (r) {
		cts_record_init(r, CTS_KIND_DESTROY, origin);
		cts_fill_ct(r, ct, cts_id(ct));
		cts_fill_counters(r, ct);
		if (e && e->start_ns) {
			r->start_ns = e->start_ns;
			r->flags |= CTS_F_HAS_START;
		}
		if (e && e->cause)
			cause = e->cause;
		if (!cause) {
			if (!(r->status & CTS_IPS_CONFIRMED))
				cause = CTS_CAUSE_OTHER; /* never inserted: dropped or lost a clash */
			else if (cts_ct_expired(ct))
				cause = CTS_CAUSE_TIMEOUT;
			else
				cause = CTS_CAUSE_OTHER;
		}
		r->cause = cause;
		cts_submit(r);
	}
	if (e)
		bpf_map_delete_elem(&entries, &key);
}

/* ---- fentry/fexit ---------------------------------------------------------- */

SEC("fexit/__nf_conntrack_alloc")
int BPF_PROG(fx_alloc, struct net *net, const struct nf_conntrack_zone *zone, const struct nf_conntrack_tuple *orig,
	     const struct nf_conntrack_tuple *repl, gfp_t gfp, u32 hash, struct nf_conn *ret)
{
	on_alloc(net, zone, orig, ret, CTS_ORIGIN_FENTRY);
	return 0;
}

SEC("fentry/early_drop")
int BPF_PROG(fe_early_drop, struct net *net, unsigned int hash)
{
	on_early_drop_enter();
	return 0;
}

SEC("fexit/early_drop")
int BPF_PROG(fx_early_drop, struct net *net, unsigned int hash, bool ret)
{
	on_early_drop_exit(ret);
	return 0;
}

SEC("fentry/nf_ct_delete")
int BPF_PROG(fe_ct_delete, struct nf_conn *ct, u32 portid, int report)
{
	struct cts_cpu_ctx *c = cts_ctx();

	if (c && c->in_early_drop)
		c->delete_live = !cts_ct_expired(ct);
	return 0;
}

SEC("fexit/nf_ct_delete")
int BPF_PROG(fx_ct_delete, struct nf_conn *ct, u32 portid, int report, bool ret)
{
	struct cts_cpu_ctx *c = cts_ctx();

	if (ret)
		on_delete(ct, portid, c && c->delete_live, CTS_ORIGIN_FENTRY);
	return 0;
}

SEC("fexit/__nf_conntrack_confirm")
int BPF_PROG(fx_confirm, struct sk_buff *skb, int ret)
{
	on_confirm(skb, ret, CTS_ORIGIN_FENTRY);
	return 0;
}

SEC("fentry/nf_ct_destroy")
int BPF_PROG(fe_destroy, struct nf_conntrack *nfct)
{
	on_destroy((struct nf_conn *)nfct, CTS_ORIGIN_FENTRY);
	return 0;
}

/* Before 5.17 (commit 1bc91a5ddf3e, "netfilter: conntrack: handle ->destroy
 * hook via nat_ops instead") the destructor was the static destroy_conntrack. */
SEC("fentry/destroy_conntrack")
int BPF_PROG(fe_destroy_old, struct nf_conntrack *nfct)
{
	on_destroy((struct nf_conn *)nfct, CTS_ORIGIN_FENTRY);
	return 0;
}

/* ---- kprobe/kretprobe ------------------------------------------------------ */

static __always_inline void kp_save(__u64 fn, __u64 a0, __u64 a1, __u64 a2)
{
	struct cts_args_key k = { .tid = bpf_get_current_pid_tgid(), .fn = fn };
	struct cts_args args = { .a = { a0, a1, a2 } };

	bpf_map_update_elem(&kp_args, &k, &args, BPF_ANY);
}

static __always_inline int kp_take(__u64 fn, struct cts_args *out)
{
	struct cts_args_key k = { .tid = bpf_get_current_pid_tgid(), .fn = fn };
	struct cts_args *a = bpf_map_lookup_elem(&kp_args, &k);

	if (!a)
		return 0;
	*out = *a;
	bpf_map_delete_elem(&kp_args, &k);
	return 1;
}

SEC("kprobe/__nf_conntrack_alloc")
int BPF_KPROBE(kp_alloc, struct net *net, const struct nf_conntrack_zone *zone, const struct nf_conntrack_tuple *orig)
{
	kp_save(CTS_KP_ALLOC, (__u64)(unsigned long)net, (__u64)(unsigned long)zone, (__u64)(unsigned long)orig);
	return 0;
}

SEC("kretprobe/__nf_conntrack_alloc")
int BPF_KRETPROBE(kr_alloc, struct nf_conn *ret)
{
	struct cts_args a;

	if (!kp_take(CTS_KP_ALLOC, &a))
		return 0;
	on_alloc((struct net *)(unsigned long)a.a[0], (const struct nf_conntrack_zone *)(unsigned long)a.a[1],
		 (const struct nf_conntrack_tuple *)(unsigned long)a.a[2], ret, CTS_ORIGIN_KPROBE);
	return 0;
}

SEC("kprobe/early_drop")
int BPF_KPROBE(kp_early_drop)
{
	on_early_drop_enter();
	return 0;
}

SEC("kretprobe/early_drop")
int BPF_KRETPROBE(kr_early_drop, int ret)
{
	on_early_drop_exit(ret & 0xff);
	return 0;
}

SEC("kprobe/nf_ct_delete")
int BPF_KPROBE(kp_ct_delete, struct nf_conn *ct, u32 portid)
{
	kp_save(CTS_KP_DELETE, (__u64)(unsigned long)ct, portid, !cts_ct_expired(ct));
	return 0;
}

SEC("kretprobe/nf_ct_delete")
int BPF_KRETPROBE(kr_ct_delete, int ret)
{
	struct cts_args a;

	if (!kp_take(CTS_KP_DELETE, &a) || !(ret & 0xff))
		return 0;
	on_delete((struct nf_conn *)(unsigned long)a.a[0], (__u32)a.a[1], (int)a.a[2], CTS_ORIGIN_KPROBE);
	return 0;
}

SEC("kprobe/__nf_conntrack_confirm")
int BPF_KPROBE(kp_confirm, struct sk_buff *skb)
{
	kp_save(CTS_KP_CONFIRM, (__u64)(unsigned long)skb, 0, 0);
	return 0;
}

SEC("kretprobe/__nf_conntrack_confirm")
int BPF_KRETPROBE(kr_confirm, int ret)
{
	struct cts_args a;

	if (!kp_take(CTS_KP_CONFIRM, &a))
		return 0;
	on_confirm((struct sk_buff *)(unsigned long)a.a[0], ret, CTS_ORIGIN_KPROBE);
	return 0;
}

SEC("kprobe/nf_ct_destroy")
int BPF_KPROBE(kp_destroy, struct nf_conntrack *nfct)
{
	on_destroy((struct nf_conn *)nfct, CTS_ORIGIN_KPROBE);
	return 0;
}

SEC("kprobe/destroy_conntrack")
int BPF_KPROBE(kp_destroy_old, struct nf_conntrack *nfct)
{
	on_destroy((struct nf_conn *)nfct, CTS_ORIGIN_KPROBE);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
