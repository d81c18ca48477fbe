// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The ctnetlink decoder: a socket filter on one namespace's ctnetlink event
 * socket that turns each conntrack event into a struct ctscope_record in a
 * ring buffer, in the kernel, and returns 0, so the datagram is never
 * queued. The daemon then receives no datagram per event (the kernel's
 * receive path was most of its reader's cost) and parses nothing: its
 * reader copies 160-byte records out of the ring, as for the drop path.
 *
 * Per event, in the event's own context (the packet's softirq, or the
 * process that changed the table):
 * - counts it by kind, kept or refused, and applies the CPU budget's
 *   sampling and drop_updates, exactly as netlink_filter.bpf.c does (the
 *   maps and the rule are shared, ctnetlink_event.h);
 * - decodes what native/netlink_reader.cc decodes from a datagram (tuples,
 *   status, timeout, mark, id, zone, TCP state, counters, timestamps) into a
 *   record in `events`, and refuses the datagram;
 * - when it cannot (the ring is full because the reader is behind, both
 *   scratch slots are taken, the message is longer than MSG_MAX or not one
 *   it can read) it keeps the datagram instead, for the reader's own parser,
 *   and sets `divert` in the context: every later event then goes the same
 *   way until the reader has emptied the socket and cleared it. The reader
 *   drains the ring before the socket, so it gets events in the order they
 *   happened whichever way they came, and a slow reader falls back on the
 *   socket's large buffer (and its overrun accounting) rather than on a
 *   ring sized for every namespace.
 *
 * (Some 590 lines, one object: the verifier checks a program with every
 * helper it inlines and every map it names, so the bounded walk over the
 * attributes (bpf_loop callbacks), its readers and the program that calls
 * them are one compilation unit; nothing else includes the readers.)
 *
 * One instance per namespace: a socket filter learns nothing of the socket
 * it runs for (the skb it gets is not yet owned by a socket), so the
 * namespace the record needs is in the instance's context, which its reader
 * writes; the ring is the instance's too: each reader drains its own, in
 * order with its dumps.
 *
 * Records carry the kernel's time of the event (bpf_ktime_get_boot_ns), not
 * the time a reader got to them. Timestamps of nf_conntrack_timestamp are
 * CLOCK_REALTIME: they are converted with the context's real_minus_boot.
 */
#include "vmlinux.h"

#include "ctnetlink_event.h"

/* Smaller than the other sources' rings: one per namespace, and a full ring
 * costs nothing but the datagram path (above). User space may resize. */
#define CTS_RING_BYTES (1 << 20)
#include "record_ring.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct cts_nld_ctx);
} nld_ctx SEC(".maps");

/* Events kept as datagrams (divert), per CPU: how often the fallback ran. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} nld_diverted SEC(".maps");

/* Attribute types (linux/netfilter/nfnetlink_conntrack.h; uapi, stable). */
#define CTS_CTA_TUPLE_ORIG 1
#define CTS_CTA_TUPLE_REPLY 2
#define CTS_CTA_STATUS 3
#define CTS_CTA_PROTOINFO 4
#define CTS_CTA_TIMEOUT 7
#define CTS_CTA_MARK 8
#define CTS_CTA_COUNTERS_ORIG 9
#define CTS_CTA_COUNTERS_REPLY 10
#define CTS_CTA_ID 12
#define CTS_CTA_ZONE 18
#define CTS_CTA_TIMESTAMP 20
#define CTS_CTA_TUPLE_IP 1
#define CTS_CTA_TUPLE_PROTO 2
#define CTS_CTA_IP_V4_SRC 1
#define CTS_CTA_IP_V4_DST 2
#define CTS_CTA_IP_V6_SRC 3
#define CTS_CTA_IP_V6_DST 4
#define CTS_CTA_PROTO_NUM 1
#define CTS_CTA_PROTO_SRC_PORT 2
#define CTS_CTA_PROTO_DST_PORT 3
#define CTS_CTA_PROTO_ICMP_ID 4
#define CTS_CTA_PROTO_ICMP_TYPE 5
#define CTS_CTA_PROTO_ICMP_CODE 6
#define CTS_CTA_PROTO_ICMPV6_ID 7
#define CTS_CTA_PROTO_ICMPV6_TYPE 8
#define CTS_CTA_PROTO_ICMPV6_CODE 9
#define CTS_CTA_PROTOINFO_TCP 1
#define CTS_CTA_PROTOINFO_TCP_STATE 1
#define CTS_CTA_COUNTERS_PACKETS 1
#define CTS_CTA_COUNTERS_BYTES 2
#define CTS_CTA_COUNTERS32_PACKETS 3
#define CTS_CTA_COUNTERS32_BYTES 4
#define CTS_CTA_TIMESTAMP_START 1
#define CTS_CTA_TIMESTAMP_STOP 2
#define CTS_AF_INET 2

