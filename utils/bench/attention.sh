#!/bin/bash
# Causal flash attention, Ingot's kernels vs PyTorch's scaled_dot_product_attention, on one GPU
# in one call (same card): `bash utils/bench/attention.sh path/to/ingot-cuda-attention-bench
# [batch t heads hd]...` (default: the benchmark table's GPT-2 shapes). Prints both systems'
# JSON lines, then a table.
set -euo pipefail
bench=${1:?usage: attention.sh path/to/ingot-cuda-attention-bench [batch t heads hd]...}
shift
here=$(cd "$(dirname "$0")" && pwd)
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
{ "$bench" "$@"; python3 "$here/attention_torch.py" "$@"; } | tee /tmp/attention-bench.jsonl
python3 - /tmp/attention-bench.jsonl <<'P'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
print(f"| shape (b, t, h, d) | system | fwd ms | fwd TFLOP/s | bwd ms | bwd TFLOP/s |")
print("|---|---|---|---|---|---|")
for r in sorted(rows, key=lambda r: (r["heads"], r["batch"], r["system"])):
    print(f"| {r['batch']}, {r['t']}, {r['heads']}, {r['hd']} | {r['system']} | {r['fwd_ms']:.3f} "
          f"| {r['fwd_tflops']:.0f} | {r['bwd_ms']:.3f} | {r['bwd_tflops']:.0f} |")
P
