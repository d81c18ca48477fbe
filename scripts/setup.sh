#!/usr/bin/env bash
# Everything `npm start` and `npm test` need on a fresh Debian 12 machine:
# installs missing Debian packages (apt-get) and npm packages, mounts bpffs and
# tracefs, builds what is stale. Idempotent; silent when there is nothing to do.
#   scripts/setup.sh          runtime needs (npm start)
#   scripts/setup.sh --test   plus what the test suite and benchmarks use
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-run}
say() { printf 'ctscope setup: %s\n' "$*" >&2; }

# Build and runtime: compilers for BPF and the addon, libbpf, the netlink and
# nft tools the daemon and its doctor use.
PKGS=(clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev make g++ python3 pkg-config
      conntrack nftables iproute2 kmod)
if [ "$mode" = "--test" ]; then
  # promtool (prometheus) checks /metrics; hping3 makes floods; qemu and
  # cpio boot the Debian kernel of the guest matrix; linux-perf for benchmarks;
  # containerd (its CRI plugin), runc and the CNI plugins run real pods for the
  # Kubernetes tests, whose sandbox image is made from busybox-static; chromium
  # runs the dashboard's browser tests (driven by playwright-core).
  # libclang-rt-14-dev: libFuzzer and the sanitizers for the netlink decoder's
  # fuzz harness (make fuzz).
  PKGS+=(prometheus hping3 qemu-system-x86 cpio busybox-static linux-perf procps iputils-ping
         containerd runc containernetworking-plugins chromium libclang-rt-14-dev)
  # dpkg-dev (dpkg-shlibdeps) builds the .deb; systemd-analyze checks its unit.
  # umoci writes the OCI image; curl and openssl talk TLS to its pod; capsh
  # (libcap2-bin) decodes capability sets; python3-yaml reads the manifests.
  PKGS+=(dpkg-dev systemd umoci curl openssl libcap2-bin python3-yaml)
fi

missing=()
for p in "${PKGS[@]}"; do
  if [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)" != installed ]; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    say "missing Debian packages: ${missing[*]} (run as root, e.g. sudo npm start, to install them)"
  else
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

# npm packages: `npm ci` (the lock file as committed, never rewritten) when the
# lock file is newer than the last install.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm packages"
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
fi

# bpffs for pinning and tracefs for tracepoints, if absent.
if [ "$(id -u)" -eq 0 ]; then
  mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf 2>/dev/null || true
  mountpoint -q /sys/kernel/tracing || mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null || true
fi

# The kernel side needs BTF to generate vmlinux.h; without it only the
# control plane is built and `npm start` serves the bundled replay.
if [ -r /sys/kernel/btf/vmlinux ] && command -v bpftool >/dev/null && command -v clang >/dev/null; then
  make -s --no-print-directory all
  if [ "$mode" = "--test" ]; then make -s --no-print-directory fuzz; fi
else
  say "no kernel BTF or toolchain: building the control plane and the dashboard only"
  make -s --no-print-directory ts web
fi
