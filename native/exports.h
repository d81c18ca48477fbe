// SPDX-License-Identifier: GPL-2.0-only
// One Init function per JS-visible piece of the addon; addon.cc calls them all.
#pragma once
#include <napi.h>

namespace ctscope {
void InitLayout(Napi::Env env, Napi::Object exports);
void InitBtfInfo(Napi::Env env, Napi::Object exports);
void InitClock(Napi::Env env, Napi::Object exports);
void InitRingSource(Napi::Env env, Napi::Object exports);
void InitNetnsRead(Napi::Env env, Napi::Object exports);
void InitNetlinkSource(Napi::Env env, Napi::Object exports);
void InitIngress(Napi::Env env, Napi::Object exports);
void InitNetlinkFilter(Napi::Env env, Napi::Object exports);
void InitCtStats(Napi::Env env, Napi::Object exports);
void InitNetnsBatch(Napi::Env env, Napi::Object exports);
void InitMemoryTrim(Napi::Env env, Napi::Object exports);
}  // namespace ctscope
