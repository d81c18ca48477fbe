// SPDX-License-Identifier: GPL-2.0-only
// NetlinkFilter: the ctnetlink event sockets' BPF filter
// (bpf/netlink_filter.bpf.c), loaded once through the addon's one loader
// (bpf_loader.h) from the object JS names, and attached by every netlink
// reader to its event socket (SO_ATTACH_BPF with fd()). JS sets its sampling
// (setConfig) and reads its exact per-kind counts (counts()).
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

  std::unique_ptr<BpfObject> bo_;
  int prog_fd_ = -1, config_fd_ = -1, counts_fd_ = -1;
  int ncpus_ = 1;
};

}  // namespace

void InitNetlinkFilter(Napi::Env env, Napi::Object exports) {
  exports.Set("NetlinkFilter", NetlinkFilterWrap::Define(env));
}

}  // namespace ctscope