/*
 * The message is copied into a per-CPU scratch buffer (the stack's 512
 * bytes cannot hold it beside the parser). Per-CPU memory is shared by a
 * run in process context (the conntrack GC worker's DESTROYs, a ctnetlink
 * client's changes) and one in softirq that interrupts it on the same CPU,
 * or a task that preempts it (this kernel is PREEMPT_DYNAMIC), so each of
 * the two slots is taken with a compare-and-swap and given back after; a
 * run that finds both taken leaves its event to the reader as a datagram.
 * 1024 bytes hold every event ctnetlink builds (148-308 bytes measured for
 * IPv4 and IPv6 with counters and timestamps; helpers, labels and NAT
 * sequence adjustments add a few dozen); a longer one goes the same way.
 */
#define MSG_MAX 1024
#define SCRATCH_SLOTS 2

struct scratch {
	__u64 busy;
	/* the record being built (bpf_ringbuf_output copies it) */
	struct ctscope_record rec;
	/* what the walk finds that the record has no field for: here rather
	 * than on the stack, where the verifier would tell apart every
	 * combination of their values and multiply its states */
	__u64 tstart;
	__u64 tstop;
	__u32 cta_id;
	__u32 have_orig;
	/* the tuple being walked is the reply's */
	__u32 reply;
	__u32 pad;
	/* MSG_MAX and room for the widest read at the last masked offset */
	__u8 m[MSG_MAX + 16];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SCRATCH_SLOTS);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch SEC(".maps");

/* Attributes at each level: more than ctnetlink puts in an event. */
#define TOP_ATTRS 28
#define NEST_ATTRS 8

/* Reads of the copied message at an offset masked by MSG_MAX - 1. Every
 * attribute was checked to lie inside the message (nla_at), so the mask
 * changes no offset that is read; it is there for the verifier, which loses
 * a 32-bit register's checked bound when clang zero-extends a copy of it but
 * sees a mask on the register it reads through. The empty asm keeps clang
 * from dropping a mask it can prove changes nothing. */
static __always_inline const __u8 *at(const __u8 *m, __u32 off)
{
	__u64 o = off;

	asm volatile("" : "+r"(o));
	return m + (o & (MSG_MAX - 1));
}

static __always_inline __u32 rd32(const __u8 *m, __u32 off)
{
	__u32 v;

	__builtin_memcpy(&v, at(m, off), 4);
	return v;
}

/* One attribute header at off within [.., end), packed in registers: its
 * type, payload offset and length, and the offset of the next one; 0 when
 * there is none (or it is malformed). Offsets are below MSG_MAX, so 16 bits
 * each. */
#define NLA_TYPE(x) ((__u32)((x) >> 48))
#define NLA_DATA(x) ((__u32)((x) >> 32) & 0xffff)
#define NLA_LEN(x) ((__u32)((x) >> 16) & 0xffff)
/* Masks that change no valid value (everything is within MSG_MAX + 3) but
 * give every step the same range for the verifier, whatever the path
 * through it: its states then prune, instead of multiplying. */
