// SPDX-License-Identifier: GPL-2.0-only
// The tc side of IngressCounter (ingress.cc): finding our legacy clsact
// filter on an interface by its handle and priority over rtnetlink, removing
// it, counting everyone's filters on the qdisc (may we remove it?), and
// naming a program by its id. No libbpf object here: only the kernel's view of what is
// attached where.
#include "tc_attach.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>
#include <vector>

namespace ctscope {

std::string ProgName(uint32_t prog_id) {
  int fd = bpf_prog_get_fd_by_id(prog_id);
  if (fd < 0) return "";
  struct bpf_prog_info info = {};
  uint32_t len = sizeof(info);
  std::string name;
  if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0) name = info.name;
  close(fd);
  return name;
}

uint32_t ProgId(int prog_fd) {
  struct bpf_prog_info info = {};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(prog_fd, &info, &len) != 0) return 0;
  return info.id;
}

// rtnetlink dumps of one interface's tc objects. We read qdiscs and filters
// ourselves rather than with bpf_tc_query: libbpf prints the kernel's extack
// ("Parent Qdisc doesn't exists", "Filter ... not found") for every
// interface that simply has nothing of ours.
// Calls fn(tcmsg, attributes) for every RTM_NEW* message; -errno on failure.
static int TcDump(uint16_t type, int ifindex, uint32_t parent,
           const std::function<void(const struct tcmsg *, struct rtattr *, int)> &fn) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return -errno;
  struct {
    struct nlmsghdr nh;
    struct tcmsg tc;
  } req = {};
  req.nh.nlmsg_len = sizeof(req);
  req.nh.nlmsg_type = type;
  req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.nh.nlmsg_seq = 1;
  req.tc.tcm_family = AF_UNSPEC;
  req.tc.tcm_ifindex = ifindex;
  req.tc.tcm_parent = parent;
  int result = 0;
  if (send(fd, &req, sizeof(req), 0) != (ssize_t)sizeof(req)) result = -errno;
  std::vector<char> buf(65536);
  bool done = result != 0;
  while (!done) {
    ssize_t n = recv(fd, buf.data(), buf.size(), 0);
    if (n <= 0) {
      result = n < 0 ? -errno : -EIO;
      break;
    }
    int len = (int)n;
    for (auto *nh = (struct nlmsghdr *)buf.data(); NLMSG_OK(nh, len); nh = NLMSG_NEXT(nh, len)) {
      if (nh->nlmsg_type == NLMSG_DONE) {
        done = true;
        break;
      }
      if (nh->nlmsg_type == NLMSG_ERROR) {
        auto *e = (struct nlmsgerr *)NLMSG_DATA(nh);
        result = e->error;
        done = true;
        break;
      }
      auto *tc = (struct tcmsg *)NLMSG_DATA(nh);
      if (tc->tcm_ifindex != ifindex) continue;
      int alen = (int)(nh->nlmsg_len - NLMSG_LENGTH(sizeof(*tc)));
      fn(tc, (struct rtattr *)((char *)tc + NLMSG_ALIGN(sizeof(*tc))), alen);
    }
  }
  close(fd);
  return result;
}

bool HasClsact(int ifindex) {
  bool found = false;
  int err = TcDump(RTM_GETQDISC, ifindex, 0, [&](const struct tcmsg *, struct rtattr *rta, int alen) {
    for (; RTA_OK(rta, alen); rta = RTA_NEXT(rta, alen))
      if (rta->rta_type == TCA_KIND && strcmp((const char *)RTA_DATA(rta), "clsact") == 0) found = true;
  });
  return err == 0 && found;
}

// The program id of the bpf filter at our handle and priority on ifindex's
// ingress (in the calling thread's namespace), 0 when there is none, or
// -errno; *name gets the filter's name (libbpf names it "<prog>:[<id>]").
long QueryOurFilter(int ifindex, std::string *name) {
  if (!HasClsact(ifindex)) return 0;
  long prog_id = 0;
  std::string fname;
  int err = TcDump(RTM_GETTFILTER, ifindex, TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS),
                   [&](const struct tcmsg *tc, struct rtattr *rta, int alen) {
                     if (tc->tcm_handle != kTcHandle || TC_H_MAJ(tc->tcm_info) >> 16 != kTcPriority) return;
                     bool bpf = false;
                     uint32_t id = 0;
                     std::string n;
                     for (; RTA_OK(rta, alen); rta = RTA_NEXT(rta, alen)) {
                       if (rta->rta_type == TCA_KIND) bpf = strcmp((const char *)RTA_DATA(rta), "bpf") == 0;
                       if (rta->rta_type != TCA_OPTIONS) continue;
                       int olen = RTA_PAYLOAD(rta);
                       for (auto *o = (struct rtattr *)RTA_DATA(rta); RTA_OK(o, olen); o = RTA_NEXT(o, olen)) {
                         if (o->rta_type == TCA_BPF_ID) memcpy(&id, RTA_DATA(o), sizeof(id));
                         if (o->rta_type == TCA_BPF_NAME) n = std::string((const char *)RTA_DATA(o), strnlen((const char *)RTA_DATA(o), RTA_PAYLOAD(o)));
                       }
                     }
                     if (bpf && id) {
                       prog_id = id;
                       fname = n;
                     }
                   });
  if (err == -ENOENT || err == -EINVAL) return 0;
  if (err) return err;
  // The kernel's program name is authoritative; the filter name is what
  // libbpf (or tc) chose when attaching.
  if (name && prog_id) {
    *name = ProgName((uint32_t)prog_id);
    if (name->empty()) *name = fname;
  }
  return prog_id;
}

// How many tc filters (anyone's) hang off ifindex's clsact, ingress and
// egress, or -errno.
int ClsactFilters(int ifindex) {
  int n = 0;
  for (uint32_t parent : {TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS), TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_EGRESS)}) {
    int err = TcDump(RTM_GETTFILTER, ifindex, parent, [&](const struct tcmsg *, struct rtattr *, int) { n++; });
    if (err) return err;
  }
  return n;
}

int DetachFilter(int ifindex) {
  DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
  DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = kTcHandle, .priority = kTcPriority);
  return bpf_tc_detach(&hook, &opts);
}

}  // namespace ctscope
