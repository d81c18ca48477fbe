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
#include <napi.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <memory>
#include <string>
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
    if (info.Length() < 1 || !info[0].IsString())
      throw Napi::TypeError::New(env, "new NetlinkFilter(object: path of netlink_filter.bpf.o)");
    PrintCapture capture;
    LoadError le;
    bo_ = BpfObject::Open(info[0].As<Napi::String>(), capture, &le);
    if (!bo_) throw MakeBpfError(env, le);
    if (!bo_->Load(capture, &le)) {
      bo_.reset();
      throw MakeBpfError(env, le);
    }
    struct bpf_program *prog = bpf_object__find_program_by_name(bo_->obj(), "cts_ctnetlink_filter");
    struct bpf_map *config = bpf_object__find_map_by_name(bo_->obj(), "nlf_config");
    struct bpf_map *counts = bpf_object__find_map_by_name(bo_->obj(), "nlf_counts");
    if (!prog || !config || !counts) {
      bo_.reset();
      throw Napi::Error::New(env, "the ctnetlink filter's object lacks cts_ctnetlink_filter, nlf_config or nlf_counts (stale build?)");
    }
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

  // new NetlinkDecoder(object, filter, ringBytes?)
  explicit NetlinkDecoderWrap(const Napi::CallbackInfo &info) : Napi::ObjectWrap<NetlinkDecoderWrap>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsString() || !info[1].IsObject())
      throw Napi::TypeError::New(env, "new NetlinkDecoder(object: path of netlink_decode.bpf.o, filter: NetlinkFilter, ringBytes?)");
    NetlinkFilterWrap *filter = Napi::ObjectWrap<NetlinkFilterWrap>::Unwrap(info[1].As<Napi::Object>());
    if (!filter || filter->config_fd() < 0) throw Napi::TypeError::New(env, "NetlinkDecoder: the filter is closed");
    uint32_t ring_bytes = 0;
    if (info.Length() > 2 && !info[2].IsUndefined()) {
      ring_bytes = info[2].As<Napi::Number>().Uint32Value();
      if (ring_bytes < 4096 || (ring_bytes & (ring_bytes - 1)))
        throw Napi::TypeError::New(env, "NetlinkDecoder: ringBytes must be a power of two, at least a page");
    }
    PrintCapture capture;
    LoadError le;
    bo_ = BpfObject::Open(info[0].As<Napi::String>(), capture, &le);
    if (!bo_) throw MakeBpfError(env, le);
    struct bpf_object *obj = bo_->obj();
    struct bpf_program *prog = bpf_object__find_program_by_name(obj, "cts_ctnetlink_decode");
    struct bpf_map *config = bpf_object__find_map_by_name(obj, "nlf_config");
    struct bpf_map *counts = bpf_object__find_map_by_name(obj, "nlf_counts");
    struct bpf_map *ring = bpf_object__find_map_by_name(obj, "events");
    struct bpf_map *ctx = bpf_object__find_map_by_name(obj, "nld_ctx");
    diverted_ = bpf_object__find_map_by_name(obj, "nld_diverted");
    if (!prog || !config || !counts || !ring || !ctx || !diverted_) {
      bo_.reset();
      throw Napi::Error::New(env, "the ctnetlink decoder's object lacks a program or map it needs (stale build?)");
    }
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
