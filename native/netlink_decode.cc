// SPDX-License-Identifier: GPL-2.0-only
// ctnetlink message decoding (see netlink_decode.h).
#include "netlink_decode.h"

#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>

#include <cstring>

namespace ctscope {
namespace netlink {

namespace {

// Attribute walking with bounds checks: a malformed attribute ends the walk,
// never a read past the end.
struct Attr {
  uint16_t type;
  const uint8_t *data;
  size_t len;
};

template <typename F>
void ForEachAttr(const uint8_t *p, size_t len, F &&f) {
  while (len >= NLA_HDRLEN) {
    struct nlattr a;
    memcpy(&a, p, sizeof(a));
    if (a.nla_len < NLA_HDRLEN || a.nla_len > len) return;
    f(Attr{(uint16_t)(a.nla_type & NLA_TYPE_MASK), p + NLA_HDRLEN,
           (size_t)a.nla_len - NLA_HDRLEN});
    size_t step = NLA_ALIGN(a.nla_len);
    if (step >= len) return;
    p += step;
    len -= step;
  }
}

uint8_t U8(const Attr &a) { return a.len >= 1 ? a.data[0] : 0; }
uint16_t Be16(const Attr &a) {
  uint16_t v = 0;
  if (a.len >= 2) memcpy(&v, a.data, 2);
  return ntohs(v);
}
uint32_t Be32(const Attr &a) {
  uint32_t v = 0;
  if (a.len >= 4) memcpy(&v, a.data, 4);
  return ntohl(v);
}
uint64_t Be64(const Attr &a) {
  uint64_t v = 0;
  if (a.len >= 8) memcpy(&v, a.data, 8);
  return be64toh(v);
}

struct TupleOut {
  uint8_t *saddr, *daddr;
  uint16_t *sport, *dport;
};

void ParseTuple(const Attr &t, struct ctscope_record *r, const TupleOut &o,
                bool orig) {
  ForEachAttr(t.data, t.len, [&](const Attr &a) {
    if (a.type == CTA_TUPLE_IP) {
      ForEachAttr(a.data, a.len, [&](const Attr &ip) {
        switch (ip.type) {
          case CTA_IP_V4_SRC: if (ip.len >= 4) memcpy(o.saddr, ip.data, 4); break;
          case CTA_IP_V4_DST: if (ip.len >= 4) memcpy(o.daddr, ip.data, 4); break;
          case CTA_IP_V6_SRC: if (ip.len >= 16) memcpy(o.saddr, ip.data, 16); break;
          case CTA_IP_V6_DST: if (ip.len >= 16) memcpy(o.daddr, ip.data, 16); break;
        }
      });
    } else if (a.type == CTA_TUPLE_PROTO) {
      ForEachAttr(a.data, a.len, [&](const Attr &pa) {
        switch (pa.type) {
          case CTA_PROTO_NUM: if (orig) r->proto = U8(pa); break;
          case CTA_PROTO_SRC_PORT: *o.sport = Be16(pa); break;
          case CTA_PROTO_DST_PORT: *o.dport = Be16(pa); break;
          // ICMP: the echo id stands in for the source port (header comment).
          case CTA_PROTO_ICMP_ID:
          case CTA_PROTO_ICMPV6_ID: *o.sport = Be16(pa); break;
          case CTA_PROTO_ICMP_TYPE:
          case CTA_PROTO_ICMPV6_TYPE: if (orig) r->icmp_type = U8(pa); break;
          case CTA_PROTO_ICMP_CODE:
          case CTA_PROTO_ICMPV6_CODE: if (orig) r->icmp_code = U8(pa); break;
        }
      });
    }
  });
}

// A CLOCK_REALTIME stamp in boot-time ns; 0 when it falls before boot or
// out of range (the kernel's are neither; a u64 from the wire can be:
// test/fixtures/fuzz/netlink/crash-timestamp-overflow).
uint64_t BootTime(uint64_t real, int64_t real_minus_boot) {
  if (real_minus_boot >= 0) return real > (uint64_t)real_minus_boot ? real - (uint64_t)real_minus_boot : 0;
  uint64_t add = (uint64_t)(-(real_minus_boot + 1)) + 1;
  return real > UINT64_MAX - add ? 0 : real + add;
}

}  // namespace

struct ctscope_record BaseRecord(uint8_t kind, uint32_t netns, uint64_t ts) {
  struct ctscope_record r;
  memset(&r, 0, sizeof(r));
  r.version = CTSCOPE_RECORD_VERSION;
  r.kind = kind;
  r.origin = CTS_ORIGIN_NETLINK;
  r.netns = netns;
  r.ts_ns = ts;
  return r;
}

bool DecodeConntrack(const struct nlmsghdr *nlh, uint8_t kind, uint8_t cause,
                     uint32_t netns, Clock clock, struct ctscope_record *r) {
  size_t len = nlh->nlmsg_len;
  if (len < NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct nfgenmsg))) return false;
  const auto *nfg = (const struct nfgenmsg *)NLMSG_DATA(nlh);
  const uint64_t now = clock.now;
  *r = BaseRecord(kind, netns, now);
  r->cause = cause;
  r->family = nfg->nfgen_family;
  const uint8_t *p = (const uint8_t *)nlh + NLMSG_HDRLEN +
                     NLMSG_ALIGN(sizeof(struct nfgenmsg));
  size_t alen = len - NLMSG_HDRLEN - NLMSG_ALIGN(sizeof(struct nfgenmsg));
  uint32_t cta_id = 0;
  uint64_t tstart = 0, tstop = 0;
  bool have_orig = false;
  ForEachAttr(p, alen, [&](const Attr &a) {
    switch (a.type) {
      case CTA_TUPLE_ORIG:
        ParseTuple(a, r, {r->saddr, r->daddr, &r->sport, &r->dport}, true);
        have_orig = true;
        break;
      case CTA_TUPLE_REPLY:
        ParseTuple(a, r, {r->rsaddr, r->rdaddr, &r->rsport, &r->rdport}, false);
        r->flags |= CTS_F_HAS_REPLY;
        break;
      case CTA_STATUS: r->status = Be32(a); break;
      case CTA_TIMEOUT: r->aux = Be32(a); break;
      case CTA_MARK: r->mark = Be32(a); break;
      case CTA_ID: cta_id = Be32(a); break;
      case CTA_ZONE: r->zone = Be16(a); break;
      case CTA_PROTOINFO:
        ForEachAttr(a.data, a.len, [&](const Attr &pi) {
          if (pi.type != CTA_PROTOINFO_TCP) return;
          ForEachAttr(pi.data, pi.len, [&](const Attr &t) {
            if (t.type == CTA_PROTOINFO_TCP_STATE) r->state = U8(t);
          });
        });
        break;
      case CTA_COUNTERS_ORIG:
      case CTA_COUNTERS_REPLY:
        ForEachAttr(a.data, a.len, [&](const Attr &c) {
          if (c.type == CTA_COUNTERS_PACKETS) r->packets += Be64(c);
          else if (c.type == CTA_COUNTERS_BYTES) r->bytes += Be64(c);
          else if (c.type == CTA_COUNTERS32_PACKETS) r->packets += Be32(c);
          else if (c.type == CTA_COUNTERS32_BYTES) r->bytes += Be32(c);
        });
        r->flags |= CTS_F_HAS_COUNTERS;
        break;
      case CTA_TIMESTAMP:
        ForEachAttr(a.data, a.len, [&](const Attr &t) {
          if (t.type == CTA_TIMESTAMP_START) tstart = Be64(t);
          else if (t.type == CTA_TIMESTAMP_STOP) tstop = Be64(t);
        });
        break;
    }
  });
  if (!have_orig) return false;
  // CTA_ID is the kernel's keyed hash of the entry (nf_ct_get_id), unique
  // only within a namespace; the namespace inode makes it unique across.
  r->id = ((uint64_t)netns << 32) | cta_id;
  // Timestamps are CLOCK_REALTIME (nf_conntrack_timestamp); records use
  // CLOCK_BOOTTIME. Clamped so a wall-clock step cannot put them in the
  // future of the event.
  if (tstart) {
    uint64_t s = BootTime(tstart, clock.real_minus_boot);
    if (s > 0) {
      r->start_ns = s < now ? s : now;
      r->flags |= CTS_F_HAS_START;
    }
  }
  // A DESTROY's stop time is when it happened; receipt lags by the queue.
  if (tstop && kind == CTS_KIND_DESTROY) {
    uint64_t s = BootTime(tstop, clock.real_minus_boot);
    if (s > 0 && s < now && s >= r->start_ns) r->ts_ns = s;
  }
  return true;
}

