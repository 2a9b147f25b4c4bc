#!/usr/bin/env bash
# One table row, one device call: torch eager, torch.compile, JAX and Ingot's trainer on the same
# card, then a markdown table. Run on the device machine from the repository root:
#   bash utils/bench/run.sh BIN [SIZE] [BATCH]
# BIN: the Ingot trainer built here (ingotc examples/gpt2/gpt2.ingot --target=cuda -o BIN),
# carried with the call together with any shared library it needs (LD_LIBRARY_PATH=its folder).
# Writes $OUT/results.jsonl, $OUT/table.md and $OUT/bench.log (OUT defaults to out/bench).
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${1:?trainer binary}; size=${2:-124m}; batch=${3:-16}
out=${OUT:-$root/out/bench}; mkdir -p "$out"
res=$out/results.jsonl; : > "$res"
export PYTHONUNBUFFERED=1
export LD_LIBRARY_PATH="$(dirname "$bin"):/usr/local/cuda/lib64:/usr/local/cuda/lib:${LD_LIBRARY_PATH:-}"
card=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -1)
echo "card: $card" | tee "$out/bench.log"
one() { # seconds, command...
  local s=$1; shift
  echo "== $*" | tee -a "$out/bench.log"
  timeout "$s" "$@" 2>&1 | tee -a "$out/bench.log" | grep '^{"system"' >> "$res" || echo "   (failed or timed out)" | tee -a "$out/bench.log"
}
one 100 python3 "$root/utils/bench/torch_gpt2.py" --size "$size" --batch "$batch"
one 210 python3 "$root/utils/bench/torch_gpt2.py" --size "$size" --batch "$batch" --compile
one 170 python3 "$root/utils/bench/jax_gpt2.py" --size "$size" --batch "$batch"
one ${INGOT_TIMEOUT_S:-150} python3 "$root/utils/bench/ingot_gpt2.py" --bin "$bin" --size "$size" --batch "$batch" \
  --warmup 2 --steps ${INGOT_STEPS:-8} --timeout $(( ${INGOT_TIMEOUT_S:-150} - 20 ))
python3 "$root/utils/bench/report.py" "$res" "$card" > "$out/table.md"
cat "$out/table.md"
