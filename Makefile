# Build of everything that is compiled: BPF objects (and the record's
# TypeScript mirror generated from their BTF), the native
# addon (node-gyp, binding.gyp), the TypeScript control plane. Run by
# scripts/setup.sh (npm start, npm test); `make` alone rebuilds only what is stale.

OUT        := bpf/.output
BPF_SRCS   := $(wildcard bpf/*.bpf.c)
BPF_OBJS   := $(patsubst bpf/%.bpf.c,$(OUT)/%.bpf.o,$(BPF_SRCS))
RECORD_TS  := src/records/record.generated.ts
NAMES_TS   := src/native/objects.generated.ts
BPF_HDRS   := $(wildcard bpf/*.h)
VMLINUX_BTF ?= /sys/kernel/btf/vmlinux
ARCH       := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
CLANG      ?= clang
BPFTOOL    ?= bpftool
NODE_GYP   ?= $(shell dirname $$(readlink -f $$(command -v npm)))/../node_modules/node-gyp/bin/node-gyp.js
NODEDIR    ?= $(shell node -p "require('path').resolve(process.execPath, '../..')")
TS_SRCS    := $(shell find src -name '*.ts' -o -name '*.proto') tsconfig.json
WEB_SRCS   := $(shell find web -type f) src/api/sse.ts node_modules/uplot/package.json node_modules/esbuild/package.json
ADDON      := build/Release/ctscope.node

## all: BPF objects, addon, TypeScript and the dashboard (only what is stale)
all: bpf addon ts web
	@:

## bpf: compile bpf/*.bpf.c (CO-RE), and the record's TypeScript mirror from their BTF
bpf: $(BPF_OBJS) $(RECORD_TS) $(NAMES_TS)

## addon: the native addon (links Debian's libbpf)
addon: $(ADDON)

## ts: the control plane (tsc -> dist/)
ts: dist/.stamp

## web: the dashboard served on GET / (esbuild bundles web/ and uPlot -> dist/web/)
web: dist/web/.stamp

$(OUT):
	@mkdir -p $@

# vmlinux.h comes from the BTF of the kernel we build on; CO-RE relocations
# make the objects load on other kernels too.
$(OUT)/vmlinux.h: | $(OUT)
	@$(BPFTOOL) btf dump file $(VMLINUX_BTF) format c > $@.tmp && mv $@.tmp $@

# `bpftool gen object` links the clang output the way libbpf loads it and
# drops the DWARF (.BTF and .BTF.ext, which CO-RE needs, stay): a third to a
# tenth of the size, which matters since the package ships these objects.
$(OUT)/%.bpf.o: bpf/%.bpf.c $(BPF_HDRS) $(OUT)/vmlinux.h | $(OUT)
	@echo "  BPF     $@"
	@$(CLANG) -g -O2 -Wall -Werror -target bpf -D__TARGET_ARCH_$(ARCH) \
		-I$(OUT) -Ibpf -c $< -o $(OUT)/$*.tmp.bpf.o
	@$(BPFTOOL) gen object $@ $(OUT)/$*.tmp.bpf.o && rm -f $(OUT)/$*.tmp.bpf.o

# Committed, and regenerated only when the objects change (a unit test fails
# when it is stale): src/records/ is then built without bpftool.
$(RECORD_TS): $(OUT)/drops.bpf.o $(OUT)/lifecycle.bpf.o scripts/gen-record.mjs scripts/lib/btf-gen.mjs
	@echo "  GEN     $@"
	@node scripts/gen-record.mjs
	@touch $@

# The names of the objects' programs, maps and rodata, for the sources (same rule).
$(NAMES_TS): $(OUT)/drops.bpf.o $(OUT)/lifecycle.bpf.o $(OUT)/ingress.bpf.o $(OUT)/netlink_filter.bpf.o $(OUT)/netlink_decode.bpf.o scripts/gen-objects.mjs scripts/lib/btf-gen.mjs
	@echo "  GEN     $@"
	@node scripts/gen-objects.mjs
	@touch $@

$(ADDON): binding.gyp $(wildcard native/*.cc native/*.h) $(BPF_HDRS)
	@echo "  ADDON   $@"
	@node $(NODE_GYP) rebuild --nodedir=$(NODEDIR) --loglevel=error >/dev/null

# The addon as the package ships it, where node-gyp-build looks for it:
# N-API 8 (binding.gyp's NAPI_VERSION) makes one build serve every Node >= 20;
# glibc, since it links Debian's libbpf1, libelf1 and zlib1g dynamically (their
# static archives are not built position-independent).
PREBUILD   := prebuilds/linux-$(shell node -p process.arch)/ctscope.napi.glibc.node

## prebuild: the addon where the package ships it (npm pack runs this)
prebuild: $(PREBUILD)

$(PREBUILD): $(ADDON)
	@mkdir -p $(dir $@)
	@strip --strip-unneeded -o $@ $<

dist/.stamp: $(TS_SRCS)
	@echo "  TSC     dist/"
	@node_modules/.bin/tsc -p tsconfig.json
	@# data files the modules read beside themselves (the CRI .proto)
	@cd src && find . -name '*.proto' -exec cp --parents {} ../dist/ \;
	@touch $@

# One script and one stylesheet, nothing fetched at run time (docs/DASHBOARD.md).
dist/web/.stamp: $(WEB_SRCS)
	@echo "  WEB     dist/web/"
	@mkdir -p dist/web/assets
	@node_modules/.bin/esbuild web/src/main.ts --bundle --minify --format=iife \
		--target=es2020 --outfile=dist/web/assets/app.js --log-level=warning
	@cp web/index.html dist/web/index.html
	@cp web/icon.svg dist/web/assets/icon.svg
	@touch $@

## fuzz: the netlink decoder's libFuzzer harness with ASan+UBSan (fuzz-build/netlink_fuzz; needs libclang-rt-14-dev)
fuzz: fuzz-build/netlink_fuzz

fuzz-build/netlink_fuzz: native/fuzz/netlink_fuzz.cc native/netlink_decode.cc native/netlink_decode.h bpf/ctscope_record.h
	@mkdir -p fuzz-build
	@echo "  FUZZ    $@"
	@$(CLANG)++ -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
		-Ibpf -Inative native/fuzz/netlink_fuzz.cc native/netlink_decode.cc -o $@

## clean: remove every build output
clean:
	rm -rf $(OUT) build dist fuzz-build prebuilds

.PHONY: all bpf addon ts web fuzz prebuild clean
