#!/bin/bash
# Prepares a cuda-vs-host check of one model in OUT_DIR (default .devrun, git-ignored): token
# shards from the demo corpus, the host trainer run here for STEPS steps (its JSONL log is the
# reference), the cuda trainer built here (nvcc, no GPU needed), libomp beside it, and the
# scripts that run on the GPU machine:
#
#   utils/cuda-check/prepare.sh examples/gpt2/gpt2-tiny.ingot tiny
#   utils/cuda-check/prepare.sh examples/llama/llama.ingot llama --set vocab=256 --set layers=2 \
#       --set dim=64 --set heads=8 --set kv_heads=2 --set hidden=160 --set batch=4 --set seq=64
#   # then, on the GPU machine, from the repository root:
#   bash .devrun/check.sh tiny        # 50 steps, loss table, max relative difference
#
# Flags for both trainers come from TRAIN_FLAGS (e.g. "--lr 3e-3 --warmup 5").
set -euo pipefail
model=$1 name=$2
shift 2
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${OUT_DIR:-$root/.devrun}
steps=${STEPS:-50}
mkdir -p "$out/data" "$out/lib"
python3 "$root/utils/make-shards.py" "$root/data/demo/corpus.txt" --out-dir "$out/data" >/dev/null
"$root/build/bin/ingotc" --target=host "$model" "$@" -o "$out/$name-host" 2>/dev/null
"$root/build/bin/ingotc" --target=cuda "$model" "$@" -o "$out/$name-cuda" 2>/dev/null
cp -L "$(ldd "$out/$name-host" | awk '/libomp/ {print $3}')" "$out/lib/"
cp "$root/utils/cuda-check/compare-logs.py" "$root/utils/cuda-check/check.sh" "$out/"
echo "${TRAIN_FLAGS:-}" > "$out/$name.flags"
(cd "$out" && ./"$name-host" --data 'data/train_*.bin' --val 'data/val_*.bin' --eval-every 25 \
   --steps "$steps" ${TRAIN_FLAGS:-} --log "$name-host.jsonl" > "$name-host.out")
echo "prepared $out: $name-host.jsonl ($steps steps), $name-cuda"
