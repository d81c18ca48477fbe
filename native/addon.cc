// SPDX-License-Identifier: GPL-2.0-only
// The ctscope native addon: a thin layer over libbpf and netlink. Validation
// of user input happens in TypeScript; native argument checks throw TypeError.
#include <napi.h>

#include "exports.h"

namespace ctscope {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  InitLayout(env, exports);
  InitBtfInfo(env, exports);
  InitClock(env, exports);
  InitRingSource(env, exports);
  InitNetnsRead(env, exports);
  InitNetlinkSource(env, exports);
  InitIngress(env, exports);
  InitNetlinkFilter(env, exports);
  InitCtStats(env, exports);
  InitNetnsBatch(env, exports);
  InitMemoryTrim(env, exports);
  return exports;
}

}  // namespace ctscope

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) {
  return ctscope::Init(env, exports);
}

NODE_API_MODULE(ctscope, InitAddon)
