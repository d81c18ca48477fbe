// SPDX-License-Identifier: GPL-2.0-only
// Reads files as seen from another network namespace. /proc/sys/net/* and
// /proc/thread-self/net/* resolve against the reading thread's namespace, so a
// short-lived thread joins the namespace (in_netns.h) and reads them; the rest of
// the process never changes namespace. Used for per-namespace table figures.
#include <napi.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "exports.h"
#include "in_netns.h"

namespace ctscope {

// readInNetns(nsPath: string, files: string[]) -> (string|null)[]
// Throws Error when the namespace cannot be entered.
static Napi::Value ReadInNetns(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsArray())
    throw Napi::TypeError::New(env, "readInNetns(nsPath: string, files: string[])");
  std::string ns = info[0].As<Napi::String>();
  if (ns.empty()) throw Napi::TypeError::New(env, "readInNetns: nsPath must name a namespace");
  Napi::Array arr = info[1].As<Napi::Array>();
  std::vector<std::string> files;
  for (uint32_t i = 0; i < arr.Length(); i++) {
    Napi::Value v = arr.Get(i);
    if (!v.IsString()) throw Napi::TypeError::New(env, "files must be strings");
    files.push_back(v.As<Napi::String>());
  }
  std::vector<std::string> out(files.size());
  std::vector<bool> ok(files.size(), false);
  int err = InNetns(ns, [&] {
    for (size_t i = 0; i < files.size(); i++) {
      std::ifstream f(files[i]);
      if (!f) continue;
      std::stringstream ss;
      ss << f.rdbuf();
      out[i] = ss.str();
      ok[i] = true;
    }
  });
  if (err != 0) throw Napi::Error::New(env, "cannot enter network namespace " + ns + ": " + strerror(-err));
  Napi::Array res = Napi::Array::New(env, files.size());
  for (size_t i = 0; i < files.size(); i++) {
    res.Set(i, ok[i] ? Napi::Value(Napi::String::New(env, out[i])) : env.Null());
  }
  return res;
}

void InitNetnsRead(Napi::Env env, Napi::Object exports) {
  exports.Set("readInNetns", Napi::Function::New(env, ReadInNetns, "readInNetns"));
}

}  // namespace ctscope
