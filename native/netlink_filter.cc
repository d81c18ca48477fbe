// SPDX-License-Identifier: GPL-2.0-only
// NetlinkFilter: the ctnetlink event sockets' BPF filter
// (bpf/netlink_filter.bpf.c), loaded once through the addon's one loader
// (bpf_loader.h) from the object JS names, and attached by every netlink
// reader to its event socket (SO_ATTACH_BPF with fd()). JS sets its sampling
// (setConfig) and reads its exact per-kind counts (counts()).
//
// NetlinkDecoder: one namespace's instance of bpf/netlink_decode.bpf.c, the
// filter that also decodes events into records in its own ring buffer. It
// shares the filter's configuration and counts (the maps are reused before
// load), so sampling and counting are one whichever program a socket has.
// Its reader (netlink_reader.cc) attaches it, drains its ring and writes its
// context.
//
// Names in the objects (programs, maps) are the caller's, as in ingress.cc:
// the TypeScript side passes them from the names generated from each
// object's BTF (src/native/objects.generated.ts), so a typo does not compile;
// each is checked against the object when it is opened, before it is loaded.
#include <napi.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <initializer_list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bpf_loader.h"
#include "exports.h"
#include "netlink_filter.h"

namespace ctscope {

namespace {

std::string ErrText(int err) {
  if (err < 0) err = -err;
  return strerror(err);
}

// The names the caller gives: { program, maps: { <role>: name, ... } }.
struct Names {
  std::string program;
  std::vector<std::pair<std::string, std::string>> maps;  // role, name

  static Names Parse(Napi::Env env, Napi::Value v, const char *what, std::initializer_list<const char *> roles) {
    const std::string w(what);
    if (!v.IsObject()) throw Napi::TypeError::New(env, w + ": { program, maps } expected (src/native/objects.generated.ts)");
    Napi::Object o = v.As<Napi::Object>();
    Names n;
    if (!o.Get("program").IsString()) throw Napi::TypeError::New(env, w + ".program: the program's name");
    n.program = o.Get("program").As<Napi::String>();
    if (!o.Get("maps").IsObject()) throw Napi::TypeError::New(env, w + ".maps: an object of names");
    Napi::Object m = o.Get("maps").As<Napi::Object>();
    for (const char *role : roles) {
      if (!m.Get(role).IsString()) throw Napi::TypeError::New(env, w + ".maps." + role + ": the map's name");
      n.maps.emplace_back(role, m.Get(role).As<Napi::String>());
    }
    return n;
  }

