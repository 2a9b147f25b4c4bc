#!/usr/bin/env bash
# Installs every Debian package Ingot's build and tests need. Safe to run again: apt-get skips what
# is already installed, and the package list is refreshed only when it is older than a day.
set -euo pipefail

PACKAGES=(
  cmake ninja-build ccache g++ python3
  libmlir-22-dev mlir-22-tools llvm-22-dev llvm-22-tools   # MLIR/LLVM 22, FileCheck and lit
  clang-22 libfuzzer-22-dev lld-22 libomp-22-dev            # compiler, libFuzzer, links, OpenMP
  libflatbuffers-dev flatbuffers-compiler python3-flatbuffers
  libopenmpi-dev openmpi-bin
  libgtest-dev libgmock-dev
  libzstd-dev libedit-dev libcurl4-openssl-dev zlib1g-dev libxml2-dev libffi-dev  # what LLVMConfig.cmake asks for
  python3-torch python3-numpy                               # CPU reference checks
)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  stamp=/var/lib/apt/periodic/update-success-stamp
  if [ ! -f /var/lib/apt/lists/lock ] || [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -1)" ]; then
    $SUDO apt-get update -q
  fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "setup: all packages present"
fi

# The CUDA toolkit (nvcc 13, cuBLAS, cuDNN, NCCL) comes with the machine; say so if it does not.
if [ ! -x /usr/local/cuda/bin/nvcc ] && ! command -v nvcc >/dev/null; then
  echo "setup: warning: nvcc not found (expected under /usr/local/cuda); the cuda target will not build" >&2
fi
