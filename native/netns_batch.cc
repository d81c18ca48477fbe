// SPDX-License-Identifier: GPL-2.0-only
// readNetnsBatch: the /proc poller's reads of many namespaces, off the
// JavaScript thread. /proc/sys/net/* and /proc/thread-self/net/* resolve
// against the reading thread's network namespace, so one thread per batch
// enters each namespace in turn (setns) and reads its files there, then ends
// (a thread that changed namespace is never reused for anything else; the
// libuv pool is not involved). The promise resolves on the JavaScript thread
// once the thread is joined: JavaScript pays for parsing the texts only.
//
// The count and max are asked over ctnetlink (IPCTNL_MSG_CT_GET_STATS) when
// the job says which of its files they stand for, and read from those files
// only where that fails: at a thousand namespaces every path under
// /proc/sys/net costs a walk of a thousand same-named dentries (the kernel
// keeps one "net" directory per namespace under /proc/sys and compares each
// with proc_sys_compare), which was most of an idle dense node's CPU. Files
// of one directory are opened relative to it, so a read of the timeouts
// walks /proc/sys/net once, not once per file.
//
// Why not readInNetns per namespace: a thread per namespace and the whole
// read on the JavaScript thread held it for ~1.4 ms a namespace, so at 1,000
// namespaces a poll took longer than its interval and the API stalled.
#include <fcntl.h>
#include <napi.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "ct_stats.h"
#include "exports.h"

namespace ctscope {

namespace {

// When a job asks for the statistics over ctnetlink.
enum class CtStats { kNever, kAlways, kUnlessFile };

struct Job {
  bool host = false;  // the process's own namespace (no path)
  std::string path;
  std::vector<std::string> files;
  bool cookie = false;
  CtStats ct = CtStats::kNever;
  uint32_t stat_file = 0;  // kUnlessFile: the file whose absence asks for them
  // The files that hold the count and max, asked over ctnetlink instead (-1: not asked).
  int64_t count_file = -1;
  int64_t max_file = -1;
};

struct Out {
  int enter_errno = 0;
  double ts = 0;  // CLOCK_BOOTTIME ns when the files were read
  std::vector<std::string> texts;
  std::vector<bool> ok;
  bool queried = false;
  CtQuery q;
};

struct BatchRead {
  std::vector<Job> jobs;
  std::vector<Out> outs;
  std::thread thread;
  Napi::Promise::Deferred deferred;
  Napi::ThreadSafeFunction tsfn;
  explicit BatchRead(Napi::Env env) : deferred(Napi::Promise::Deferred::New(env)) {}
};

// Opens files relative to the directory of the previous one: one path walk per directory.
class DirCache {
 public:
  ~DirCache() { Close(); }
  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
    dir_.clear();
  }
  int Open(const std::string &path) {
    size_t slash = path.rfind('/');
    if (slash == std::string::npos || slash == 0) return open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0 || path.compare(0, slash, dir_) != 0 || dir_.size() != slash) {
      Close();
      dir_ = path.substr(0, slash);
      fd_ = open(dir_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
      if (fd_ < 0) {
        dir_.clear();
        return -1;
      }
    }
    return openat(fd_, path.c_str() + slash + 1, O_RDONLY | O_CLOEXEC);
  }

 private:
  int fd_ = -1;
  std::string dir_;
};

bool ReadAll(DirCache *dirs, const std::string &path, std::string *out) {
  int fd = dirs->Open(path);
  if (fd < 0) return false;
  char buf[16384];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      close(fd);
      return false;
    }
    if (n == 0) break;
    out->append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return true;
}