  // The program and each map by role, from an opened object; a name the
  // object does not have throws (a stale build, or a name not generated).
  struct bpf_program *Program(Napi::Env env, const BpfObject &bo) const {
    struct bpf_program *p = bpf_object__find_program_by_name(bo.obj(), program.c_str());
    if (!p) throw Napi::TypeError::New(env, bo.path() + " has no program " + program + " (a stale build, or a name not from src/native/objects.generated.ts?)");
    return p;
  }
  struct bpf_map *Map(Napi::Env env, const BpfObject &bo, const char *role) const {
    for (const auto &rn : maps) {
      if (rn.first != role) continue;
      struct bpf_map *m = bpf_object__find_map_by_name(bo.obj(), rn.second.c_str());
      if (!m) throw Napi::TypeError::New(env, bo.path() + " has no map " + rn.second + " (a stale build, or a name not from src/native/objects.generated.ts?)");
      return m;
    }
    throw Napi::TypeError::New(env, std::string("no map named for ") + role);
  }
};

class NetlinkFilterWrap : public Napi::ObjectWrap<NetlinkFilterWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NetlinkFilter",
                       {InstanceMethod("fd", &NetlinkFilterWrap::Fd),
                        InstanceMethod("setConfig", &NetlinkFilterWrap::SetConfig),
                        InstanceMethod("counts", &NetlinkFilterWrap::Counts),
                        InstanceMethod("close", &NetlinkFilterWrap::Close)});
  }

  explicit NetlinkFilterWrap(const Napi::CallbackInfo &info) : Napi::ObjectWrap<NetlinkFilterWrap>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsString())
      throw Napi::TypeError::New(env, "new NetlinkFilter(object: path of netlink_filter.bpf.o, names: { program, maps: { config, counts } })");
    Names names = Names::Parse(env, info[1], "NetlinkFilter names", {"config", "counts"});
    PrintCapture capture;
    LoadError le;
    std::unique_ptr<BpfObject> bo = BpfObject::Open(info[0].As<Napi::String>(), capture, &le);
    if (!bo) throw MakeBpfError(env, le);
    struct bpf_program *prog = names.Program(env, *bo);
    struct bpf_map *config = names.Map(env, *bo, "config");
    struct bpf_map *counts = names.Map(env, *bo, "counts");
    if (!bo->Load(capture, &le)) throw MakeBpfError(env, le);
    bo_ = std::move(bo);
    prog_fd_ = bpf_program__fd(prog);
    config_fd_ = bpf_map__fd(config);
    counts_fd_ = bpf_map__fd(counts);
    ncpus_ = libbpf_num_possible_cpus();
    if (ncpus_ < 1) ncpus_ = 1;
  }

  ~NetlinkFilterWrap() override { Destroy(); }

 private:
  void Destroy() { bo_.reset(); }

  void Need(Napi::Env env) {
    if (!bo_) throw Napi::Error::New(env, "NetlinkFilter: closed");
  }

  Napi::Value Fd(const Napi::CallbackInfo &info) {
    Need(info.Env());
    return Napi::Number::New(info.Env(), prog_fd_);
  }

  Napi::Value SetConfig(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    Need(env);
    if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsBoolean())
      throw Napi::TypeError::New(env, "NetlinkFilter.setConfig(sampleShift, dropUpdates)");
    uint32_t shift = info[0].As<Napi::Number>().Uint32Value();
    if (shift > 31) throw Napi::TypeError::New(env, "NetlinkFilter.setConfig: sampleShift must be 0..31");
    struct cts_nlf_config c = {shift, info[1].As<Napi::Boolean>().Value() ? 1u : 0u};
    uint32_t zero = 0;
    int err = bpf_map_update_elem(config_fd_, &zero, &c, BPF_ANY);
    if (err) throw Napi::Error::New(env, "cannot configure the ctnetlink filter: " + ErrText(errno));
    return env.Undefined();
  }

  // [new kept, new refused, update kept, update refused, destroy kept, destroy refused], summed over CPUs.
  Napi::Value Counts(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    Need(env);
    Napi::Array out = Napi::Array::New(env, CTS_NLF_COUNTERS);
    std::vector<uint64_t> per(ncpus_);
    int fd = counts_fd_;
    for (uint32_t k = 0; k < CTS_NLF_COUNTERS; k++) {
      uint64_t sum = 0;
      if (bpf_map_lookup_elem(fd, &k, per.data()) == 0)
        for (int c = 0; c < ncpus_; c++) sum += per[c];
      out.Set(k, Napi::Number::New(env, (double)sum));
    }
    return out;
  }

  Napi::Value Close(const Napi::CallbackInfo &info) {
    Destroy();
    return info.Env().Undefined();
  }

 public:
  int config_fd() const { return bo_ ? config_fd_ : -1; }
  int counts_fd() const { return bo_ ? counts_fd_ : -1; }

 private:
  std::unique_ptr<BpfObject> bo_;
  int prog_fd_ = -1, config_fd_ = -1, counts_fd_ = -1;
  int ncpus_ = 1;
};

