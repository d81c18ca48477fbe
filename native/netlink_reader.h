// SPDX-License-Identifier: GPL-2.0-only
// NetlinkReader: one followed network namespace's ctnetlink reader, served
// with every other by the one loop thread (netlink_loop.h); its JavaScript
// object is netlink_source.cc.
//
// A short-lived thread enters the namespace (setns), creates the reader's
// two sockets there and goes back: a netlink socket belongs to the namespace
// it was created in, whatever the thread does later.
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
// The dumps (at start, and the resync after every loss) are
// netlink_dump.cc's.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>
#include <vector>

#include "batch_channel.h"
#include "ctscope_record.h"
#include "decoded_ring.h"

namespace ctscope {

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
                std::shared_ptr<std::atomic<uint64_t>> consumed, uint64_t max_queued);

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
  std::string last_error();

  // ---- called on the loop thread only ----

  // Joins the loop's epoll set and starts the dump at start.
  void Attach(int epfd);

  // Leaves the epoll set; flushes what is pending.
  void Detach();

  // epoll said a socket (or the decoder's ring) is ready.
  void MarkReady(int what) { (what == kDumpSocket ? dump_ready_ : what == kRing ? ring_ready_ : ev_ready_) = true; }
  bool Ready() const { return ev_ready_ || dump_ready_ || ring_ready_; }
  // When the reader next has something to do without a socket event.
  uint64_t due() const { return resync_asked_.load(std::memory_order_relaxed) ? 0 : due_ns_; }
  bool dumping() const { return dumping_; }
  uint32_t coalesce_us() const;

  // The loop's one event buffer, shared by every reader (they are served one
  // at a time): kEventVecLen datagrams per recvmmsg, each < 1 KiB.
  static constexpr size_t kEventBufSize = 8192;
  static constexpr unsigned kEventVecLen = 32;
  static constexpr size_t kEventBufBytes = kEventBufSize * kEventVecLen;

  // One turn: read what is ready (events into the loop's shared buffer),
  // go on with a dump, start a due resync, flush a batch that waited long
  // enough. Returns the datagrams read from the event socket.
  unsigned Step(uint64_t now, uint8_t *evbuf);

  // What an epoll event's data points at: a reader's socket or ring.
  enum { kEventSocket, kDumpSocket, kRing };
  struct EpollWatch {
    NetlinkReader *reader;
    int what;
  };

 private:
  // "what: strerror".
  static std::string Errno(const char *what, int err);
  void SetError(std::string e);
  void CloseFds();
  std::string Setup();

  // The event socket's receive buffer: `want` bytes if it is more than now
  // and the maximum allows (FORCE ignores net.core.rmem_max, with
  // CAP_NET_ADMIN; without it the capped option still helps).
  bool SetRcvbuf(int want);
  void GrowRcvbuf(uint64_t want);

  // A second's worth of this namespace's events, twice over.
  void SizeByRate(uint64_t now);
  std::string OpenSockets();

  // The filter runs before an event is queued to the socket: what it refuses
  // (sampled out under a CPU budget, UPDATEs nobody needs) costs no receive.
  std::string AttachFilter();

  // A record from the decoder: what HandleEvents does with a parsed one.
  // false (stop draining) once the JS queue is full.
  bool OnDecoded(const struct ctscope_record &r);

  // The decoder's ring, then the socket (diverted events, newer than any
  // record in the ring); the divert ends once the socket is empty, and what
  // reached the socket meanwhile is read at once (older than the next ring
  // record). Returns the events read.
  unsigned DrainDecoded(bool socket_readable, uint8_t *evbuf);

  // ---- epoll interest ----

  // In the loop's set or not (not a zero mask: an error on the socket would
  // still wake the loop while it must not read).
  void Watch(int fd, bool want, bool *armed, EpollWatch *w);

  // Watch the event socket while the queue to JS has room, the dump socket
  // while a dump waits for its next chunk; and say when to come back without
  // a socket event.
  void Rearm(uint64_t now);

  // ---- record output ----

  // Appends; counts the batch if Append flushed one into the queue.
  void Put(const struct ctscope_record &r);
  void Emit(const struct ctscope_record &r);
  void FlushNow();

  // Batches handed to the queue that JS has not taken yet. The reader stops
  // reading while the queue is full: events wait in the socket buffer (if
  // that fills, the kernel says ENOBUFS and we resync) and a dump waits in
  // the kernel, where it costs nothing. Refusing records instead would turn
  // every JS hiccup into a loss, and a resync dump would refuse its own
  // records in a loop.
  // The relay counts a batch when its call starts, so in flight = queued,
  // which the channel caps at max_queued_; each step between two checks
  // completes at most one batch.
  bool Room() const;

  // Records refused by a full JS queue are lost to the model just like an
  // overrun: report them and rebuild the table from a dump.
  void CheckQueueLoss();
  struct ctscope_record Base(uint8_t kind, uint64_t ts) const;

  // ---- events ----

  // Returns how many datagrams it read.
  unsigned DrainEvents(uint8_t *evbuf);
  void HandleEvents(const uint8_t *buf, size_t len, uint64_t now, int64_t off);
  void OnOverrun();

  // ---- dumps (netlink_dump.cc) ----
  void RequestResync();
  bool StartDump(bool at_start);
  void ReadDump();

  // Parses what is left of the last dump chunk, stopping while the queue is
  // full (see Room()); the rest waits in dumpbuf_.
  void ParseDump();
  void EndDump(bool complete);

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
  uint64_t next_resync_ns_ = 0, resync_gap_, losses_at_dump_ = 0;
  uint64_t window_start_ns_ = 0, window_events_ = 0;
  std::unordered_set<uint64_t> destroyed_in_dump_;
  DecodedRing ring_;
  bool socket_empty_ = false;
  std::mutex err_mu_;
  std::string last_error_;
};

}  // namespace ctscope
