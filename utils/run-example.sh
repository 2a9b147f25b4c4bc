#!/usr/bin/env bash
# The main job: sets up, builds the compiler and runtime, compiles the tiny GPT-2
# (examples/gpt2/gpt2-tiny.ingot) into a host-target trainer, turns the demo corpus into token
# shards, and trains it, printing the loss as it falls. Also writes the IR of every example.
#   INGOT_STEPS (default 300), INGOT_OUT_DIR (default out/), INGOT_BUILD_DIR (default build/)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${INGOT_BUILD_DIR:-$root/build}
out=${INGOT_OUT_DIR:-$root/out}
steps=${INGOT_STEPS:-300}

bash "$root/utils/setup.sh"
source "$root/utils/configure.sh"
ingot_configure "$root" "$build"
cmake --build "$build" -j "$(nproc)" --target ingotc
mkdir -p "$out"

# The IR of every example (each op carries its .ingot location).
ir() { # name, ingotc arguments...
  local name=$1; shift
  "$build/bin/ingotc" "$@" --emit=ingot -o "$out/$name.mlir"
}
ir gpt2-tiny "$root/examples/gpt2/gpt2-tiny.ingot"
ir gpt2-124m "$root/examples/gpt2/gpt2.ingot"
ir gpt2-350m "$root/examples/gpt2/gpt2.ingot" --set layers=24 --set dim=1024 --set heads=16
ir gpt2-1558m "$root/examples/gpt2/gpt2.ingot" --set layers=48 --set dim=1600 --set heads=25 --set batch=8
ir llama "$root/examples/llama/llama.ingot"
echo "IR of every example: $out/*.mlir"

# Compile the tiny GPT into one trainer executable and train it on the demo corpus.
"$build/bin/ingotc" "$root/examples/gpt2/gpt2-tiny.ingot" --target=host -o "$out/gpt2-tiny-train"
python3 "$root/utils/make-shards.py" "$root/data/demo/corpus.txt" --out-dir "$out/data"
"$out/gpt2-tiny-train" --data "$out/data/train_*.bin" --val "$out/data/val_*.bin" \
  --steps "$steps" --eval-every 50 --log "$out/gpt2-tiny.jsonl" --ckpt-dir "$out/ckpt" --ckpt-keep 2
