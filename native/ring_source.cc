// SPDX-License-Identifier: GPL-2.0-only
// RingSource: loads one of our BPF objects, attaches its programs and drains
// its ring buffer of struct ctscope_record on a reader thread, handing
// batches to JavaScript through a BatchChannel. Generic over the object: the
// drop source and the lifecycle source are both a RingSource with different
// options.
//
// Lifecycle (libbpf-tools habit): open -> choose programs (autoload) -> set
// rodata -> load -> fill maps -> attach each program as a bpf_link. Links are
// file descriptors, never pinned: if the process dies (even kill -9) the
// kernel detaches everything.
//
// Wakeups: the programs submit with the ring's adaptive wakeup (flags 0:
// the kernel wakes the reader only for a record that finds the ring drained)
// and force one only when the backlog is over a threshold. The reader waits
// for that first record, lets the others gather for its poll period (no
// wakeup comes while the ring holds records), drains, and waits again: at
// most one wakeup per period under load, and while nothing happens only a
// drain every 100 ms (a safety net for a missed wakeup: ReaderLoop). It used
// to drain on a 1-5 ms timer whatever happened, 500 wakeups a second on an
// idle node (1.2 % of a CPU here). Measured here (BENCHMARKS.md, "Drop
// path"): a wakeup per record adds 7.5-8.5 us to the dropping packet's path
// and 14-16 us of process CPU per record, against ~0.5 us drained in periods.
//
// (Some 630 lines: one JS-visible object — its options' conversion (rodata,
// map contents, programs), the reader thread and the loss counters all work
// on the one LoadedObject; libbpf loading is already shared, bpf_loader.cc.)
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <napi.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <pthread.h>
#include <utility>
#include <vector>

#include "batch_channel.h"
#include "bpf_loader.h"
#include "ctscope_record.h"
#include "exports.h"

namespace ctscope {

// ---------------------------------------------------------------------------
// Encoding of JS values into map keys/values and rodata variables.

static std::vector<uint8_t> EncodeValue(Napi::Env env, Napi::Value v, size_t size,
                                        const std::string &what) {
  std::vector<uint8_t> out(size, 0);
  if (v.IsBuffer() || v.IsTypedArray() || v.IsArrayBuffer()) {
    const uint8_t *p;
    size_t len;
    if (v.IsArrayBuffer()) {
      auto ab = v.As<Napi::ArrayBuffer>();
      p = static_cast<const uint8_t *>(ab.Data());
      len = ab.ByteLength();
    } else {
      auto ta = v.As<Napi::TypedArray>();
      p = static_cast<const uint8_t *>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
      len = ta.ByteLength();
    }
    if (len != size)
      throw Napi::TypeError::New(env, what + ": needs " + std::to_string(size) + " bytes, got " +
                                          std::to_string(len));
    memcpy(out.data(), p, size);
    return out;
  }
  uint64_t x;
  if (v.IsBoolean()) {
    x = v.As<Napi::Boolean>().Value() ? 1 : 0;
  } else if (v.IsNumber()) {
    double d = v.As<Napi::Number>().DoubleValue();
    if (!(d >= -9007199254740991.0 && d <= 18446744073709551615.0) || d != (double)(int64_t)d)
      throw Napi::TypeError::New(env, what + ": not an integer");
    x = d < 0 ? (uint64_t)(int64_t)d : (uint64_t)d;
  } else if (v.IsBigInt()) {
    bool lossless;
    x = v.As<Napi::BigInt>().Uint64Value(&lossless);
  } else {
    throw Napi::TypeError::New(env, what + ": expected a number, bigint, boolean or bytes");
  }
  if (size > 8) throw Napi::TypeError::New(env, what + ": is " + std::to_string(size) + " bytes; pass a Uint8Array");
  if (size < 8 && (x >> (size * 8)) != 0 && (int64_t)x >= 0)
    throw Napi::TypeError::New(env, what + ": " + std::to_string(x) + " does not fit in " +
                                        std::to_string(size) + " bytes");
  for (size_t i = 0; i < size; i++) out[i] = (x >> (8 * i)) & 0xff;  // little-endian hosts only
  return out;
}

// ---------------------------------------------------------------------------

struct AttachFailure {
  std::string program;
  int err;
  std::string message;
};

// A loaded object and what attaching it did.
class LoadedObject {
 public:
  ~LoadedObject() { Close(); }

