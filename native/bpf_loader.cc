// SPDX-License-Identifier: GPL-2.0-only
// The addon's one libbpf loader (see bpf_loader.h).
#include "bpf_loader.h"

#include <bpf/libbpf.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace ctscope {

// ---------------------------------------------------------------------------
// libbpf's messages: captured while a thread loads an object, else warnings
// to stderr (and debug messages with CTSCOPE_LIBBPF_DEBUG=1).

static thread_local std::string *tl_capture = nullptr;
static bool g_libbpf_debug = false;

static int LibbpfPrint(enum libbpf_print_level level, const char *fmt, va_list args) {
  if (level == LIBBPF_DEBUG && !g_libbpf_debug) return 0;
  if (tl_capture) {
    char line[1024];
    int n = vsnprintf(line, sizeof(line), fmt, args);
    if (n > 0) {
      tl_capture->append(line, std::min<size_t>(n, sizeof(line) - 1));
      // bounded: only the tail matters
      if (tl_capture->size() > 256 * 1024) tl_capture->erase(0, tl_capture->size() - 128 * 1024);
    }
    return 0;
  }
  if (level == LIBBPF_INFO && !g_libbpf_debug) return 0;
  return vfprintf(stderr, fmt, args);
}

static void InstallPrint() {
  static std::once_flag once;
  std::call_once(once, [] {
    const char *d = getenv("CTSCOPE_LIBBPF_DEBUG");
    g_libbpf_debug = d && *d && strcmp(d, "0") != 0;
    libbpf_set_print(LibbpfPrint);
  });
}

PrintCapture::PrintCapture() {
  InstallPrint();
  prev_ = tl_capture;
  tl_capture = &text_;
}

PrintCapture::~PrintCapture() { tl_capture = prev_; }

// ---------------------------------------------------------------------------

std::string TailLines(const std::string &s, size_t lines) {
  size_t end = s.size();
  while (end > 0 && (s[end - 1] == '\n' || s[end - 1] == '\0')) end--;
  size_t pos = end;
  size_t n = 0;
  while (pos > 0) {
    if (s[pos - 1] == '\n' && ++n >= lines) break;
    pos--;
  }
  return s.substr(pos, end - pos);
}

std::string ErrnoText(int err) {
  if (err < 0) err = -err;
  const char *name = strerrorname_np(err);
  std::string out = strerror(err);
  if (name) out += std::string(" (") + name + ")";
  return out;
}

std::string Hint(int err) {
  if (err < 0) err = -err;
  switch (err) {
    case EPERM:
      return "run as root (CAP_BPF + CAP_PERFMON + CAP_NET_ADMIN); lockdown or "
             "kernel.unprivileged_bpf_disabled may also refuse this program type";
    case EACCES:
      return "the verifier rejected it; this kernel may lack something the program relies on";
    case ENOENT:
    case ESRCH:
      return "the hook point does not exist on this kernel";
    case 524:  // ENOTSUPP (kernel-internal)
    case EOPNOTSUPP:
    case EINVAL:
      return "this kernel does not support this program type or hook";
    case ENOSPC:
      return "the verifier log was truncated; the program is too complex for this kernel";
    default:
      return "";
  }
}

Napi::Error MakeBpfError(Napi::Env env, const LoadError &le, const char *code) {
  Napi::Error e = Napi::Error::New(env, le.message);
  Napi::Object o = e.Value();
  o.Set("code", Napi::String::New(env, code));
  o.Set("program", le.program.empty() ? env.Null() : Napi::String::New(env, le.program));
  o.Set("errno", Napi::Number::New(env, le.err < 0 ? -le.err : le.err));
  o.Set("verifierLog", Napi::String::New(env, le.verifier_log));
  return e;
}

// ---------------------------------------------------------------------------

static constexpr size_t kLogSize = 1 << 20;

BpfObject::~BpfObject() {
  if (obj_) bpf_object__close(obj_);
}

std::unique_ptr<BpfObject> BpfObject::Open(const std::string &path, const PrintCapture &capture, LoadError *le) {
  std::unique_ptr<BpfObject> bo(new BpfObject());
  bo->path_ = path;
  bo->obj_ = bpf_object__open_file(path.c_str(), nullptr);
  if (!bo->obj_) {
    int err = errno;
    le->err = err;
    le->message = "cannot open BPF object " + path + ": " + ErrnoText(err);
    if (err == ENOENT) le->message += "; build it with 'make -s bpf' (npm run build)";
    std::string tail = TailLines(capture.text(), 5);
    if (!tail.empty() && err != ENOENT) le->message += "\nlibbpf: " + tail;
    return nullptr;
  }
  return bo;
}

bool BpfObject::Load(const PrintCapture &capture, LoadError *le) {
  struct bpf_program *prog;
  bpf_object__for_each_program(prog, obj_) {
    if (!bpf_program__autoload(prog)) continue;
    std::unique_ptr<char[]> buf(new char[kLogSize]);
    buf[0] = '\0';
    bpf_program__set_log_buf(prog, buf.get(), kLogSize);
    logs_.emplace_back(bpf_program__name(prog), std::move(buf));
  }
  // A ring buffer's value type is in BTF for the record contract
  // (bpf/record_ring.h); the kernel wants its value size to be 0. libbpf 1.1
  // then creates the map without BTF (its first try, with it, is refused).
  struct bpf_map *m;
  bpf_object__for_each_map(m, obj_) {
    if (bpf_map__type(m) == BPF_MAP_TYPE_RINGBUF && bpf_map__value_size(m) != 0) bpf_map__set_value_size(m, 0);
  }
  int err = bpf_object__load(obj_);
  if (err) {
    le->err = err;
    for (auto &l : logs_) {
      if (l.second[0] != '\0') {
        le->program = l.first;
        le->verifier_log = TailLines(std::string(l.second.get(), strnlen(l.second.get(), kLogSize)), 20);
        break;
      }
    }
    if (le->program.empty()) {
      // no verifier log: libbpf names the program in its own messages
      for (auto &l : logs_) {
        if (capture.text().find("prog '" + l.first + "'") != std::string::npos) {
          le->program = l.first;
          break;
        }
      }
    }
    std::string hint = Hint(err);
    if (!le->program.empty())
      le->message = "BPF program '" + le->program + "' (" + path_ + ") was refused by the kernel: " + ErrnoText(err);
    else
      le->message = "loading BPF object " + path_ + " failed: " + ErrnoText(err);
    if (!hint.empty()) le->message += "; " + hint;
    if (!le->verifier_log.empty())
      le->message += "\nverifier log (tail):\n" + le->verifier_log;
    else {
      std::string tail = TailLines(capture.text(), 20);
      if (!tail.empty()) le->message += "\nlibbpf:\n" + tail;
    }
  }
  // The log buffers are only read during load.
  bpf_object__for_each_program(prog, obj_) bpf_program__set_log_buf(prog, nullptr, 0);
  logs_.clear();
  return err == 0;
}

}  // namespace ctscope
