// SPDX-License-Identifier: GPL-2.0-only
// The one ctnetlink request: a dump of the table (IPCTNL_MSG_CT_GET, the
// reader's dumps, netlink_dump.cc) or of the per-CPU statistics
// (IPCTNL_MSG_CT_GET_STATS_CPU, ct_stats.cc), or the table's count and max
// (IPCTNL_MSG_CT_GET_STATS, not a dump: one answer), of every address family,
// sent to the kernel on a NETLINK_NETFILTER socket. Their answers are read
// with netlink_decode.h (ForEachMessage, ClassifyDump, then DecodeConntrack,
// DecodeStatsCpu or DecodeStatsGlobal).
#pragma once

#include <errno.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

namespace ctscope {
namespace netlink {

// 0, or the errno sendto gave.
inline int SendRequest(int fd, uint8_t msg, uint32_t seq, uint16_t flags) {
  struct {
    struct nlmsghdr nlh;
    struct nfgenmsg nfg;
  } req;
  memset(&req, 0, sizeof(req));
  req.nlh.nlmsg_len = sizeof(req);
  req.nlh.nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | msg;
  req.nlh.nlmsg_flags = flags;
  req.nlh.nlmsg_seq = seq;
  req.nfg.nfgen_family = AF_UNSPEC;  // every family
  req.nfg.version = NFNETLINK_V0;
  struct sockaddr_nl kernel;
  memset(&kernel, 0, sizeof(kernel));
  kernel.nl_family = AF_NETLINK;
  if (sendto(fd, &req, sizeof(req), 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0) return errno;
  return 0;
}

inline int SendDumpRequest(int fd, uint8_t msg, uint32_t seq) { return SendRequest(fd, msg, seq, NLM_F_REQUEST | NLM_F_DUMP); }

}  // namespace netlink
}  // namespace ctscope