#define NLA_NEXT(x) ((__u32)(x) & 0x7ff)
#define NLA_END(x) ((NLA_DATA(x) + NLA_LEN(x)) & 0x7ff)

static __always_inline __u64 nla_at(const __u8 *m, __u32 off, __u32 end)
{
	__u32 l, next;
	__u16 h[2];

	if (off + 4 > end || off > MSG_MAX - 4)
		return 0;
	__builtin_memcpy(h, at(m, off), 4);
	l = h[0];
	if (l < 4 || off + l > end)
		return 0;
	next = off + ((l + 3) & ~3u);
	return ((__u64)(h[1] & NLA_TYPE_MASK) << 48) | ((__u64)(off + 4) << 32) | ((__u64)(l - 4) << 16) | next;
}

/* An attribute's big-endian payload of the size its type has; 0 when the
 * attribute is shorter than that. */
static __always_inline __u8 nla_u8(const __u8 *m, __u64 a)
{
	return NLA_LEN(a) >= 1 ? *at(m, NLA_DATA(a)) : 0;
}

static __always_inline __u16 nla_be16(const __u8 *m, __u64 a)
{
	__u16 v;

	if (NLA_LEN(a) < 2)
		return 0;
	__builtin_memcpy(&v, at(m, NLA_DATA(a)), 2);
	return bpf_ntohs(v);
}

static __always_inline __u32 nla_be32(const __u8 *m, __u64 a)
{
	return NLA_LEN(a) >= 4 ? bpf_ntohl(rd32(m, NLA_DATA(a))) : 0;
}

static __always_inline __u64 nla_be64(const __u8 *m, __u64 a)
{
	__u64 v;

	if (NLA_LEN(a) < 8)
		return 0;
	__builtin_memcpy(&v, at(m, NLA_DATA(a)), 8);
	return bpf_be64_to_cpu(v);
}

/*
 * The walk over a list of attributes: one bpf_loop step per attribute, at
 * every level (the message's top level, a tuple, its address and ports,
 * counters, timestamps, protocol info). The verifier checks a step once;
 * the same walk unrolled took it 0.8 million instructions and 1.5-2 s of
 * CPU per load, once per namespace.
 */
struct walk {
	struct scratch *sc;
	__u32 off;
	__u32 end;
	/* what the step is for (below) */
	__u32 what;
};

enum { W_TOP, W_ID, W_TUPLE, W_TUPLE_IP, W_TUPLE_PROTO, W_COUNTERS, W_TIMESTAMP, W_PROTOINFO, W_TCP };

/* Walks the children of attribute a (at most n) with `what`, one level
 * down: step_top -> step_mid -> step_leaf, three functions and no recursion
 * (the verifier refuses a callback that may call itself). */
static __always_inline void walk_nested(struct walk *parent, __u64 a, __u32 what, __u32 n,
					long (*cb)(__u32, void *))
{
	struct walk w = {
		.sc = parent->sc,
		.off = NLA_DATA(a),
		.end = NLA_END(a),
		.what = what,
	};

	bpf_loop(n, cb, &w, 0);
}

