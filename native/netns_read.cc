// SPDX-License-Identifier: GPL-2.0-only
// Reads files as seen from another network namespace. /proc/sys/net/* and
// /proc/thread-self/net/* resolve against the reading thread's namespace, so a
// short-lived thread joins the namespace (setns) and reads them; the rest of
// the process never changes namespace. Used for per-namespace table figures.
#include <fcntl.h>
#include <napi.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "exports.h"

namespace ctscope {

// readInNetns(nsPath: string, files: string[]) -> (string|null)[]
// Throws Error when the namespace cannot be entered.
static Napi::Value ReadInNetns(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsArray())
    throw Napi::TypeError::New(env, "readInNetns(nsPath: string, files: string[])");
  std::string ns = info[0].As<Napi::String>();
  Napi::Array arr = info[1].As<Napi::Array>();
  std::vector<std::string> files;
  for (uint32_t i = 0; i < arr.Length(); i++) {
    Napi::Value v = arr.Get(i);
    if (!v.IsString()) throw Napi::TypeError::New(env, "files must be strings");
    files.push_back(v.As<Napi::String>());
  }
  std::vector<std::string> out(files.size());
  std::vector<bool> ok(files.size(), false);
  int err = 0;
  std::thread t([&] {
    int fd = open(ns.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      err = errno;
      return;
    }
    if (setns(fd, CLONE_NEWNET) != 0) {
      err = errno;
      close(fd);
      return;
    }
    close(fd);
    for (size_t i = 0; i < files.size(); i++) {
      std::ifstream f(files[i]);
      if (!f) continue;
      std::stringstream ss;
      ss << f.rdbuf();
      out[i] = ss.str();
      ok[i] = true;
    }
  });
  t.join();
  if (err != 0) {
    throw Napi::Error::New(env, "cannot enter network namespace " + ns + ": " + strerror(err));
  }
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
