// SPDX-License-Identifier: GPL-2.0-only
// NetlinkLoop: the one thread (cts-netlink) that serves every followed
// namespace's NetlinkReader over epoll. A dense node follows hundreds of
// namespaces, and a thread, a stop descriptor and 320 KiB of buffers each
// were most of what a namespace cost (BENCHMARKS.md, "Dense nodes"): now a
// reader is two sockets in this loop's set, its timers folded into the
// loop's one timeout.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace ctscope {

class NetlinkReader;

// Each reader's own timers (a batch that waited long enough, a resync's
// turn, a full queue to look at again) are folded into one timeout. Shared by
// every reader of the process, started with the first and stopped with the
// last. Readers come and go through commands the JS thread waits for, so
// Remove() returning means the loop is done with that reader.
class NetlinkLoop {
 public:
  // The process's loop, started if no reader holds it.
  static std::shared_ptr<NetlinkLoop> Acquire();

  ~NetlinkLoop();

  // Both wait until the loop thread has done it.
  void Add(NetlinkReader *r) { Submit({r, true}); }
  void Remove(NetlinkReader *r) { Submit({r, false}); }

  // Another turn now (a reader has something to do that no socket says).
  void Wake();

 private:
  struct Command {
    NetlinkReader *reader;
    bool add;
  };

  NetlinkLoop();
  void Submit(Command c);
  // Returns false when the loop must end.
  bool ApplyCommands();
  void Run();

  int epfd_ = -1, wake_fd_ = -1;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable done_;
  std::vector<Command> commands_;
  uint64_t submitted_ = 0, applied_ = 0;
  bool stop_ = false;
  std::vector<NetlinkReader *> readers_;  // loop thread only
};

}  // namespace ctscope
