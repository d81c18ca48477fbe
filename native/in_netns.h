// SPDX-License-Identifier: GPL-2.0-only
// Running code inside another network namespace: setns is per thread, so a
// short-lived thread joins the namespace, runs it and ends; the rest of the
// process never changes namespace. What resolves in the calling thread's
// namespace — /proc/sys/net and /proc/thread-self/net (netns_read.cc), a new
// netlink socket (ct_stats.cc), ifindexes and rtnetlink (ingress.cc) — then
// resolves in that one.
#pragma once

#include <functional>
#include <string>

namespace ctscope {

// Runs fn in the network namespace at ns_path ("" = the caller's own, on the
// caller's thread); 0, or a negative errno when the namespace could not be
// entered (fn did not run).
int InNetns(const std::string &ns_path, const std::function<void()> &fn);

}  // namespace ctscope
