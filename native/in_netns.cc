// SPDX-License-Identifier: GPL-2.0-only
// InNetns (in_netns.h).
#include "in_netns.h"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

namespace ctscope {

int InNetns(const std::string &ns_path, const std::function<void()> &fn) {
  if (ns_path.empty()) {
    fn();
    return 0;
  }
  int err = 0;
  std::thread t([&] {
    int fd = open(ns_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      err = -errno;
      return;
    }
    if (setns(fd, CLONE_NEWNET) != 0) {
      err = -errno;
      close(fd);
      return;
    }
    close(fd);
    fn();
  });
  t.join();
  return err;
}

}  // namespace ctscope
