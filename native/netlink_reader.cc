// SPDX-License-Identifier: GPL-2.0-only
// NetlinkReader (netlink_reader.h): one namespace's sockets, events, dumps
// and resyncs, and the records they become.
#include "netlink_reader.h"

#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <thread>

#include "boot_clock.h"
#include "netlink_decode.h"
#include "netlink_loop.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif
#ifndef NETLINK_NO_ENOBUFS
#define NETLINK_NO_ENOBUFS 5
#endif

namespace ctscope {

namespace {

// With a decoder the loop sleeps this long after a drain instead of
// coalesce_us: its records wait in the ring (1 MiB: 6,500 records, 16 ms at
// 400,000 events/s) and what it costs is its loop, two system calls per turn
// that this paravirtualised VM makes expensive. Measured side by side
// (BENCHMARKS.md, "Per-event cost"): at 100,000 events/s the reader took
// 0.56-0.62 us per record at 4 ms against 0.84-1.08 at 1 ms.
constexpr uint32_t kRingCoalesceUs = 4000;
constexpr uint64_t kResyncMinGapNs = 200ull * 1000 * 1000;
constexpr uint64_t kResyncMaxGapNs = 5000ull * 1000 * 1000;
constexpr uint64_t kPausedRecheckNs = 2ull * 1000 * 1000;  // queue full: look again this soon
constexpr uint64_t kRateWindowNs = 1000ull * 1000 * 1000;
// What one event costs the socket's receive buffer (the skb's truesize: a
// ~200-byte message in a 1 KiB-class allocation), for sizing by rate.
constexpr uint64_t kEventTruesize = 1024;

}  // namespace

NetlinkReader::NetlinkReader(Options opts, std::unique_ptr<BatchChannel> ch,
                             std::shared_ptr<std::atomic<uint64_t>> consumed, uint64_t max_queued)
    : opts_(std::move(opts)), ch_(std::move(ch)),
      batch_records_(opts_.batch_records), consumed_(std::move(consumed)),
      max_queued_(max_queued), resync_gap_(kResyncMinGapNs) {}

std::string NetlinkReader::Start() {
  std::string err;
  // setns is per thread: a short-lived one enters the namespace, opens the
  // sockets and is gone.
  std::thread setup([this, &err] { err = Setup(); });
  setup.join();
  if (!err.empty()) {
    CloseFds();
    return err;
  }
  loop_ = NetlinkLoop::Acquire();
  loop_->Add(this);
  running_ = true;
  return "";
}

void NetlinkReader::AskResync() {
  if (!loop_) return;
  resync_asked_.store(true, std::memory_order_relaxed);
  loop_->Wake();
}

void NetlinkReader::Stop() {
  if (loop_) {
    loop_->Remove(this);
    loop_.reset();  // the last reader's stop ends the loop thread
  }
  // Now, not at GC: our sockets keep their namespace alive.
  CloseFds();
  running_ = false;
  ch_->Release();
}

std::string NetlinkReader::Errno(const char *what, int err) {
  return std::string(what) + ": " + strerror(err);
}

std::string NetlinkReader::last_error() {
  std::lock_guard<std::mutex> g(err_mu_);
  return last_error_;
}

void NetlinkReader::Attach(int epfd) {
  epfd_ = epfd;
  window_start_ns_ = BootNs();
  if (opts_.dump_at_start) StartDump(true);
  Rearm(BootNs());
}

void NetlinkReader::Detach() {
  Watch(ev_fd_, false, &ev_armed_, &ev_watch_);
  Watch(dump_fd_, false, &dump_armed_, &dump_watch_);
  Watch(ring_.epoll_fd(), false, &ring_armed_, &ring_watch_);
  FlushNow();
  std::vector<uint8_t>().swap(dumpbuf_);
  epfd_ = -1;
}

uint32_t NetlinkReader::coalesce_us() const {
  return opts_.coalesce_us > 0 && ring_.epoll_fd() >= 0 ? kRingCoalesceUs : opts_.coalesce_us;
}

unsigned NetlinkReader::Step(uint64_t now, uint8_t *evbuf) {
  unsigned got = 0;
  bool ev = ev_ready_, dump = dump_ready_, ring = ring_ready_;
  ev_ready_ = dump_ready_ = ring_ready_ = false;
  if (resync_asked_.exchange(false)) RequestResync();
  if (ring_.epoll_fd() >= 0) {
    if (Room() && (ev || ring || ring_.diverting())) got = DrainDecoded(ev, evbuf);
  } else if (ev && Room()) {
    got = DrainEvents(evbuf);
  }
  if (dumping_ && Room()) {
    if (dump_off_ < dump_len_) ParseDump();
    else if (dump) ReadDump();
  }
  now = BootNs();
  if (resync_pending_ && !dumping_ && now >= next_resync_ns_) {
    resync_pending_ = false;
    // Back off while resyncs keep losing (a stalled consumer): each dump
    // is a whole table's worth of records.
    uint64_t losses = overruns.load() + queue_losses.load();
    resync_gap_ = losses > losses_at_dump_ + 1 ? std::min(resync_gap_ * 2, kResyncMaxGapNs)
                                               : kResyncMinGapNs;
    losses_at_dump_ = losses;
    next_resync_ns_ = now + resync_gap_;
    if (!StartDump(false)) resync_pending_ = true;
  }
  if (pending_ > 0 && Room() && now >= first_pending_ns_ + (uint64_t)opts_.poll_ms * 1000000ull) FlushNow();
  SizeByRate(now);
  Rearm(now);
  return got;
}

void NetlinkReader::SetError(std::string e) {
  std::lock_guard<std::mutex> g(err_mu_);
  last_error_ = std::move(e);
}

void NetlinkReader::CloseFds() {
  ring_.Close();
  for (int *fd : {&ev_fd_, &dump_fd_}) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
  }
}

