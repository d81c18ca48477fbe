// SPDX-License-Identifier: GPL-2.0-only
// The tc side of IngressCounter (tc_attach.cc): our legacy clsact filter,
// program names.
#ifndef CTSCOPE_TC_ATTACH_H
#define CTSCOPE_TC_ATTACH_H

#include <cstdint>
#include <functional>
#include <string>

namespace ctscope {

// Our legacy filter: handle and priority on clsact ingress, and the prefix of
// our programs' names (how a stale filter of an earlier run is recognised).
constexpr uint32_t kTcHandle = 0xc75c;
constexpr uint32_t kTcPriority = 0xc75c;
constexpr const char *kProgPrefix = "cts_ingress";

// The kernel's name of a program ("" when unknown), and the id of a program fd.
std::string ProgName(uint32_t prog_id);
uint32_t ProgId(int prog_fd);
// Whether ifindex has a clsact qdisc (in the calling thread's namespace).
bool HasClsact(int ifindex);
// The program id of our filter on ifindex's ingress, 0 when none, or -errno; *name its program's name.
long QueryOurFilter(int ifindex, std::string *name);
// How many tc filters (anyone's) hang off ifindex's clsact, ingress and egress, or -errno.
int ClsactFilters(int ifindex);
// Removes our filter from ifindex; 0 or -errno.
int DetachFilter(int ifindex);

}  // namespace ctscope

#endif  // CTSCOPE_TC_ATTACH_H