  void Detach() {
    for (auto *l : links) bpf_link__destroy(l);
    links.clear();
  }

  void Close() {
    Detach();
    bo.reset();
    obj = nullptr;
  }

  std::unique_ptr<BpfObject> bo;
  struct bpf_object *obj = nullptr;  // bo's
  std::vector<struct bpf_link *> links;
  std::vector<std::string> attached;
  std::vector<AttachFailure> failures;
};

struct LoadSpec {
  std::string path;
  std::vector<std::string> programs;  // empty: the object's autoload defaults
  Napi::Object rodata;                                                  // may be empty
  Napi::Object maps;                                                    // may be empty
  std::string ring_map;
  uint32_t ring_bytes = 0;
};

struct MapFill {
  struct bpf_map *map;
  std::vector<std::pair<std::vector<uint8_t>, std::vector<uint8_t>>> entries;
};

// Sets the values of `const volatile` globals in .rodata, by name, from BTF.
static void SetRodata(Napi::Env env, struct bpf_object *obj, Napi::Object values, const std::string &path) {
  Napi::Array names = values.GetPropertyNames();
  if (names.Length() == 0) return;
  struct bpf_map *rodata = nullptr;
  struct bpf_map *m;
  bpf_object__for_each_map(m, obj) {
    const char *n = bpf_map__name(m);
    size_t len = strlen(n);
    if (len >= 7 && strcmp(n + len - 7, ".rodata") == 0) rodata = m;
  }
  struct btf *btf = bpf_object__btf(obj);
  int sec_id = btf ? btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC) : -1;
  if (!rodata || sec_id <= 0)
    throw Napi::TypeError::New(env, "rodata: " + path + " has no const volatile globals");
  size_t size = 0;
  const void *init = bpf_map__initial_value(rodata, &size);
  std::vector<uint8_t> data(static_cast<const uint8_t *>(init), static_cast<const uint8_t *>(init) + size);
  const struct btf_type *sec = btf__type_by_id(btf, sec_id);
  for (uint32_t i = 0; i < names.Length(); i++) {
    std::string name = names.Get(i).As<Napi::String>();
    const struct btf_var_secinfo *vs = btf_var_secinfos(sec);
    bool found = false;
    std::string known;
    for (int j = 0; j < btf_vlen(sec); j++, vs++) {
      const struct btf_type *var = btf__type_by_id(btf, vs->type);
      const char *vname = btf__name_by_offset(btf, var->name_off);
      known += std::string(known.empty() ? "" : ", ") + vname;
      if (name != vname) continue;
      if (vs->offset + vs->size > size) break;
      std::vector<uint8_t> v = EncodeValue(env, values.Get(name), vs->size, "rodata." + name);
      memcpy(data.data() + vs->offset, v.data(), vs->size);
      found = true;
      break;
    }
    if (!found)
      throw Napi::TypeError::New(env, "rodata." + name + ": no such const volatile global in " + path +
                                          " (has: " + known + ")");
  }
  int err = bpf_map__set_initial_value(rodata, data.data(), data.size());
  if (err) throw Napi::Error::New(env, "rodata: cannot set initial value: " + ErrnoText(err));
}

// Converts the JS `maps` option now (so bad input fails before anything is
// loaded); applied after load.
static std::vector<MapFill> PrepareMaps(Napi::Env env, struct bpf_object *obj, Napi::Object maps) {
  std::vector<MapFill> out;
  Napi::Array names = maps.GetPropertyNames();
  for (uint32_t i = 0; i < names.Length(); i++) {
    std::string name = names.Get(i).As<Napi::String>();
    struct bpf_map *map = bpf_object__find_map_by_name(obj, name.c_str());
    if (!map) throw Napi::TypeError::New(env, "maps." + name + ": no such map in the object");
    Napi::Value entries = maps.Get(name);
    if (!entries.IsArray()) throw Napi::TypeError::New(env, "maps." + name + ": expected [[key, value], ...]");
    Napi::Array arr = entries.As<Napi::Array>();
    MapFill fill{map, {}};
    size_t ksz = bpf_map__key_size(map), vsz = bpf_map__value_size(map);
    for (uint32_t j = 0; j < arr.Length(); j++) {
      Napi::Value e = arr.Get(j);
      if (!e.IsArray() || e.As<Napi::Array>().Length() != 2)
        throw Napi::TypeError::New(env, "maps." + name + "[" + std::to_string(j) + "]: expected [key, value]");
      Napi::Array kv = e.As<Napi::Array>();
      std::string what = "maps." + name + "[" + std::to_string(j) + "]";
      fill.entries.emplace_back(EncodeValue(env, kv.Get(0u), ksz, what + " key"),
                                EncodeValue(env, kv.Get(1u), vsz, what + " value"));
    }
    out.push_back(std::move(fill));
  }
  return out;
}