std::string NetlinkReader::Setup() {
  int home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (home < 0) return Errno("open /proc/thread-self/ns/net", errno);
  std::string err;
  int target = -1;
  if (!opts_.netns_path.empty()) {
    target = open(opts_.netns_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (target < 0) {
      err = Errno(("open " + opts_.netns_path).c_str(), errno);
    } else if (setns(target, CLONE_NEWNET) < 0) {
      err = Errno(("setns " + opts_.netns_path).c_str(), errno);
    }
  }
  if (err.empty()) {
    struct stat st;
    if (fstat(target >= 0 ? target : home, &st) < 0)
      err = Errno("fstat netns", errno);
    else
      netns_ = (uint32_t)st.st_ino;
  }
  // The decoder's context names the namespace before the decoder is
  // attached (OpenSockets): no record without it.
  if (err.empty() && opts_.decoder_ring_fd >= 0)
    err = ring_.Open(opts_.decoder_ring_fd, opts_.decoder_ctx_fd, netns_,
                     [this](const struct ctscope_record &r) { return OnDecoded(r); });
  if (err.empty()) err = OpenSockets();
  // Back home: the sockets stay in the namespace they were created in.
  if (target >= 0) {
    if (setns(home, CLONE_NEWNET) < 0 && err.empty())
      err = Errno("setns back", errno);
    close(target);
  }
  close(home);
  return err;
}

bool NetlinkReader::SetRcvbuf(int want) {
  if (setsockopt(ev_fd_, SOL_SOCKET, SO_RCVBUFFORCE, &want, sizeof(want)) < 0 &&
      setsockopt(ev_fd_, SOL_SOCKET, SO_RCVBUF, &want, sizeof(want)) < 0)
    return false;
  rcvbuf_set_ = want;
  int got = 0;
  socklen_t sl = sizeof(got);
  getsockopt(ev_fd_, SOL_SOCKET, SO_RCVBUF, &got, &sl);
  rcvbuf_.store(got, std::memory_order_relaxed);
  return true;
}

void NetlinkReader::GrowRcvbuf(uint64_t want) {
  if (want <= (uint64_t)rcvbuf_set_ || rcvbuf_set_ >= opts_.rcvbuf_max) return;
  uint64_t sz = (uint64_t)rcvbuf_set_;
  while (sz < want) sz *= 2;
  if (sz > (uint64_t)opts_.rcvbuf_max) sz = (uint64_t)opts_.rcvbuf_max;
  if (SetRcvbuf((int)sz)) rcvbuf_growths.fetch_add(1, std::memory_order_relaxed);
}

void NetlinkReader::SizeByRate(uint64_t now) {
  if (now - window_start_ns_ < kRateWindowNs) return;
  uint64_t rate = window_events_ * 1000000000ull / (now - window_start_ns_);
  window_events_ = 0;
  window_start_ns_ = now;
  GrowRcvbuf(rate * kEventTruesize * 2);
}

std::string NetlinkReader::OpenSockets() {
  ev_fd_ = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK,
                  NETLINK_NETFILTER);
  if (ev_fd_ < 0) return Errno("socket(NETLINK_NETFILTER)", errno);
  if (!SetRcvbuf(std::min(opts_.rcvbuf, opts_.rcvbuf_max))) return Errno("SO_RCVBUF", errno);
  int off = 0;
  setsockopt(ev_fd_, SOL_NETLINK, NETLINK_NO_ENOBUFS, &off, sizeof(off));
  struct sockaddr_nl sa = {};
  sa.nl_family = AF_NETLINK;
  sa.nl_groups = (1u << (NFNLGRP_CONNTRACK_NEW - 1)) |
                 (1u << (NFNLGRP_CONNTRACK_UPDATE - 1)) |
                 (1u << (NFNLGRP_CONNTRACK_DESTROY - 1));
  if (bind(ev_fd_, (struct sockaddr *)&sa, sizeof(sa)) < 0)
    return Errno("bind ctnetlink groups", errno);
  std::string ferr = AttachFilter();
  if (!ferr.empty()) return ferr;

  dump_fd_ = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK,
                    NETLINK_NETFILTER);
  if (dump_fd_ < 0) return Errno("socket(NETLINK_NETFILTER) for dumps", errno);
  struct sockaddr_nl da = {};
  da.nl_family = AF_NETLINK;
  if (bind(dump_fd_, (struct sockaddr *)&da, sizeof(da)) < 0)
    return Errno("bind dump socket", errno);
  return "";
}

