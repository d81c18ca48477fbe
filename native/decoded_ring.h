// SPDX-License-Identifier: GPL-2.0-only
// The reader's side of the ctnetlink decoder (bpf/netlink_decode.bpf.c): the
// decoder's ring buffer of finished records, and its context (the
// namespace, the divert flag, the clock offset), a memory-mapped array the
// reader writes without a system call. A NetlinkReader given a decoder owns
// one (netlink_reader.cc), and drains it before its event socket:
// events the decoder could not put in the ring went to the socket after
// every record in the ring, until the reader has emptied the socket and
// cleared the flag (the protocol is in the BPF program's header comment).
#ifndef CTSCOPE_DECODED_RING_H
#define CTSCOPE_DECODED_RING_H

#include <bpf/libbpf.h>
#include <linux/types.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>

#include "ctscope_record.h"
#include "netlink_filter.h"

namespace ctscope {

class DecodedRing {
 public:
  // Called for each record; returns false to stop draining after it (the
  // record is consumed either way).
  using Sink = std::function<bool(const struct ctscope_record &)>;

  ~DecodedRing() { Close(); }

  // "" or what failed. ring_fd, ctx_fd: the decoder's maps (the caller keeps
  // them open at least until Close: the ring's mapping and the context's
  // hold their own references once made).
  std::string Open(int ring_fd, int ctx_fd, uint32_t netns, Sink sink) {
    sink_ = std::move(sink);
    long page = sysconf(_SC_PAGESIZE);
    void *p = mmap(nullptr, (size_t)page, PROT_READ | PROT_WRITE, MAP_SHARED, ctx_fd, 0);
    if (p == MAP_FAILED) return std::string("mmap the decoder's context: ") + strerror(errno);
    ctx_ = static_cast<struct cts_nld_ctx *>(p);
    ctx_len_ = (size_t)page;
    UpdateClock();
    __atomic_store_n(&ctx_->netns, netns, __ATOMIC_RELEASE);
    rb_ = ring_buffer__new(ring_fd, OnSample, this, nullptr);
    if (!rb_) return std::string("map the decoder's ring: ") + strerror(errno);
    return "";
  }

  void Close() {
    if (rb_) ring_buffer__free(rb_);
    rb_ = nullptr;
    if (ctx_) {
      // Until the program is detached (the socket closes after this), it
      // must not follow a namespace this reader no longer reads.
      __atomic_store_n(&ctx_->divert, 1, __ATOMIC_RELEASE);
      munmap(ctx_, ctx_len_);
    }
    ctx_ = nullptr;
  }

  int epoll_fd() const { return rb_ ? ring_buffer__epoll_fd(rb_) : -1; }

  // Drains the ring (or until the sink says stop); returns the records read.
  unsigned Drain() {
    if (!rb_) return 0;
    count_ = 0;
    ring_buffer__consume(rb_);  // a stop by the sink is a negative return: not an error
    return count_;
  }

  bool diverting() const { return ctx_ && __atomic_load_n(&ctx_->divert, __ATOMIC_ACQUIRE) != 0; }
  void EndDivert() {
    if (ctx_) __atomic_store_n(&ctx_->divert, 0, __ATOMIC_RELEASE);
  }

  // nf_conntrack_timestamp's times are CLOCK_REALTIME; the program converts
  // them with this (a wall-clock step shows up at the next drain).
  void UpdateClock() {
    if (!ctx_) return;
    struct timespec rt, bt;
    clock_gettime(CLOCK_REALTIME, &rt);
    clock_gettime(CLOCK_BOOTTIME, &bt);
    int64_t off = ((int64_t)rt.tv_sec - bt.tv_sec) * 1000000000ll + (rt.tv_nsec - bt.tv_nsec);
    __atomic_store_n(&ctx_->real_minus_boot, off, __ATOMIC_RELAXED);
  }

 private:
  static int OnSample(void *self_v, void *data, size_t size) {
    auto *self = static_cast<DecodedRing *>(self_v);
    if (size < sizeof(struct ctscope_record)) return 0;
    self->count_++;
    return self->sink_(*static_cast<const struct ctscope_record *>(data)) ? 0 : -1;
  }

  struct ring_buffer *rb_ = nullptr;
  struct cts_nld_ctx *ctx_ = nullptr;
  size_t ctx_len_ = 0;
  Sink sink_;
  unsigned count_ = 0;
};

}  // namespace ctscope

#endif  // CTSCOPE_DECODED_RING_H
