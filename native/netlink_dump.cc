// SPDX-License-Identifier: GPL-2.0-only
// NetlinkReader's dumps (netlink_reader.h): the table listed at start and
// after every loss, on the dump socket, while events keep being read from the
// other one, and the SYNC record that closes what vanished meanwhile.
//
// Dump and events interleave: before each dump chunk is read the event
// socket is drained. The kernel builds the next chunk when the previous one
// is read, so a chunk can still list an entry whose DESTROY we processed just
// before it: ids destroyed while a dump runs are not reported as SEEN, or the
// entry would come back to life until the next resync.
#include <errno.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <time.h>

#include <climits>
#include <cstring>

#include "boot_clock.h"
#include "netlink_decode.h"
#include "netlink_reader.h"
#include "netlink_request.h"

namespace ctscope {

namespace {

constexpr size_t kDumpBufSize = 65536;  // netlink dumps fill up to 32 KiB per read

}  // namespace

void NetlinkReader::RequestResync() {
  resync_pending_ = true;
  // A loss while a dump runs may have hidden a change in a part of the
  // table that dump already passed: it needs another one after it.
}

bool NetlinkReader::StartDump(bool at_start) {
  dump_begin_ns_ = BootNs();
  int err = netlink::SendDumpRequest(dump_fd_, IPCTNL_MSG_CT_GET, ++dump_seq_);
  if (err) {
    recv_errors.fetch_add(1, std::memory_order_relaxed);
    SetError(Errno("send dump request", err));
    return false;
  }
  dumping_ = true;
  destroyed_in_dump_.clear();
  dump_at_start_ = at_start;
  dump_entries_ = 0;
  // Only while a dump runs: an idle namespace keeps no dump buffer.
  dumpbuf_.resize(kDumpBufSize);
  if (!at_start) resyncs.fetch_add(1, std::memory_order_relaxed);
  resync_active = !at_start;
  return true;
}

void NetlinkReader::ReadDump() {
  ssize_t n = recv(dump_fd_, dumpbuf_.data(), dumpbuf_.size(), MSG_DONTWAIT);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
    // ENOBUFS here would be a dump that outgrew the socket: start over.
    recv_errors.fetch_add(1, std::memory_order_relaxed);
    SetError(Errno("recv dump", errno));
    EndDump(false);
    return;
  }
  dump_off_ = 0;
  dump_len_ = (size_t)n;
  ParseDump();
}

void NetlinkReader::ParseDump() {
  uint64_t now = BootNs();
  int64_t off = (int64_t)ClockNs(CLOCK_REALTIME) - (int64_t)now;
  uint8_t cause = dump_at_start_ ? CTS_CAUSE_AT_START : CTS_CAUSE_AT_RESYNC;
  enum { kGoOn, kPaused, kDone, kFailed } end = kGoOn;
  int error = 0;
  size_t at = netlink::ForEachMessage(dumpbuf_.data() + dump_off_, dump_len_ - dump_off_, [&](const struct nlmsghdr *nlh) {
    if (!Room()) {
      end = kPaused;
      return false;
    }
    switch (netlink::ClassifyDump(nlh, dump_seq_, &error)) {
      case netlink::DumpMessage::kStale:  // an abandoned dump's
        return true;
      case netlink::DumpMessage::kOther:
        if (nlh->nlmsg_flags & NLM_F_DUMP_INTR) dump_intr_ = true;
        return true;
      case netlink::DumpMessage::kDone:
        end = kDone;
        return false;
      case netlink::DumpMessage::kError:
        end = kFailed;
        return false;
      case netlink::DumpMessage::kEntry:
        break;
    }
    if (nlh->nlmsg_flags & NLM_F_DUMP_INTR) dump_intr_ = true;
    struct ctscope_record r;
    if (!netlink::DecodeConntrack(nlh, CTS_KIND_SEEN, cause, netns_, {now, off}, &r)) {
      parse_errors.fetch_add(1, std::memory_order_relaxed);
      return true;
    }
    if (destroyed_in_dump_.count(r.id)) return true;
    dump_entries_++;
    Emit(r);
    return true;
  });
  if (end == kPaused) {
    dump_off_ += at;  // the rest waits until the queue has room
    return;
  }
  dump_off_ = dump_len_ = 0;
  if (end == kDone) EndDump(true);
  if (end == kFailed) {
    recv_errors.fetch_add(1, std::memory_order_relaxed);
    SetError(Errno("dump", error));
    EndDump(false);
  }
}

void NetlinkReader::EndDump(bool complete) {
  dumping_ = false;
  destroyed_in_dump_.clear();
  std::vector<uint8_t>().swap(dumpbuf_);
  resync_active = false;
  if (!complete || dump_intr_) {
    dump_intr_ = false;
    RequestResync();
    return;
  }
  dumps.fetch_add(1, std::memory_order_relaxed);
  last_dump_entries.store(dump_entries_, std::memory_order_relaxed);
  // See CTS_KIND_SYNC: entries of this netns not seen since start_ns are
  // gone. Both at start (a previous reader's leftovers) and after a loss
  // (their DESTROY was among the lost events) that is "destroy lost".
  struct ctscope_record r = Base(CTS_KIND_SYNC, BootNs());
  r.start_ns = dump_begin_ns_;
  r.cause = CTS_CAUSE_DESTROY_LOST;
  r.aux = dump_entries_ > UINT32_MAX ? UINT32_MAX : (uint32_t)dump_entries_;
  Emit(r);
  FlushNow();
}

}  // namespace ctscope
