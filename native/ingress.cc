// SPDX-License-Identifier: GPL-2.0-only
// IngressCounter: loads bpf/ingress.bpf.o (arrivals before conntrack),
// attaches it to interfaces of any network namespace and drains its counting
// maps. No record per packet: the program aggregates in bounded maps and
// collect() returns what arrived since the previous call.
//
// Attachment, per interface:
//  - tcx (kernel >= 6.6): a BPF link made with a raw BPF_LINK_CREATE
//    (attach type BPF_TCX_INGRESS = 46; libbpf 1.1 has no bpf_program__attach_tcx).
//    Links are file descriptors: when the process dies, even by kill -9, the
//    kernel detaches them.
//  - legacy clsact filter otherwise: handle 0xc75c, priority 0xc75c, direct
//    action. Filters outlive the process, so detach() and process exit remove
//    them, and every attach first removes a *stale* filter of ours on that
//    interface (same handle and priority, a program named cts_ingress*, not
//    one of this process). The clsact qdisc is deleted on a clean stop only
//    when this process created it and no filter (anyone's) is left on it;
//    one that was there before ctscope stays.
// Both are created from a short-lived thread that joined the target network
// namespace (setns), because ifindexes, the link target and the rtnetlink
// socket all resolve in the calling thread's namespace (tc_attach.cc: the
// namespace thread, our filter's lookup and removal over rtnetlink).
//
// Names in the object (programs, maps) are the caller's: the TypeScript side
// passes them from the names generated from the object's BTF
// (src/native/objects.generated.ts), and each is checked here against the
// object when it is opened, as RingSource does.
//
// (Some 750 lines: one JS-visible object — loading the object in one of its
// two variants, attaching per interface by tcx or clsact, and draining the
// maps' two generations all work on the one Loaded object and its
// attachments; the tc plumbing is apart, tc_attach.cc.)
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <napi.h>
#include <linux/netlink.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "bpf_loader.h"
#include "exports.h"
#include "in_netns.h"
#include "ingress.h"
#include "tc_attach.h"

