// SPDX-License-Identifier: GPL-2.0-only
// A namespace's identity and conntrack statistics over ctnetlink, for tables
// whose kernel has no /proc/net/stat/nf_conntrack (CONFIG_NF_CONNTRACK_PROCFS
// unset: stock Ubuntu 18.04-22.04 kernels among them). One request, one
// short-lived netlink socket, nothing kept: the per-CPU statistics
// (IPCTNL_MSG_CT_GET_STATS_CPU, one message per CPU, what `conntrack -S`
// prints) summed under /proc's column names, and the netns cookie
// (SO_NETNS_COOKIE, kernel >= 5.14), which unlike the nsfs inode is never
// reused. For another namespace a short-lived thread joins it (in_netns.h), as
// netns_read.cc does for files; the event reader (netlink_reader.cc) is not
// involved, but the request and the reading of its answers are the ones it
// uses for its dumps (netlink_request.h, netlink_decode.h).
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>
#include <napi.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <string>

#include "ct_stats.h"
#include "exports.h"
#include "in_netns.h"
#include "netlink_decode.h"
#include "netlink_request.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

namespace ctscope {

namespace {

// CTA_STATS_* -> the column /proc/net/stat/nf_conntrack prints it under.
const char *StatName(int type) {
  switch (type) {
    case CTA_STATS_FOUND: return "found";
    case CTA_STATS_INVALID: return "invalid";
    case CTA_STATS_INSERT: return "insert";
    case CTA_STATS_INSERT_FAILED: return "insert_failed";
    case CTA_STATS_DROP: return "drop";
    case CTA_STATS_EARLY_DROP: return "early_drop";
    case CTA_STATS_ERROR: return "icmp_error";
    case CTA_STATS_SEARCH_RESTART: return "search_restart";
    case CTA_STATS_CLASH_RESOLVE: return "clashres";
    case CTA_STATS_CHAIN_TOOLONG: return "chainlength";
    default: return nullptr;
  }
}

}  // namespace

// The count and max of the socket's namespace: one request, one answer (no
// sysctl file: at a thousand namespaces, every path under /proc/sys/net
// costs a walk of as many same-named directory entries).
static void QueryCount(int fd, CtQuery *r) {
  constexpr uint32_t kSeq = 2;
  if (netlink::SendRequest(fd, IPCTNL_MSG_CT_GET_STATS, kSeq, NLM_F_REQUEST) != 0) return;
  alignas(struct nlmsghdr) uint8_t buf[4096];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    bool done = false;
    netlink::ForEachMessage(buf, (size_t)n, [&](const struct nlmsghdr *h) {
      int error = 0;
      switch (netlink::ClassifyDump(h, kSeq, &error)) {
        case netlink::DumpMessage::kStale:
        case netlink::DumpMessage::kOther:
          return true;
        case netlink::DumpMessage::kEntry:
          r->have_count = netlink::DecodeStatsGlobal(h, &r->count, &r->max);
          break;
        default:
          break;
      }
      done = true;
      return false;
    });
    if (done) return;
  }
}

void QueryConntrack(CtQuery *r, bool want_stats, bool want_count) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
  if (fd < 0) {
    r->error = std::string("netlink socket: ") + strerror(errno);
    return;
  }
  uint64_t cookie = 0;
  socklen_t clen = sizeof(cookie);
  if (getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &clen) == 0 && clen == sizeof(cookie)) {
    r->have_cookie = true;
    r->cookie = cookie;
  }
  if (!want_stats && !want_count) {
    close(fd);
    return;
  }
  struct timeval tv = {2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (want_count) QueryCount(fd, r);
  if (!want_stats) {
    close(fd);
    return;
  }
  constexpr uint32_t kSeq = 1;
  int err = netlink::SendDumpRequest(fd, IPCTNL_MSG_CT_GET_STATS_CPU, kSeq);
  if (err) {
    r->error = std::string("IPCTNL_MSG_CT_GET_STATS_CPU: ") + strerror(err);
    close(fd);
    return;
  }
  alignas(struct nlmsghdr) uint8_t buf[16384];
  bool done = false;
  while (!done) {
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      r->error = std::string("IPCTNL_MSG_CT_GET_STATS_CPU: ") + strerror(errno);
      close(fd);
      return;
    }
    int error = 0;
    netlink::ForEachMessage(buf, (size_t)n, [&](const struct nlmsghdr *h) {
      switch (netlink::ClassifyDump(h, kSeq, &error)) {
        case netlink::DumpMessage::kDone:
        case netlink::DumpMessage::kError:
          done = true;
          return false;
        case netlink::DumpMessage::kEntry:
          break;
        default:
          return true;
      }
      if (netlink::DecodeStatsCpu(h, [&](uint16_t type, uint32_t v) {
            if (const char *name = StatName(type)) r->stats[name] += v;
          }))
        r->cpus++;
      return true;
    });
    if (error) {
      r->error = std::string("IPCTNL_MSG_CT_GET_STATS_CPU: ") + strerror(error);
      close(fd);
      return;
    }
  }
  close(fd);
  r->have_stats = r->cpus > 0;
  if (!r->have_stats && r->error.empty()) r->error = "IPCTNL_MSG_CT_GET_STATS_CPU answered nothing";
}

// conntrackStats(nsPath: string | null, wantStats: boolean)
//   -> { cookie: string | null, cpus: number, stats: Record<string, number> | null, error?: string }
// nsPath null: the calling process's namespace. Throws Error when the
// namespace cannot be entered.
static Napi::Value ConntrackStats(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !(info[0].IsString() || info[0].IsNull()) || !info[1].IsBoolean())
    throw Napi::TypeError::New(env, "conntrackStats(nsPath: string | null, wantStats: boolean)");
  bool want = info[1].As<Napi::Boolean>();
  CtQuery r;
  if (info[0].IsNull()) {
    QueryConntrack(&r, want);
  } else {
    std::string ns = info[0].As<Napi::String>();
    if (ns.empty()) throw Napi::TypeError::New(env, "conntrackStats: nsPath must name a namespace (null: this one)");
    int err = InNetns(ns, [&] { QueryConntrack(&r, want); });
    if (err != 0) throw Napi::Error::New(env, "cannot enter network namespace " + ns + ": " + strerror(-err));
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("cookie", r.have_cookie ? Napi::Value(Napi::String::New(env, std::to_string(r.cookie))) : env.Null());
  o.Set("cpus", Napi::Number::New(env, r.cpus));
  if (r.have_stats) {
    Napi::Object s = Napi::Object::New(env);
    for (auto &kv : r.stats) s.Set(kv.first, Napi::Number::New(env, kv.second));
    o.Set("stats", s);
  } else {
    o.Set("stats", env.Null());
  }
  if (!r.error.empty()) o.Set("error", Napi::String::New(env, r.error));
  return o;
}

void InitCtStats(Napi::Env env, Napi::Object exports) {
  exports.Set("conntrackStats", Napi::Function::New(env, ConntrackStats, "conntrackStats"));
}

}  // namespace ctscope
