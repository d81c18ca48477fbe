// SPDX-License-Identifier: GPL-2.0-only
// NetlinkSource: conntrack lifecycles from ctnetlink events, for kernels that
// refuse function hooks (this machine: fentry EPERM, no kprobes).
//
// One reader per network namespace, all served by one thread (NetlinkLoop,
// epoll): a dense node follows hundreds of namespaces, and a thread, a stop
// descriptor and 320 KiB of buffers each were most of what a namespace cost
// (BENCHMARKS.md, "Dense nodes"). A short-lived thread enters the namespace
// (setns), creates the reader's two sockets there and goes back: a netlink
// socket belongs to the namespace it was created in, whatever the thread
// does later.
//   - the event socket joins NEW, UPDATE and DESTROY, with NETLINK_NO_ENOBUFS
//     off so an overrun reaches us as ENOBUFS instead of vanishing. Its
//     receive buffer (SO_RCVBUFFORCE) starts at what the caller asks (the
//     source gives ctscope's own namespace 128 MiB — measured here: the
//     default 212,992 bytes overran at 20k flows/s, 128 MiB lost nothing at
//     ~180k events/s — and the others 4 MiB) and grows with the namespace's
//     own event rate (a second's worth, twice over) and ×4 on every overrun,
//     up to the caller's maximum. The buffer is an allowance, not memory: the
//     kernel charges only what waits in it;
//   - the dump socket (no groups) lists the table at start and after every
//     loss, while events keep being read from the other socket.
// Every message becomes a struct ctscope_record (bpf/ctscope_record.h), the
// same record the eBPF sources write, handed to JS through BatchChannel.
//
// With a decoder (bpf/netlink_decode.bpf.c, NetlinkDecoder) on the event
// socket, events arrive as finished records in the decoder's ring instead
// of datagrams, and the reader copies them (decoded_ring.h); the socket
// carries only what the decoder diverted, read after the ring. The ring's
// epoll descriptor joins the loop's set like a socket.
//
// Raw netlink rather than libmnl/libnetfilter_conntrack: the protocol part is
// a handful of nested attributes we bounds-check ourselves (netlink_decode.cc,
// fuzzed), we need recvmmsg (one syscall per 32 events at 100k events/s) and
// socket options that those libraries wrap without adding anything, and the
// addon links one library fewer (binding.gyp unchanged).
//
// Dump and events interleave: before each dump chunk is read the event
// socket is drained. The kernel builds the next chunk when the previous one
// is read, so a chunk can still list an entry whose DESTROY we processed just
// before it: ids destroyed while a dump runs are not reported as SEEN, or the
// entry would come back to life until the next resync.
#include <napi.h>

#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "batch_channel.h"
#include "decoded_ring.h"
#include "ctscope_record.h"
#include "exports.h"
#include "netlink_decode.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif
#ifndef NETLINK_NO_ENOBUFS
#define NETLINK_NO_ENOBUFS 5
#endif

