#!/usr/bin/env bash
# The main job: sets up, builds the compiler, and compiles every example model to the ingot
# dialect, printing where each IR dump went.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${INGOT_BUILD_DIR:-$root/build}
out=${INGOT_OUT_DIR:-$root/out}

bash "$root/utils/setup.sh"
source "$root/utils/configure.sh"
ingot_configure "$root" "$build"
cmake --build "$build" -j "$(nproc)" --target ingotc
mkdir -p "$out"
compile() { # name, ingotc arguments...
  local name=$1; shift
  "$build/bin/ingotc" "$@" --emit=ingot -o "$out/$name.mlir"
  printf '%-12s %6d ops  -> %s\n' "$name" "$(grep -c ' = ingot\.\| ingot\.' "$out/$name.mlir")" "$out/$name.mlir"
}
compile gpt2-tiny "$root/examples/gpt2/gpt2-tiny.ingot"
compile gpt2-124m "$root/examples/gpt2/gpt2.ingot"
compile gpt2-350m "$root/examples/gpt2/gpt2.ingot" --set layers=24 --set dim=1024 --set heads=16
compile gpt2-1558m "$root/examples/gpt2/gpt2.ingot" --set layers=48 --set dim=1600 --set heads=25 --set batch=8
compile llama "$root/examples/llama/llama.ingot"