static long step_leaf(__u32 i, void *data)
{
	struct walk *w = data;
	struct scratch *sc = w->sc;
	const __u8 *m = sc->m;
	struct ctscope_record *r = &sc->rec;
	__u64 a = nla_at(m, w->off, w->end);
	__u32 t;

	if (!a)
		return 1;
	w->off = NLA_NEXT(a);
	t = NLA_TYPE(a);
	switch (w->what) {
	case W_TUPLE_IP: {
		__u8 *dst;

		if (t == CTS_CTA_IP_V4_SRC || t == CTS_CTA_IP_V6_SRC)
			dst = sc->reply ? r->rsaddr : r->saddr;
		else if (t == CTS_CTA_IP_V4_DST || t == CTS_CTA_IP_V6_DST)
			dst = sc->reply ? r->rdaddr : r->daddr;
		else
			return 0;
		if (NLA_LEN(a) >= 16)
			__builtin_memcpy(dst, at(m, NLA_DATA(a)), 16);
		else if (NLA_LEN(a) >= 4)
			__builtin_memcpy(dst, at(m, NLA_DATA(a)), 4);
		return 0;
	}
	case W_TUPLE_PROTO:
		switch (t) {
		case CTS_CTA_PROTO_NUM:
			if (!sc->reply)
				r->proto = nla_u8(m, a);
			break;
		case CTS_CTA_PROTO_SRC_PORT:
		/* ICMP: the echo id stands in for the source port */
		case CTS_CTA_PROTO_ICMP_ID:
		case CTS_CTA_PROTO_ICMPV6_ID:
			if (sc->reply)
				r->rsport = nla_be16(m, a);
			else
				r->sport = nla_be16(m, a);
			break;
		case CTS_CTA_PROTO_DST_PORT:
			if (sc->reply)
				r->rdport = nla_be16(m, a);
			else
				r->dport = nla_be16(m, a);
			break;
		case CTS_CTA_PROTO_ICMP_TYPE:
		case CTS_CTA_PROTO_ICMPV6_TYPE:
			if (!sc->reply)
				r->icmp_type = nla_u8(m, a);
			break;
		case CTS_CTA_PROTO_ICMP_CODE:
		case CTS_CTA_PROTO_ICMPV6_CODE:
			if (!sc->reply)
				r->icmp_code = nla_u8(m, a);
			break;
		}
		return 0;
	case W_COUNTERS:
		/* both directions summed, as the reader's parser does */
		if (t == CTS_CTA_COUNTERS_PACKETS)
			r->packets += nla_be64(m, a);
		else if (t == CTS_CTA_COUNTERS_BYTES)
			r->bytes += nla_be64(m, a);
		else if (t == CTS_CTA_COUNTERS32_PACKETS)
			r->packets += nla_be32(m, a);
		else if (t == CTS_CTA_COUNTERS32_BYTES)
			r->bytes += nla_be32(m, a);
		return 0;
	case W_TIMESTAMP:
		if (t == CTS_CTA_TIMESTAMP_START)
			sc->tstart = nla_be64(m, a);
		else if (t == CTS_CTA_TIMESTAMP_STOP)
			sc->tstop = nla_be64(m, a);
		return 0;
	case W_TCP:
		if (t != CTS_CTA_PROTOINFO_TCP_STATE)
			return 0;
		r->state = nla_u8(m, a);
		return 1;
	}
	return 1;
}

static long step_mid(__u32 i, void *data)
{
	struct walk *w = data;
	const __u8 *m = w->sc->m;
	__u64 a = nla_at(m, w->off, w->end);
	__u32 t;

	if (!a)
		return 1;
	w->off = NLA_NEXT(a);
	t = NLA_TYPE(a);
	switch (w->what) {
	case W_TUPLE:
		if (t == CTS_CTA_TUPLE_IP)
			walk_nested(w, a, W_TUPLE_IP, NEST_ATTRS, step_leaf);
		else if (t == CTS_CTA_TUPLE_PROTO)
			walk_nested(w, a, W_TUPLE_PROTO, NEST_ATTRS, step_leaf);
		return 0;
	case W_PROTOINFO:
		if (t == CTS_CTA_PROTOINFO_TCP)
			walk_nested(w, a, W_TCP, NEST_ATTRS, step_leaf);
		return 0;
	}
	return 1;
}