bool EventKind(const struct nlmsghdr *nlh, uint8_t *kind, uint8_t *cause) {
  if (NFNL_SUBSYS_ID(nlh->nlmsg_type) != NFNL_SUBSYS_CTNETLINK) return false;
  uint8_t msg = NFNL_MSG_TYPE(nlh->nlmsg_type);
  *cause = CTS_CAUSE_UNKNOWN;
  if (msg == IPCTNL_MSG_CT_DELETE) {
    *kind = CTS_KIND_DESTROY;
    // A userspace delete carries the deleting socket's port id; the
    // kernel's own (expiry, early drop, flush) carry 0 and netlink cannot
    // tell those apart, so they stay UNKNOWN rather than guessed.
    if (nlh->nlmsg_pid != 0) *cause = CTS_CAUSE_USER;
    return true;
  }
  if (msg == IPCTNL_MSG_CT_NEW) {
    *kind = (nlh->nlmsg_flags & NLM_F_CREATE) ? CTS_KIND_ALLOC : CTS_KIND_UPDATE;
    return true;
  }
  return false;
}

DumpMessage ClassifyDump(const struct nlmsghdr *nlh, uint32_t seq, int *error) {
  if (nlh->nlmsg_seq != seq) return DumpMessage::kStale;
  if (nlh->nlmsg_type == NLMSG_DONE) return DumpMessage::kDone;
  if (nlh->nlmsg_type == NLMSG_ERROR) {
    // The errno follows the header; a message too short to hold it is
    // still an error (of unknown kind), not a read past its end.
    // The kernel sends a negative errno; anything else (0, positive, or
    // INT_MIN, whose negation overflows: test/fixtures/fuzz/netlink/
    // crash-error-int-min) is reported as a protocol error.
    int e = 0;
    if (nlh->nlmsg_len >= NLMSG_LENGTH(sizeof(int))) memcpy(&e, NLMSG_DATA(nlh), sizeof(e));
    *error = e < 0 && e > -4096 ? -e : EPROTO;
    return DumpMessage::kError;
  }
  if (NFNL_SUBSYS_ID(nlh->nlmsg_type) != NFNL_SUBSYS_CTNETLINK) return DumpMessage::kOther;
  return DumpMessage::kEntry;
}