class NetlinkDecoderWrap : public Napi::ObjectWrap<NetlinkDecoderWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NetlinkDecoder",
                       {InstanceMethod("fds", &NetlinkDecoderWrap::Fds),
                        InstanceMethod("diverted", &NetlinkDecoderWrap::Diverted),
                        InstanceMethod("close", &NetlinkDecoderWrap::Close)});
  }

  // new NetlinkDecoder(object, filter, names, ringBytes?)
  explicit NetlinkDecoderWrap(const Napi::CallbackInfo &info) : Napi::ObjectWrap<NetlinkDecoderWrap>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 3 || !info[0].IsString() || !info[1].IsObject())
      throw Napi::TypeError::New(env, "new NetlinkDecoder(object: path of netlink_decode.bpf.o, filter: NetlinkFilter, names: { program, maps: { config, counts, ring, ctx, diverted } }, ringBytes?)");
    NetlinkFilterWrap *filter = Napi::ObjectWrap<NetlinkFilterWrap>::Unwrap(info[1].As<Napi::Object>());
    if (!filter || filter->config_fd() < 0) throw Napi::TypeError::New(env, "NetlinkDecoder: the filter is closed");
    Names names = Names::Parse(env, info[2], "NetlinkDecoder names", {"config", "counts", "ring", "ctx", "diverted"});
    uint32_t ring_bytes = 0;
    if (info.Length() > 3 && !info[3].IsUndefined()) {
      ring_bytes = info[3].As<Napi::Number>().Uint32Value();
      if (ring_bytes < 4096 || (ring_bytes & (ring_bytes - 1)))
        throw Napi::TypeError::New(env, "NetlinkDecoder: ringBytes must be a power of two, at least a page");
    }
    PrintCapture capture;
    LoadError le;
    bo_ = BpfObject::Open(info[0].As<Napi::String>(), capture, &le);
    if (!bo_) throw MakeBpfError(env, le);
    struct bpf_program *prog = names.Program(env, *bo_);
    struct bpf_map *config = names.Map(env, *bo_, "config");
    struct bpf_map *counts = names.Map(env, *bo_, "counts");
    struct bpf_map *ring = names.Map(env, *bo_, "ring");
    struct bpf_map *ctx = names.Map(env, *bo_, "ctx");
    diverted_ = names.Map(env, *bo_, "diverted");
    int err = bpf_map__reuse_fd(config, filter->config_fd());
    if (!err) err = bpf_map__reuse_fd(counts, filter->counts_fd());
    if (!err && ring_bytes) err = bpf_map__set_max_entries(ring, ring_bytes);
    if (err) {
      bo_.reset();
      throw Napi::Error::New(env, "cannot share the ctnetlink filter's maps with the decoder: " + ErrText(err));
    }
    if (!bo_->Load(capture, &le)) {
      bo_.reset();
      throw MakeBpfError(env, le);
    }
    prog_fd_ = bpf_program__fd(prog);
    ring_fd_ = bpf_map__fd(ring);
    ctx_fd_ = bpf_map__fd(ctx);
    ncpus_ = libbpf_num_possible_cpus();
    if (ncpus_ < 1) ncpus_ = 1;
  }

 private:
  void Need(Napi::Env env) {
    if (!bo_) throw Napi::Error::New(env, "NetlinkDecoder: closed");
  }

  // { prog, ring, ctx }: for the reader, which dups what it keeps.
  Napi::Value Fds(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    Need(env);
    Napi::Object o = Napi::Object::New(env);
    o.Set("prog", prog_fd_);
    o.Set("ring", ring_fd_);
    o.Set("ctx", ctx_fd_);
    return o;
  }

  // Events kept as datagrams instead of records, summed over CPUs.
  Napi::Value Diverted(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    Need(env);
    std::vector<uint64_t> per(ncpus_);
    uint32_t zero = 0;
    uint64_t sum = 0;
    if (bpf_map_lookup_elem(bpf_map__fd(diverted_), &zero, per.data()) == 0)
      for (int c = 0; c < ncpus_; c++) sum += per[c];
    return Napi::Number::New(env, (double)sum);
  }

  Napi::Value Close(const Napi::CallbackInfo &info) {
    bo_.reset();
    return info.Env().Undefined();
  }

  std::unique_ptr<BpfObject> bo_;
  struct bpf_map *diverted_ = nullptr;
  int prog_fd_ = -1, ring_fd_ = -1, ctx_fd_ = -1;
  int ncpus_ = 1;
};

}  // namespace

void InitNetlinkFilter(Napi::Env env, Napi::Object exports) {
  exports.Set("NetlinkFilter", NetlinkFilterWrap::Define(env));
  exports.Set("NetlinkDecoder", NetlinkDecoderWrap::Define(env));
}

}  // namespace ctscope
