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
  bool have_count = false;
  int64_t count = -1;
  int64_t max = -1;  // -1: a kernel that does not say it (before 4.19)
};

// One short-lived NETLINK_NETFILTER socket in the calling thread's namespace:
// the cookie always, the per-CPU statistics (summed) when want_stats, the
// table's count and max (IPCTNL_MSG_CT_GET_STATS) when want_count.
void QueryConntrack(CtQuery *r, bool want_stats, bool want_count = false);

}  // namespace ctscope
