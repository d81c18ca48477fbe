// SPDX-License-Identifier: GPL-2.0-only
// libFuzzer harness for the ctnetlink decoder (netlink_decode.cc), built with
// AddressSanitizer and UndefinedBehaviorSanitizer by `make fuzz`; run by
// scripts/fuzz.mjs (campaign) and test/unit/fuzz-decoders.test.ts (a bounded
// run in CI). Each input is one datagram as the reader receives it: the first
// byte says whether it is an event datagram (even) or a dump chunk (odd, the
// rest of the byte is the dump's sequence number), the rest is the datagram,
// copied into an allocation of exactly its size so that a read past its end
// is a read past the allocation.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <memory>

#include "../netlink_decode.h"

using namespace ctscope;

namespace {

constexpr uint32_t kNetns = 4026531840u;
constexpr netlink::Clock kClock{5'000'000'000'000ull, 1'700'000'000'000'000'000ll};

// What every decoded record must be, whatever the bytes.
void Check(const struct ctscope_record &r, uint8_t kind) {
  if (r.version != CTSCOPE_RECORD_VERSION || r.kind != kind || r.netns != kNetns ||
      r.origin != CTS_ORIGIN_NETLINK || (r.id >> 32) != kNetns)
    __builtin_trap();
  if ((r.flags & CTS_F_HAS_START) && r.start_ns > kClock.now) __builtin_trap();
  if (r.ts_ns > kClock.now) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  const uint8_t mode = data[0];
  size_t len = size - 1;
  std::unique_ptr<uint8_t[]> buf(new uint8_t[len ? len : 1]);
  memcpy(buf.get(), data + 1, len);
  if (mode & 1) {
    const uint32_t seq = mode >> 1;
    netlink::ForEachMessage(buf.get(), len, [&](const struct nlmsghdr *nlh) {
      int error = 0;
      switch (netlink::ClassifyDump(nlh, seq, &error)) {
        case netlink::DumpMessage::kError:
          if (error <= 0) __builtin_trap();
          return false;
        case netlink::DumpMessage::kDone:
          return false;
        case netlink::DumpMessage::kEntry: {
          struct ctscope_record r;
          if (netlink::DecodeConntrack(nlh, CTS_KIND_SEEN, CTS_CAUSE_AT_START, kNetns, kClock, &r)) Check(r, CTS_KIND_SEEN);
          // the statistics' answers (ct_stats.cc): read within their bounds (ASan)
          netlink::DecodeStatsCpu(nlh, [](uint16_t, uint32_t) {});
          // the count and max (IPCTNL_MSG_CT_GET_STATS, the /proc poller's): a count is never negative
          int64_t count = 0, max = 0;
          if (netlink::DecodeStatsGlobal(nlh, &count, &max) && (count < 0 || max < -1)) __builtin_trap();
          return true;
        }
        default:
          return true;
      }
    });
  } else {
    netlink::ForEachMessage(buf.get(), len, [&](const struct nlmsghdr *nlh) {
      uint8_t kind, cause;
      if (!netlink::EventKind(nlh, &kind, &cause)) return true;
      struct ctscope_record r;
      if (netlink::DecodeConntrack(nlh, kind, cause, kNetns, kClock, &r)) Check(r, kind);
      return true;
    });
  }
  return 0;
}
