// SPDX-License-Identifier: GPL-2.0-only
// Reads facts from the running kernel's BTF (vmlinux and module BTF) so that
// names come from the kernel itself rather than a table compiled in here:
// enum values (skb_drop_reason) and whether a function exists (hook probing).
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <napi.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "exports.h"

namespace ctscope {

// enumValues(enumName: string, module?: string) -> { NAME: value } | null
static Napi::Value EnumValues(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString())
    throw Napi::TypeError::New(env, "enumValues(name: string, module?: string)");
  std::string name = info[0].As<Napi::String>();
  struct btf *vmlinux = btf__load_vmlinux_btf();
  if (!vmlinux) return env.Null();
  struct btf *btf = vmlinux;
  struct btf *mod = nullptr;
  if (info.Length() > 1 && info[1].IsString()) {
    std::string m = info[1].As<Napi::String>();
    mod = btf__load_module_btf(m.c_str(), vmlinux);
    if (!mod) {
      btf__free(vmlinux);
      return env.Null();
    }
    btf = mod;
  }
  Napi::Value result = env.Null();
  int id = btf__find_by_name_kind(btf, name.c_str(), BTF_KIND_ENUM);
  if (id > 0) {
    const struct btf_type *t = btf__type_by_id(btf, id);
    const struct btf_enum *e = btf_enum(t);
    Napi::Object o = Napi::Object::New(env);
    for (int i = 0; i < btf_vlen(t); i++, e++) {
      const char *n = btf__name_by_offset(btf, e->name_off);
      if (n) o.Set(n, Napi::Number::New(env, e->val));
    }
    result = o;
  }
  if (mod) btf__free(mod);
  btf__free(vmlinux);
  return result;
}

// hasFunction(name: string, module?: string) -> boolean
static Napi::Value HasFunction(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString())
    throw Napi::TypeError::New(env, "hasFunction(name: string, module?: string)");
  std::string name = info[0].As<Napi::String>();
  struct btf *vmlinux = btf__load_vmlinux_btf();
  if (!vmlinux) return Napi::Boolean::New(env, false);
  bool found = btf__find_by_name_kind(vmlinux, name.c_str(), BTF_KIND_FUNC) > 0;
  if (!found && info.Length() > 1 && info[1].IsString()) {
    std::string m = info[1].As<Napi::String>();
    struct btf *mod = btf__load_module_btf(m.c_str(), vmlinux);
    if (mod) {
      found = btf__find_by_name_kind(mod, name.c_str(), BTF_KIND_FUNC) > 0;
      btf__free(mod);
    }
  }
  btf__free(vmlinux);
  return Napi::Boolean::New(env, found);
}

void InitBtfInfo(Napi::Env env, Napi::Object exports) {
  exports.Set("enumValues", Napi::Function::New(env, EnumValues, "enumValues"));
  exports.Set("hasFunction", Napi::Function::New(env, HasFunction, "hasFunction"));
}

}  // namespace ctscope
