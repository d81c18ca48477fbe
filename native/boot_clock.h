// SPDX-License-Identifier: GPL-2.0-only
// CLOCK_BOOTTIME in nanoseconds: the clock of every record's timestamps
// (bpf_ktime_get_boot_ns in the kernel), so records of every source sort on
// one clock and survive suspend.
#pragma once

#include <stdint.h>
#include <time.h>

namespace ctscope {

inline uint64_t ClockNs(clockid_t c) {
  struct timespec ts;
  clock_gettime(c, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

inline uint64_t BootNs() { return ClockNs(CLOCK_BOOTTIME); }

}  // namespace ctscope
