// SPDX-License-Identifier: GPL-2.0-only
// NetlinkLoop (netlink_loop.h): epoll over every reader's sockets (and
// decoder rings), one thread for them all.
#include "netlink_loop.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <climits>

#include "boot_clock.h"
#include "netlink_reader.h"

namespace ctscope {

std::shared_ptr<NetlinkLoop> NetlinkLoop::Acquire() {
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

NetlinkLoop::NetlinkLoop() {
  epfd_ = epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  struct epoll_event e = {};
  e.events = EPOLLIN;
  e.data.ptr = nullptr;  // the wake-up descriptor
  epoll_ctl(epfd_, EPOLL_CTL_ADD, wake_fd_, &e);
  thread_ = std::thread([this] { Run(); });
}

NetlinkLoop::~NetlinkLoop() {
  {
    std::lock_guard<std::mutex> g(mu_);
    stop_ = true;
  }
  Wake();
  if (thread_.joinable()) thread_.join();
  close(epfd_);
  close(wake_fd_);
}

void NetlinkLoop::Wake() {
  uint64_t one = 1;
  ssize_t w = write(wake_fd_, &one, sizeof(one));
  (void)w;
}

void NetlinkLoop::Submit(Command c) {
  std::unique_lock<std::mutex> l(mu_);
  uint64_t mine = ++submitted_;
  commands_.push_back(c);
  l.unlock();
  Wake();
  l.lock();
  done_.wait(l, [&] { return applied_ >= mine; });
}

bool NetlinkLoop::ApplyCommands() {
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

void NetlinkLoop::Run() {
  // Named so that per-thread CPU (top -H, /proc/PID/task) tells the
  // reader apart from the JavaScript thread (bench/node-cost.mjs).
  pthread_setname_np(pthread_self(), "cts-netlink");
  // One event buffer for every reader: they are served one at a time.
  std::vector<uint8_t> evbuf(NetlinkReader::kEventBufBytes);
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

}  // namespace ctscope
