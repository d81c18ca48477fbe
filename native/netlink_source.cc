// SPDX-License-Identifier: GPL-2.0-only
// NetlinkSource: conntrack lifecycles from ctnetlink events, for kernels that
// refuse function hooks (this machine: fentry EPERM, no kprobes). The
// JavaScript object over one namespace's reader: its options checked, its
// batches relayed to onBatch (counted as taken, for the reader's flow
// control), its counters read.
//
// The reader (sockets, events, dumps, resyncs) is netlink_reader.h; the one
// thread that serves every namespace's reader, netlink_loop.h.
#include <napi.h>

#include <atomic>
#include <memory>
#include <string>

#include "batch_channel.h"
#include "exports.h"
#include "netlink_reader.h"

namespace ctscope {

struct BatchRelay {
  Napi::FunctionReference target;
  std::shared_ptr<std::atomic<uint64_t>> consumed;
};

static Napi::Value Relay(const Napi::CallbackInfo &info) {
  auto *r = static_cast<BatchRelay *>(info.Data());
  // Counted first: the batch has left the queue even if the consumer throws.
  r->consumed->fetch_add(1, std::memory_order_release);
  return r->target.Call({info[0], info[1]});
}

class NetlinkSourceWrap : public Napi::ObjectWrap<NetlinkSourceWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NetlinkSource",
                       {InstanceMethod("start", &NetlinkSourceWrap::Start),
                        InstanceMethod("stop", &NetlinkSourceWrap::Stop),
                        InstanceMethod("resync", &NetlinkSourceWrap::Resync),
                        InstanceMethod("stats", &NetlinkSourceWrap::Stats)});
  }

  explicit NetlinkSourceWrap(const Napi::CallbackInfo &info)
      : Napi::ObjectWrap<NetlinkSourceWrap>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsObject())
      throw Napi::TypeError::New(env, "NetlinkSource(options): options object required");
    Napi::Object o = info[0].As<Napi::Object>();
    Napi::Value cb = o.Get("onBatch");
    if (!cb.IsFunction())
      throw Napi::TypeError::New(env, "NetlinkSource: onBatch must be a function");
    NetlinkReader::Options opts;
    Napi::Value p = o.Get("netnsPath");
    if (p.IsString()) opts.netns_path = p.As<Napi::String>().Utf8Value();
    else if (!p.IsUndefined() && !p.IsNull())
      throw Napi::TypeError::New(env, "NetlinkSource: netnsPath must be a string");
    auto num = [&](const char *k, double def, double lo, double hi) {
      Napi::Value v = o.Get(k);
      if (v.IsUndefined()) return def;
      if (!v.IsNumber()) throw Napi::TypeError::New(env, std::string("NetlinkSource: ") + k + " must be a number");
      double d = v.As<Napi::Number>().DoubleValue();
      if (!(d >= lo && d <= hi))
        throw Napi::TypeError::New(env, std::string("NetlinkSource: ") + k + " out of range");
      return d;
    };
    opts.rcvbuf = (int)num("rcvbufBytes", 4 << 20, 4096, 2147483647.0 / 2);
    opts.rcvbuf_max = (int)num("rcvbufMaxBytes", 128 << 20, 4096, 2147483647.0 / 2);
    opts.poll_ms = (uint32_t)num("pollMs", 20, 1, 10000);
    opts.coalesce_us = (uint32_t)num("coalesceUs", 1000, 0, 100000);
    opts.batch_records = (uint32_t)num("batchRecords", 1024, 1, 1 << 20);
    size_t queued = (size_t)num("maxQueuedBatches", 256, 1, 1 << 20);
    Napi::Value ffd = o.Get("filterFd");
    if (!ffd.IsUndefined()) {
      if (!ffd.IsNumber()) throw Napi::TypeError::New(env, "NetlinkSource: filterFd must be a number");
      opts.filter_fd = ffd.As<Napi::Number>().Int32Value();
    }
    Napi::Value dec = o.Get("decoder");
    if (!dec.IsUndefined()) {
      if (!dec.IsObject()) throw Napi::TypeError::New(env, "NetlinkSource: decoder must be NetlinkDecoder.fds()");
      Napi::Object f = dec.As<Napi::Object>();
      for (const char *k : {"prog", "ring", "ctx"})
        if (!f.Get(k).IsNumber()) throw Napi::TypeError::New(env, std::string("NetlinkSource: decoder.") + k + " must be a number");
      opts.decoder_prog_fd = f.Get("prog").As<Napi::Number>().Int32Value();
      opts.decoder_ring_fd = f.Get("ring").As<Napi::Number>().Int32Value();
      opts.decoder_ctx_fd = f.Get("ctx").As<Napi::Number>().Int32Value();
    }
    Napi::Value d = o.Get("dumpAtStart");
    opts.dump_at_start = d.IsUndefined() ? true : d.ToBoolean().Value();
    // The channel calls a relay that counts the batch as taken, then the
    // consumer: the reader's flow control (Room()) needs to know.
    auto consumed = std::make_shared<std::atomic<uint64_t>>(0);
    auto *relay = new BatchRelay{Napi::Persistent(cb.As<Napi::Function>()), consumed};
    Napi::Function relay_fn = Napi::Function::New(env, Relay, "onBatch", relay);
    relay_fn.AddFinalizer([](Napi::Env, BatchRelay *r) { delete r; }, relay);
    auto ch = std::make_unique<BatchChannel>(env, relay_fn, queued, opts.batch_records);
    // A reader must not keep the process alive by itself (like an unref'd timer).
    ch->Unref(env);
    reader_ = std::make_unique<NetlinkReader>(std::move(opts), std::move(ch), consumed, queued);
    napi_add_env_cleanup_hook(env, Cleanup, this);
  }

  ~NetlinkSourceWrap() override {
    if (!cleaned_) napi_remove_env_cleanup_hook(Env(), Cleanup, this);
    if (reader_) reader_->Stop();
  }

 private:
  static void Cleanup(void *arg) {
    auto *self = static_cast<NetlinkSourceWrap *>(arg);
    self->cleaned_ = true;
    if (self->reader_) self->reader_->Stop();
  }

  Napi::Value Start(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (started_) throw Napi::Error::New(env, "NetlinkSource: already started");
    started_ = true;
    std::string err = reader_->Start();
    if (!err.empty()) {
      reader_->channel()->Release();
      throw Napi::Error::New(env, "ctnetlink: " + err);
    }
    return Napi::Number::New(env, reader_->netns());
  }

  Napi::Value Stop(const Napi::CallbackInfo &info) {
    reader_->Stop();
    return info.Env().Undefined();
  }

  Napi::Value Resync(const Napi::CallbackInfo &info) {
    reader_->AskResync();
    return info.Env().Undefined();
  }

  Napi::Value Stats(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    NetlinkReader &r = *reader_;
    Napi::Object s = Napi::Object::New(env);
    auto n = [&](const char *k, double v) { s.Set(k, Napi::Number::New(env, v)); };
    n("overruns", (double)r.overruns.load());
    n("resyncs", (double)r.resyncs.load());
    n("queueDropped", (double)r.channel()->dropped());
    n("delivered", (double)r.channel()->delivered());
    n("rcvbuf", r.rcvbuf());
    n("rcvbufGrowths", (double)r.rcvbuf_growths.load());
    n("netns", r.netns());
    n("events", (double)r.events.load());
    n("decoded", (double)r.decoded.load());
    n("dumps", (double)r.dumps.load());
    n("lastDumpEntries", (double)r.last_dump_entries.load());
    n("parseErrors", (double)r.parse_errors.load());
    n("recvErrors", (double)r.recv_errors.load());
    s.Set("resyncing", Napi::Boolean::New(env, r.resync_active.load() || r.resync_pending_.load()));
    s.Set("running", Napi::Boolean::New(env, r.running()));
    std::string e = r.last_error();
    s.Set("lastError", e.empty() ? env.Null() : Napi::String::New(env, e));
    return s;
  }

  std::unique_ptr<NetlinkReader> reader_;
  bool started_ = false;
  bool cleaned_ = false;
};

void InitNetlinkSource(Napi::Env env, Napi::Object exports) {
  exports.Set("NetlinkSource", NetlinkSourceWrap::Define(env));
}

}  // namespace ctscope