namespace ctscope {

namespace {

constexpr size_t kEventBufSize = 8192;   // one ctnetlink event is < 1 KiB
constexpr unsigned kEventVecLen = 32;    // datagrams per recvmmsg
constexpr size_t kDumpBufSize = 65536;   // netlink dumps fill up to 32 KiB per read
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

uint64_t ClockNs(clockid_t c) {
  struct timespec ts;
  clock_gettime(c, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
uint64_t BootNs() { return ClockNs(CLOCK_BOOTTIME); }

std::string Errno(const char *what, int err) {
  return std::string(what) + ": " + strerror(err);
}

}  // namespace

class NetlinkLoop;

// One followed namespace: its sockets, its dump and resync state, its queue
// to JavaScript. Owned by NetlinkSourceWrap (the JS thread starts and stops
// it); between Start() and Stop() only the loop thread touches its sockets and
// buffers (Step, Attach, Detach), and JS reads only the atomics.
class NetlinkReader {
 public:
  struct Options {
    std::string netns_path;  // empty: the namespace the process runs in
    int rcvbuf = 4 << 20;        // receive buffer at start
    int rcvbuf_max = 128 << 20;  // ... and as far as it may grow
    uint32_t poll_ms = 20;
    uint32_t coalesce_us = 1000;
    uint32_t batch_records = 1024;
    bool dump_at_start = true;
    int filter_fd = -1;  // a BPF socket filter for the event socket (NetlinkFilter.fd())
    // A decoder instead (NetlinkDecoder.fds()): its program, ring and context.
    int decoder_prog_fd = -1, decoder_ring_fd = -1, decoder_ctx_fd = -1;
  };

  // consumed: batches JS has taken (counted by the relay in front of onBatch).
  NetlinkReader(Options opts, std::unique_ptr<BatchChannel> ch,
                std::shared_ptr<std::atomic<uint64_t>> consumed, uint64_t max_queued)
      : opts_(std::move(opts)), ch_(std::move(ch)),
        batch_records_(opts_.batch_records), consumed_(std::move(consumed)),
        max_queued_(max_queued) {}

  ~NetlinkReader() { Stop(); }

  // Opens the sockets inside the namespace (from a short-lived thread: setns
  // is per thread) and hands the reader to the loop, so a bad namespace path
  // fails start() synchronously.
  std::string Start();

  // After it returns the loop no longer touches this reader: its sockets are
  // closed (they keep the namespace alive), what was pending flushed.
  void Stop();

  // From JS: list the table again (after sampling ends, to follow the
  // entries that were refused while it lasted). The loop thread does it.
  void AskResync();

  BatchChannel *channel() { return ch_.get(); }
  uint32_t netns() const { return netns_; }
  int rcvbuf() const { return rcvbuf_.load(std::memory_order_relaxed); }
  bool running() const { return running_; }

  std::atomic<uint64_t> overruns{0}, resyncs{0}, dumps{0}, events{0}, decoded{0},
      parse_errors{0}, recv_errors{0}, last_dump_entries{0}, queue_losses{0},
      rcvbuf_growths{0};
  // A resync runs (active) or waits for its turn (pending: backoff).
  std::atomic<bool> resync_active{false}, resync_pending_{false};
  // JS asked for a resync (AskResync); the loop thread takes it.
  std::atomic<bool> resync_asked_{false};

  std::string last_error() {
    std::lock_guard<std::mutex> g(err_mu_);
    return last_error_;
  }

  // ---- called on the loop thread only ----

  // Joins the loop's epoll set and starts the dump at start.
  void Attach(int epfd) {
    epfd_ = epfd;
    window_start_ns_ = BootNs();
    if (opts_.dump_at_start) StartDump(true);
    Rearm(BootNs());
  }

  // Leaves the epoll set; flushes what is pending.
  void Detach() {
    Watch(ev_fd_, false, &ev_armed_, &ev_watch_);
    Watch(dump_fd_, false, &dump_armed_, &dump_watch_);
    Watch(ring_.epoll_fd(), false, &ring_armed_, &ring_watch_);
    FlushNow();
    std::vector<uint8_t>().swap(dumpbuf_);
    epfd_ = -1;
  }

  // epoll said a socket (or the decoder's ring) is ready.
  void MarkReady(int what) { (what == kDumpSocket ? dump_ready_ : what == kRing ? ring_ready_ : ev_ready_) = true; }
  bool Ready() const { return ev_ready_ || dump_ready_ || ring_ready_; }
  // When the reader next has something to do without a socket event.
  uint64_t due() const { return resync_asked_.load(std::memory_order_relaxed) ? 0 : due_ns_; }
  bool dumping() const { return dumping_; }
  uint32_t coalesce_us() const {
    return opts_.coalesce_us > 0 && ring_.epoll_fd() >= 0 ? kRingCoalesceUs : opts_.coalesce_us;
  }

  // One turn: read what is ready (events into the loop's shared buffer),
  // go on with a dump, start a due resync, flush a batch that waited long
  // enough. Returns the datagrams read from the event socket.
  unsigned Step(uint64_t now, uint8_t *evbuf) {
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

  // What an epoll event's data points at: a reader's socket or ring.
  enum { kEventSocket, kDumpSocket, kRing };
  struct EpollWatch {
    NetlinkReader *reader;
    int what;
  };

 private:
  void SetError(std::string e) {
    std::lock_guard<std::mutex> g(err_mu_);
    last_error_ = std::move(e);
  }

  void CloseFds() {
    ring_.Close();
    for (int *fd : {&ev_fd_, &dump_fd_}) {
      if (*fd >= 0) close(*fd);
      *fd = -1;
    }
  }

  std::string Setup() {
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

  // The event socket's receive buffer: `want` bytes if it is more than now
  // and the maximum allows (FORCE ignores net.core.rmem_max, with
  // CAP_NET_ADMIN; without it the capped option still helps).
  bool SetRcvbuf(int want) {
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

  void GrowRcvbuf(uint64_t want) {
    if (want <= (uint64_t)rcvbuf_set_ || rcvbuf_set_ >= opts_.rcvbuf_max) return;
    uint64_t sz = (uint64_t)rcvbuf_set_;
    while (sz < want) sz *= 2;
    if (sz > (uint64_t)opts_.rcvbuf_max) sz = (uint64_t)opts_.rcvbuf_max;
    if (SetRcvbuf((int)sz)) rcvbuf_growths.fetch_add(1, std::memory_order_relaxed);
  }

  // A second's worth of this namespace's events, twice over.
  void SizeByRate(uint64_t now) {
    if (now - window_start_ns_ < kRateWindowNs) return;
    uint64_t rate = window_events_ * 1000000000ull / (now - window_start_ns_);
    window_events_ = 0;
    window_start_ns_ = now;
    GrowRcvbuf(rate * kEventTruesize * 2);
  }

  std::string OpenSockets() {
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

  // The filter runs before an event is queued to the socket: what it refuses
  // (sampled out under a CPU budget, UPDATEs nobody needs) costs no receive.
  std::string AttachFilter() {
    int fd = opts_.decoder_prog_fd >= 0 ? opts_.decoder_prog_fd : opts_.filter_fd;
    if (fd < 0) return "";
    if (setsockopt(ev_fd_, SOL_SOCKET, SO_ATTACH_BPF, &fd, sizeof(fd)) < 0)
      return Errno(opts_.decoder_prog_fd >= 0 ? "SO_ATTACH_BPF (ctnetlink decoder)" : "SO_ATTACH_BPF (ctnetlink filter)", errno);
    return "";
  }

  // A record from the decoder: what HandleEvents does with a parsed one.
  // false (stop draining) once the JS queue is full.
  bool OnDecoded(const struct ctscope_record &r) {
    events.fetch_add(1, std::memory_order_relaxed);
    decoded.fetch_add(1, std::memory_order_relaxed);
    window_events_++;
    if (r.kind == CTS_KIND_DESTROY && dumping_) destroyed_in_dump_.insert(r.id);
    Emit(r);
    return Room();
  }

  // The decoder's ring, then the socket (diverted events, newer than any
  // record in the ring); the divert ends once the socket is empty, and what
  // reached the socket meanwhile is read at once (older than the next ring
  // record). Returns the events read.
  unsigned DrainDecoded(bool socket_readable, uint8_t *evbuf) {
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

  // ---- epoll interest ----

  // In the loop's set or not (not a zero mask: an error on the socket would
  // still wake the loop while it must not read).
  void Watch(int fd, bool want, bool *armed, EpollWatch *w) {
    if (fd < 0 || epfd_ < 0 || want == *armed) return;
    struct epoll_event e = {};
    e.events = EPOLLIN;
    e.data.ptr = w;
    if (epoll_ctl(epfd_, want ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, fd, &e) == 0) *armed = want;
    else SetError(Errno("epoll_ctl", errno));
  }

  // Watch the event socket while the queue to JS has room, the dump socket
  // while a dump waits for its next chunk; and say when to come back without
  // a socket event.
  void Rearm(uint64_t now) {
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

  // ---- record output ----

  // Appends; counts the batch if Append flushed one into the queue.
  void Put(const struct ctscope_record &r) {
    uint64_t before = ch_->delivered();
    ch_->Append(&r);
    if (pending_ == 0) first_pending_ns_ = BootNs();
    if (++pending_ >= batch_records_) {
      pending_ = 0;  // Append flushed
      if (ch_->delivered() != before) sent_batches_++;
    }
  }

  void Emit(const struct ctscope_record &r) {
    Put(r);
    if (pending_ == 0) CheckQueueLoss();
  }

  void FlushNow() {
    if (pending_ == 0) return;
    uint64_t before = ch_->delivered();
    ch_->Flush();
    if (ch_->delivered() != before) sent_batches_++;
    pending_ = 0;
    CheckQueueLoss();
  }

  // Batches handed to the queue that JS has not taken yet. The reader stops
  // reading while the queue is full: events wait in the socket buffer (if
  // that fills, the kernel says ENOBUFS and we resync) and a dump waits in
  // the kernel, where it costs nothing. Refusing records instead would turn
  // every JS hiccup into a loss, and a resync dump would refuse its own
  // records in a loop.
  // The relay counts a batch when its call starts, so in flight = queued,
  // which the channel caps at max_queued_; each step between two checks
  // completes at most one batch.
  bool Room() const {
    return sent_batches_ - consumed_->load(std::memory_order_acquire) < max_queued_;
  }

  // Records refused by a full JS queue are lost to the model just like an
  // overrun: report them and rebuild the table from a dump.
  void CheckQueueLoss() {
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

  struct ctscope_record Base(uint8_t kind, uint64_t ts) const {
    return netlink::BaseRecord(kind, netns_, ts);
  }

  // ---- events ----

  // Returns how many datagrams it read.
  unsigned DrainEvents(uint8_t *evbuf) {
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

  void HandleEvents(const uint8_t *buf, size_t len, uint64_t now, int64_t off) {
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

  void OnOverrun() {
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

  // ---- dumps ----

  void RequestResync() {
    resync_pending_ = true;
    // A loss while a dump runs may have hidden a change in a part of the
    // table that dump already passed: it needs another one after it.
  }

  bool StartDump(bool at_start) {
    struct {
      struct nlmsghdr nlh;
      struct nfgenmsg nfg;
    } req;
    memset(&req, 0, sizeof(req));
    req.nlh.nlmsg_len = sizeof(req);
    req.nlh.nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET;
    req.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    req.nlh.nlmsg_seq = ++dump_seq_;
    req.nfg.nfgen_family = AF_UNSPEC;  // every family
    req.nfg.version = NFNETLINK_V0;
    struct sockaddr_nl kern = {};
    kern.nl_family = AF_NETLINK;
    dump_begin_ns_ = BootNs();
    if (sendto(dump_fd_, &req, sizeof(req), 0, (struct sockaddr *)&kern,
               sizeof(kern)) < 0) {
      recv_errors.fetch_add(1, std::memory_order_relaxed);
      SetError(Errno("send dump request", errno));
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

  void ReadDump() {
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

  // Parses what is left of the last dump chunk, stopping while the queue is
  // full (see Room()); the rest waits in dumpbuf_.
  void ParseDump() {
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

  void EndDump(bool complete) {
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

  Options opts_;
  std::unique_ptr<BatchChannel> ch_;
  uint32_t batch_records_;
  std::shared_ptr<std::atomic<uint64_t>> consumed_;
  uint64_t max_queued_;
  std::shared_ptr<NetlinkLoop> loop_;
  bool running_ = false;
  int ev_fd_ = -1, dump_fd_ = -1;
  uint32_t netns_ = 0;
  std::atomic<int> rcvbuf_{0};  // as the kernel reports it (twice what was set)
  int rcvbuf_set_ = 0;
  // loop thread from here on
  int epfd_ = -1;
  EpollWatch ev_watch_{this, kEventSocket}, dump_watch_{this, kDumpSocket}, ring_watch_{this, kRing};
  bool ev_armed_ = false, dump_armed_ = false, ring_armed_ = false;
  bool ev_ready_ = false, dump_ready_ = false, ring_ready_ = false;
  uint64_t due_ns_ = UINT64_MAX;
  uint64_t sent_batches_ = 0;
  size_t dump_off_ = 0, dump_len_ = 0;
  std::vector<uint8_t> dumpbuf_;
  uint32_t pending_ = 0;
  uint64_t first_pending_ns_ = 0;
  uint64_t seen_dropped_ = 0;
  bool dumping_ = false, dump_at_start_ = false, dump_intr_ = false;
  uint32_t dump_seq_ = 0;
  uint64_t dump_begin_ns_ = 0, dump_entries_ = 0;
  uint64_t next_resync_ns_ = 0, resync_gap_ = kResyncMinGapNs, losses_at_dump_ = 0;
  uint64_t window_start_ns_ = 0, window_events_ = 0;
  std::unordered_set<uint64_t> destroyed_in_dump_;
  DecodedRing ring_;
  bool socket_empty_ = false;
  std::mutex err_mu_;
  std::string last_error_;
};

// The one thread that serves every reader: epoll over their sockets, each
// reader's own timers (a batch that waited long enough, a resync's turn, a
// full queue to look at again) folded into one timeout. Shared by every
// reader of the process, started with the first and stopped with the last.
// Readers come and go through commands the JS thread waits for, so Stop()
// returning means the loop is done with that reader.
class NetlinkLoop {
 public:
  static std::shared_ptr<NetlinkLoop> Acquire() {
    static std::mutex mu;
    static std::weak_ptr<NetlinkLoop> shared;
    std::lock_guard<std::mutex> g(mu);
    std::shared_ptr<NetlinkLoop> loop = shared.lock();
    if (!loop) {
      loop = std::shared_ptr<NetlinkLoop>(new NetlinkLoop());
      shared = loop;
    }
    return loop;
  }

  ~NetlinkLoop() {
    {
      std::lock_guard<std::mutex> g(mu_);
      stop_ = true;
    }
    Wake();
    if (thread_.joinable()) thread_.join();
    close(epfd_);
    close(wake_fd_);
  }

  // Both wait until the loop thread has done it.
  void Add(NetlinkReader *r) { Submit({r, true}); }
  void Remove(NetlinkReader *r) { Submit({r, false}); }

  // Another turn now (a reader has something to do that no socket says).
  void Wake() {
    uint64_t one = 1;
    ssize_t w = write(wake_fd_, &one, sizeof(one));
    (void)w;
  }

 private:
  struct Command {
    NetlinkReader *reader;
    bool add;
  };

  NetlinkLoop() {
    epfd_ = epoll_create1(EPOLL_CLOEXEC);
    wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    struct epoll_event e = {};
    e.events = EPOLLIN;
    e.data.ptr = nullptr;  // the wake-up descriptor
    epoll_ctl(epfd_, EPOLL_CTL_ADD, wake_fd_, &e);
    thread_ = std::thread([this] { Run(); });
  }

  void Submit(Command c) {
    std::unique_lock<std::mutex> l(mu_);
    uint64_t mine = ++submitted_;
    commands_.push_back(c);
    l.unlock();
    Wake();
    l.lock();
    done_.wait(l, [&] { return applied_ >= mine; });
  }

  // Returns false when the loop must end.
  bool ApplyCommands() {
    std::vector<Command> cmds;
    bool stop;
    {
      std::lock_guard<std::mutex> g(mu_);
      cmds.swap(commands_);
      stop = stop_;
    }
    bool removed = false;
    for (const Command &c : cmds) {
      if (c.add) {
        readers_.push_back(c.reader);
        c.reader->Attach(epfd_);
      } else {
        auto it = std::find(readers_.begin(), readers_.end(), c.reader);
        if (it != readers_.end()) {
          c.reader->Detach();
          readers_.erase(it);
          removed = true;
        }
      }
    }
    {
      std::lock_guard<std::mutex> g(mu_);
      applied_ += cmds.size();
    }
    done_.notify_all();
    // A namespace gone: give its buffers back to the system, not just to
    // malloc (memory that stays after namespaces went was issue 17's).
    if (removed) malloc_trim(0);
    return !stop;
  }

  void Run() {
    // Named so that per-thread CPU (top -H, /proc/PID/task) tells the
    // reader apart from the JavaScript thread (bench/node-cost.mjs).
    pthread_setname_np(pthread_self(), "cts-netlink");
    // One event buffer for every reader: they are served one at a time.
    std::vector<uint8_t> evbuf(kEventBufSize * kEventVecLen);
    std::vector<struct epoll_event> ready(256);
    while (ApplyCommands()) {
      uint64_t now = BootNs();
      uint64_t due = UINT64_MAX;
      for (NetlinkReader *r : readers_) due = std::min(due, r->due());
      int timeout = due == UINT64_MAX ? -1 : due <= now ? 0 : (int)std::min<uint64_t>((due - now + 999999) / 1000000, INT_MAX);
      int n = epoll_wait(epfd_, ready.data(), (int)ready.size(), timeout);
      if (n < 0) {
        if (errno != EINTR) usleep(10000);
        continue;
      }
      for (int i = 0; i < n; i++) {
        auto *w = static_cast<NetlinkReader::EpollWatch *>(ready[i].data.ptr);
        if (!w) {
          uint64_t v;
          ssize_t rd = read(wake_fd_, &v, sizeof(v));
          (void)rd;
          continue;
        }
        w->reader->MarkReady(w->what);
      }
      now = BootNs();
      uint32_t pause_us = 0;
      for (NetlinkReader *r : readers_) {
        if (!r->Ready() && r->due() > now) continue;
        unsigned got = r->Step(now, evbuf.data());
        // Under load, waking per event costs more than the events (an
        // epoll_wait and a recvmmsg returning one datagram each): let the
        // sockets gather for a moment, as the ring-buffer readers drain on a
        // timer. The buffers hold far more than one pause's worth.
        if (got > 0 && !r->dumping()) pause_us = std::max(pause_us, r->coalesce_us());
      }
      if (pause_us > 0) usleep(pause_us);
    }
    // Stopping: the last reader was removed before the last reference went.
  }

  int epfd_ = -1, wake_fd_ = -1;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable done_;
  std::vector<Command> commands_;
  uint64_t submitted_ = 0, applied_ = 0;
  bool stop_ = false;
  std::vector<NetlinkReader *> readers_;  // loop thread only
};

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

// ---- the JS object ----

struct BatchRelay {
  Napi::FunctionReference target;
  std::shared_ptr<std::atomic<uint64_t>> consumed;
};

static Napi::Value Relay(const Napi::CallbackInfo &info) {
  auto *r = static_cast<BatchRelay *>(info.Data());
  // Counted first: the batch has left the queue even if the consumer throws.
  r->consumed->fetch_add(1, std::memory_order_release);
  return r->target.Call({info[0], info[1]});
}

class NetlinkSourceWrap : public Napi::ObjectWrap<NetlinkSourceWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NetlinkSource",
                       {InstanceMethod("start", &NetlinkSourceWrap::Start),
                        InstanceMethod("stop", &NetlinkSourceWrap::Stop),
                        InstanceMethod("resync", &NetlinkSourceWrap::Resync),
                        InstanceMethod("stats", &NetlinkSourceWrap::Stats)});
  }

  explicit NetlinkSourceWrap(const Napi::CallbackInfo &info)
      : Napi::ObjectWrap<NetlinkSourceWrap>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsObject())
      throw Napi::TypeError::New(env, "NetlinkSource(options): options object required");
    Napi::Object o = info[0].As<Napi::Object>();
    Napi::Value cb = o.Get("onBatch");
    if (!cb.IsFunction())
      throw Napi::TypeError::New(env, "NetlinkSource: onBatch must be a function");
    NetlinkReader::Options opts;
    Napi::Value p = o.Get("netnsPath");
    if (p.IsString()) opts.netns_path = p.As<Napi::String>().Utf8Value();
    else if (!p.IsUndefined() && !p.IsNull())
      throw Napi::TypeError::New(env, "NetlinkSource: netnsPath must be a string");
    auto num = [&](const char *k, double def, double lo, double hi) {
      Napi::Value v = o.Get(k);
      if (v.IsUndefined()) return def;
      if (!v.IsNumber()) throw Napi::TypeError::New(env, std::string("NetlinkSource: ") + k + " must be a number");
      double d = v.As<Napi::Number>().DoubleValue();
      if (!(d >= lo && d <= hi))
        throw Napi::TypeError::New(env, std::string("NetlinkSource: ") + k + " out of range");
      return d;
    };
    opts.rcvbuf = (int)num("rcvbufBytes", 4 << 20, 4096, 2147483647.0 / 2);
    opts.rcvbuf_max = (int)num("rcvbufMaxBytes", 128 << 20, 4096, 2147483647.0 / 2);
    opts.poll_ms = (uint32_t)num("pollMs", 20, 1, 10000);
    opts.coalesce_us = (uint32_t)num("coalesceUs", 1000, 0, 100000);
    opts.batch_records = (uint32_t)num("batchRecords", 1024, 1, 1 << 20);
    size_t queued = (size_t)num("maxQueuedBatches", 256, 1, 1 << 20);
    Napi::Value ffd = o.Get("filterFd");
    if (!ffd.IsUndefined()) {
      if (!ffd.IsNumber()) throw Napi::TypeError::New(env, "NetlinkSource: filterFd must be a number");
      opts.filter_fd = ffd.As<Napi::Number>().Int32Value();
    }
    Napi::Value dec = o.Get("decoder");
    if (!dec.IsUndefined()) {
      if (!dec.IsObject()) throw Napi::TypeError::New(env, "NetlinkSource: decoder must be NetlinkDecoder.fds()");
      Napi::Object f = dec.As<Napi::Object>();
      for (const char *k : {"prog", "ring", "ctx"})
        if (!f.Get(k).IsNumber()) throw Napi::TypeError::New(env, std::string("NetlinkSource: decoder.") + k + " must be a number");
      opts.decoder_prog_fd = f.Get("prog").As<Napi::Number>().Int32Value();
      opts.decoder_ring_fd = f.Get("ring").As<Napi::Number>().Int32Value();
      opts.decoder_ctx_fd = f.Get("ctx").As<Napi::Number>().Int32Value();
    }
    Napi::Value d = o.Get("dumpAtStart");
    opts.dump_at_start = d.IsUndefined() ? true : d.ToBoolean().Value();
    // The channel calls a relay that counts the batch as taken, then the
    // consumer: the reader's flow control (Room()) needs to know.
    auto consumed = std::make_shared<std::atomic<uint64_t>>(0);
    auto *relay = new BatchRelay{Napi::Persistent(cb.As<Napi::Function>()), consumed};
    Napi::Function relay_fn = Napi::Function::New(env, Relay, "onBatch", relay);
    relay_fn.AddFinalizer([](Napi::Env, BatchRelay *r) { delete r; }, relay);
    auto ch = std::make_unique<BatchChannel>(env, relay_fn, queued, opts.batch_records);
    // A reader must not keep the process alive by itself (like an unref'd timer).
    ch->Unref(env);
    reader_ = std::make_unique<NetlinkReader>(std::move(opts), std::move(ch), consumed, queued);
    napi_add_env_cleanup_hook(env, Cleanup, this);
  }

  ~NetlinkSourceWrap() override {
    if (!cleaned_) napi_remove_env_cleanup_hook(Env(), Cleanup, this);
    if (reader_) reader_->Stop();
  }

 private:
  static void Cleanup(void *arg) {
    auto *self = static_cast<NetlinkSourceWrap *>(arg);
    self->cleaned_ = true;
    if (self->reader_) self->reader_->Stop();
  }

  Napi::Value Start(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (started_) throw Napi::Error::New(env, "NetlinkSource: already started");
    started_ = true;
    std::string err = reader_->Start();
    if (!err.empty()) {
      reader_->channel()->Release();
      throw Napi::Error::New(env, "ctnetlink: " + err);
    }
    return Napi::Number::New(env, reader_->netns());
  }

  Napi::Value Stop(const Napi::CallbackInfo &info) {
    reader_->Stop();
    return info.Env().Undefined();
  }

  Napi::Value Resync(const Napi::CallbackInfo &info) {
    reader_->AskResync();
    return info.Env().Undefined();
  }

  Napi::Value Stats(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    NetlinkReader &r = *reader_;
    Napi::Object s = Napi::Object::New(env);
    auto n = [&](const char *k, double v) { s.Set(k, Napi::Number::New(env, v)); };
    n("overruns", (double)r.overruns.load());
    n("resyncs", (double)r.resyncs.load());
    n("queueDropped", (double)r.channel()->dropped());
    n("delivered", (double)r.channel()->delivered());
    n("rcvbuf", r.rcvbuf());
    n("rcvbufGrowths", (double)r.rcvbuf_growths.load());
    n("netns", r.netns());
    n("events", (double)r.events.load());
    n("decoded", (double)r.decoded.load());
    n("dumps", (double)r.dumps.load());
    n("lastDumpEntries", (double)r.last_dump_entries.load());
    n("parseErrors", (double)r.parse_errors.load());
    n("recvErrors", (double)r.recv_errors.load());
    s.Set("resyncing", Napi::Boolean::New(env, r.resync_active.load() || r.resync_pending_.load()));
    s.Set("running", Napi::Boolean::New(env, r.running()));
    std::string e = r.last_error();
    s.Set("lastError", e.empty() ? env.Null() : Napi::String::New(env, e));
    return s;
  }

  std::unique_ptr<NetlinkReader> reader_;
  bool started_ = false;
  bool cleaned_ = false;
};

void InitNetlinkSource(Napi::Env env, Napi::Object exports) {
  exports.Set("NetlinkSource", NetlinkSourceWrap::Define(env));
}

}  // namespace ctscope
