// SPDX-License-Identifier: GPL-2.0-only
// mallocTrim(): gives the C heap's free pages back to the kernel. glibc's
// malloc keeps what it freed for reuse, in the main heap and in every
// thread's arena; after a dense node's thousand namespaces went (their
// readers, their /proc readings, the answers built for them) the daemon kept
// ~40 MB it no longer used until something trimmed it (measured: RSS 142 MB
// after, 105 MB after malloc_trim, 111 MB before the namespaces came). The
// daemon calls it when tables it kept for gone namespaces are let go
// (src/app/memory-upkeep.ts), not on a timer: a trim walks every arena.
#include <malloc.h>
#include <napi.h>

#include "exports.h"

namespace ctscope {

// mallocTrim() -> boolean: whether memory was given back.
static Napi::Value MallocTrim(const Napi::CallbackInfo &info) {
  return Napi::Boolean::New(info.Env(), malloc_trim(0) != 0);
}

void InitMemoryTrim(Napi::Env env, Napi::Object exports) {
  exports.Set("mallocTrim", Napi::Function::New(env, MallocTrim, "mallocTrim"));
}

}  // namespace ctscope