// The attributes of a ctnetlink answer of message type `type`; false when
// it is not one (or too short to hold its header).
static bool ForEachStatsAttr(const struct nlmsghdr *nlh, uint16_t type, const std::function<void(const Attr &)> &f) {
  if (NFNL_SUBSYS_ID(nlh->nlmsg_type) != NFNL_SUBSYS_CTNETLINK || NFNL_MSG_TYPE(nlh->nlmsg_type) != type) return false;
  constexpr size_t kHead = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct nfgenmsg));
  size_t len = nlh->nlmsg_len;
  if (len < kHead) return false;
  ForEachAttr((const uint8_t *)nlh + kHead, len - kHead, f);
  return true;
}

bool DecodeStatsCpu(const struct nlmsghdr *nlh, const std::function<void(uint16_t, uint32_t)> &f) {
  return ForEachStatsAttr(nlh, IPCTNL_MSG_CT_GET_STATS_CPU, [&](const Attr &a) {
    if (a.len >= 4) f(a.type, Be32(a));
  });
}

bool DecodeStatsGlobal(const struct nlmsghdr *nlh, int64_t *count, int64_t *max) {
  *count = -1;
  *max = -1;
  ForEachStatsAttr(nlh, IPCTNL_MSG_CT_GET_STATS, [&](const Attr &a) {
    if (a.len < 4) return;
    if (a.type == CTA_STATS_GLOBAL_ENTRIES) *count = Be32(a);
    else if (a.type == CTA_STATS_GLOBAL_MAX_ENTRIES) *max = Be32(a);
  });
  return *count >= 0;
}

}  // namespace netlink
}  // namespace ctscope
