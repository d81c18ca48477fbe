// SPDX-License-Identifier: GPL-2.0-only
// CLOCK_BOOTTIME, the clock every record's timestamps use (bpf_ktime_get_boot_ns
// in the kernel), so the control plane can slide its windows on the same clock
// as the records even when no record arrives. Node has no boottime clock.
#include <napi.h>

#include "boot_clock.h"
#include "exports.h"

namespace ctscope {

static Napi::Value BoottimeNs(const Napi::CallbackInfo &info) {
  return Napi::Number::New(info.Env(), (double)BootNs());
}

void InitClock(Napi::Env env, Napi::Object exports) {
  exports.Set("boottimeNs", Napi::Function::New(env, BoottimeNs, "boottimeNs"));
}

}  // namespace ctscope