// Enters the namespace at path (own: the namespace the thread started in).
int Enter(const Job &j, int own) {
  if (j.host) return setns(own, CLONE_NEWNET) == 0 ? 0 : errno;
  int fd = open(j.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  int err = setns(fd, CLONE_NEWNET) == 0 ? 0 : errno;
  close(fd);
  return err;
}

void Run(BatchRead *b) {
  // The namespace this thread was born in (the process's): host jobs read there.
  int own = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  for (size_t i = 0; i < b->jobs.size(); i++) {
    const Job &j = b->jobs[i];
    Out &o = b->outs[i];
    o.texts.resize(j.files.size());
    o.ok.assign(j.files.size(), false);
    o.enter_errno = own < 0 && j.host ? EBADF : Enter(j, own);
    if (o.enter_errno != 0) continue;
    struct timespec now;
    clock_gettime(CLOCK_BOOTTIME, &now);
    o.ts = (double)now.tv_sec * 1e9 + (double)now.tv_nsec;
    bool always = j.ct == CtStats::kAlways;
    bool count = j.count_file >= 0 || j.max_file >= 0;
    if (always || count || j.cookie) {
      QueryConntrack(&o.q, always, count);
      o.queried = true;
    }
    // A directory is entered anew in each namespace (its entries are the namespace's).
    DirCache dirs;
    for (size_t k = 0; k < j.files.size(); k++) {
      int64_t kk = static_cast<int64_t>(k);
      if (o.q.have_count && kk == j.count_file) {
        o.texts[k] = std::to_string(o.q.count);
        o.ok[k] = true;
      } else if (o.q.have_count && o.q.max >= 0 && kk == j.max_file) {
        o.texts[k] = std::to_string(o.q.max);
        o.ok[k] = true;
      } else {
        o.ok[k] = ReadAll(&dirs, j.files[k], &o.texts[k]);
      }
    }
    if (j.ct == CtStats::kUnlessFile && j.stat_file < o.ok.size() && !o.ok[j.stat_file]) {
      bool cookie = o.q.have_cookie;
      uint64_t c = o.q.cookie;
      o.q = CtQuery();
      QueryConntrack(&o.q, true);
      if (cookie && !o.q.have_cookie) {
        o.q.have_cookie = true;
        o.q.cookie = c;
      }
      o.queried = true;
    }
  }
  if (own >= 0) close(own);
}

Napi::Object ToJs(Napi::Env env, const Out &o) {
  Napi::Object r = Napi::Object::New(env);
  r.Set("error", o.enter_errno ? Napi::Value(Napi::String::New(env, strerror(o.enter_errno))) : env.Null());
  r.Set("ts", Napi::Number::New(env, o.ts));
  Napi::Array texts = Napi::Array::New(env, o.texts.size());
  for (size_t k = 0; k < o.texts.size(); k++) texts.Set(k, o.ok[k] ? Napi::Value(Napi::String::New(env, o.texts[k])) : env.Null());
  r.Set("texts", texts);
  r.Set("cookie", o.q.have_cookie ? Napi::Value(Napi::String::New(env, std::to_string(o.q.cookie))) : env.Null());
  if (o.q.have_stats) {
    Napi::Object s = Napi::Object::New(env);
    for (auto &kv : o.q.stats) s.Set(kv.first, Napi::Number::New(env, kv.second));
    r.Set("stats", s);
  } else {
    r.Set("stats", env.Null());
  }
  if (o.queried && !o.q.error.empty()) r.Set("statsError", Napi::String::New(env, o.q.error));
  return r;
}

// On the JavaScript thread once the batch's thread released the function.
// (A finalizer has no handle scope of its own, and must not throw.)
void Finish(Napi::Env env, void *, BatchRead *b) {
  if (b->thread.joinable()) b->thread.join();
  try {
    Napi::HandleScope scope(env);
    Napi::Array res = Napi::Array::New(env, b->outs.size());
    for (size_t i = 0; i < b->outs.size(); i++) res.Set(i, ToJs(env, b->outs[i]));
    b->deferred.Resolve(res);
  } catch (const Napi::Error &) {
    // the environment is going away (process exit): nobody waits for the answer
  }
  delete b;
}

Job ParseJob(Napi::Env env, Napi::Value v) {
  const char *usage = "readNetnsBatch: a job is { path: string | null, files: string[], cookie: boolean, ctStats: 'never' | 'always' | number, ctCount?: [number, number] }";
  if (!v.IsObject()) throw Napi::TypeError::New(env, usage);
  Napi::Object o = v.As<Napi::Object>();
  Job j;
  Napi::Value p = o.Get("path");
  if (p.IsNull()) j.host = true;
  else if (p.IsString()) j.path = p.As<Napi::String>();
  else throw Napi::TypeError::New(env, usage);
  Napi::Value f = o.Get("files");
  if (!f.IsArray()) throw Napi::TypeError::New(env, usage);
  Napi::Array arr = f.As<Napi::Array>();
  for (uint32_t k = 0; k < arr.Length(); k++) {
    Napi::Value s = arr.Get(k);
    if (!s.IsString()) throw Napi::TypeError::New(env, usage);
    j.files.push_back(s.As<Napi::String>());
  }
  Napi::Value c = o.Get("cookie");
  if (!c.IsBoolean()) throw Napi::TypeError::New(env, usage);
  j.cookie = c.As<Napi::Boolean>();
  Napi::Value ct = o.Get("ctStats");
  if (ct.IsNumber()) {
    j.ct = CtStats::kUnlessFile;
    j.stat_file = ct.As<Napi::Number>().Uint32Value();
  } else if (ct.IsString() && ct.As<Napi::String>().Utf8Value() == "always") {
    j.ct = CtStats::kAlways;
  } else if (ct.IsString() && ct.As<Napi::String>().Utf8Value() == "never") {
    j.ct = CtStats::kNever;
  } else {
    throw Napi::TypeError::New(env, usage);
  }
  Napi::Value cc = o.Get("ctCount");
  if (cc.IsArray()) {
    Napi::Array a = cc.As<Napi::Array>();
    if (a.Length() != 2 || !a.Get(0u).IsNumber() || !a.Get(1u).IsNumber()) throw Napi::TypeError::New(env, usage);
    j.count_file = a.Get(0u).As<Napi::Number>().Int64Value();
    j.max_file = a.Get(1u).As<Napi::Number>().Int64Value();
  } else if (!cc.IsUndefined()) {
    throw Napi::TypeError::New(env, usage);
  }
  return j;
}

}  // namespace

