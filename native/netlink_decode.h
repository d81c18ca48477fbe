// SPDX-License-Identifier: GPL-2.0-only
// ctnetlink messages -> struct ctscope_record, with nothing but the bytes:
// no socket, no thread, no JavaScript. The reader (netlink_reader.cc,
// netlink_dump.cc) and the fuzz harness (fuzz/netlink_fuzz.cc) call the same
// functions, so what the fuzzer proves about them holds for the daemon.
//
// Every length comes from the message and is checked against the bytes that
// are there: a malformed message is skipped (false), never read past its end.
#pragma once

#include <linux/netlink.h>
#include <stddef.h>
#include <stdint.h>

#include <functional>

#include "ctscope_record.h"

namespace ctscope {
namespace netlink {

// Calls f(nlh) for each message of a datagram or dump chunk in `buf`; f
// returns false to stop. Returns the offset of the message it stopped at, or
// `len` when it went through (or the rest is not a message).
//
// Not NLMSG_OK/NLMSG_NEXT: with a size_t length, a last message whose length
// is not a multiple of 4 makes NLMSG_NEXT step past the end and the length
// wrap around, and NLMSG_OK then reads a "header" beyond the buffer (found by
// native/fuzz/netlink_fuzz.cc; test/fixtures/fuzz/netlink/crash-unaligned-last-message).
template <typename F>
size_t ForEachMessage(const uint8_t *buf, size_t len, F &&f) {
  size_t off = 0;
  while (len - off >= NLMSG_HDRLEN) {
    const struct nlmsghdr *nlh = (const struct nlmsghdr *)(buf + off);
    if (nlh->nlmsg_len < NLMSG_HDRLEN || nlh->nlmsg_len > len - off) break;
    if (!f(nlh)) return off;
    size_t step = NLMSG_ALIGN((size_t)nlh->nlmsg_len);
    if (step >= len - off) break;
    off += step;
  }
  return len;
}

// When a message was received: CLOCK_BOOTTIME ns, and CLOCK_REALTIME minus
// CLOCK_BOOTTIME to turn the kernel's conntrack timestamps into boot time.
struct Clock {
  uint64_t now;
  int64_t real_minus_boot;
};

// An empty record of `kind` from this namespace at `ts`.
struct ctscope_record BaseRecord(uint8_t kind, uint32_t netns, uint64_t ts);

// One ctnetlink conntrack message (an event or a dump entry) as a record;
// false when it is not one (too short, no original tuple).
bool DecodeConntrack(const struct nlmsghdr *nlh, uint8_t kind, uint8_t cause,
                     uint32_t netns, Clock clock, struct ctscope_record *r);

// What an event datagram's message is: a conntrack NEW (ALLOC or UPDATE) or
// DELETE (DESTROY, with its cause), else false (another subsystem or type).
bool EventKind(const struct nlmsghdr *nlh, uint8_t *kind, uint8_t *cause);

// A message of a dump reply, as the dump reader must treat it.
enum class DumpMessage {
  kStale,   // another (abandoned) dump's sequence number
  kDone,    // NLMSG_DONE: the dump is complete
  kError,   // NLMSG_ERROR: *error is the errno (positive)
  kEntry,   // a ctnetlink message: decode it
  kOther,   // anything else: skip
};
DumpMessage ClassifyDump(const struct nlmsghdr *nlh, uint32_t seq, int *error);

// One CPU's answer to IPCTNL_MSG_CT_GET_STATS_CPU (what `conntrack -S`
// prints a line of): f(CTA_STATS_* type, value) for each counter in it;
// false when the message is not such an answer.
bool DecodeStatsCpu(const struct nlmsghdr *nlh, const std::function<void(uint16_t, uint32_t)> &f);

// The answer to IPCTNL_MSG_CT_GET_STATS: the namespace's entry count
// (CTA_STATS_GLOBAL_ENTRIES) and nf_conntrack_max (CTA_STATS_GLOBAL_MAX_ENTRIES,
// kernel >= 4.19: *max stays -1 without it); false when the message is not
// such an answer or has no count.
bool DecodeStatsGlobal(const struct nlmsghdr *nlh, int64_t *count, int64_t *max);

}  // namespace netlink
}  // namespace ctscope
