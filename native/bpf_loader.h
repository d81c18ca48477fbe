// SPDX-License-Identifier: GPL-2.0-only
// The one libbpf loader of the addon, shared by RingSource (ring_source.cc)
// and IngressCounter (ingress.cc): libbpf's messages (libbpf_set_print is
// process-wide, so it is installed here once), open and load with the
// verifier's log kept per program, and one way to turn a refusal into a
// JavaScript error an operator can read (code, errno, the program, the
// verifier log's tail and a hint).
#ifndef CTSCOPE_BPF_LOADER_H
#define CTSCOPE_BPF_LOADER_H

#include <bpf/libbpf.h>
#include <napi.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace ctscope {

// Captures libbpf's messages on this thread for the lifetime of the scope
// (they explain map-creation and CO-RE failures the verifier log does not
// show). Outside one, warnings go to stderr as libbpf would print them, and
// CTSCOPE_LIBBPF_DEBUG=1 adds the debug messages.
class PrintCapture {
 public:
  PrintCapture();
  ~PrintCapture();
  const std::string &text() const { return text_; }

 private:
  std::string text_;
  std::string *prev_;
};

// "strerror (ENAME)".
std::string ErrnoText(int err);
// What to do about the most common refusals on a hot node ("" when nothing useful).
std::string Hint(int err);
// The last `lines` lines of s.
std::string TailLines(const std::string &s, size_t lines);

// A kernel or libbpf refusal, before it becomes a JavaScript error.
struct LoadError {
  std::string message;
  std::string program;  // empty: not a single program's fault
  int err = 0;
  std::string verifier_log;
};

// Error with .code, .errno and, when set, .program and .verifierLog.
Napi::Error MakeBpfError(Napi::Env env, const LoadError &le, const char *code = "EBPFLOAD");

// An opened object and the verifier log buffers of the programs it loads.
class BpfObject {
 public:
  ~BpfObject();
  // Opens `path`; nullptr and *le when it cannot be read.
  static std::unique_ptr<BpfObject> Open(const std::string &path, const PrintCapture &capture, LoadError *le);
  // Loads the autoloaded programs and the maps: ring buffers' value size is
  // set to 0 first (the kernel's rule; the value type is in BTF for the
  // record contract). false and *le (the refused program, its verifier log
  // tail, a hint) on failure.
  bool Load(const PrintCapture &capture, LoadError *le);
  struct bpf_object *obj() const { return obj_; }
  const std::string &path() const { return path_; }

 private:
  BpfObject() = default;
  struct bpf_object *obj_ = nullptr;
  std::string path_;
  std::vector<std::pair<std::string, std::unique_ptr<char[]>>> logs_;
};

}  // namespace ctscope

#endif  // CTSCOPE_BPF_LOADER_H