// readNetnsBatch(jobs) -> Promise<{ error, ts, texts, cookie, stats, statsError? }[]>
// One result per job, in order. error: why the namespace could not be
// entered (it is gone), else null; texts: each file's content, null where
// unreadable; cookie (when asked) and stats (ctStats 'always', or a number:
// only when that file could not be read) from ct_stats.cc's query; ctCount
// [i, j]: files[i] and files[j] are the count and max, asked over ctnetlink
// (their texts are the numbers' decimal text) and read only where that fails.
static Napi::Value ReadNetnsBatch(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArray()) throw Napi::TypeError::New(env, "readNetnsBatch(jobs: object[])");
  Napi::Array arr = info[0].As<Napi::Array>();
  auto *b = new BatchRead(env);
  try {
    for (uint32_t i = 0; i < arr.Length(); i++) b->jobs.push_back(ParseJob(env, arr.Get(i)));
  } catch (...) {
    delete b;
    throw;
  }
  b->outs.resize(b->jobs.size());
  Napi::Promise promise = b->deferred.Promise();
  // No JavaScript callback is ever called: the function exists for its
  // finalizer, which runs on the JavaScript thread after the thread's Release.
  b->tsfn = Napi::ThreadSafeFunction::New(env, Napi::Function::New(env, [](const Napi::CallbackInfo &) {}), "ctscope-netns-batch", 0, 1, b, Finish, static_cast<void *>(nullptr));
  b->thread = std::thread([b] {
    Run(b);
    b->tsfn.Release();
  });
  return promise;
}

void InitNetnsBatch(Napi::Env env, Napi::Object exports) {
  exports.Set("readNetnsBatch", Napi::Function::New(env, ReadNetnsBatch, "readNetnsBatch"));
}

}  // namespace ctscope
