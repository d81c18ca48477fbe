// SPDX-License-Identifier: GPL-2.0-only
// The current thread's namespace's conntrack statistics over ctnetlink and
// its netns cookie (ct_stats.cc); shared by conntrackStats and the batch
// reader (netns_batch.cc), which call it from a thread inside the namespace.
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace ctscope {

struct CtQuery {
  bool have_cookie = false;
  uint64_t cookie = 0;
  bool have_stats = false;
  int cpus = 0;
  std::map<std::string, double> stats;
  std::string error;  // why the statistics could not be read
};

// One short-lived NETLINK_NETFILTER socket in the calling thread's namespace:
// the cookie always, the per-CPU statistics (summed) when want_stats.
void QueryConntrack(CtQuery *r, bool want_stats);

}  // namespace ctscope
