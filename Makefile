# Build of everything that is compiled: BPF objects and skeletons, the native
# addon (node-gyp, binding.gyp), the TypeScript control plane. Run by
# scripts/setup.sh (npm start, npm test); `make` alone rebuilds only what is stale.

OUT        := bpf/.output
BPF_SRCS   := $(wildcard bpf/*.bpf.c)
BPF_OBJS   := $(patsubst bpf/%.bpf.c,$(OUT)/%.bpf.o,$(BPF_SRCS))
SKELS      := $(patsubst bpf/%.bpf.c,$(OUT)/%.skel.h,$(BPF_SRCS))
BPF_HDRS   := $(wildcard bpf/*.h)
VMLINUX_BTF ?= /sys/kernel/btf/vmlinux
ARCH       := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
CLANG      ?= clang
BPFTOOL    ?= bpftool
NODE_GYP   ?= $(shell dirname $$(readlink -f $$(command -v npm)))/../node_modules/node-gyp/bin/node-gyp.js
NODEDIR    ?= $(shell node -p "require('path').resolve(process.execPath, '../..')")
TS_SRCS    := $(shell find src -name '*.ts' -o -name '*.proto') tsconfig.json
ADDON      := build/Release/ctscope.node

## all: BPF objects, addon and TypeScript (only what is stale)
all: bpf addon ts
	@:

## bpf: compile bpf/*.bpf.c (CO-RE) and generate skeletons
bpf: $(BPF_OBJS) $(SKELS)

## addon: the native addon (links Debian's libbpf)
addon: $(ADDON)

## ts: the control plane (tsc -> dist/)
ts: dist/.stamp

$(OUT):
	@mkdir -p $@

# vmlinux.h comes from the BTF of the kernel we build on; CO-RE relocations
# make the objects load on other kernels too.
$(OUT)/vmlinux.h: | $(OUT)
	@$(BPFTOOL) btf dump file $(VMLINUX_BTF) format c > $@.tmp && mv $@.tmp $@

$(OUT)/%.bpf.o: bpf/%.bpf.c $(BPF_HDRS) $(OUT)/vmlinux.h | $(OUT)
	@echo "  BPF     $@"
	@$(CLANG) -g -O2 -Wall -Werror -target bpf -D__TARGET_ARCH_$(ARCH) \
		-I$(OUT) -Ibpf -c $< -o $@

$(OUT)/%.skel.h: $(OUT)/%.bpf.o
	@$(BPFTOOL) gen skeleton $< name $(subst -,_,$*)_bpf > $@.tmp && mv $@.tmp $@

$(ADDON): binding.gyp $(wildcard native/*.cc native/*.h) $(BPF_HDRS) $(SKELS)
	@echo "  ADDON   $@"
	@node $(NODE_GYP) rebuild --nodedir=$(NODEDIR) --loglevel=error >/dev/null

dist/.stamp: $(TS_SRCS)
	@echo "  TSC     dist/"
	@node_modules/.bin/tsc -p tsconfig.json
	@# data files the modules read beside themselves (the CRI .proto)
	@cd src && find . -name '*.proto' -exec cp --parents {} ../dist/ \;
	@touch $@

## clean: remove every build output
clean:
	rm -rf $(OUT) build dist

.PHONY: all bpf addon ts clean