static long step_top(__u32 i, void *data)
{
	struct walk *w = data;
	struct scratch *sc = w->sc;
	const __u8 *m = sc->m;
	struct ctscope_record *r = &sc->rec;
	__u64 a = nla_at(m, w->off, w->end);
	__u32 t;

	if (!a)
		return 1;
	w->off = NLA_NEXT(a);
	t = NLA_TYPE(a);
	switch (w->what) {
	case W_ID:
		if (t != CTS_CTA_ID)
			return 0;
		sc->cta_id = nla_be32(m, a);
		return 1;
	case W_TOP:
		switch (t) {
		case CTS_CTA_TUPLE_ORIG:
		case CTS_CTA_TUPLE_REPLY:
			sc->reply = t == CTS_CTA_TUPLE_REPLY;
			walk_nested(w, a, W_TUPLE, 3, step_mid);
			if (sc->reply)
				r->flags |= CTS_F_HAS_REPLY;
			else
				sc->have_orig = 1;
			break;
		case CTS_CTA_STATUS:
			r->status = nla_be32(m, a);
			break;
		case CTS_CTA_TIMEOUT:
			r->aux = nla_be32(m, a);
			break;
		case CTS_CTA_MARK:
			r->mark = nla_be32(m, a);
			break;
		case CTS_CTA_ID:
			sc->cta_id = nla_be32(m, a);
			break;
		case CTS_CTA_ZONE:
			r->zone = nla_be16(m, a);
			break;
		case CTS_CTA_PROTOINFO:
			walk_nested(w, a, W_PROTOINFO, 2, step_mid);
			break;
		case CTS_CTA_COUNTERS_ORIG:
		case CTS_CTA_COUNTERS_REPLY:
			walk_nested(w, a, W_COUNTERS, 4, step_leaf);
			r->flags |= CTS_F_HAS_COUNTERS;
			break;
		case CTS_CTA_TIMESTAMP:
			walk_nested(w, a, W_TIMESTAMP, 4, step_leaf);
			break;
		}
		return 0;
	}
	return 1;
}

/* From now until the reader clears it, events go to the socket. */
static __always_inline void divert(struct cts_nld_ctx *ctx)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&nld_diverted, &zero);

	if (!ctx->divert)
		ctx->divert = 1;
	if (n)
		__sync_fetch_and_add(n, 1);
}

/* An event the decoder does not decode: the filter's decision (counted,
 * sampled), the datagram kept if it is kept. */
static __always_inline int divert_filter(struct __sk_buff *skb, int kind, struct cts_nld_ctx *ctx)
{
	divert(ctx);
	return cts_nlf_filter(skb, kind);
}

/* The event in skb (of this kind) into a record; returns what the filter
 * returns (0: not queued). sc: a scratch slot this run holds. */