// open -> autoload -> rodata -> ring size -> load -> fill maps -> attach.
// Throws a JS error (TypeError for bad options, Error with .program/.errno/
// .verifierLog for kernel refusals). Attach failures are collected, not thrown.
static std::unique_ptr<LoadedObject> LoadAndAttach(Napi::Env env, const LoadSpec &spec) {
  PrintCapture capture;
  auto lo = std::make_unique<LoadedObject>();

  {
    LoadError le;
    lo->bo = BpfObject::Open(spec.path, capture, &le);
    if (!lo->bo) throw MakeBpfError(env, le);
    lo->obj = lo->bo->obj();
  }

  // autoload only the requested programs
  std::set<std::string> want(spec.programs.begin(), spec.programs.end());
  std::string have;
  struct bpf_program *prog;
  bpf_object__for_each_program(prog, lo->obj) {
    const char *name = bpf_program__name(prog);
    have += std::string(have.empty() ? "" : ", ") + name;
    if (!want.empty()) bpf_program__set_autoload(prog, want.count(name) > 0);
  }
  for (const auto &p : spec.programs) {
    if (!bpf_object__find_program_by_name(lo->obj, p.c_str()))
      throw Napi::TypeError::New(env, "program '" + p + "' is not in " + spec.path + " (has: " + have + ")");
  }
  if (!spec.rodata.IsEmpty()) SetRodata(env, lo->obj, spec.rodata, spec.path);

  struct bpf_map *ring = nullptr;
  if (!spec.ring_map.empty()) {
    ring = bpf_object__find_map_by_name(lo->obj, spec.ring_map.c_str());
    if (!ring || bpf_map__type(ring) != BPF_MAP_TYPE_RINGBUF)
      throw Napi::TypeError::New(env, "ringMap '" + spec.ring_map + "' is not a ring buffer map of " + spec.path);
    if (spec.ring_bytes) {
      int err = bpf_map__set_max_entries(ring, spec.ring_bytes);
      if (err) throw Napi::TypeError::New(env, "ringBytes: " + ErrnoText(err));
    }
  }

  std::vector<MapFill> fills;
  if (!spec.maps.IsEmpty()) fills = PrepareMaps(env, lo->obj, spec.maps);

  {
    LoadError le;
    if (!lo->bo->Load(capture, &le)) throw MakeBpfError(env, le);
  }

  for (auto &f : fills) {
    for (auto &kv : f.entries) {
      int e = bpf_map__update_elem(f.map, kv.first.data(), kv.first.size(), kv.second.data(), kv.second.size(), BPF_ANY);
      if (e) {
        LoadError le;
        le.err = e;
        le.message = std::string("cannot fill map '") + bpf_map__name(f.map) + "': " + ErrnoText(e);
        throw MakeBpfError(env, le);
      }
    }
  }

  bpf_object__for_each_program(prog, lo->obj) {
    if (!bpf_program__autoload(prog)) continue;
    size_t mark = capture.text().size();
    struct bpf_link *link = bpf_program__attach(prog);
    if (!link) {
      int e = errno;
      std::string msg = "cannot attach: " + ErrnoText(e);
      std::string hint = Hint(e);
      if (!hint.empty()) msg += "; " + hint;
      std::string said = TailLines(capture.text().substr(mark), 3);
      if (!said.empty()) msg += " (libbpf: " + said + ")";
      lo->failures.push_back({bpf_program__name(prog), e, msg});
      continue;
    }
    lo->links.push_back(link);
    lo->attached.push_back(bpf_program__name(prog));
  }
  return lo;
}

static Napi::Array FailuresToJs(Napi::Env env, const std::vector<AttachFailure> &failures) {
  Napi::Array arr = Napi::Array::New(env, failures.size());
  for (size_t i = 0; i < failures.size(); i++) {
    Napi::Object f = Napi::Object::New(env);
    f.Set("program", failures[i].program);
    f.Set("errno", failures[i].err);
    f.Set("message", failures[i].message);
    arr.Set(i, f);
  }
  return arr;
}