namespace ctscope {

namespace {

// enum bpf_attach_type: BPF_TCX_INGRESS is 46 since 6.6 (uapi linux/bpf.h);
// Debian 12's headers predate it.
constexpr int kBpfTcxIngress = 46;
// Time for programs that read the old generation to finish before its maps
// are drained (a tc program runs for microseconds with bottom halves off).
constexpr auto kFlipGrace = std::chrono::milliseconds(5);

Napi::Error MakeError(Napi::Env env, const std::string &msg, const char *code, int err) {
  LoadError le;
  le.message = msg;
  le.err = err;
  return MakeBpfError(env, le, code);
}


struct Attachment {
  uint32_t id;
  std::string ns_path;  // "" = ctscope's own namespace
  std::string ifname;
  int ifindex;
  bool tcx;
  int link_fd = -1;  // tcx
  bool made_clsact = false;  // legacy: we created the clsact qdisc (detach may remove it)
};

struct Snapshot {
  struct Src {
    cts_in_src_key key;
    cts_in_src_val val;
  };
  struct Port {
    cts_in_port_key key;
    uint64_t count;
  };
  struct Pair {
    cts_in_pair_key key;
    uint64_t count;
  };
  std::vector<Src> src;
  std::vector<Port> ports;
  std::vector<Pair> pairs;
  uint64_t stats[CTS_IN_STAT_MAX] = {};
  std::string error;
};

// Everything whose lifetime must cover an in-flight collect().
struct Loaded {
  std::mutex mu;  // serializes collect() against close()
  std::unique_ptr<BpfObject> bo;
  struct bpf_object *obj = nullptr;  // bo's
  int prog_fd = -1;
  uint32_t prog_id = 0;
  std::string variant;  // "ct" or "lru"
  int ctl_fd = -1, stats_fd = -1;
  int src_fd[2] = {-1, -1}, port_fd[2] = {-1, -1}, pair_fd[2] = {-1, -1};
  uint32_t gen = 0;

};

// What the caller calls the object's programs and maps (options.programs,
// options.maps), each checked against the object when it is opened.
struct ObjectNames {
  std::map<std::string, std::string> programs;  // variant ("ct", "lru") -> program
  std::string ctl, stats, udp_seen;
  std::string src[2], port[2], pair[2];
};

template <typename K, typename V, typename Out>
int Drain(int fd, Out &out) {
  std::vector<K> keys;
  K key, next;
  void *prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    V val;
    if (bpf_map_lookup_elem(fd, &next, &val) == 0) out.push_back({next, val});
    keys.push_back(next);
    key = next;
    prev = &key;
  }
  // The map is idle (the program writes the other generation): deleting
  // after the walk cannot lose an increment.
  for (auto &k : keys) bpf_map_delete_elem(fd, &k);
  return 0;
}

void CollectInto(Loaded &lo, Snapshot &snap) {
  std::lock_guard<std::mutex> g(lo.mu);
  if (!lo.obj) {
    snap.error = "ingress counter is closed";
    return;
  }
  uint32_t old = lo.gen;
  uint32_t next = old ^ 1, zero = 0;
  int err = bpf_map_update_elem(lo.ctl_fd, &zero, &next, BPF_ANY);
  if (err) {
    snap.error = "cannot switch the counting maps: " + ErrnoText(err);
    return;
  }
  lo.gen = next;
  std::this_thread::sleep_for(kFlipGrace);
  Drain<cts_in_src_key, cts_in_src_val>(lo.src_fd[old], snap.src);
  Drain<cts_in_port_key, uint64_t>(lo.port_fd[old], snap.ports);
  Drain<cts_in_pair_key, uint64_t>(lo.pair_fd[old], snap.pairs);
  int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return;
  std::vector<uint64_t> per(ncpu);
  for (uint32_t i = 0; i < CTS_IN_STAT_MAX; i++) {
    if (bpf_map_lookup_elem(lo.stats_fd, &i, per.data()) != 0) continue;
    for (int c = 0; c < ncpu; c++) snap.stats[i] += per[c];
  }
}

Napi::Uint8Array AddrBytes(Napi::Env env, const uint8_t *addr) {
  Napi::Uint8Array a = Napi::Uint8Array::New(env, 16);
  memcpy(a.Data(), addr, 16);
  return a;
}

Napi::Object SnapshotToJs(Napi::Env env, const Snapshot &s) {
  Napi::Object o = Napi::Object::New(env);
  Napi::Array src = Napi::Array::New(env, s.src.size());
  for (size_t i = 0; i < s.src.size(); i++) {
    Napi::Object e = Napi::Object::New(env);
    e.Set("family", s.src[i].key.family);
    e.Set("addr", AddrBytes(env, s.src[i].key.addr));
    e.Set("tcpSyn", Napi::Number::New(env, (double)s.src[i].val.tcp_syn));
    e.Set("udpNew", Napi::Number::New(env, (double)s.src[i].val.udp_new));
    src.Set(i, e);
  }
  Napi::Array ports = Napi::Array::New(env, s.ports.size());
  for (size_t i = 0; i < s.ports.size(); i++) {
    Napi::Object e = Napi::Object::New(env);
    e.Set("proto", s.ports[i].key.proto);
    e.Set("port", s.ports[i].key.port);
    e.Set("count", Napi::Number::New(env, (double)s.ports[i].count));
    ports.Set(i, e);
  }
  Napi::Array pairs = Napi::Array::New(env, s.pairs.size());
  for (size_t i = 0; i < s.pairs.size(); i++) {
    Napi::Object e = Napi::Object::New(env);
    e.Set("family", s.pairs[i].key.family);
    e.Set("addr", AddrBytes(env, s.pairs[i].key.addr));
    e.Set("proto", s.pairs[i].key.proto);
    e.Set("port", s.pairs[i].key.port);
    e.Set("count", Napi::Number::New(env, (double)s.pairs[i].count));
    pairs.Set(i, e);
  }
  o.Set("src", src);
  o.Set("ports", ports);
  o.Set("pairs", pairs);
  Napi::Object st = Napi::Object::New(env);
  static const char *names[CTS_IN_STAT_MAX] = {"packets",      "tcpSyn",       "udpNew",   "srcOverflow",
                                               "portOverflow", "pairOverflow", "ctErrors", "unparsed"};
  for (int i = 0; i < CTS_IN_STAT_MAX; i++) st.Set(names[i], Napi::Number::New(env, (double)s.stats[i]));
  o.Set("stats", st);
  return o;
}

class CollectWorker : public Napi::AsyncWorker {
 public:
  CollectWorker(Napi::Env env, std::shared_ptr<Loaded> lo)
      : Napi::AsyncWorker(env), lo_(std::move(lo)), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override { CollectInto(*lo_, snap_); }
  void OnOK() override {
    Napi::Env env = Env();
    if (!snap_.error.empty())
      deferred_.Reject(Napi::Error::New(env, snap_.error).Value());
    else
      deferred_.Resolve(SnapshotToJs(env, snap_));
  }
  void OnError(const Napi::Error &e) override { deferred_.Reject(e.Value()); }

