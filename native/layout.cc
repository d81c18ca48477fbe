// SPDX-License-Identifier: GPL-2.0-only
// Exports the record layout as the C compiler sees it, so the TypeScript
// decoder can be checked against the one definition (bpf/ctscope_record.h).
#include <napi.h>

#include <cstddef>

#include "ctscope_record.h"
#include "exports.h"

namespace ctscope {

#define FIELD(name)                                                        \
  do {                                                                     \
    Napi::Object f = Napi::Object::New(env);                               \
    f.Set("offset", Napi::Number::New(env, offsetof(struct ctscope_record, name))); \
    f.Set("size", Napi::Number::New(env, sizeof(((struct ctscope_record *)0)->name))); \
    fields.Set(#name, f);                                                  \
  } while (0)

static Napi::Value Layout(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  Napi::Object fields = Napi::Object::New(env);
  FIELD(ts_ns);
  FIELD(id);
  FIELD(start_ns);
  FIELD(packets);
  FIELD(bytes);
  FIELD(saddr);
  FIELD(daddr);
  FIELD(rsaddr);
  FIELD(rdaddr);
  FIELD(netns);
  FIELD(ifindex);
  FIELD(mark);
  FIELD(status);
  FIELD(cpu);
  FIELD(aux);
  FIELD(sport);
  FIELD(dport);
  FIELD(rsport);
  FIELD(rdport);
  FIELD(zone);
  FIELD(version);
  FIELD(kind);
  FIELD(family);
  FIELD(proto);
  FIELD(state);
  FIELD(tcp_flags);
  FIELD(icmp_type);
  FIELD(icmp_code);
  FIELD(cause);
  FIELD(origin);
  FIELD(flags);
  out.Set("size", Napi::Number::New(env, sizeof(struct ctscope_record)));
  out.Set("version", Napi::Number::New(env, CTSCOPE_RECORD_VERSION));
  out.Set("fields", fields);
  return out;
}

void InitLayout(Napi::Env env, Napi::Object exports) {
  exports.Set("layout", Napi::Function::New(env, Layout, "layout"));
}

}  // namespace ctscope