// ---------------------------------------------------------------------------

class RingSource : public Napi::ObjectWrap<RingSource> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "RingSource",
                       {InstanceMethod<&RingSource::Start>("start"),
                        InstanceMethod<&RingSource::Stats>("stats"),
                        InstanceMethod<&RingSource::Stop>("stop"),
                        StaticMethod<&RingSource::Probe>("probe")});
  }

  RingSource(const Napi::CallbackInfo &info) : Napi::ObjectWrap<RingSource>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "new RingSource(options)");
    Napi::Object o = info[0].As<Napi::Object>();
    if (!o.Get("object").IsString()) throw Napi::TypeError::New(env, "options.object: path of a .bpf.o");
    spec_.path = o.Get("object").As<Napi::String>();
    Napi::Value progs = o.Get("programs");
    if (!progs.IsUndefined()) {
      if (!progs.IsArray()) throw Napi::TypeError::New(env, "options.programs: string[]");
      Napi::Array a = progs.As<Napi::Array>();
      for (uint32_t i = 0; i < a.Length(); i++) {
        if (!a.Get(i).IsString()) throw Napi::TypeError::New(env, "options.programs: string[]");
        spec_.programs.push_back(a.Get(i).As<Napi::String>());
      }
    }
    Napi::Value maps = o.Get("maps");
    if (!maps.IsUndefined()) {
      if (!maps.IsObject()) throw Napi::TypeError::New(env, "options.maps: { name: [[key, value], ...] }");
      maps_ref_ = Napi::Persistent(maps.As<Napi::Object>());
    }
    Napi::Value rodata = o.Get("rodata");
    if (!rodata.IsUndefined()) {
      if (!rodata.IsObject()) throw Napi::TypeError::New(env, "options.rodata: { name: value }");
      rodata_ref_ = Napi::Persistent(rodata.As<Napi::Object>());
    }
    spec_.ring_map = OptString(env, o, "ringMap", "events");
    loss_map_ = OptString(env, o, "lossMap", "");
    spec_.ring_bytes = OptUint(env, o, "ringBytes", 0, 0, 1u << 30);
    if (spec_.ring_bytes && (spec_.ring_bytes & (spec_.ring_bytes - 1)))
      throw Napi::TypeError::New(env, "options.ringBytes: must be a power of two (and a multiple of the page size)");
    batch_records_ = OptUint(env, o, "batchRecords", 1024, 1, 65536);
    poll_ms_ = OptUint(env, o, "pollMs", 2, 1, 60000);
    idle_drain_ms_ = (int)OptUint(env, o, "idleDrainMs", kIdleDrainMs, 0, 60000);
    max_queued_ = OptUint(env, o, "maxQueuedBatches", 64, 1, 65536);
    if (!o.Get("onBatch").IsFunction()) throw Napi::TypeError::New(env, "options.onBatch: (buf: ArrayBuffer, count: number) => void");
    on_batch_ = Napi::Persistent(o.Get("onBatch").As<Napi::Function>());
  }

  ~RingSource() override { Shutdown(); }

 private:
  static std::string OptString(Napi::Env env, Napi::Object o, const char *key, const char *def) {
    Napi::Value v = o.Get(key);
    if (v.IsUndefined() || v.IsNull()) return def;
    if (!v.IsString()) throw Napi::TypeError::New(env, std::string("options.") + key + ": string");
    return v.As<Napi::String>();
  }

  static uint32_t OptUint(Napi::Env env, Napi::Object o, const char *key, uint32_t def, uint32_t lo, uint32_t hi) {
    Napi::Value v = o.Get(key);
    if (v.IsUndefined()) return def;
    double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
    if (!(d >= lo && d <= hi) || d != (double)(uint32_t)d)
      throw Napi::TypeError::New(env, std::string("options.") + key + ": an integer in " + std::to_string(lo) +
                                          ".." + std::to_string(hi));
    return (uint32_t)d;
  }

  // start() -> { attached: string[], failed: [{ program, errno, message }] }
  Napi::Value Start(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (started_) throw Napi::Error::New(env, "RingSource already started (create a new one after stop())");
    started_ = true;
    LoadSpec spec = spec_;
    if (!maps_ref_.IsEmpty()) spec.maps = maps_ref_.Value();
    if (!rodata_ref_.IsEmpty()) spec.rodata = rodata_ref_.Value();
    lo_ = LoadAndAttach(env, spec);  // throws

    if (lo_->attached.empty() && !lo_->failures.empty()) {
      std::string msg = "no program of " + spec_.path + " could be attached:";
      for (auto &f : lo_->failures) msg += "\n  " + f.program + ": " + f.message;
      Napi::Error e = Napi::Error::New(env, msg);
      e.Value().Set("code", "EBPFATTACH");
      e.Value().Set("program", lo_->failures[0].program);
      e.Value().Set("errno", lo_->failures[0].err);
      e.Value().Set("failures", FailuresToJs(env, lo_->failures));
      lo_.reset();
      throw e;
    }

    if (!loss_map_.empty()) {
      loss_ = bpf_object__find_map_by_name(lo_->obj, loss_map_.c_str());
      if (!loss_) {
        lo_.reset();
        throw Napi::TypeError::New(env, "lossMap '" + loss_map_ + "' is not a map of " + spec_.path);
      }
    }
    struct bpf_map *ring = bpf_object__find_map_by_name(lo_->obj, spec_.ring_map.c_str());
    rb_ = ring_buffer__new(bpf_map__fd(ring), OnSample, this, nullptr);
    if (!rb_) {
      int e = errno;
      lo_.reset();
      throw Napi::Error::New(env, "cannot map ring buffer '" + spec_.ring_map + "': " + ErrnoText(e));
    }
    // The reader waits on its own epoll set: the ring map itself, edge-
    // triggered (one event per kernel wakeup, so a forced wakeup during the
    // gathering period is told apart from data merely being there), and an
    // eventfd, so stop() does not wait out a poll period.
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    struct epoll_event ev = {};
    ev.events = EPOLLIN | EPOLLET;
    ev.data.u32 = 0;
    bool ok = ep_ >= 0 && wake_fd_ >= 0 && epoll_ctl(ep_, EPOLL_CTL_ADD, bpf_map__fd(ring), &ev) == 0;
    ev.events = EPOLLIN;
    ev.data.u32 = 1;
    ok = ok && epoll_ctl(ep_, EPOLL_CTL_ADD, wake_fd_, &ev) == 0;
    if (!ok) {
      int e = errno;
      CloseFds();
      ring_buffer__free(rb_);
      rb_ = nullptr;
      lo_.reset();
      throw Napi::Error::New(env, "cannot set up the reader's epoll: " + ErrnoText(e));
    }
    channel_ = std::make_unique<BatchChannel>(env, on_batch_.Value(), max_queued_, batch_records_);
    running_.store(true);
    reader_ = std::thread([this] {
      pthread_setname_np(pthread_self(), "cts-ring");  // see netlink_loop.cc
      ReaderLoop();
    });
    env_ = env;
    if (napi_add_env_cleanup_hook(env, OnEnvCleanup, this) == napi_ok) has_cleanup_ = true;

    Napi::Object out = Napi::Object::New(env);
    Napi::Array attached = Napi::Array::New(env, lo_->attached.size());
    for (size_t i = 0; i < lo_->attached.size(); i++) attached.Set(i, lo_->attached[i]);
    out.Set("attached", attached);
    out.Set("failed", FailuresToJs(env, lo_->failures));
    return out;
  }

  static int OnSample(void *ctx, void *data, size_t size) {
    auto *self = static_cast<RingSource *>(ctx);
    if (size < sizeof(struct ctscope_record)) {
      self->malformed_.fetch_add(1, std::memory_order_relaxed);
      return 0;
    }
    self->channel_->Append(data);
    return 0;
  }

  void ReaderLoop() {
    struct epoll_event ev[2];
    while (running_.load(std::memory_order_relaxed)) {
      // Wait for the first record since the last drain (or stop()), and
      // drain every kIdleDrainMs whatever: a record can miss its wakeup (the
      // consumer's position store and its read of the next record's header
      // may pass each other, so the producer sees the consumer behind and
      // wakes nobody) and would otherwise wait for the next record, which
      // after a flood may never come (dashboard-live: 644 of 3,736 drops
      // still in the ring 10 s after the flood).
      int n = epoll_wait(ep_, ev, 2, idle_drain_ms_ > 0 ? idle_drain_ms_ : -1);
      if (n < 0) {
        if (errno == EINTR) continue;
        reader_error_.store(errno);
        break;
      }
      if (!running_.load(std::memory_order_relaxed)) break;
      // Let records gather for a period, unless a program forces a wakeup
      // (its backlog over wakeup_bytes) or stop() comes first.
      if (n > 0 && !Gather()) break;
      if (!running_.load(std::memory_order_relaxed)) break;
      n = ring_buffer__consume(rb_);
      if (n < 0 && n != -EINTR) {
        reader_error_.store(-n);
        break;
      }
      channel_->Flush();
    }
    // stop(): the programs are detached already; hand over what is left.
    ring_buffer__consume(rb_);
    channel_->Flush();
  }

  // The longest a record waits in the ring when its wakeup was missed.
  static constexpr int kIdleDrainMs = 100;

  // Sleeps out one poll period on the epoll set; false on an epoll error.
  bool Gather() {
    struct epoll_event ev[2];
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
      struct timespec t;
      clock_gettime(CLOCK_MONOTONIC, &t);
      long spent_ms = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
      long left = (long)poll_ms_ - spent_ms;
      if (left <= 0) return true;
      int n = epoll_wait(ep_, ev, 2, (int)left);
      if (n > 0) return true;
      if (n < 0 && errno != EINTR) {
        reader_error_.store(errno);
        return false;
      }
    }
  }

  void CloseFds() {
    if (ep_ >= 0) close(ep_);
    if (wake_fd_ >= 0) close(wake_fd_);
    ep_ = wake_fd_ = -1;
  }

  std::vector<uint64_t> ReadLoss() {
    std::vector<uint64_t> out;
    if (!loss_) return out;
    bool percpu = bpf_map__type(loss_) == BPF_MAP_TYPE_PERCPU_ARRAY || bpf_map__type(loss_) == BPF_MAP_TYPE_PERCPU_HASH;
    int ncpu = percpu ? libbpf_num_possible_cpus() : 1;
    if (ncpu <= 0) return out;
    size_t vsz = bpf_map__value_size(loss_);
    size_t stride = percpu ? (vsz + 7) / 8 * 8 : vsz;
    std::vector<uint8_t> buf(stride * ncpu);
    uint32_t key = 0;
    if (bpf_map__key_size(loss_) != sizeof(key) || vsz < sizeof(uint64_t)) return out;
    if (bpf_map__lookup_elem(loss_, &key, sizeof(key), buf.data(), buf.size(), 0)) return out;
    for (int c = 0; c < ncpu; c++) {
      uint64_t v;
      memcpy(&v, buf.data() + c * stride, sizeof(v));
      out.push_back(v);
    }
    return out;
  }

  // Runs of this object's programs the kernel skipped because the program
  // was already running on that CPU (bpf_prog_info.recursion_misses, 5.12+;
  // 0 before): a tracing program is not entered again on a CPU where it is
  // running, so a kfree_skb in a softirq that interrupted the drop program
  // goes unseen. Each is an event not recorded, and is counted as lost.
  uint64_t ReadRecursionMisses() const {
    uint64_t sum = 0;
    if (!lo_ || !lo_->obj) return 0;
    struct bpf_program *prog;
    bpf_object__for_each_program(prog, lo_->obj) {
      int fd = bpf_program__fd(prog);
      if (fd < 0) continue;
      struct bpf_prog_info pi = {};
      uint32_t len = sizeof(pi);
      if (bpf_obj_get_info_by_fd(fd, &pi, &len) == 0) sum += pi.recursion_misses;
    }
    return sum;
  }

  // stats() -> { perCpuReserveFailed, recursionMisses, queueDropped, delivered, malformed, readerError, running }
  Napi::Value Stats(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (lo_) {
      last_loss_ = ReadLoss();
      last_recursion_ = ReadRecursionMisses();
    }
    Napi::Array per = Napi::Array::New(env, last_loss_.size());
    for (size_t i = 0; i < last_loss_.size(); i++) per.Set(i, Napi::Number::New(env, (double)last_loss_[i]));
    Napi::Object o = Napi::Object::New(env);
    o.Set("perCpuReserveFailed", per);
    o.Set("recursionMisses", Napi::Number::New(env, (double)last_recursion_));
    o.Set("queueDropped", Napi::Number::New(env, (double)(channel_ ? channel_->dropped() : last_dropped_)));
    o.Set("delivered", Napi::Number::New(env, (double)(channel_ ? channel_->delivered() : last_delivered_)));
    o.Set("malformed", Napi::Number::New(env, (double)malformed_.load()));
    int re = reader_error_.load();
    o.Set("readerError", re ? Napi::Value(Napi::String::New(env, ErrnoText(re))) : env.Null());
    o.Set("running", Napi::Boolean::New(env, running_.load() && !re));
    return o;
  }

  Napi::Value Stop(const Napi::CallbackInfo &info) {
    Shutdown();
    return info.Env().Undefined();
  }

  // Process exit (or worker teardown) without stop(): the hook is consumed.
  static void OnEnvCleanup(void *arg) {
    auto *self = static_cast<RingSource *>(arg);
    self->has_cleanup_ = false;
    self->Shutdown();
  }

  // Idempotent; from stop(), the env cleanup hook or the destructor.
  void Shutdown() {
    if (has_cleanup_) {
      has_cleanup_ = false;
      napi_remove_env_cleanup_hook(env_, OnEnvCleanup, this);
    }
    // Producers first, so the reader's final drain gets every record.
    if (lo_) lo_->Detach();
    running_.store(false);
    if (wake_fd_ >= 0) {
      uint64_t one = 1;
      ssize_t w = write(wake_fd_, &one, sizeof(one));
      (void)w;
    }
    if (reader_.joinable()) reader_.join();
    CloseFds();
    if (rb_) {
      ring_buffer__free(rb_);
      rb_ = nullptr;
    }
    if (lo_) {
      last_loss_ = ReadLoss();
      last_recursion_ = ReadRecursionMisses();
      loss_ = nullptr;
      lo_.reset();  // destroys links, closes the object
    }
    if (channel_) {
      last_dropped_ = channel_->dropped();
      last_delivered_ = channel_->delivered();
      channel_->Release();
      channel_.reset();
    }
  }

  // RingSource.probe(object, program) -> { ok, errno, message, verifierLog? }
  // Loads and attaches one program alone, then detaches: what doctor uses to
  // tell which hooks this kernel allows.
  static Napi::Value Probe(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsString() || !info[1].IsString())
      throw Napi::TypeError::New(env, "RingSource.probe(object: string, program: string)");
    LoadSpec spec;
    spec.path = info[0].As<Napi::String>();
    spec.programs.push_back(info[1].As<Napi::String>());
    Napi::Object out = Napi::Object::New(env);
    try {
      std::unique_ptr<LoadedObject> lo = LoadAndAttach(env, spec);
      if (!lo->failures.empty()) {
        out.Set("ok", false);
        out.Set("errno", lo->failures[0].err);
        out.Set("message", lo->failures[0].message);
      } else {
        out.Set("ok", true);
        out.Set("errno", 0);
        out.Set("message", "attached");
      }
    } catch (const Napi::Error &e) {
      Napi::Object v = e.Value();
      out.Set("ok", false);
      Napi::Value en = v.Get("errno");
      out.Set("errno", en.IsNumber() ? en : Napi::Number::New(env, EINVAL));
      out.Set("message", v.Get("message"));
      if (v.Has("verifierLog")) out.Set("verifierLog", v.Get("verifierLog"));
    }
    return out;
  }

  LoadSpec spec_;
  Napi::ObjectReference maps_ref_;
  Napi::ObjectReference rodata_ref_;
  Napi::FunctionReference on_batch_;
  std::string loss_map_;
  uint32_t batch_records_ = 1024;
  uint32_t poll_ms_ = 2;
  // kIdleDrainMs unless the options say otherwise (0: none, only wakeups and
  // stop() drain: a test of the wakeup policy alone).
  int idle_drain_ms_ = kIdleDrainMs;
  uint32_t max_queued_ = 64;

  bool started_ = false;
  std::unique_ptr<LoadedObject> lo_;
  struct bpf_map *loss_ = nullptr;
  struct ring_buffer *rb_ = nullptr;
  std::unique_ptr<BatchChannel> channel_;
  std::thread reader_;
  std::atomic<bool> running_{false};
  std::atomic<int> reader_error_{0};
  std::atomic<uint64_t> malformed_{0};
  std::vector<uint64_t> last_loss_;
  uint64_t last_recursion_ = 0;
  uint64_t last_dropped_ = 0;
  uint64_t last_delivered_ = 0;
  int ep_ = -1;
  int wake_fd_ = -1;
  napi_env env_ = nullptr;
  bool has_cleanup_ = false;
};

void InitRingSource(Napi::Env env, Napi::Object exports) {
  exports.Set("RingSource", RingSource::Define(env));
}

}  // namespace ctscope
