#!/bin/bash
# Prepares the cuda target's startup checks (docs/runtime.md, "Startup checks") for a GPU
# machine, in OUT_DIR (default .devrun/startup, git-ignored): cuda trainers of the tiny GPT built
# here (nvcc, no GPU needed) against cluster maps that do and do not fit the GPU, token shards,
# libomp beside them, and startup.sh, which runs on the GPU machine:
#
#   utils/cuda-check/prepare-startup.sh
#   # then, on the GPU machine, from the repository root:
#   bash .devrun/startup/startup.sh
#
# INGOTC names the compiler (default build/bin/ingotc).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${OUT_DIR:-$root/.devrun/startup}
ingotc=${INGOTC:-$root/build/bin/ingotc}
tiny=$root/examples/gpt2/gpt2-tiny.ingot
rm -rf "$out"
mkdir -p "$out/data" "$out/lib" "$out/maps"
head -n 100 "$root/data/demo/corpus.txt" > "$out/small.txt"
python3 "$root/utils/make-shards.py" "$out/small.txt" --out-dir "$out/data" >/dev/null

# map NAME MODEL MEMORY_BYTES DEVICES_PER_NODE DATA: a one-node GPU map.
map() {
  cat > "$out/maps/$1.json" <<JSON
{
  "name": "$1",
  "device": {"kind": "gpu", "model": "$2", "memory_bytes": $3, "peak_bf16_flops": 989.4e12},
  "nodes": 1,
  "devices_per_node": $4,
  "layout": {"stages": 1, "data": $5, "microbatches": 1, "schedule": "1f1b", "chunks": 1}
}
JSON
}
map a100x1 A100-SXM4-80GB 85899345920 1 1     # another GPU model
map gpu2 NVIDIA 85899345920 2 2               # two GPUs per node (a data-parallel layout)
map huge NVIDIA 1000000000000000 1 1          # a map that promises more memory than any GPU has

build() { # NAME [ingotc flags...]: the trainer, or NAME.build.txt saying why ingotc refused
  local name=$1
  shift
  if "$ingotc" --target=cuda "$@" -o "$out/$name" > "$out/$name.build.txt" 2>&1; then
    rm -f "$out/$name.build.txt"
  else
    rm -f "$out/$name" "$out/$name.cu" "$out/$name.o" # what a failed build leaves
    echo "prepare-startup.sh: ingotc could not build $name: $(grep -m1 error "$out/$name.build.txt")"
  fi
}
build tiny-any "$tiny"
build tiny-h100 "$tiny" --cluster "$root/examples/clusters/h100x1.json"
build tiny-a100 "$tiny" --cluster "$out/maps/a100x1.json"
build tiny-gpu2 "$tiny" --cluster "$out/maps/gpu2.json"
# GPT-2 1.5B with 64 sequences of 1024 tokens per micro-batch: an arena of ~350 GiB.
build big-huge "$root/examples/gpt2/gpt2.ingot" --set layers=48 --set dim=1600 --set heads=25 \
  --set batch=64 --cluster "$out/maps/huge.json"
# Libraries the GPU machine may lack: libomp, and for the 2-GPU trainer Open MPI's (its startup
# check refuses before MPI or NCCL start, but the loader needs them). Not NCCL (~200 MiB, past
# what a device call carries): startup.sh skips the 2-GPU cases where the GPU machine lacks it.
for exe in "$out/tiny-any" "$out/tiny-gpu2"; do
  [ -x "$exe" ] || continue
  ldd "$exe" | awk '$3 ~ /^\// {print $3}' |
    grep -Ev '/(libc|libm|libstdc\+\+|libgcc_s|libpthread|librt|libdl|libcudart|libcublas|libcublasLt|libnccl)\.so' |
    xargs -r cp -L -t "$out/lib/"
done
cp "$root/utils/cuda-check/startup.sh" "$out/"
echo "prepared $out: $(cd "$out" && ls tiny-* big-* 2>/dev/null | grep -v txt | tr '\n' ' ')"