std::string NetlinkReader::AttachFilter() {
  int fd = opts_.decoder_prog_fd >= 0 ? opts_.decoder_prog_fd : opts_.filter_fd;
  if (fd < 0) return "";
  if (setsockopt(ev_fd_, SOL_SOCKET, SO_ATTACH_BPF, &fd, sizeof(fd)) < 0)
    return Errno(opts_.decoder_prog_fd >= 0 ? "SO_ATTACH_BPF (ctnetlink decoder)" : "SO_ATTACH_BPF (ctnetlink filter)", errno);
  return "";
}

bool NetlinkReader::OnDecoded(const struct ctscope_record &r) {
  events.fetch_add(1, std::memory_order_relaxed);
  decoded.fetch_add(1, std::memory_order_relaxed);
  window_events_++;
  if (r.kind == CTS_KIND_DESTROY && dumping_) destroyed_in_dump_.insert(r.id);
  Emit(r);
  return Room();
}

unsigned NetlinkReader::DrainDecoded(bool socket_readable, uint8_t *evbuf) {
  ring_.UpdateClock();
  unsigned got = ring_.Drain();
  if (!Room() || !(socket_readable || ring_.diverting())) return got;
  socket_empty_ = false;
  got += DrainEvents(evbuf);
  if (socket_empty_ && ring_.diverting()) {
    ring_.EndDivert();
    got += DrainEvents(evbuf);
  }
  return got;
}

void NetlinkReader::Watch(int fd, bool want, bool *armed, EpollWatch *w) {
  if (fd < 0 || epfd_ < 0 || want == *armed) return;
  struct epoll_event e = {};
  e.events = EPOLLIN;
  e.data.ptr = w;
  if (epoll_ctl(epfd_, want ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, fd, &e) == 0) *armed = want;
  else SetError(Errno("epoll_ctl", errno));
}

void NetlinkReader::Rearm(uint64_t now) {
  bool room = Room();
  bool dump_left = dump_off_ < dump_len_;
  Watch(ev_fd_, room, &ev_armed_, &ev_watch_);
  Watch(dump_fd_, room && dumping_ && !dump_left, &dump_armed_, &dump_watch_);
  Watch(ring_.epoll_fd(), room, &ring_armed_, &ring_watch_);
  uint64_t due = UINT64_MAX;
  if (pending_ > 0) due = first_pending_ns_ + (uint64_t)opts_.poll_ms * 1000000ull;
  // a divert ends only when the socket has been read empty
  if (room && ring_.diverting()) due = std::min<uint64_t>(due, now + (uint64_t)coalesce_us() * 1000ull);
  if (resync_pending_ && !dumping_) due = std::min(due, next_resync_ns_);
  if (room && dumping_ && dump_left) due = now;
  // Queue full: only look again shortly.
  if (!room) due = std::min(due, now + kPausedRecheckNs);
  due_ns_ = due;
}

void NetlinkReader::Put(const struct ctscope_record &r) {
  uint64_t before = ch_->delivered();
  ch_->Append(&r);
  if (pending_ == 0) first_pending_ns_ = BootNs();
  if (++pending_ >= batch_records_) {
    pending_ = 0;  // Append flushed
    if (ch_->delivered() != before) sent_batches_++;
  }
}