static __always_inline int decode(struct __sk_buff *skb, int kind, struct scratch *sc, struct cts_nld_ctx *ctx)
{
	struct ctscope_record *r = &sc->rec;
	struct cts_nlf_config *cfg;
	struct walk w = {};
	__u64 n, now;
	__u32 len = skb->len, pid;

	if (len < NLMSG_HDRLEN + NFGENMSG_LEN || len > MSG_MAX)
		return divert_filter(skb, kind, ctx);
	/* 64-bit and masked, so the bound the verifier sees is on the
	 * register the helper gets */
	n = len & (MSG_MAX * 2 - 1);
	if (n > MSG_MAX || n < 1)
		return divert_filter(skb, kind, ctx);
	if (bpf_skb_load_bytes(skb, 0, sc->m, n) < 0)
		return divert_filter(skb, kind, ctx);
	/* one message per event datagram; anything else is the reader's */
	if (rd32(sc->m, 0) != len)
		return divert_filter(skb, kind, ctx);

	w.sc = sc;
	w.end = len;
	sc->cta_id = 0;
	cfg = cts_nlf_config();
	if (cts_nlf_needs_id(cfg, kind)) {
		w.off = NLMSG_HDRLEN + NFGENMSG_LEN;
		w.what = W_ID;
		bpf_loop(TOP_ATTRS, step_top, &w, 0);
	}
	if (!cts_nlf_keep_id(cfg, kind, sc->cta_id)) {
		cts_nlf_count(kind, 1);
		return 0;
	}
	cts_nlf_count(kind, 0);

	__builtin_memset(r, 0, sizeof(*r));
	r->version = CTSCOPE_RECORD_VERSION;
	r->kind = kind == CTS_NLF_NEW ? CTS_KIND_ALLOC : kind == CTS_NLF_UPDATE ? CTS_KIND_UPDATE : CTS_KIND_DESTROY;
	r->origin = CTS_ORIGIN_NETLINK;
	r->netns = ctx->netns;
	r->family = sc->m[NLMSG_HDRLEN];
	/* A userspace delete carries the deleting socket's port id; the
	 * kernel's own (expiry, early drop, flush) carry 0 and cannot be told
	 * apart, so they stay UNKNOWN rather than guessed. */
	pid = rd32(sc->m, 12);
	if (kind == CTS_NLF_DESTROY && pid != 0)
		r->cause = CTS_CAUSE_USER;

	w.off = NLMSG_HDRLEN + NFGENMSG_LEN;
	w.what = W_TOP;
	sc->cta_id = 0;
	sc->have_orig = 0;
	sc->tstart = 0;
	sc->tstop = 0;
	bpf_loop(TOP_ATTRS, step_top, &w, 0);
	if (!sc->have_orig) {
		/* not an entry we can follow: the reader's parser counts it */
		divert(ctx);
		return skb->len;
	}
	/* CTA_ID is the kernel's keyed hash of the entry, unique only within a
	 * namespace; the namespace inode makes it unique across. */
	r->id = ((__u64)ctx->netns << 32) | sc->cta_id;
	now = bpf_ktime_get_boot_ns();
	r->ts_ns = now;
	/* nf_conntrack_timestamp's CLOCK_REALTIME times, as CLOCK_BOOTTIME,
	 * clamped so that a wall-clock step cannot put them in the future of
	 * the event; a DESTROY's stop time is when it happened. Without the
	 * kernel's start time the event's time stands in (flag unset). */
	if (sc->tstart) {
		__s64 st = (__s64)sc->tstart - ctx->real_minus_boot;

		if (st > 0) {
			r->start_ns = (__u64)st < now ? (__u64)st : now;
			r->flags |= CTS_F_HAS_START;
		}
	}
	if (r->kind == CTS_KIND_ALLOC && !(r->flags & CTS_F_HAS_START))
		r->start_ns = now;
	if (sc->tstop && r->kind == CTS_KIND_DESTROY) {
		__s64 sp = (__s64)sc->tstop - ctx->real_minus_boot;

		if (sp > 0 && (__u64)sp < now && (__u64)sp >= r->start_ns)
			r->ts_ns = sp;
	}
	/* Adaptive wakeup (flags 0): the reader is woken only when it has
	 * drained everything before this record; under load it drains on its
	 * own schedule and is not woken per record. */
	if (bpf_ringbuf_output(&events, r, sizeof(*r), 0) < 0) {
		/* the reader is behind: the socket's buffer takes over */
		divert(ctx);
		return skb->len;
	}
	return 0;
}

SEC("socket")
int cts_ctnetlink_decode(struct __sk_buff *skb)
{
	struct scratch *sc = NULL;
	struct cts_nld_ctx *ctx;
	__u32 zero = 0;
	int kind = cts_nlf_kind(skb), ret;

	if (kind < 0)
		return skb->len;
	ctx = bpf_map_lookup_elem(&nld_ctx, &zero);
	if (!ctx)
		return cts_nlf_filter(skb, kind);
	/* not until the reader has read the socket's events: they are older */
	if (ctx->divert)
		return divert_filter(skb, kind, ctx);
	for (__u32 i = 0; i < SCRATCH_SLOTS; i++) {
		__u32 k = i;
		struct scratch *c = bpf_map_lookup_elem(&scratch, &k);

		if (c && __sync_val_compare_and_swap(&c->busy, 0, 1) == 0) {
			sc = c;
			break;
		}
	}
	if (!sc)
		return divert_filter(skb, kind, ctx);
	ret = decode(skb, kind, sc, ctx);
	/* Reads of the slot are done: per CPU with migration disabled, only
	 * this CPU's later runs can see the store, in program order. */
	sc->busy = 0;
	return ret;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