 private:
  std::shared_ptr<Loaded> lo_;
  Snapshot snap_;
  Napi::Promise::Deferred deferred_;
};

bool KernelHasFunc(const char *name) {
  struct btf *vm = btf__load_vmlinux_btf();
  if (!vm) return false;
  bool found = btf__find_by_name_kind(vm, name, BTF_KIND_FUNC) > 0;
  if (!found) {
    // nf_conntrack built as a module carries its kfuncs in module BTF.
    struct btf *mod = btf__load_module_btf("nf_conntrack", vm);
    if (mod) {
      found = btf__find_by_name_kind(mod, name, BTF_KIND_FUNC) > 0;
      btf__free(mod);
    }
  }
  btf__free(vm);
  return found;
}

}  // namespace

class IngressCounter : public Napi::ObjectWrap<IngressCounter> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "IngressCounter",
                       {InstanceMethod<&IngressCounter::Attach>("attach"),
                        InstanceMethod<&IngressCounter::Detach>("detach"),
                        InstanceMethod<&IngressCounter::Attachments>("attachments"),
                        InstanceMethod<&IngressCounter::Collect>("collect"),
                        InstanceMethod<&IngressCounter::Info>("info"),
                        InstanceMethod<&IngressCounter::Close>("close"),
                        StaticMethod<&IngressCounter::ListInterfaces>("listInterfaces"),
                        StaticMethod<&IngressCounter::RemoveStale>("removeStaleFilters")});
  }

  // new IngressCounter({ object: string, variant?: 'auto'|'ct'|'lru',
  //   programs: { ct, lru }, maps: { ctl, stats, udpSeen, src: [a, b], port: [a, b], pair: [a, b] } })
  IngressCounter(const Napi::CallbackInfo &info) : Napi::ObjectWrap<IngressCounter>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "new IngressCounter(options)");
    Napi::Object o = info[0].As<Napi::Object>();
    if (!o.Get("object").IsString()) throw Napi::TypeError::New(env, "options.object: path of ingress.bpf.o");
    std::string path = o.Get("object").As<Napi::String>();
    names_ = ParseNames(env, o);
    std::string variant = "auto";
    if (o.Has("variant") && !o.Get("variant").IsUndefined()) {
      if (!o.Get("variant").IsString()) throw Napi::TypeError::New(env, "options.variant: 'auto' | 'ct' | 'lru'");
      variant = o.Get("variant").As<Napi::String>();
    }
    if (variant != "auto" && variant != "ct" && variant != "lru")
      throw Napi::TypeError::New(env, "options.variant: 'auto' | 'ct' | 'lru'");

    std::string first_error;
    if (variant == "ct" || (variant == "auto" && KernelHasFunc("bpf_skb_ct_lookup"))) {
      lo_ = Load(path, "ct", names_, &first_error);
      if (!lo_ && variant == "ct") throw MakeError(env, first_error, "EBPFLOAD", 0);
    }
    if (!lo_) {
      std::string err;
      lo_ = Load(path, "lru", names_, &err);
      if (!lo_) throw MakeError(env, first_error.empty() ? err : first_error + "; fallback: " + err, "EBPFLOAD", 0);
    }
    {
      std::lock_guard<std::mutex> g(live_mu_);
      live_prog_ids_.push_back(lo_->prog_id);
    }
    env_ = env;
    napi_add_env_cleanup_hook(env, CleanupHook, this);
    hooked_ = true;
    live_.insert(this);
  }

  // process.on('exit') listener (registered once by InitIngress): legacy
  // filters outlive the process, and process.exit() does not run the env
  // cleanup hooks, so every counter still open detaches here.
  static Napi::Value OnProcessExit(const Napi::CallbackInfo &info) {
    std::set<IngressCounter *> all = live_;
    for (auto *c : all) c->Shutdown();
    return info.Env().Undefined();
  }

  ~IngressCounter() override {
    if (hooked_) napi_remove_env_cleanup_hook(env_, CleanupHook, this);
    Shutdown();
    live_.erase(this);
  }

 private:
  static void CleanupHook(void *arg) {
    auto *self = static_cast<IngressCounter *>(arg);
    self->hooked_ = false;
    self->Shutdown();
  }

  static ObjectNames ParseNames(Napi::Env env, Napi::Object o) {
    ObjectNames n;
    auto str = [&](Napi::Object from, const char *key, const std::string &what) {
      Napi::Value v = from.Get(key);
      if (!v.IsString() || v.As<Napi::String>().Utf8Value().empty())
        throw Napi::TypeError::New(env, what + ": the name of that program or map in ingress.bpf.o");
      return v.As<Napi::String>().Utf8Value();
    };
    auto obj = [&](Napi::Object from, const char *key, const std::string &what) {
      Napi::Value v = from.Get(key);
      if (!v.IsObject()) throw Napi::TypeError::New(env, what + ": expected an object of names");
      return v.As<Napi::Object>();
    };
    auto pair = [&](Napi::Object from, const char *key, std::string (&out)[2]) {
      std::string what = std::string("options.maps.") + key;
      Napi::Value v = from.Get(key);
      if (!v.IsArray() || v.As<Napi::Array>().Length() != 2)
        throw Napi::TypeError::New(env, what + ": the names of its two generations [a, b]");
      Napi::Array a = v.As<Napi::Array>();
      for (uint32_t i = 0; i < 2; i++) {
        if (!a.Get(i).IsString()) throw Napi::TypeError::New(env, what + ": names are strings");
        out[i] = a.Get(i).As<Napi::String>();
      }
    };
    Napi::Object progs = obj(o, "programs", "options.programs");
    for (const char *variant : {"ct", "lru"}) {
      std::string p = str(progs, variant, std::string("options.programs.") + variant);
      // Our filters are recognised by their program's name (stale ones of an earlier run included).
      if (p.rfind(kProgPrefix, 0) != 0)
        throw Napi::TypeError::New(env, "options.programs." + std::string(variant) + ": '" + p + "' does not start with " + kProgPrefix);
      n.programs[variant] = p;
    }
    Napi::Object maps = obj(o, "maps", "options.maps");
    n.ctl = str(maps, "ctl", "options.maps.ctl");
    n.stats = str(maps, "stats", "options.maps.stats");
    n.udp_seen = str(maps, "udpSeen", "options.maps.udpSeen");
    pair(maps, "src", n.src);
    pair(maps, "port", n.port);
    pair(maps, "pair", n.pair);
    return n;
  }

  static std::shared_ptr<Loaded> Load(const std::string &path, const std::string &variant, const ObjectNames &names, std::string *error) {
    auto lo = std::make_shared<Loaded>();
    PrintCapture capture;
    LoadError le;
    lo->bo = BpfObject::Open(path, capture, &le);
    if (!lo->bo) {
      *error = le.message;
      return nullptr;
    }
    lo->obj = lo->bo->obj();
    const std::string &want = names.programs.at(variant);
    struct bpf_program *prog, *chosen = nullptr;
    bpf_object__for_each_program(prog, lo->obj) {
      bool mine = want == bpf_program__name(prog);
      bpf_program__set_autoload(prog, mine);
      if (mine) chosen = prog;
    }
    if (!chosen) {
      *error = path + " has no program " + want;
      return nullptr;
    }
    // The LRU of recent UDP tuples is only used by the fallback program.
    if (variant == "ct") {
      struct bpf_map *seen = bpf_object__find_map_by_name(lo->obj, names.udp_seen.c_str());
      if (seen) bpf_map__set_max_entries(seen, 1);
    }
    if (!lo->bo->Load(capture, &le)) {
      *error = le.message;
      return nullptr;
    }
    lo->prog_fd = bpf_program__fd(chosen);
    lo->prog_id = ProgId(lo->prog_fd);
    lo->variant = variant;
    std::string missing;
    auto fd = [&](const std::string &name) {
      struct bpf_map *m = bpf_object__find_map_by_name(lo->obj, name.c_str());
      if (!m) missing += (missing.empty() ? "" : ", ") + name;
      return m ? bpf_map__fd(m) : -1;
    };
    lo->ctl_fd = fd(names.ctl);
    lo->stats_fd = fd(names.stats);
    for (int g = 0; g < 2; g++) {
      lo->src_fd[g] = fd(names.src[g]);
      lo->port_fd[g] = fd(names.port[g]);
      lo->pair_fd[g] = fd(names.pair[g]);
    }
    if (!missing.empty()) {
      *error = path + " has no map " + missing + " (a stale build, or names not from src/native/objects.generated.ts?)";
      return nullptr;
    }
    return lo;
  }

  // Detaches one attachment; returns 0 or -errno (already gone counts as 0).
  int DetachOne(Attachment &a) {
    if (a.tcx) {
      if (a.link_fd >= 0) close(a.link_fd);
      a.link_fd = -1;
      return 0;
    }
    int result = 0;
    uint32_t mine = lo_ ? lo_->prog_id : 0;
    int err = InNetns(a.ns_path, [&] {
      long id = QueryOurFilter(a.ifindex, nullptr);
      // Only the filter running our program: a later run may have put its
      // own there after the interface came back.
      if (id > 0 && (uint32_t)id == mine) result = DetachFilter(a.ifindex);
      // The qdisc we created goes too, unless someone hung a filter on it meanwhile.
      if (result == 0 && a.made_clsact && HasClsact(a.ifindex) && ClsactFilters(a.ifindex) == 0) {
        DECLARE_LIBBPF_OPTS(bpf_tc_hook, h, .ifindex = a.ifindex, .attach_point = (enum bpf_tc_attach_point)(BPF_TC_INGRESS | BPF_TC_EGRESS));
        bpf_tc_hook_destroy(&h);
      }
    });
    // A namespace that is gone took the interface and its filters with it.
    if (err == -ENOENT) return 0;
    return err ? err : (result == -ENOENT || result == -ENODEV ? 0 : result);
  }

  void Shutdown() {
    live_.erase(this);
    for (auto &kv : attached_) DetachOne(kv.second);
    attached_.clear();
    if (lo_) {
      {
        std::lock_guard<std::mutex> g(live_mu_);
        for (auto it = live_prog_ids_.begin(); it != live_prog_ids_.end(); ++it)
          if (*it == lo_->prog_id) {
            live_prog_ids_.erase(it);
            break;
          }
      }
      std::lock_guard<std::mutex> g(lo_->mu);
      lo_->bo.reset();
      lo_->obj = nullptr;
    }
    lo_.reset();
  }

  void CheckOpen(Napi::Env env) {
    if (!lo_) throw Napi::Error::New(env, "ingress counter is closed");
  }

  // attach(nsPath: string|null, ifname: string, hook: 'auto'|'tcx'|'tc-clsact')
  //   -> { id, ifindex, hook: 'tcx'|'tc-clsact', staleRemoved: number }
  Napi::Value Attach(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    CheckOpen(env);
    if (info.Length() < 3 || !(info[0].IsString() || info[0].IsNull()) || !info[1].IsString() ||
        !info[2].IsString())
      throw Napi::TypeError::New(env, "attach(nsPath: string|null, ifname: string, hook: 'auto'|'tcx'|'tc-clsact')");
    std::string ns = info[0].IsNull() ? "" : std::string(info[0].As<Napi::String>());
    std::string ifname = info[1].As<Napi::String>();
    std::string hook = info[2].As<Napi::String>();
    if (hook != "auto" && hook != "tcx" && hook != "tc-clsact")
      throw Napi::TypeError::New(env, "hook: 'auto' | 'tcx' | 'tc-clsact'");
    if (ifname.empty() || ifname.size() >= IF_NAMESIZE) throw Napi::TypeError::New(env, "ifname: 1-15 characters");

    Attachment a;
    a.ns_path = ns;
    a.ifname = ifname;
    int stale = 0;
    int fail = 0;
    std::string what;
    const int prog_fd = lo_->prog_fd;
    const uint32_t prog_id = lo_->prog_id;
    int nserr = InNetns(ns, [&] {
      a.ifindex = (int)if_nametoindex(ifname.c_str());
      if (!a.ifindex) {
        fail = -errno;
        what = "no interface";
        return;
      }
      // A crash (kill -9) leaves legacy filters behind; remove ours only.
      std::string name;
      long id = QueryOurFilter(a.ifindex, &name);
      if (id > 0 && (uint32_t)id != prog_id && name.rfind(kProgPrefix, 0) == 0 && !IsLive((uint32_t)id)) {
        if (DetachFilter(a.ifindex) == 0) stale++;
      }
      if (hook != "tc-clsact") {
        int fd = bpf_link_create(prog_fd, a.ifindex, (enum bpf_attach_type)kBpfTcxIngress, nullptr);
        if (fd >= 0) {
          a.tcx = true;
          a.link_fd = fd;
          return;
        }
        fail = fd < 0 ? fd : -errno;
        what = "tcx link";
        // Kernels before 6.6 do not know the attach type: EINVAL.
        if (hook == "tcx" || fail != -EINVAL) return;
      }
      DECLARE_LIBBPF_OPTS(bpf_tc_hook, h, .ifindex = a.ifindex, .attach_point = BPF_TC_INGRESS);
      // The clsact qdisc: created when missing, never deleted (others'
      // filters may hang off it). Asked first: creating an existing one
      // makes libbpf print the kernel's refusal.
      bool had = HasClsact(a.ifindex);
      int err = had ? 0 : bpf_tc_hook_create(&h);
      if (err && err != -EEXIST) {
        fail = err;
        what = "clsact qdisc";
        return;
      }
      a.made_clsact = !had && err == 0;
      DECLARE_LIBBPF_OPTS(bpf_tc_opts, o, .prog_fd = prog_fd, .handle = kTcHandle, .priority = kTcPriority);
      err = bpf_tc_attach(&h, &o);
      if (err) {
        fail = err;
        what = "clsact filter";
        return;
      }
      a.tcx = false;
      fail = 0;
    });
    std::string where = (ns.empty() ? "" : ns + ":") + ifname;
    if (nserr) throw MakeError(env, "cannot enter network namespace " + ns + ": " + ErrnoText(nserr), "ENETNS", nserr);
    if (fail)
      throw MakeError(env, "cannot attach the ingress counter to " + where + " (" + what + "): " + ErrnoText(fail),
                      "EBPFATTACH", fail);
    a.id = next_id_++;
    attached_[a.id] = a;
    Napi::Object r = Napi::Object::New(env);
    r.Set("id", a.id);
    r.Set("ifindex", a.ifindex);
    r.Set("hook", a.tcx ? "tcx" : "tc-clsact");
    r.Set("staleRemoved", stale);
    return r;
  }

  // detach(id) -> boolean (false: unknown id). Throws when the kernel refuses.
  Napi::Value Detach(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(env, "detach(id: number)");
    uint32_t id = info[0].As<Napi::Number>().Uint32Value();
    auto it = attached_.find(id);
    if (it == attached_.end()) return Napi::Boolean::New(env, false);
    int err = DetachOne(it->second);
    std::string where = it->second.ifname;
    attached_.erase(it);
    if (err) throw MakeError(env, "cannot detach the ingress counter from " + where + ": " + ErrnoText(err), "EBPFDETACH", err);
    return Napi::Boolean::New(env, true);
  }

  Napi::Value Attachments(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    Napi::Array out = Napi::Array::New(env, attached_.size());
    uint32_t i = 0;
    for (auto &kv : attached_) {
      const Attachment &a = kv.second;
      Napi::Object o = Napi::Object::New(env);
      o.Set("id", a.id);
      o.Set("netns", a.ns_path.empty() ? env.Null() : Napi::String::New(env, a.ns_path));
      o.Set("ifname", a.ifname);
      o.Set("ifindex", a.ifindex);
      o.Set("hook", a.tcx ? "tcx" : "tc-clsact");
      if (a.tcx) {
        // The kernel clears the link's ifindex when the device goes away.
        // Debian 12's uapi header predates the union's `tcx` member
        // ({ ifindex, attach_type }); `netns` ({ netns_ino, attach_type })
        // sits at the same offset.
        struct bpf_link_info li = {};
        uint32_t len = sizeof(li);
        bool alive = bpf_obj_get_info_by_fd(a.link_fd, &li, &len) == 0 && li.netns.netns_ino != 0;
        o.Set("alive", alive);
      }
      out.Set(i++, o);
    }
    return out;
  }

  // collect() -> Promise<{ src, ports, pairs, stats }>: arrivals since the
  // previous call; stats are totals since load.
  Napi::Value Collect(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    CheckOpen(env);
    auto *w = new CollectWorker(env, lo_);
    Napi::Promise p = w->Promise();
    w->Queue();
    return p;
  }

  Napi::Value Info(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    CheckOpen(env);
    Napi::Object o = Napi::Object::New(env);
    o.Set("variant", lo_->variant);
    o.Set("program", std::string(kProgPrefix) + "_" + lo_->variant);
    o.Set("progId", lo_->prog_id);
    o.Set("tcHandle", kTcHandle);
    o.Set("tcPriority", kTcPriority);
    // Does this kernel have tcx? Asked without touching any interface: a
    // link to ifindex 0 fails with ENODEV where BPF_TCX_INGRESS exists
    // (6.6+) and EINVAL where the attach type is unknown.
    int fd = bpf_link_create(lo_->prog_fd, 0, (enum bpf_attach_type)kBpfTcxIngress, nullptr);
    int err = fd < 0 ? -fd : 0;
    if (fd >= 0) close(fd);
    o.Set("tcx", err == ENODEV);
    o.Set("tcxProbeErrno", err);
    return o;
  }

  // close(): detaches everything (links closed, our legacy filters removed)
  // and unloads. Idempotent. Detach failures are returned, not thrown.
  Napi::Value Close(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    Napi::Array errs = Napi::Array::New(env);
    uint32_t n = 0;
    for (auto &kv : attached_) {
      int err = DetachOne(kv.second);
      if (err) errs.Set(n++, kv.second.ifname + ": " + ErrnoText(err));
    }
    attached_.clear();
    Shutdown();
    return errs;
  }

  // IngressCounter.listInterfaces(nsPath: string|null) -> [{ name, ifindex }]
  static Napi::Value ListInterfaces(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !(info[0].IsString() || info[0].IsNull()))
      throw Napi::TypeError::New(env, "listInterfaces(nsPath: string|null)");
    std::string ns = info[0].IsNull() ? "" : std::string(info[0].As<Napi::String>());
    std::vector<std::pair<std::string, int>> out;
    int lerr = 0;
    int err = InNetns(ns, [&] {
      struct if_nameindex *ni = if_nameindex();
      if (!ni) {
        lerr = -errno;
        return;
      }
      for (auto *p = ni; p->if_index; p++) out.emplace_back(p->if_name, (int)p->if_index);
      if_freenameindex(ni);
    });
    if (err) throw MakeError(env, "cannot enter network namespace " + ns + ": " + ErrnoText(err), "ENETNS", err);
    if (lerr) throw MakeError(env, "cannot list interfaces: " + ErrnoText(lerr), "EIFLIST", lerr);
    Napi::Array a = Napi::Array::New(env, out.size());
    for (size_t i = 0; i < out.size(); i++) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("name", out[i].first);
      o.Set("ifindex", out[i].second);
      a.Set(i, o);
    }
    return a;
  }

  // IngressCounter.removeStaleFilters(nsPath: string|null, ifname: string) -> number
  // Removes a legacy filter of ours (handle/priority and program name) that
  // no live IngressCounter of this process owns.
  static Napi::Value RemoveStale(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !(info[0].IsString() || info[0].IsNull()) || !info[1].IsString())
      throw Napi::TypeError::New(env, "removeStaleFilters(nsPath: string|null, ifname: string)");
    std::string ns = info[0].IsNull() ? "" : std::string(info[0].As<Napi::String>());
    std::string ifname = info[1].As<Napi::String>();
    int removed = 0, fail = 0;
    int err = InNetns(ns, [&] {
      int ifindex = (int)if_nametoindex(ifname.c_str());
      if (!ifindex) {
        fail = -errno;
        return;
      }
      std::string name;
      long id = QueryOurFilter(ifindex, &name);
      if (id <= 0 || name.rfind(kProgPrefix, 0) != 0) return;
      if (IsLive((uint32_t)id)) return;
      int e = DetachFilter(ifindex);
      if (e == 0) removed++;
      else fail = e;
    });
    if (err) throw MakeError(env, "cannot enter network namespace " + ns + ": " + ErrnoText(err), "ENETNS", err);
    if (fail) throw MakeError(env, "cannot remove a stale filter on " + ifname + ": " + ErrnoText(fail), "EBPFDETACH", fail);
    return Napi::Number::New(env, removed);
  }

  // Program ids of the IngressCounters alive in this process: their filters
  // are never stale.
  static bool IsLive(uint32_t id) {
    std::lock_guard<std::mutex> g(live_mu_);
    for (uint32_t live : live_prog_ids_)
      if (live == id) return true;
    return false;
  }

  static std::mutex live_mu_;
  static std::vector<uint32_t> live_prog_ids_;
  // Open counters of this (main) thread, for OnProcessExit.
  static std::set<IngressCounter *> live_;

  napi_env env_ = nullptr;
  bool hooked_ = false;
  std::shared_ptr<Loaded> lo_;
  ObjectNames names_;
  std::map<uint32_t, Attachment> attached_;
  uint32_t next_id_ = 1;
};

std::mutex IngressCounter::live_mu_;
std::vector<uint32_t> IngressCounter::live_prog_ids_;
std::set<IngressCounter *> IngressCounter::live_;

void InitIngress(Napi::Env env, Napi::Object exports) {
  exports.Set("IngressCounter", IngressCounter::Define(env));
  Napi::Value process = env.Global().Get("process");
  if (process.IsObject()) {
    Napi::Value on = process.As<Napi::Object>().Get("on");
    if (on.IsFunction())
      on.As<Napi::Function>().Call(process, {Napi::String::New(env, "exit"),
                                             Napi::Function::New(env, IngressCounter::OnProcessExit, "ctscopeIngressExit")});
  }
}

}  // namespace ctscope