void NetlinkReader::Emit(const struct ctscope_record &r) {
  Put(r);
  if (pending_ == 0) CheckQueueLoss();
}

void NetlinkReader::FlushNow() {
  if (pending_ == 0) return;
  uint64_t before = ch_->delivered();
  ch_->Flush();
  if (ch_->delivered() != before) sent_batches_++;
  pending_ = 0;
  CheckQueueLoss();
}

bool NetlinkReader::Room() const {
  return sent_batches_ - consumed_->load(std::memory_order_acquire) < max_queued_;
}

void NetlinkReader::CheckQueueLoss() {
  uint64_t d = ch_->dropped();
  if (d == seen_dropped_) return;
  uint64_t lost = d - seen_dropped_;
  seen_dropped_ = d;
  queue_losses.fetch_add(1, std::memory_order_relaxed);
  struct ctscope_record r = Base(CTS_KIND_LOSS, BootNs());
  r.aux = lost > UINT32_MAX ? UINT32_MAX : (uint32_t)lost;
  Put(r);
  RequestResync();
}

struct ctscope_record NetlinkReader::Base(uint8_t kind, uint64_t ts) const {
  return netlink::BaseRecord(kind, netns_, ts);
}

unsigned NetlinkReader::DrainEvents(uint8_t *evbuf) {
  unsigned got = 0;
  struct mmsghdr msgs[kEventVecLen];
  struct iovec iov[kEventVecLen];
  for (int round = 0; round < 64 && Room(); round++) {
    memset(msgs, 0, sizeof(msgs));
    for (unsigned i = 0; i < kEventVecLen; i++) {
      iov[i].iov_base = evbuf + i * kEventBufSize;
      iov[i].iov_len = kEventBufSize;
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    // At most one batch completes per round, so Room() checked per round
    // is enough to never overfill the queue.
    unsigned vlen = std::min<unsigned>(kEventVecLen, batch_records_ - pending_);
    int n = recvmmsg(ev_fd_, msgs, vlen, MSG_DONTWAIT, nullptr);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        socket_empty_ = true;
        return got;
      }
      if (errno == EINTR) continue;
      if (errno == ENOBUFS) {
        OnOverrun();
        continue;
      }
      recv_errors.fetch_add(1, std::memory_order_relaxed);
      SetError(Errno("recv events", errno));
      return got;
    }
    got += (unsigned)n;
    uint64_t now = BootNs();
    int64_t off = (int64_t)ClockNs(CLOCK_REALTIME) - (int64_t)now;
    for (int i = 0; i < n; i++) {
      if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) {
        parse_errors.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      HandleEvents(evbuf + i * kEventBufSize, msgs[i].msg_len, now, off);
    }
    if ((unsigned)n < vlen) return got;
  }
  return got;
}

void NetlinkReader::HandleEvents(const uint8_t *buf, size_t len, uint64_t now, int64_t off) {
  netlink::ForEachMessage(buf, len, [&](const struct nlmsghdr *nlh) {
    uint8_t kind, cause;
    if (!netlink::EventKind(nlh, &kind, &cause)) return true;
    events.fetch_add(1, std::memory_order_relaxed);
    window_events_++;
    struct ctscope_record r;
    if (!netlink::DecodeConntrack(nlh, kind, cause, netns_, {now, off}, &r)) {
      parse_errors.fetch_add(1, std::memory_order_relaxed);
      return true;
    }
    // Without the kernel's own start time, receipt stands in (flag unset).
    if (kind == CTS_KIND_ALLOC && !(r.flags & CTS_F_HAS_START)) r.start_ns = r.ts_ns;
    if (kind == CTS_KIND_DESTROY && dumping_) destroyed_in_dump_.insert(r.id);
    Emit(r);
    return true;
  });
}

void NetlinkReader::OnOverrun() {
  overruns.fetch_add(1, std::memory_order_relaxed);
  // The buffer was too small for this namespace: four times as much.
  GrowRcvbuf((uint64_t)rcvbuf_set_ * 4);
  // Netlink does not say how many events were dropped: aux = 1 means "at
  // least one"; the resync that follows finds out what changed.
  struct ctscope_record r = Base(CTS_KIND_LOSS, BootNs());
  r.aux = 1;
  Emit(r);
  RequestResync();
}

}  // namespace ctscope
