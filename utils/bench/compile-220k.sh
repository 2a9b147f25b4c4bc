#!/usr/bin/env bash
# Compile time of a pipeline plan for 220,000 GPUs (27,500 nodes of 8 H100s,
# examples/clusters/h100-220k.json: 8 stages x 27,500 data-parallel replicas, ZB-H1, 32
# micro-batches) for GPT-2 1.5B (gpt2.ingot with 48 layers, width 1600, 25 heads, 4 sequences per
# micro-batch): parse, check, autodiff, optimizer, partition, schedule, collectives, simulation,
# trace. Plans are per stage, so the ranks cost nothing; the limit is 10 s on a 2-core machine.
#   bash utils/bench/compile-220k.sh [BUILD_DIR] [OUT_DIR]     (INGOTC=path overrides BUILD_DIR)
# Prints the wall time and what the plan predicts; exits 1 past the limit.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
out=${2:-$(mktemp -d)}
mkdir -p "$out"
limit_s=10
ingotc=${INGOTC:-$build/bin/ingotc}
start=$(date +%s.%N)
"$ingotc" "$root/examples/gpt2/gpt2.ingot" --set layers=48 --set dim=1600 --set heads=25 \
  --set batch=4 --cluster "$root/examples/clusters/h100-220k.json" --emit=schedule \
  --trace-ranks=0,1,27500,219999 -o "$out/trace-220k.json" 2> "$out/table-220k.txt"
end=$(date +%s.%N)
seconds=$(python3 -c "print(f'{$end - $start:.3f}')")
cat "$out/table-220k.txt"
python3 -c "import json, sys; d = json.load(open(sys.argv[1])); print('trace:', sys.argv[1], len(d['traceEvents']), 'events, tracks for ranks 0, 1, 27500, 219999')" "$out/trace-220k.json"
echo "compile-220k: 220000 ranks planned in $seconds s (limit $limit_s s)"
python3 -c "import sys; sys.exit(0 if $seconds < $limit_s else 1)"
